//! Offline bundles: the changes of some documents in one file, for sneakernet or email.
//!
//! # Format
//! A bundle is a plain [CAR v1](https://ipld.io/specs/transport/car/carv1/) file, so any IPLD
//! tool can list and check it:
//!
//! ```text
//! varint(len(header)) header              DAG-CBOR {"roots": [CID, ...], "version": 1}
//! varint(len(cid) + len(data)) cid data   one section per change, repeated to the end
//! ```
//!
//! - Varints are unsigned LEB128 in their minimal form (multiformats `unsigned-varint`).
//! - The roots are the heads of the bundled documents when the bundle was written, document by
//!   document in the order asked for. A root need not be a block of the bundle: an incremental
//!   bundle with nothing new holds no block at all, and its roots are heads the receiver has.
//!   CAR readers disagree on empty root lists; weft writes one only for an empty list of
//!   documents and accepts it.
//! - Each section holds one change: its 36-byte binary CID (CIDv1, dag-cbor `0x71`, BLAKE3-256
//!   `0x1e`) and the exact block bytes. Sections come document by document, each document in
//!   `(height, CID)` order, so every change follows its parents.
//! - A bundle holds the changes of the given documents that are not ancestors of `since` (see
//!   [`Repo::missing`]); with `since` empty, every change of those documents. Document names are
//!   local and are not carried.
//!
//! # What [`apply`] verifies
//! Everything, as the file streams in, one section in memory at a time:
//! - the header: a varint length (bounded by [`MAX_HEADER_BYTES`]), DAG-CBOR that is a map of
//!   exactly `version` = 1 and `roots`, a list of weft CIDs;
//! - each section: a minimal varint length of at least a CID and at most the store's block size
//!   limit + 64 bytes (checked before any allocation), a weft dag-cbor CID, then the block:
//!   its hash against the CID, its size, canonical encoding, shape and signature, through
//!   [`Repo::import`];
//! - that every change's parents are in the repo or in the bundle (else
//!   [`Error::BundleBase`], naming the changes the bundle builds on that the repo lacks), and at
//!   the end that every root is present.
//!
//! # Guarantees
//! - Nothing unverified is ever stored. On any error (truncation, garbage, a block that does not
//!   match its CID, a bad signature, orphans, a missing root), every change that was fully
//!   verified and had its parents before the failure stays applied, in atomic groups, and the
//!   repo stays consistent (`fsck` passes). Errors about the file name it; errors about a
//!   block or change name its CID.
//! - Applying a bundle twice, or a bundle overlapping what the repo has, is harmless:
//!   the changes already present are counted as duplicates.
//! - A truncated file never passes silently: a cut inside the header or a section is reported
//!   as truncation, and a cut between sections leaves a root missing (the last change of each
//!   document in the bundle is one of its heads), unless the receiver already had it all.
//! - [`create`] streams: it holds the list of CIDs to write, never more than one block.

use std::io::{self, BufReader, BufWriter, Read, Write};

use ipld_core::{cid::Cid as IpldCid, ipld::Ipld};
use serde::Serialize;
use weft_dag::{DocId, Repo};
use weft_store::{Cid, Codec, CID_LEN};

use crate::Error;

/// The largest header [`apply`] accepts (a header is only its roots: about 40 bytes each).
pub const MAX_HEADER_BYTES: u64 = 16 << 20;

/// How much a section may exceed the store's block size limit (room for the CID).
pub const SECTION_OVERHEAD: u64 = 64;

/// The longest varint: 64 bits in 7-bit groups.
const MAX_VARINT_BYTES: usize = 10;

/// What [`create`] wrote or [`apply`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BundleStats {
    /// Changes (sections) in the bundle.
    pub changes: u64,
    /// Changes that were new here and are now applied (always 0 for [`create`]).
    pub applied: u64,
    /// Changes that were already present (always 0 for [`create`]).
    pub duplicates: u64,
    /// Size of the bundle in bytes.
    pub bytes: u64,
    /// The roots of the bundle: the heads of its documents when it was written.
    #[serde(serialize_with = "cids_as_text")]
    pub roots: Vec<Cid>,
}

