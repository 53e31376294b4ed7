//! Documents: creating them, their local names, and finding them by name or id.

use std::collections::BTreeSet;

use weft_store::{Cid, Store};

use crate::{
    change::{Change, EncodedChange},
    error::Error,
    graph::corrupt,
    id::DocId,
    identity::Identity,
    keys,
    write::{Stage, Writer},
};
use weft_store::sync_util::lock;

/// Checks a local document name.
pub(crate) fn validate_name(name: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidDocName {
            name: name.into(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 256 {
        return bad("it is longer than 256 bytes");
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("it contains whitespace or control characters");
    }
    if name.starts_with('b') && name.parse::<Cid>().is_ok() {
        return bad("it looks like a CID");
    }
    Ok(())
}

/// Creates a document with a new genesis change signed by `identity`, named `name` here.
/// Returns it with its genesis, for the caller to announce.
pub(crate) fn create(
    writer: &Writer,
    identity: &Identity,
    name: &str,
) -> Result<(DocId, EncodedChange), Error> {
    validate_name(name)?;
    let guard = lock(&writer.lock);
    if writer.store.contains(keys::DOC_NAMES, name.as_bytes())? {
        return Err(Error::DocExists { name: name.into() });
    }
    let mut nonce = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let change = Change::genesis(identity, writer.now(), nonce);
    let doc = DocId(change.cid);
    let note = keys::encode_note(writer.now(), "");
    let mut batch = writer.store.batch();
    let staged = writer.stage(&mut batch, &mut Stage::default(), &change, &note)?;
    batch.put(keys::DOC_NAMES, name.as_bytes(), &doc.0.to_bytes());
    batch.put(keys::DOC_IDS, &doc.0.to_bytes(), name.as_bytes());
    writer.commit(batch, [(&change, &staged)])?;
    drop(guard);
    Ok((doc, change))
}

/// Gives a local name to a document that is already here.
pub(crate) fn name(writer: &Writer, name: &str, doc: DocId) -> Result<(), Error> {
    validate_name(name)?;
    let _guard = lock(&writer.lock);
    let store = &writer.store;
    if let Some(existing) = store.get(keys::DOC_NAMES, name.as_bytes())? {
        if existing == doc.0.to_bytes() {
            return Ok(());
        }
        return Err(Error::DocExists { name: name.into() });
    }
    // Only a genesis change (whose document is itself) names a document.
    match writer.graph.change_meta(&doc.0)? {
        Some(meta) if meta.doc == doc => {}
        _ => {
            return Err(Error::UnknownDoc {
                name: doc.to_string(),
            })
        }
    }
    let mut batch = store.batch();
    // Naming a removed document brings it back.
    batch.delete(keys::DOC_REMOVED, &doc.0.to_bytes());
    if let Some(old) = store.get(keys::DOC_IDS, &doc.0.to_bytes())? {
        batch.delete(keys::DOC_NAMES, &old);
    }
    batch.put(keys::DOC_NAMES, name.as_bytes(), &doc.0.to_bytes());
    batch.put(keys::DOC_IDS, &doc.0.to_bytes(), name.as_bytes());
    Ok(batch.commit()?)
}

/// The named documents, sorted by name.
pub(crate) fn list(store: &Store) -> Result<Vec<(String, DocId)>, Error> {
    store
        .scan_prefix(keys::DOC_NAMES, &[])
        .map(|r| {
            let (k, v) = r?;
            let name =
                String::from_utf8(k).map_err(|_| corrupt("doc_names", "name is not UTF-8"))?;
            let cid = Cid::from_bytes(&v).map_err(|e| corrupt("doc_names", &e.to_string()))?;
            Ok((name, DocId(cid)))
        })
        .collect()
}

/// The document with a local name, or whose id (genesis CID) is `name_or_id`.
pub(crate) fn find(writer: &Writer, name_or_id: &str) -> Result<DocId, Error> {
    if let Some(v) = writer.store.get(keys::DOC_NAMES, name_or_id.as_bytes())? {
        let cid = Cid::from_bytes(&v).map_err(|e| corrupt("doc_names", &e.to_string()))?;
        return Ok(DocId(cid));
    }
    if let Ok(cid) = name_or_id.parse::<Cid>() {
        if let Some(meta) = writer.graph.change_meta(&cid)? {
            if meta.doc.0 == cid {
                if is_removed(&writer.store, meta.doc)? {
                    return Err(Error::RemovedDoc {
                        name: name_or_id.into(),
                    });
                }
                return Ok(DocId(cid));
            }
        }
    }
    Err(Error::UnknownDoc {
        name: name_or_id.into(),
    })
}

/// Every document present, named or not (every document has heads), but those removed here.
pub(crate) fn ids(store: &Store) -> Result<Vec<DocId>, Error> {
    let mut docs = BTreeSet::new();
    for r in store.scan_prefix(keys::HEADS, &[]) {
        let (k, _) = r?;
        let cid = Cid::from_bytes(&k).map_err(|_| corrupt("heads", "damaged key"))?;
        docs.insert(DocId(cid));
    }
    for doc in removed(store)? {
        docs.remove(&doc);
    }
    Ok(docs.into_iter().collect())
}

/// The documents removed here.
pub(crate) fn removed(store: &Store) -> Result<Vec<DocId>, Error> {
    store
        .scan_prefix(keys::DOC_REMOVED, &[])
        .map(|r| {
            let (k, _) = r?;
            let cid = Cid::from_bytes(&k).map_err(|_| corrupt("doc_removed", "damaged key"))?;
            Ok(DocId(cid))
        })
        .collect()
}

/// Whether `doc` was removed here.
pub(crate) fn is_removed(store: &Store, doc: DocId) -> Result<bool, Error> {
    Ok(store.contains(keys::DOC_REMOVED, &doc.0.to_bytes())?)
}

/// Removes a document from this replica: it loses its local name and is left out of every
/// listing and every sync from now on. Its changes stay in the log (which is append-only), and
/// so does its state, so that a replay or `fsck` sees the same repo; naming it again
/// ([`name`]) brings it back as it was.
pub(crate) fn remove(writer: &Writer, doc: DocId) -> Result<(), Error> {
    let _guard = lock(&writer.lock);
    let store = &writer.store;
    match writer.graph.change_meta(&doc.0)? {
        Some(meta) if meta.doc == doc => {}
        _ => {
            return Err(Error::UnknownDoc {
                name: doc.to_string(),
            })
        }
    }
    let mut batch = store.batch();
    if let Some(old) = store.get(keys::DOC_IDS, &doc.0.to_bytes())? {
        batch.delete(keys::DOC_NAMES, &old);
        batch.delete(keys::DOC_IDS, &doc.0.to_bytes());
    }
    batch.put(
        keys::DOC_REMOVED,
        &doc.0.to_bytes(),
        &writer.now().to_be_bytes(),
    );
    Ok(batch.commit()?)
}

/// The local name of a document, if it has one.
pub(crate) fn name_of(store: &Store, doc: DocId) -> Result<Option<String>, Error> {
    Ok(store
        .get(keys::DOC_IDS, &doc.0.to_bytes())?
        .and_then(|v| String::from_utf8(v).ok()))
}
