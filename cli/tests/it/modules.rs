//! The rule inside every crate of the workspace: no two modules import each other, directly or
//! round a circle.
//!
//! A module is a file `src/NAME.rs` together with the files of its directory `src/NAME/` (its
//! submodules, at any depth: a split of one module is still one module here; `tests.rs` files,
//! unit tests, are left out); the crate root (`lib.rs`, `main.rs`) is none: it declares the
//! modules and may use them all. Module `a` uses module `b` when its code (comment lines and
//! its `#[cfg(test)] mod tests` left out) names `crate::b`: in `use crate::b::…`, in
//! `use crate::{b::…, …}`, or in a path such as `crate::b::f()`; or when it names an item that
//! the crate root imports from `b` (`pub use crate::{b::{Item, …}}`, `pub use b::Item`), as in
//! `use crate::{Item, …}` or `crate::Item`. These edges must form no cycle.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// The crates, as directories of the workspace.
const CRATES: [&str; 9] = [
    "store",
    "dag",
    "sync",
    "net",
    "live",
    "lab",
    "cli",
    "testkit",
    "apps/todo",
];

/// A crate's sources: the crate root's text and each module's, by module name.
struct Sources {
    root: String,
    modules: BTreeMap<String, String>,
}

/// Reads `src/*.rs` of the crate in `dir`, each with the files of its directory appended.
fn read_crate(dir: &Path) -> Sources {
    let src = dir.join("src");
    let mut root = None;
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            let text = modules.entry(name).or_default();
            for file in rust_files(&path) {
                if file.file_name().is_some_and(|n| n != "tests.rs") {
                    text.push('\n');
                    text.push_str(&code(&fs::read_to_string(&file).unwrap()));
                }
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        if name == "lib" || name == "main" {
            assert!(root.is_none(), "{}: two crate roots", src.display());
            root = Some(text);
        } else {
            let module = modules.entry(name).or_default();
            module.insert_str(0, &format!("{}\n", code(&text)));
        }
    }
    Sources {
        root: root.unwrap_or_else(|| panic!("{}: no lib.rs or main.rs", src.display())),
        modules,
    }
}

/// Every `.rs` file under `dir`, at any depth, in a stable order.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// `text` without its comment lines and without its test module (a `mod tests { … }` after
/// `#[cfg(test)]`, which ends the file, or the declaration `mod tests;` of one in its own file).
fn code(text: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.starts_with("mod tests") {
            // Drop the attributes above it, one of which must be `#[cfg(test)]`.
            let attrs = kept
                .iter()
                .rev()
                .take_while(|l| l.starts_with("#["))
                .count();
            let tail = kept.split_off(kept.len() - attrs);
            if tail.iter().any(|l| l.trim() == "#[cfg(test)]") {
                if line.trim_end().ends_with(';') {
                    // `mod tests;`: its file is left out; the code goes on.
                    continue;
                }
                break;
            }
            kept.extend(tail);
        }
        if !line.trim_start().starts_with("//") {
            kept.push(line);
        }
    }
    kept.join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier at the start of `s` (after white space), if any.