fn cids_as_text<S: serde::Serializer>(cids: &[Cid], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(cids.iter().map(|c| c.to_string()))
}

// ----- create -----

/// Writes a bundle of the changes of `docs` that are not ancestors of `since` (every change of
/// `docs` if `since` is empty) to `out`, one block at a time. The roots are the current heads of
/// `docs`. With nothing new the bundle is still valid: the header and no section.
///
/// CIDs of `since` that are unknown here or belong to other documents are ignored, so `since`
/// may hold the heads of every document the receiver has. A document with no change here is
/// [`Error::UnknownDoc`]; a write failure is [`Error::Io`].
pub fn create(
    repo: &Repo,
    docs: &[DocId],
    since: &[Cid],
    out: impl Write,
) -> Result<BundleStats, Error> {
    let mut unique: Vec<DocId> = Vec::with_capacity(docs.len());
    for doc in docs {
        if !unique.contains(doc) {
            unique.push(*doc);
        }
    }
    let mut roots = Vec::new();
    for doc in &unique {
        let heads = repo.heads(*doc)?;
        if heads.is_empty() {
            return Err(Error::UnknownDoc {
                name: doc.to_string(),
            });
        }
        roots.extend(heads);
    }

    let mut out = Counting {
        inner: BufWriter::with_capacity(256 << 10, out),
        n: 0,
    };
    let write_err = |source| Error::Io {
        peer: "the bundle output".into(),
        source,
    };
    let header = encode_header(&roots)?;
    write_varint(&mut out, header.len() as u64).map_err(write_err)?;
    out.write_all(&header).map_err(write_err)?;

    let mut changes = 0u64;
    for doc in &unique {
        for (_, cid) in repo.missing(*doc, since)? {
            let block = repo.block(&cid)?;
            write_varint(&mut out, (CID_LEN + block.len()) as u64).map_err(write_err)?;
            out.write_all(&cid.to_bytes()).map_err(write_err)?;
            out.write_all(&block).map_err(write_err)?;
            changes += 1;
        }
    }
    out.flush().map_err(write_err)?;
    Ok(BundleStats {
        changes,
        applied: 0,
        duplicates: 0,
        bytes: out.n,
        roots,
    })
}

/// The header as DAG-CBOR (the encoder sorts the keys canonically: `roots`, then `version`).
fn encode_header(roots: &[Cid]) -> Result<Vec<u8>, Error> {
    #[derive(Serialize)]
    struct Header<'a> {
        version: u64,
        roots: &'a [Cid],
    }
    // Encoding integers and CIDs into memory cannot fail; map it anyway rather than panic.
    serde_ipld_dagcbor::to_vec(&Header { version: 1, roots }).map_err(|e| Error::Io {
        peer: "the bundle output".into(),
        source: io::Error::other(e.to_string()),
    })
}

fn write_varint(out: &mut impl Write, n: u64) -> io::Result<()> {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.write_all(unsigned_varint::encode::u64(n, &mut buf))
}

