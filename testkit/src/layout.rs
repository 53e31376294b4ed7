//! [`check_unique`]: that the keyspaces of every layer together share no tag.

use weft_store::layout::Keyspace;

/// Checks that no two keyspaces of `all` share a tag and that none takes the store's own
/// (`meta`): each layer lists its keyspaces, and a test of each layer checks them together with
/// those of the layers below it.
pub fn check_unique(all: &[Keyspace]) -> Result<(), String> {
    let mut seen = [None::<&'static str>; 256];
    seen[Keyspace::META.tag as usize] = Some(Keyspace::META.name);
    for ks in all {
        if let Some(other) = seen[ks.tag as usize] {
            return Err(format!(
                "keyspaces {other:?} and {:?} both use tag {:#04x}",
                ks.name, ks.tag
            ));
        }
        seen[ks.tag as usize] = Some(ks.name);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_tag_is_found() {
        let a = Keyspace::derived(0x10, "a");
        let b = Keyspace::kept(0x11, "b");
        assert!(check_unique(&[a, b]).is_ok());
        let err = check_unique(&[a, Keyspace::derived(0x10, "c")]).unwrap_err();
        assert!(err.contains("\"a\" and \"c\""), "{err}");
        assert!(check_unique(&[Keyspace::derived(0x00, "mine")]).is_err());
    }
}
