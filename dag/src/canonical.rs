//! The canonical DAG-CBOR form of a change, read and cut without encoding anything.
//!
//! [`check_change`] is a validating pass over a block's bytes that accepts exactly what the
//! encoder (`serde_ipld_dagcbor`) writes for a change, so a block that decodes and passes it is
//! the one encoding of its change, byte for byte:
//! - every head minimal (integers, and the lengths of strings, arrays and maps), no indefinite
//!   lengths;
//! - map keys text strings, sorted by length first, then bytewise, no two equal;
//! - text valid UTF-8;
//! - tag 42 only, around a byte string of a zero byte and the 36 bytes of a weft CID;
//! - floats 64-bit, finite and never -0.0 (the encoder writes -0.0 as 0.0);
//! - of the simple values only false, true and null;
//! - at the top, a map of the change's fields with their types (`doc` a link, never null), and
//!   nothing after it.
//!
//! [`cut_sig`] and [`splice_sig`] move the `sig` entry out of and into a change's bytes: the
//! signature covers the map without it, and canonical key order puts it at a known place (after
//! `doc`, `ops` and `seq`).

use std::ops::Range;

use weft_store::Cid;

/// How deep items may nest. The decoder (`serde_ipld_dagcbor`) refuses deeper ones first; this
/// only keeps the pass from recursing without end on bytes it sees alone.
const MAX_DEPTH: usize = 1024;

/// CBOR major types.
const UINT: u8 = 0;
const NINT: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
const TAG: u8 = 6;
const SIMPLE: u8 = 7;

/// The CID tag.
const LINK_TAG: u64 = 42;

/// The `sig` key and the head of its 64-byte value.
const SIG_ENTRY_HEAD: &[u8] = b"\x63sig\x58\x40";

/// Whether DAG-CBOR map key `a` sorts before `b`: length first, then bytewise.
fn key_before(a: &[u8], b: &[u8]) -> bool {
    (a.len(), a) < (b.len(), b)
}

/// A cursor over bytes that must hold canonical DAG-CBOR.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| format!("the bytes end at {}", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = self.bytes.len() - self.pos;
        if n > left as u64 {
            return Err(format!("{n} bytes wanted at {}, {left} left", self.pos));
        }
        let out = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(out)
    }

    fn uint_be(&mut self, n: u64) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// A head of major type 0 to 6: the major type and its argument, which must be minimal.
    fn head(&mut self) -> Result<(u8, u64), String> {
        let at = self.pos;
        let b = self.byte()?;
        let major = b >> 5;
        if major == SIMPLE {
            return Err(format!("a simple value or float at {at} where none may be"));
        }
        let (arg, min) = match b & 0x1f {
            info @ 0..=23 => return Ok((major, u64::from(info))),
            24 => (self.uint_be(1)?, 24),
            25 => (self.uint_be(2)?, 1 << 8),
            26 => (self.uint_be(4)?, 1 << 16),
            27 => (self.uint_be(8)?, 1 << 32),
            31 => return Err(format!("an indefinite length at {at}")),
            _ => return Err(format!("a reserved head {b:#04x} at {at}")),
        };
        if arg < min {
            return Err(format!("a head at {at} is not minimal"));
        }
        Ok((major, arg))
    }

    /// A head that must be of one major type.
    fn expect(&mut self, major: u8, what: &str) -> Result<u64, String> {
        let at = self.pos;
        match self.head()? {
            (m, arg) if m == major => Ok(arg),
            _ => Err(format!("{what} expected at {at}")),
        }
    }

    fn text(&mut self) -> Result<&'a [u8], String> {
        let at = self.pos;
        let len = self.expect(TEXT, "a text string")?;
        let s = self.take(len)?;
        std::str::from_utf8(s).map_err(|_| format!("text at {at} is not UTF-8"))?;
        Ok(s)
    }

    /// The body of a link after its tag: a byte string of a zero byte and a weft CID in its
    /// one binary form.
    fn link_body(&mut self) -> Result<(), String> {
        let at = self.pos;
        let len = self.expect(BYTES, "the bytes of a link")?;
        let b = self.take(len)?;
        match b.split_first() {
            Some((0, cid)) if Cid::from_bytes(cid).is_ok_and(|c| c.to_bytes() == cid) => Ok(()),
            _ => Err(format!("the link at {at} is not a weft CID")),
        }
    }

    fn link(&mut self) -> Result<(), String> {
        let at = self.pos;
        if self.expect(TAG, "a link")? != LINK_TAG {
            return Err(format!("a tag other than 42 at {at}"));
        }
        self.link_body()
    }

    /// One item of any type, and everything in it.
    fn item(&mut self, depth: usize) -> Result<(), String> {
        let at = self.pos;
        if depth > MAX_DEPTH {
            return Err(format!("items nested more than {MAX_DEPTH} deep at {at}"));
        }
        let first = *self
            .bytes
            .get(at)
            .ok_or_else(|| format!("the bytes end at {at}"))?;
        if first >> 5 == SIMPLE {
            self.pos += 1;
            return match first {
                // false, true, null
                0xf4..=0xf6 => Ok(()),
                0xfb => {
                    let f = f64::from_bits(self.uint_be(8)?);
                    if !f.is_finite() {
                        Err(format!("a float that is not finite at {at}"))
                    } else if f == 0.0 && f.is_sign_negative() {
                        Err(format!("-0.0 at {at} (written as 0.0)"))
                    } else {
                        Ok(())
                    }
                }
                0xf9 | 0xfa => Err(format!("a float narrower than 64 bits at {at}")),
                _ => Err(format!("simple value {first:#04x} at {at}")),
            };
        }
        let (major, arg) = self.head()?;
        match major {
            UINT | NINT => Ok(()),
            BYTES => self.take(arg).map(drop),
            TEXT => {
                self.pos = at;
                self.text().map(drop)
            }
            ARRAY => (0..arg).try_for_each(|_| self.item(depth + 1)),
            MAP => {
                let mut last: Option<&[u8]> = None;
                for _ in 0..arg {
                    let key_at = self.pos;
                    let key = self.text()?;
                    if last.is_some_and(|last| !key_before(last, key)) {
                        return Err(format!("map key at {key_at} out of order or repeated"));
                    }
                    last = Some(key);
                    self.item(depth + 1)?;
                }
                Ok(())
            }
            TAG if arg == LINK_TAG => self.link_body(),
            _ => Err(format!("a tag other than 42 at {at}")),
        }
    }
}