/// A writer or reader that counts the bytes that went through it.
struct Counting<T> {
    inner: T,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

// ----- apply -----

/// Reads a bundle from `input`, verifies every block and applies the changes; see the
/// [module docs](self) for what is checked. `path_for_errors` names the file in errors.
///
/// Errors: [`Error::BadBundle`] (one-line reason: truncated, garbage, wrong version, a foreign
/// CID, a missing root, a read failure), [`Error::BundleHashMismatch`] (names the CID),
/// [`Error::Repo`] for a change that fails verification (names the CID),
/// [`Error::BundleBase`] for changes whose parents are in neither the repo nor the bundle (it
/// names those parents: the bundle builds on another one). Whatever the error, the changes
/// verified before it (with their parents) stay applied.
pub fn apply(repo: &Repo, input: impl Read, path_for_errors: &str) -> Result<BundleStats, Error> {
    let mut r = Reader {
        inner: Counting {
            inner: BufReader::with_capacity(256 << 10, input),
            n: 0,
        },
        path: path_for_errors,
    };
    let roots = r.header()?;
    let max_section = repo.max_block_size() as u64 + SECTION_OVERHEAD;

    let mut import = repo.import();
    // Arrival records name the bundle, so `weft convergence` does not count its changes as
    // written here.
    import.set_source(&format!("bundle {path_for_errors}"));
    let mut changes = 0u64;
    let pushed = (|| {
        while let Some((cid, block)) = r.section(changes, max_section)? {
            changes += 1;
            import.push_claimed(cid, block).map_err(|e| match e {
                weft_dag::Error::HashMismatch(m) => Error::BundleHashMismatch {
                    path: path_for_errors.to_string(),
                    cid: m.expected,
                },
                other => Error::Repo(other),
            })?;
        }
        Ok(())
    })();
    if let Err(e) = pushed {
        // Keep what was verified; the first error is the one worth reporting.
        if let Err(commit) = import.finish_partial() {
            tracing::warn!(error = %commit, "committing the verified part of a bundle failed");
        }
        return Err(e);
    }
    // Changes whose parents are neither here nor in the bundle: it builds on another bundle.
    import.commit()?;
    let missing = import.missing_parents();
    if !missing.is_empty() {
        let n_orphans = import.n_waiting();
        import.finish_partial()?;
        return Err(Error::BundleBase {
            path: path_for_errors.to_string(),
            missing,
            n_orphans,
        });
    }
    let stats = import.finish()?;

    for root in &roots {
        if !repo.has_change(root)? {
            return Err(r.bad(format!(
                "root {root} is neither in the bundle nor in this repo (a truncated file, or an \
                 incremental bundle made for another replica?)"
            )));
        }
    }
    Ok(BundleStats {
        changes,
        applied: stats.applied.len() as u64,
        duplicates: stats.n_duplicates as u64,
        bytes: r.inner.n,
        roots,
    })
}

/// The reading side: parses the header and sections, with errors naming the file and offset.
struct Reader<'p, R> {
    inner: Counting<R>,
    path: &'p str,
}

/// What went wrong while reading a varint.
enum VarintError {
    /// Clean end of file before its first byte.
    Eof,
    /// The file ends inside the varint.
    Truncated,
    /// Not a valid minimal varint.
    Invalid(String),
    /// The reader failed.
    Io(io::Error),
}

