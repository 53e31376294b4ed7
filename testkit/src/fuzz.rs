//! The saved inputs of the fuzz targets (`fuzz/crashers/<target>/`, see `fuzz/README.md`), for
//! the crate that owns a decoder to replay them in an ordinary test.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
};

/// Every file saved for fuzz target `target` (its README excepted), as `(path, bytes)`, in the
/// order of their names. The directory must exist: a target without crashers still has one.
pub fn crashers(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz")
        .join("crashers")
        .join(target);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}

/// Runs `call` on every saved input of fuzz target `target` (see [`crashers`]), each to its end
/// whatever the others do; fails naming every input on which it panicked.
pub fn replay(target: &str, call: impl Fn(&[u8])) {
    let inputs = crashers(target);
    assert!(!inputs.is_empty(), "fuzz/crashers/{target}/ holds no input");
    let panicked: Vec<String> = inputs
        .iter()
        .filter(|(_, bytes)| catch_unwind(AssertUnwindSafe(|| call(bytes))).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(panicked.is_empty(), "{target}: panicked on {panicked:?}");
}

#[cfg(test)]
mod tests {
    use super::replay;

    #[test]
    #[should_panic(expected = "byte-string-of-2-64-bytes")]
    fn a_panic_on_a_saved_input_fails_and_names_it() {
        // A stand-in for a decoder that panics on one input: the 9-byte byte-string header.
        replay("change_decode", |input| {
            assert_ne!(input.len(), 9, "a panic")
        });
    }

    #[test]
    fn inputs_that_return_pass() {
        replay("change_decode", |input| assert!(!input.is_empty()));
    }
}