fn ident(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let end = s.find(|c| !is_ident(c)).unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// The text between the `{` that starts `s` and its matching `}`.
fn braced(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &s[1..i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces in `{s}`")
}

/// The items of a use-tree list (`a::{b, c}, d as e`), split at the commas outside braces.
fn items(list: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in list.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(list[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// Every path that follows `crate::` in `code`, as the text after `crate::`: one per item of a
/// `crate::{…}` list, so `crate::{a::X, b}` gives `a::X` and `b`.
fn crate_paths(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        // Not the tail of another name (`my_crate::`) or path (`x::crate::`).
        if code[..i].ends_with(|c: char| is_ident(c) || c == ':') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if rest.starts_with('{') {
            out.extend(items(braced(rest)));
        } else {
            out.push(rest);
        }
    }
    out
}

/// The names a use tree (`X`, `a::{X, b::Y as Z}`) brings into scope: the last segment of each
/// path, or its alias.
fn leaf_names(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    if let Some(i) = tree.find('{') {
        return items(braced(&tree[i..]))
            .into_iter()
            .flat_map(leaf_names)
            .collect();
    }
    let last = tree.rsplit_once(" as ").map_or(tree, |(_, alias)| alias);
    let last = last.rsplit("::").next().unwrap_or(last).trim();
    if last == "self" || last == "*" {
        // `b::{self}` names the module; a glob names nothing in particular.
        return Vec::new();
    }
    vec![last.to_string()]
}

/// What the crate root imports from its modules: item name -> module. From every `use` in the
/// root (`pub` or not: modules can reach either through `crate::`), written `crate::m::…`,
/// `self::m::…` or `m::…`, plain or in braces.
fn root_imports(root: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let root = code(root);
    let mut out = BTreeMap::new();
    let mut rest = root.as_str();
    while let Some(i) = rest.find("use ") {
        let at_word = rest[..i].ends_with(|c: char| !is_ident(c)) || i == 0;
        let tail = &rest[i + "use ".len()..];
        rest = tail;
        if !at_word {
            continue;
        }
        let Some(end) = tail.find(';') else { break };
        let tree = tail[..end].trim();
        let tree = tree
            .strip_prefix("crate::")
            .or_else(|| tree.strip_prefix("self::"))
            .unwrap_or(tree);
        let paths = match tree.strip_prefix('{') {
            Some(_) => items(braced(tree)),
            None => vec![tree],
        };
        for path in paths {
            let Some((module, inner)) = path.split_once("::") else {
                continue;
            };
            if !modules.contains(module.trim()) {
                continue;
            }
            for name in leaf_names(inner) {
                out.entry(name).or_insert_with(|| module.trim().to_string());
            }
        }
    }
    out
}

/// The module graph: each module and the other modules it uses.
fn graph(sources: &Sources) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeSet<String> = sources.modules.keys().cloned().collect();
    let reexported = root_imports(&sources.root, &names);
    let mut graph = BTreeMap::new();
    for (name, text) in &sources.modules {
        let code = code(text);
        let mut uses = BTreeSet::new();
        for path in crate_paths(&code) {
            let Some(first) = ident(path) else { continue };
            let target = if names.contains(first) {
                Some(first)
            } else {
                reexported.get(first).map(String::as_str)
            };
            if let Some(target) = target.filter(|t| t != name) {
                uses.insert(target.to_string());
            }
        }
        graph.insert(name.clone(), uses);
    }
    graph
}

/// A cycle of the graph, as the modules along it with the first repeated at the end, if there
/// is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit<'g>(
        node: &'g str,
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<&'g str>,
        path: &mut Vec<&'g str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut done, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

/// The graph as lines `module -> used, …`, for messages.
fn describe(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    graph
        .iter()
        .map(|(m, uses)| {
            format!(
                "  {m} -> {}\n",
                Vec::from_iter(uses.iter().cloned()).join(", ")
            )
        })
        .collect()
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut failures = Vec::new();
    for name in CRATES {
        let graph = graph(&read_crate(&workspace.join(name)));
        assert!(graph.len() > 1, "{name}: modules not found");
        if let Some(cycle) = find_cycle(&graph) {
            failures.push(format!(
                "{name}: {} import each other\n{}",
                cycle.join(" -> "),
                describe(&graph)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The longest a library source file may be: past it, a file holds more than one concern.
const MAX_LINES: usize = 800;

#[test]
fn no_library_source_file_is_over_800_lines() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut long = Vec::new();
    for name in CRATES.iter().filter(|c| **c != "cli") {
        for file in rust_files(&workspace.join(name).join("src")) {
            let lines = fs::read_to_string(&file).unwrap().lines().count();
            if lines > MAX_LINES {
                long.push(format!("{}: {lines} lines", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// In-memory crate sources: the root, then `(module, text)` pairs.
fn sources(root: &str, modules: &[(&str, &str)]) -> Sources {
    Sources {
        root: root.to_string(),
        modules: modules
            .iter()
            .map(|(m, t)| (m.to_string(), t.to_string()))
            .collect(),
    }
}

#[test]
fn the_check_finds_every_kind_of_reference() {
    let s = sources(
        "mod a;\nmod b;\nmod c;\nmod d;\n\
         pub use crate::{b::{Bee, inner::{Deep as Alias}}, c::Sea};\n\
         use d::Dee;\n",
        &[
            (
                "a",
                "use std::io;\n\
                 use crate::{\n    Bee,\n    c::{self, Other},\n};\n\
                 fn f() { crate::d::g(); my_crate::e::h(); }\n\
                 // use crate::e::Commented;\n\
                 #[cfg(test)]\n#[allow(clippy::unwrap_used)]\nmod tests {\n    use crate::e::T;\n}\n",
            ),
            ("b", "fn f() -> crate::Alias { todo!() }\n"),
            ("c", "use crate::Sea;\nfn f() -> crate::Dee { crate::run() }\n"),
            ("d", ""),
            ("e", ""),
        ],
    );
    let g = graph(&s);
    let edges = |m: &str| Vec::from_iter(g[m].iter().map(String::as_str));
    assert_eq!(edges("a"), ["b", "c", "d"]);
    assert_eq!(
        edges("b"),
        Vec::<&str>::new(),
        "its own re-export is no edge"
    );
    assert_eq!(edges("c"), ["d"]);
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn the_check_reports_a_cycle_round_a_circle() {
    // The shape the CLI had: `args` named `lab`'s type, `lab` used `cmd`, `cmd` used `args`,
    // one of them through the crate root's re-export.
    let s = sources(
        "mod args;\nmod cmd;\nmod lab;\npub use lab::LabCommand;\n",
        &[
            ("args", "pub enum Command { Lab(crate::LabCommand) }\n"),
            ("lab", "use crate::cmd::{write_json, UsageError};\n"),
            ("cmd", "use crate::{\n    args::{Cli, Command},\n};\n"),
        ],
    );
    let cycle = find_cycle(&graph(&s)).unwrap();
    assert_eq!(cycle, ["args", "lab", "cmd", "args"]);
    // Two modules that use each other directly.
    let s = sources(
        "",
        &[
            ("x", "fn f() { crate::y::g() }\n"),
            ("y", "use crate::x;\n"),
        ],
    );
    assert_eq!(find_cycle(&graph(&s)).unwrap(), ["x", "y", "x"]);
}

#[test]
fn a_module_directory_counts_as_its_module_and_its_tests_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("a")).unwrap();
    fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    fs::write(src.join("a.rs"), "mod inner;\n#[cfg(test)]\nmod tests;\n").unwrap();
    fs::write(src.join("a/inner.rs"), "use crate::b::B;\n").unwrap();
    fs::write(src.join("a/tests.rs"), "use crate::c::C;\n").unwrap();
    fs::write(src.join("b.rs"), "pub struct B;\n").unwrap();
    fs::write(
        src.join("c.rs"),
        "pub struct C;\nfn f() { crate::a::g() }\n",
    )
    .unwrap();
    let g = graph(&read_crate(dir.path()));
    assert_eq!(Vec::from_iter(g["a"].iter().map(String::as_str)), ["b"]);
    assert_eq!(
        find_cycle(&g),
        None,
        "a's unit tests use c, which uses a: no cycle"
    );
    fs::write(src.join("b.rs"), "pub struct B;\nuse crate::a::A;\n").unwrap();
    let g = graph(&read_crate(dir.path()));
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
}