/// Checks that `bytes` are a change in canonical form: see the [module docs](self). Run after
/// the block has decoded, it answers whether encoding the decoded change again would give the
/// very same bytes.
pub(crate) fn check_change(bytes: &[u8]) -> Result<(), String> {
    let mut r = Reader::new(bytes);
    let n = r.expect(MAP, "a map")?;
    let mut last: Option<&[u8]> = None;
    for _ in 0..n {
        let key_at = r.pos;
        let key = r.text()?;
        if last.is_some_and(|last| !key_before(last, key)) {
            return Err(format!("map key at {key_at} out of order or repeated"));
        }
        last = Some(key);
        let at = r.pos;
        match key {
            b"doc" => r.link()?,
            b"ops" => {
                let n = r.expect(ARRAY, "a list of ops")?;
                for _ in 0..n {
                    r.item(1)?;
                }
            }
            b"seq" | b"time" | b"height" | b"version" => {
                r.expect(UINT, "an unsigned integer")?;
            }
            b"sig" | b"author" => {
                let len = r.expect(BYTES, "bytes")?;
                r.take(len)?;
            }
            b"parents" => {
                let n = r.expect(ARRAY, "a list of links")?;
                for _ in 0..n {
                    r.link()?;
                }
            }
            _ => return Err(format!("unknown field at {key_at}")),
        }
        debug_assert!(r.pos > at);
    }
    if r.pos != bytes.len() {
        return Err(format!("{} bytes after the change", bytes.len() - r.pos));
    }
    Ok(())
}

