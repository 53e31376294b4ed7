//! Snapshots: a replica ([`Text`], or [`Lists`] named by strings) as bytes, and back.
//!
//! # Form
//!
//! ```text
//! snapshot = version (2) · kind ('T' text, 'L' lists) · [text] · cids · body
//! text     = byte length · UTF-8                           a text's visible text
//! cids     = count · (codec byte · 32-byte digest)*       every change CID, once
//! op       = cid index · op index                          an op id
//! id       = op · offset
//! tree     = count · node*                                 the runs in list order
//! node     = flags · parent distance · [id] · len · [right origin id] · content
//! ```
//!
//! Numbers are unsigned LEB128 varints. A text snapshot starts with the visible text, so that
//! [`Text::decode_string`] reads it without rebuilding the replica (`decode` checks it against
//! the runs). Version 1, still read, is the same without that text. A node's flags: bit 0 visible, bit 1 a right child
//! (else a left one), bits 2-3 its right origin (1 the end, 2 an item: the signed distance
//! in list order to the run now holding it, zigzag-encoded, and its offset there follow), bit
//! 4 its id continues the previous node's run (same op, the next offset: a split), so it is
//! left out. Its parent is named by the distance from it in list order (before it for a right
//! child, after it for a left one); siblings are in list order. Text content is the run's
//! UTF-8 bytes, length first. A list snapshot follows with its lists (name, tree), its
//! elements (id, winning stamp, list index, deleted) and its positions (id, element index).
//!
//! Decoding checks everything it reads: counts against the bytes left (so nothing allocates
//! more than the input's size allows), the tree's shape against the list order, run ids
//! against each other, origins and registers against the runs. A bad snapshot is
//! [`SeqError::BadSnapshot`]; no input panics.

use std::collections::{BTreeMap, HashMap};

use super::{list::Element, tree::Tree, Id, Lists, SeqError, Stamp, Text};
use crate::{Author, Cid, Codec, OpId};

/// The snapshot format's version, the first byte. Version 1 is version 2 without a text
/// snapshot's text (lists snapshots are the same); both are read.
const VERSION: u8 = 2;
const TEXT: u8 = b'T';
const LISTS: u8 = b'L';

fn bad(why: &'static str) -> SeqError {
    SeqError::BadSnapshot(why)
}

/// Writes a snapshot's body, collecting the CIDs it names.
#[derive(Debug, Default)]
pub(super) struct Writer {
    body: Vec<u8>,
    cids: Vec<Cid>,
    index: HashMap<Cid, u64>,
}

impl Writer {
    pub(super) fn byte(&mut self, b: u8) {
        self.body.push(b);
    }

    pub(super) fn num(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.body.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.body.push(v as u8);
    }

    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.num(b.len() as u64);
        self.body.extend_from_slice(b);
    }

    pub(super) fn op(&mut self, op: OpId) {
        let next = self.cids.len() as u64;
        let i = *self.index.entry(op.change).or_insert(next);
        if i == next {
            self.cids.push(op.change);
        }
        self.num(i);
        self.num(u64::from(op.index));
    }

    pub(super) fn id(&mut self, id: Id) {
        self.op(id.op);
        self.num(u64::from(id.offset));
    }

    /// The snapshot: the header, `preamble`, the CIDs and the body.
    fn finish(self, kind: u8, preamble: &[u8]) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(preamble.len() + self.body.len() + 33 * self.cids.len() + 12);
        out.extend([VERSION, kind]);
        out.extend(preamble);
        let mut head = Writer::default();
        head.num(self.cids.len() as u64);
        out.extend(head.body);
        for cid in &self.cids {
            out.push(cid.codec().code() as u8);
            out.extend(cid.digest());
        }
        out.extend(self.body);
        out
    }
}

/// Reads a snapshot, checking every step.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    version: u8,
    cids: Vec<Cid>,
}

impl<'a> Reader<'a> {
    /// Reads the header; the caller reads its preamble, then [`Reader::cids`].
    fn new(bytes: &'a [u8], kind: u8) -> Result<Self, SeqError> {
        let mut r = Reader {
            buf: bytes,
            version: 0,
            cids: Vec::new(),
        };
        r.version = r.byte()?;
        if !(1..=VERSION).contains(&r.version) {
            return Err(bad("unknown version"));
        }
        if r.byte()? != kind {
            return Err(bad("not this kind of snapshot"));
        }
        Ok(r)
    }