impl<R: Read> Reader<'_, R> {
    /// A [`Error::BadBundle`] whose reason is kept to one line.
    fn bad(&self, reason: String) -> Error {
        Error::BadBundle {
            path: self.path.to_string(),
            reason: reason.replace(['\n', '\r'], " "),
        }
    }

    fn header(&mut self) -> Result<Vec<Cid>, Error> {
        let len = match self.varint() {
            Ok(n) => n,
            Err(VarintError::Eof) => return Err(self.bad("the file is empty".into())),
            Err(e) => return Err(self.varint_error(e, "the header length")),
        };
        if len == 0 {
            return Err(self.bad("the header is empty (not a CAR file?)".into()));
        }
        if len > MAX_HEADER_BYTES {
            return Err(self.bad(format!(
                "the header announces {len} bytes, over the {MAX_HEADER_BYTES}-byte limit \
                 (not a CAR file?)"
            )));
        }
        let bytes = self.exact(len, "the header")?;
        let ipld: Ipld = serde_ipld_dagcbor::from_slice(&bytes).map_err(|e| {
            let e = weft_dag::cbor::describe(&e);
            self.bad(format!("the header is not DAG-CBOR: {e}"))
        })?;
        let Ipld::Map(map) = ipld else {
            return Err(self.bad("the header is not a map (not a CAR file?)".into()));
        };
        match map.get("version") {
            Some(Ipld::Integer(1)) => {}
            Some(Ipld::Integer(v)) => {
                return Err(self.bad(format!(
                    "CAR version {v} is not supported (weft bundles are CAR v1)"
                )))
            }
            Some(_) => return Err(self.bad("the header's version is not an integer".into())),
            None => return Err(self.bad("the header has no version".into())),
        }
        if let Some(key) = map.keys().find(|k| *k != "version" && *k != "roots") {
            return Err(self.bad(format!("unknown header field {key:?}")));
        }
        let Some(Ipld::List(list)) = map.get("roots") else {
            return Err(self.bad("the header's roots are missing or not a list".into()));
        };
        list.iter()
            .map(|root| match root {
                Ipld::Link(c) => {
                    Cid::try_from(*c).map_err(|e| self.bad(format!("root is not a weft CID: {e}")))
                }
                _ => Err(self.bad("a root in the header is not a CID".into())),
            })
            .collect()
    }

    /// The next section (`index` counts from 0), or `None` at a clean end of file.
    fn section(&mut self, index: u64, max: u64) -> Result<Option<(Cid, Vec<u8>)>, Error> {
        let at = self.inner.n;
        let what = format!("section {} (byte {at})", index + 1);
        let len = match self.varint() {
            Ok(n) => n,
            Err(VarintError::Eof) => return Ok(None),
            Err(e) => return Err(self.varint_error(e, &format!("the length of {what}"))),
        };
        if len < CID_LEN as u64 {
            return Err(self.bad(format!(
                "{what} is {len} bytes, too short to hold a CID (trailing garbage?)"
            )));
        }
        if len > max {
            return Err(self.bad(format!(
                "{what} announces {len} bytes, over the {max}-byte limit"
            )));
        }
        let mut bytes = self.exact(len, &what)?;
        let mut rest = &bytes[..];
        let cid = IpldCid::read_bytes(&mut rest)
            .map_err(|e| self.bad(format!("{what} does not start with a CID: {e}")))?;
        let cid_len = bytes.len() - rest.len();
        let cid =
            Cid::try_from(cid).map_err(|e| self.bad(format!("{what} holds a foreign CID: {e}")))?;
        if cid.codec() != Codec::DagCbor {
            return Err(self.bad(format!(
                "{what} holds block {cid} of codec {}; a bundle holds dag-cbor changes only",
                cid.codec()
            )));
        }
        bytes.drain(..cid_len);
        Ok(Some((cid, bytes)))
    }

    /// Reads exactly `len` bytes (already bounded by the caller), or says the file is truncated.
    fn exact(&mut self, len: u64, what: &str) -> Result<Vec<u8>, Error> {
        // `len` is bounded, but a short hostile file may announce a large header: grow as the
        // bytes actually arrive past the first MiB.
        let mut bytes = Vec::with_capacity(len.min(1 << 20) as usize);
        let got = (&mut self.inner)
            .take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| self.bad(format!("cannot read {what}: {e}")))?;
        if (got as u64) < len {
            return Err(self.bad(format!(
                "truncated: the file ends inside {what} ({got} of {len} bytes)"
            )));
        }
        Ok(bytes)
    }

    fn varint(&mut self) -> Result<u64, VarintError> {
        let mut buf = [0u8; MAX_VARINT_BYTES];
        for i in 0..MAX_VARINT_BYTES {
            let mut byte = [0u8; 1];
            loop {
                match self.inner.read(&mut byte) {
                    Ok(0) if i == 0 => return Err(VarintError::Eof),
                    Ok(0) => return Err(VarintError::Truncated),
                    Ok(_) => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(VarintError::Io(e)),
                }
            }
            buf[i] = byte[0];
            if byte[0] & 0x80 == 0 {
                return unsigned_varint::decode::u64(&buf[..=i])
                    .map(|(n, _)| n)
                    .map_err(|e| VarintError::Invalid(e.to_string()));
            }
        }
        Err(VarintError::Invalid("longer than 10 bytes".into()))
    }

    fn varint_error(&self, e: VarintError, what: &str) -> Error {
        self.bad(match e {
            VarintError::Eof | VarintError::Truncated => {
                format!("truncated: the file ends inside {what}")
            }
            VarintError::Invalid(reason) => format!("{what} is not a valid varint: {reason}"),
            VarintError::Io(e) => format!("cannot read {what}: {e}"),
        })
    }
}