/// Writes a head of `major` with argument `arg`, minimally.
fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    match arg {
        0..=23 => out.push(m | arg as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}

/// A top-level map: its number of entries, where its first entry starts, and where the entry
/// whose key is the first not before `sig` starts (`sig` itself if present), or the end.
struct SigPlace {
    entries: u64,
    first_entry: usize,
    at: usize,
}

/// Finds where the `sig` entry is, or would go, in canonical change bytes.
fn sig_place(bytes: &[u8]) -> Result<SigPlace, String> {
    let mut r = Reader::new(bytes);
    let entries = r.expect(MAP, "a map")?;
    let first_entry = r.pos;
    for _ in 0..entries {
        let at = r.pos;
        let key = r.text()?;
        if !key_before(key, b"sig") {
            return Ok(SigPlace {
                entries,
                first_entry,
                at,
            });
        }
        r.item(1)?;
    }
    Ok(SigPlace {
        entries,
        first_entry,
        at: r.pos,
    })
}

/// The range of the `sig` entry (key and 64-byte value) in canonical change bytes.
fn sig_entry(bytes: &[u8]) -> Option<(SigPlace, Range<usize>)> {
    let place = sig_place(bytes).ok()?;
    let end = place.at + SIG_ENTRY_HEAD.len() + 64;
    if bytes.get(place.at..place.at + SIG_ENTRY_HEAD.len()) != Some(SIG_ENTRY_HEAD)
        || end > bytes.len()
    {
        return None;
    }
    let range = place.at..end;
    Some((place, range))
}

/// Appends to `out` the map of `bytes` (a change in canonical form) without its `sig` entry:
/// the entry cut out and the map's count one less. Returns the signature, or `None` if the
/// bytes hold no `sig` entry where canonical order puts it.
pub(crate) fn cut_sig(bytes: &[u8], out: &mut Vec<u8>) -> Option<[u8; 64]> {
    let (place, range) = sig_entry(bytes)?;
    let sig: [u8; 64] = bytes[range.end - 64..range.end].try_into().ok()?;
    out.reserve(bytes.len() - range.len());
    write_head(out, MAP, place.entries - 1);
    out.extend_from_slice(&bytes[place.first_entry..range.start]);
    out.extend_from_slice(&bytes[range.end..]);
    Some(sig)
}

/// The bytes of a change map in canonical form (`unsigned`, which has no `sig` entry) with the
/// `sig` entry put in where canonical order wants it and the map's count one more.
pub(crate) fn splice_sig(unsigned: &[u8], sig: &[u8; 64]) -> Result<Vec<u8>, String> {
    let place = sig_place(unsigned)?;
    let mut out = Vec::with_capacity(unsigned.len() + SIG_ENTRY_HEAD.len() + 64 + 8);
    write_head(&mut out, MAP, place.entries + 1);
    out.extend_from_slice(&unsigned[place.first_entry..place.at]);
    out.extend_from_slice(SIG_ENTRY_HEAD);
    out.extend_from_slice(sig);
    out.extend_from_slice(&unsigned[place.at..]);
    Ok(out)
}

/// Bytes to check and break on purpose, for tests: where each item is, and mutations that
/// make canonical bytes non-canonical (or something else entirely).
#[cfg(test)]
pub(crate) mod mutate {
    use super::*;

    /// One item of canonical bytes: where it starts, how long its head is, and where it ends.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Span {
        pub start: usize,
        pub head_len: usize,
        pub major: u8,
        pub arg: u64,
        pub end: usize,
        /// For a map: where each entry starts, then the map's end.
        pub entries: usize,
    }

    /// Every item of `bytes` (which must be valid canonical DAG-CBOR), in order: map keys too.
    pub(crate) fn spans(bytes: &[u8]) -> Vec<Span> {
        let mut out = Vec::new();
        let mut r = Reader::new(bytes);
        walk(&mut r, &mut out);
        out
    }

    fn walk(r: &mut Reader<'_>, out: &mut Vec<Span>) {
        let start = r.pos;
        let first = r.bytes[start];
        let idx = out.len();
        out.push(Span {
            start,
            head_len: 1,
            major: first >> 5,
            arg: 0,
            end: start,
            entries: 0,
        });
        if first >> 5 == SIMPLE {
            r.pos += if first == 0xfb { 9 } else { 1 };
            out[idx].end = r.pos;
            return;
        }
        let (major, arg) = r.head().expect("canonical bytes");
        out[idx].head_len = r.pos - start;
        out[idx].arg = arg;
        match major {
            BYTES | TEXT => r.pos += arg as usize,
            ARRAY => (0..arg).for_each(|_| walk(r, out)),
            MAP => {
                out[idx].entries = arg as usize;
                (0..2 * arg).for_each(|_| walk(r, out));
            }
            TAG => walk(r, out),
            _ => {}
        }
        out[idx].end = r.pos;
    }

    /// The entries of the map at span `m` as byte ranges (key and value).
    pub(crate) fn entries(spans: &[Span], m: usize) -> Vec<Range<usize>> {
        let map = spans[m];
        let mut out = Vec::new();
        let mut i = m + 1;
        for _ in 0..map.entries {
            let key = spans[i];
            // The value is the next item whose start is the key's end.
            let value = spans[i + 1..]
                .iter()
                .position(|s| s.start == key.end)
                .map(|p| i + 1 + p)
                .expect("a value after the key");
            out.push(key.start..spans[value].end);
            i = spans[value + 1..]
                .iter()
                .position(|s| s.start == spans[value].end)
                .map_or(spans.len(), |p| value + 1 + p);
        }
        out
    }

    fn head(major: u8, arg: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_head(&mut out, major, arg);
        out
    }

    /// The head of `major` with argument `arg`, one width wider than minimal (if there is one).
    fn wide_head(major: u8, arg: u64) -> Option<Vec<u8>> {
        let m = major << 5;
        Some(match arg {
            0..=23 => vec![m | 24, arg as u8],
            24..=0xff => {
                let mut v = vec![m | 25];
                v.extend_from_slice(&(arg as u16).to_be_bytes());
                v
            }
            0x100..=0xffff => {
                let mut v = vec![m | 26];
                v.extend_from_slice(&(arg as u32).to_be_bytes());
                v
            }
            0x1_0000..=0xffff_ffff => {
                let mut v = vec![m | 27];
                v.extend_from_slice(&arg.to_be_bytes());
                v
            }
            _ => return None,
        })
    }

    fn replace(bytes: &[u8], range: Range<usize>, with: &[u8]) -> Vec<u8> {
        let mut out = bytes[..range.start].to_vec();
        out.extend_from_slice(with);
        out.extend_from_slice(&bytes[range.end..]);
        out
    }

    /// How many kinds of mutation [`mutate`] knows.
    pub(crate) const KINDS: u8 = 17;

    /// Mutation `kind` of `bytes` (canonical), steered by `a` and `b`; `None` if that kind has
    /// nothing to work on in these bytes.
    pub(crate) fn mutate(bytes: &[u8], kind: u8, a: usize, b: u8) -> Option<Vec<u8>> {
        let spans = spans(bytes);
        let pick = |pred: &dyn Fn(&Span) -> bool| -> Option<(usize, Span)> {
            let found: Vec<(usize, Span)> = spans
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, s)| pred(s))
                .collect();
            (!found.is_empty()).then(|| found[a % found.len()])
        };
        let n = bytes.len();
        Some(match kind {
            // A flipped byte.
            0 => {
                let mut m = bytes.to_vec();
                m[a % n] ^= b | 1;
                m
            }
            // Cut short.
            1 => bytes[..a % n].to_vec(),
            // A byte after the end.
            2 => {
                let mut m = bytes.to_vec();
                m.push(b);
                m
            }
            // A byte gone.
            3 => replace(bytes, a % n..a % n + 1, &[]),
            // A byte more.
            4 => replace(bytes, a % n..a % n, &[b]),
            // A head (integer, length, tag) wider than it needs.
            5 => {
                let (_, s) = pick(&|s| s.major != SIMPLE)?;
                let wide = wide_head(s.major, s.arg)?;
                replace(bytes, s.start..s.start + s.head_len, &wide)
            }
            // Two neighbouring map entries swapped.
            6 => {
                let (i, _) = pick(&|s| s.major == MAP && s.entries >= 2)?;
                let es = entries(&spans, i);
                let j = (b as usize) % (es.len() - 1);
                let (x, y) = (es[j].clone(), es[j + 1].clone());
                let mut with = bytes[y.clone()].to_vec();
                with.extend_from_slice(&bytes[x.clone()]);
                replace(bytes, x.start..y.end, &with)
            }
            // A definite length made indefinite.
            7 => {
                let (_, s) = pick(&|s| matches!(s.major, BYTES | TEXT | ARRAY | MAP))?;
                let body = &bytes[s.start + s.head_len..s.end];
                let mut with = vec![(s.major << 5) | 31];
                if matches!(s.major, BYTES | TEXT) {
                    // One definite chunk inside.
                    with.extend_from_slice(&bytes[s.start..s.start + s.head_len]);
                }
                with.extend_from_slice(body);
                with.push(0xff);
                replace(bytes, s.start..s.end, &with)
            }
            // A map entry repeated.
            8 => {
                let (i, s) = pick(&|s| s.major == MAP && s.entries >= 1)?;
                let es = entries(&spans, i);
                let e = es[(b as usize) % es.len()].clone();
                let mut m = head(MAP, s.arg + 1);
                m.extend_from_slice(&bytes[s.start + s.head_len..e.end]);
                m.extend_from_slice(&bytes[e.clone()]);
                m.extend_from_slice(&bytes[e.end..s.end]);
                replace(bytes, s.start..s.end, &m)
            }
            // A float written narrower, or as -0.0, NaN or an infinity.
            9 => {
                let (_, s) = pick(&|s| bytes[s.start] == 0xfb)?;
                let f = f64::from_be_bytes(bytes[s.start + 1..s.end].try_into().ok()?);
                let with = match b % 5 {
                    0 if f64::from(f as f32) == f => {
                        let mut v = vec![0xfa];
                        v.extend_from_slice(&(f as f32).to_be_bytes());
                        v
                    }
                    1 => [&[0xfb][..], &(-0.0f64).to_be_bytes()].concat(),
                    2 => [&[0xfb][..], &f64::NAN.to_be_bytes()].concat(),
                    3 => [&[0xfb][..], &f64::NEG_INFINITY.to_be_bytes()].concat(),
                    _ => [&[0xf9][..], &[0x3c, 0x00]].concat(),
                };
                replace(bytes, s.start..s.end, &with)
            }
            // A link whose bytes go on after its CID.
            10 => {
                let (i, _) = pick(&|s| s.major == TAG)?;
                let inner = spans[i + 1];
                let body = &bytes[inner.start + inner.head_len..inner.end];
                let mut with = head(BYTES, body.len() as u64 + 1);
                with.extend_from_slice(body);
                with.push(b);
                replace(bytes, inner.start..inner.end, &with)
            }
            // null, true or false replaced by another simple value.
            11 => {
                let (_, s) = pick(&|s| matches!(bytes[s.start], 0xf4..=0xf6))?;
                let with: &[u8] = match b % 4 {
                    0 => &[0xf7],
                    1 => &[0xf0],
                    2 => &[0xf8, 0x20],
                    _ => &[0xff],
                };
                replace(bytes, s.start..s.end, with)
            }
            // A link replaced by null.
            12 => {
                let (_, s) = pick(&|s| s.major == TAG)?;
                replace(bytes, s.start..s.end, &[0xf6])
            }
            // A map key written as bytes, not text.
            13 => {
                let (i, _) = pick(&|s| s.major == MAP && s.entries >= 1)?;
                let es = entries(&spans, i);
                let at = es[(b as usize) % es.len()].start;
                let mut m = bytes.to_vec();
                m[at] = (m[at] & 0x1f) | (BYTES << 5);
                m
            }
            // A tag other than 42.
            14 => {
                let (_, s) = pick(&|s| s.major == TAG)?;
                let mut m = bytes.to_vec();
                m[s.start + 1] = if b == 42 { 43 } else { b };
                m
            }
            // An integer turned negative (or a negative one positive).
            15 => {
                let (_, s) = pick(&|s| matches!(s.major, UINT | NINT))?;
                let mut m = bytes.to_vec();
                m[s.start] ^= 0x20;
                m
            }
            // An item nested in a one-element array.
            16 => {
                let (_, s) = pick(&|s| s.major != SIMPLE || s.start > 0)?;
                let mut with = vec![0x81];
                with.extend_from_slice(&bytes[s.start..s.end]);
                replace(bytes, s.start..s.end, &with)
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use ipld_core::ipld::Ipld;
    use proptest::prelude::*;
    use weft_store::Codec;

    /// The generic pass on one item, as [`check_change`] runs it on each op.
    fn check_item(bytes: &[u8]) -> Result<(), String> {
        let mut r = Reader::new(bytes);
        r.item(0)?;
        if r.pos != bytes.len() {
            return Err("bytes after the item".into());
        }
        Ok(())
    }

    fn weft_links(ipld: &Ipld) -> bool {
        match ipld {
            Ipld::Link(c) => Cid::try_from(*c).is_ok(),
            Ipld::List(l) => l.iter().all(weft_links),
            Ipld::Map(m) => m.values().all(weft_links),
            _ => true,
        }
    }

    /// What the pass must agree with: the bytes decode, every link in them is a weft CID, and
    /// encoding what they decode to gives them back.
    fn round_trips(bytes: &[u8]) -> bool {
        let Ok(ipld) = serde_ipld_dagcbor::from_slice::<Ipld>(bytes) else {
            return false;
        };
        weft_links(&ipld) && serde_ipld_dagcbor::to_vec(&ipld).is_ok_and(|b| b == bytes)
    }

    fn cid() -> impl Strategy<Value = Cid> {
        (any::<bool>(), any::<[u8; 32]>())
            .prop_map(|(raw, d)| Cid::from_digest(if raw { Codec::Raw } else { Codec::DagCbor }, d))
    }

    fn ipld() -> impl Strategy<Value = Ipld> {
        let leaf = prop_oneof![
            Just(Ipld::Null),
            any::<bool>().prop_map(Ipld::Bool),
            any::<i64>().prop_map(|i| Ipld::Integer(i.into())),
            any::<u64>().prop_map(|i| Ipld::Integer(i.into())),
            // The ends of the CBOR integer range.
            Just(Ipld::Integer(-(1i128 << 64))),
            Just(Ipld::Integer((1i128 << 64) - 1)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Ipld::Float),
            ".{0,30}".prop_map(Ipld::String),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Ipld::Bytes),
            cid().prop_map(|c| Ipld::Link(c.to_cid())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Ipld::List),
                proptest::collection::btree_map(".{0,12}", inner, 0..6).prop_map(Ipld::Map),
            ]
        })
    }

    proptest! {
        /// The pass accepts exactly the bytes that are the encoder's output for what they
        /// decode to: every encoding, and every mutation of one that still round-trips; no
        /// mutation that does not.
        #[test]
        fn the_pass_accepts_exactly_what_round_trips(
            value in ipld(),
            mutations in proptest::collection::vec((0..mutate::KINDS, any::<usize>(), any::<u8>()), 1..24),
        ) {
            let bytes = serde_ipld_dagcbor::to_vec(&value).unwrap();
            prop_assert!(round_trips(&bytes));
            prop_assert_eq!(check_item(&bytes), Ok(()));
            for (kind, a, b) in mutations {
                let Some(m) = mutate::mutate(&bytes, kind, a, b) else {
                    continue;
                };
                prop_assert_eq!(
                    check_item(&m).is_ok(),
                    round_trips(&m),
                    "mutation {} of {:02x?}: {:02x?} ({:?})",
                    kind, bytes, m, check_item(&m)
                );
            }
        }
    }

    #[test]
    fn heads_are_written_minimally_and_read_back() {
        for arg in [
            0u64,
            23,
            24,
            255,
            256,
            65_535,
            65_536,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_head(&mut out, MAP, arg);
            let expected_len = match arg {
                0..=23 => 1,
                24..=0xff => 2,
                0x100..=0xffff => 3,
                0x1_0000..=0xffff_ffff => 5,
                _ => 9,
            };
            assert_eq!(out.len(), expected_len, "{arg}");
            let mut r = Reader::new(&out);
            assert_eq!(r.head().unwrap(), (MAP, arg));
            assert_eq!(r.pos, out.len());
        }
    }

    #[test]
    fn a_non_minimal_head_is_refused() {
        for bytes in [
            &[0x18u8, 0x17][..],
            &[0x19, 0x00, 0xff],
            &[0x1a, 0x00, 0x00, 0xff, 0xff],
            &[0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(Reader::new(bytes).item(0).is_err(), "{bytes:02x?}");
        }
        // The same values, minimal.
        for bytes in [&[0x17u8][..], &[0x18, 0xff], &[0x19, 0xff, 0xff]] {
            assert!(Reader::new(bytes).item(0).is_ok(), "{bytes:02x?}");
        }
    }
}