    /// Reads the CIDs.
    fn cids(&mut self) -> Result<(), SeqError> {
        let r = self;
        let n = r.count(33)?;
        r.cids.reserve_exact(n);
        for _ in 0..n {
            let code = r.byte()?;
            let codec = Codec::from_code(u64::from(code)).ok_or(bad("unknown codec"))?;
            let digest = r.take(32)?.try_into().map_err(|_| bad("short digest"))?;
            r.cids.push(Cid::from_digest(codec, digest));
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], SeqError> {
        if n > self.buf.len() {
            return Err(bad("truncated"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(super) fn byte(&mut self) -> Result<u8, SeqError> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn num(&mut self) -> Result<u64, SeqError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let low = u64::from(b & 0x7f);
            if shift == 63 && low > 1 {
                return Err(bad("number too large"));
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("number too long"))
    }

    pub(super) fn num32(&mut self) -> Result<u32, SeqError> {
        u32::try_from(self.num()?).map_err(|_| bad("number too large"))
    }

    /// A count of things that take at least `each` bytes, checked against the bytes left.
    pub(super) fn count(&mut self, each: usize) -> Result<usize, SeqError> {
        let n = usize::try_from(self.num()?).map_err(|_| bad("count too large"))?;
        if n.checked_mul(each).is_none_or(|b| b > self.buf.len()) {
            return Err(bad("count beyond the input"));
        }
        Ok(n)
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], SeqError> {
        let n = self.count(1)?;
        self.take(n)
    }

    pub(super) fn op(&mut self) -> Result<OpId, SeqError> {
        let i = usize::try_from(self.num()?).map_err(|_| bad("cid index"))?;
        let change = *self.cids.get(i).ok_or(bad("cid index"))?;
        Ok(OpId {
            change,
            index: self.num32()?,
        })
    }

    pub(super) fn id(&mut self) -> Result<Id, SeqError> {
        Ok(Id {
            op: self.op()?,
            offset: self.num32()?,
        })
    }

    fn finish(&self) -> Result<(), SeqError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(bad("trailing bytes"))
        }
    }
}

impl Text {
    /// The replica as a snapshot: [`Text::decode`] rebuilds it exactly (the same text, and
    /// the same result for any op applied after). See the [module docs](crate::seq#snapshots).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.tree().encode(&mut w);
        let mut text = Writer::default();
        text.bytes(self.to_string().as_bytes());
        w.finish(TEXT, &text.body)
    }

    /// Rebuilds a replica from [`Text::encode`]'s bytes; an error for anything else.
    pub fn decode(bytes: &[u8]) -> Result<Text, SeqError> {
        let mut r = Reader::new(bytes, TEXT)?;
        let text = if r.version >= 2 {
            Some(r.bytes()?)
        } else {
            None
        };
        r.cids()?;
        let tree: Tree<String> = Tree::decode(&mut r)?;
        r.finish()?;
        // The text written first is the runs' visible text.
        let Some(mut text) = text else {
            return Ok(Text::from_tree(tree));
        };
        let mut same = true;
        tree.for_each_visible(|_, _, s| {
            same = same && text.starts_with(s.as_bytes());
            text = text.get(s.len()..).unwrap_or_default();
        });
        if !same || !text.is_empty() {
            return Err(bad("the text is not the runs' text"));
        }
        Ok(Text::from_tree(tree))
    }

    /// The text of a snapshot of [`Text::encode`], read without rebuilding the replica: a
    /// check of the header and of UTF-8, `O(characters)`. (Only [`Text::decode`] checks the
    /// rest of the snapshot.)
    pub fn decode_string(bytes: &[u8]) -> Result<String, SeqError> {
        let mut r = Reader::new(bytes, TEXT)?;
        if r.version < 2 {
            return Ok(Text::decode(bytes)?.to_string());
        }
        let text = std::str::from_utf8(r.bytes()?).map_err(|_| bad("text not UTF-8"))?;
        Ok(text.to_string())
    }
}

impl Lists<String> {
    /// The replica as a snapshot (lists, element registers, deleted flags):
    /// [`Lists::decode`] rebuilds it exactly. See the [module docs](crate::seq#snapshots).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        let (trees, positions, elements) = self.parts();
        w.num(trees.len() as u64);
        let mut list_index = HashMap::new();
        for (i, (name, tree)) in trees.iter().enumerate() {
            list_index.insert(name, i as u64);
            w.bytes(name.as_bytes());
            tree.encode(&mut w);
        }
        let mut els: Vec<(&OpId, &Element<String>)> = elements.iter().collect();
        els.sort_unstable_by_key(|(id, _)| **id);
        w.num(els.len() as u64);
        let mut element_index = HashMap::new();
        for (i, (id, e)) in els.iter().enumerate() {
            element_index.insert(**id, i as u64);
            w.op(**id);
            w.num(e.winner.height);
            w.body.extend(e.winner.author.0);
            w.op(e.winner.op);
            w.num(list_index.get(&e.list).copied().unwrap_or(u64::MAX));
            w.byte(u8::from(e.deleted));
        }
        let mut pos: Vec<(&OpId, &OpId)> = positions.iter().collect();
        pos.sort_unstable();
        w.num(pos.len() as u64);
        for (p, e) in pos {
            w.op(*p);
            w.num(element_index.get(e).copied().unwrap_or(u64::MAX));
        }
        w.finish(LISTS, &[])
    }

