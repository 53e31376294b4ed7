//! The saved inputs of the fuzz targets (`fuzz/crashers/<target>/`, see `fuzz/README.md`), for
//! the crate that owns a decoder to replay them in an ordinary test.

use std::path::{Path, PathBuf};

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
