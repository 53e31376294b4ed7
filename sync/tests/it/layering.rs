//! The protocol crate stays sans-IO, so that an app with its own transport depends on it alone
//! and the lab runs it without network code: no file of `sync/src` names the network,
//! processes or threads, it reaches the store only through the dag, and neither this crate nor
//! the lab depends, even through another crate, on `snow` or on the transports (`weft-net`, and
//! `weft-live` above them). Dev-dependencies do not count: tests may use anything.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value as Json;

/// What a file of the protocol crate must not name.
const NO_IO: [&str; 4] = ["std::net", "std::process", "std::thread", "TcpStream"];

/// Crates that network code comes with.
const NETWORK_CRATES: [&str; 3] = ["snow", "weft-net", "weft-live"];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(file, word)` for every word of `words` that a file of `sync/src` contains, comments
/// included.
fn mentions(words: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 10, "sources not found in {}", src.display());
    let mut found = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for word in words {
            if text.contains(word) {
                found.push(format!("{} mentions {word}", file.display()));
            }
        }
    }
    found
}

#[test]
fn no_source_file_names_the_network_processes_or_threads() {
    let found = mentions(&NO_IO);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The sync layer keeps its own keyspace through `Repo::layer` and reads the repo through the
/// dag's API, never through the store beneath.
#[test]
fn the_store_is_reached_only_through_the_dag() {
    let found = mentions(&[".store()"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// Each package of the workspace's dependency graph with the packages it depends on for its
/// build proper (normal dependencies, on any platform), by name, from `cargo metadata`.
fn normal_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Json = serde_json::from_slice(&out.stdout).unwrap();
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let mut graph = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let deps: BTreeSet<String> = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| name_of[d["pkg"].as_str().unwrap()].to_string())
            .collect();
        graph.insert(name_of[node["id"].as_str().unwrap()].to_string(), deps);
    }
    graph
}

/// Every package `root` needs to build, itself left out.
fn closure(graph: &BTreeMap<String, BTreeSet<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(p) = todo.pop() {
        for d in graph.get(&p).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn neither_the_protocol_nor_the_lab_depends_on_network_code() {
    let graph = normal_dependencies();
    // The check can fail: the transports do depend on snow, and live sync on the transports.
    assert!(closure(&graph, "weft-net").contains("snow"));
    assert!(closure(&graph, "weft-live").contains("weft-net"));
    for krate in ["weft-sync", "weft-lab"] {
        let deps = closure(&graph, krate);
        assert!(deps.contains("weft-dag"), "{krate}: {deps:?}");
        for banned in NETWORK_CRATES {
            assert!(!deps.contains(banned), "{krate} depends on {banned}");
        }
    }
}

/// Each layer's keyspaces are its own: the store's `meta`, the dag's and sync's share no tag.
#[test]
fn no_two_layers_share_a_tag() {
    let mut all = weft_dag::keys::ALL.to_vec();
    all.push(weft_sync::keys::SYNC_PEERS);
    weft_testkit::check_unique(&all).unwrap();
}