    /// Rebuilds a replica from [`Lists::encode`]'s bytes; an error for anything else.
    pub fn decode(bytes: &[u8]) -> Result<Lists<String>, SeqError> {
        let mut r = Reader::new(bytes, LISTS)?;
        r.cids()?;
        let n = r.count(2)?;
        let mut names = Vec::with_capacity(n);
        let mut trees = BTreeMap::new();
        for _ in 0..n {
            let name = std::str::from_utf8(r.bytes()?).map_err(|_| bad("list name"))?;
            let tree: Tree<()> = Tree::decode(&mut r)?;
            if !tree.positions_only() {
                return Err(bad("a list run longer than one"));
            }
            names.push(name.to_string());
            if trees.insert(name.to_string(), tree).is_some() {
                return Err(bad("a list twice"));
            }
        }
        let n = r.count(40)?;
        let mut ids = Vec::with_capacity(n);
        let mut elements = HashMap::with_capacity(n);
        for _ in 0..n {
            let id = r.op()?;
            let height = r.num()?;
            let author = Author(r.take(32)?.try_into().map_err(|_| bad("author"))?);
            let op = r.op()?;
            let list = usize::try_from(r.num()?).map_err(|_| bad("list index"))?;
            let list = names.get(list).ok_or(bad("list index"))?.clone();
            let deleted = match r.byte()? {
                0 => false,
                1 => true,
                _ => return Err(bad("deleted flag")),
            };
            let winner = Stamp { height, author, op };
            ids.push(id);
            let e = Element {
                winner,
                list,
                deleted,
            };
            if elements.insert(id, e).is_some() {
                return Err(bad("an element twice"));
            }
        }
        let n = r.count(3)?;
        let mut positions = HashMap::with_capacity(n);
        for _ in 0..n {
            let p = r.op()?;
            let e = usize::try_from(r.num()?).map_err(|_| bad("element index"))?;
            let e = *ids.get(e).ok_or(bad("element index"))?;
            if positions.insert(p, e).is_some() {
                return Err(bad("a position twice"));
            }
        }
        r.finish()?;
        for (id, e) in &elements {
            let placed = positions.get(&e.winner.op) == Some(id);
            let tree = trees.get(&e.list);
            if !placed || tree.and_then(|t| t.visible(Id::of(e.winner.op))).is_none() {
                return Err(bad("an element's winning position is not in its list"));
            }
            if positions.get(id) != Some(id) {
                return Err(bad("an element without its first position"));
            }
        }
        for tree in trees.values() {
            let mut known = true;
            tree.for_each_node(|id| known &= positions.contains_key(&id.op));
            if !known {
                return Err(bad("a position of no element"));
            }
        }
        Ok(Lists::from_parts((trees, positions, elements)))
    }
}
