//! `init`, `id` and `doc`.

use crate::util::{cid, is_author, s, Dir};

#[test]
fn init_creates_repo_key_and_prints_author() {
    let dir = Dir::new();
    let out = dir.ok(&["init"]);
    assert!(dir.join(".weft/db").is_dir());
    let key = dir.join(".weft/key");
    assert!(key.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode is {mode:o}");
    }
    let author_line = out
        .lines()
        .find_map(|l| l.strip_prefix("author "))
        .unwrap_or_else(|| panic!("no author line in {out:?}"));
    assert!(is_author(author_line), "{author_line:?}");
    assert!(out.contains(".weft"), "{out:?}");
    // `id` agrees with what `init` printed.
    assert_eq!(dir.ok(&["id"]).trim(), author_line);
    // The new repo has document main with just its genesis, and passes fsck.
    let log = dir.run(&["log", "--json"]).success().json_lines();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["ops"][0]["op"], "genesis");
    assert_eq!(dir.json(&["fsck", "--json"])["ok"], true);
}

#[test]
fn init_json_names_root_author_and_doc() {
    let dir = Dir::new();
    let v = dir.json(&["init", "--json"]);
    assert!(is_author(s(&v, "author")), "{v}");
    let doc = s(&v, "doc");
    cid(doc);
    assert_eq!(
        std::path::Path::new(s(&v, "root")).canonicalize().unwrap(),
        dir.path().canonicalize().unwrap()
    );
    let docs = dir.json(&["doc", "ls", "--json"]);
    assert_eq!(docs["docs"][0]["name"], "main");
    assert_eq!(docs["docs"][0]["id"], doc);
}

#[test]
fn init_quiet_prints_nothing() {
    let dir = Dir::new();
    assert_eq!(dir.ok(&["-q", "init"]), "");
    assert!(dir.join(".weft/key").is_file());
}

#[test]
fn init_twice_fails_and_keeps_the_repo() {
    let dir = Dir::init();
    let author = dir.ok(&["id"]);
    dir.ok(&["set", "x", "1"]);
    let err = dir.fails(1, &["init"]);
    assert!(err.contains("already exists"), "{err}");
    // The first repo is untouched.
    assert_eq!(dir.ok(&["id"]), author);
    assert_eq!(dir.ok(&["get", "x"]), "1\n");
}

#[test]
fn init_dir_creates_the_repo_there() {
    let dir = Dir::new();
    let out = dir.ok(&["init", "sub/project"]);
    assert!(dir.join("sub/project/.weft/key").is_file());
    assert!(!dir.join(".weft").exists());
    assert!(out.contains("sub/project"), "{out:?}");
    // Commands run inside it find it.
    let mut cmd = crate::util::TestCmd::new(&dir.join("sub/project"));
    let id = cmd.args(&["id"]).run().success().stdout();
    assert!(out.contains(&format!("author {}", id.trim())), "{out:?}");
    // But not from the parent.
    dir.fails(3, &["id"]);
}

#[test]
fn id_human_and_json() {
    let dir = Dir::init();
    let human = dir.ok(&["id"]);
    assert!(is_author(human.trim_end_matches('\n')), "{human:?}");
    let v = dir.json(&["id", "--json"]);
    assert_eq!(s(&v, "author"), human.trim());
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    // Two repos have two different keys.
    let other = Dir::init();
    assert_ne!(other.ok(&["id"]), human);
}

#[test]
fn doc_new_and_ls() {
    let dir = Dir::init();
    let out = dir.ok(&["doc", "new", "notes"]);
    let (name, id) = out.trim().split_once('\t').unwrap();
    assert_eq!(name, "notes");
    cid(id);
    let v = dir.json(&["doc", "new", "todo", "--json"]);
    assert_eq!(v["name"], "todo");
    let todo = s(&v, "id").to_string();

    let ls = dir.json(&["doc", "ls", "--json"]);
    let docs = ls["docs"].as_array().unwrap();
    let names: Vec<&str> = docs.iter().map(|d| s(d, "name")).collect();
    assert_eq!(names, ["main", "notes", "todo"]);
    assert_eq!(docs[1]["id"], id);
    assert_eq!(docs[2]["id"], todo.as_str());

    let human = dir.ok(&["doc", "ls"]);
    assert_eq!(human.lines().count(), 3);
    assert!(human.contains(&format!("notes\t{id}\n")), "{human:?}");

    // -q suppresses the confirmation.
    assert_eq!(dir.ok(&["-q", "doc", "new", "quiet"]), "");
    assert_eq!(
        dir.json(&["doc", "ls", "--json"])["docs"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn doc_flag_selects_the_document() {
    let dir = Dir::init();
    let id = dir.json(&["doc", "new", "notes", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    dir.ok(&["set", "shared", "main-value"]);
    dir.ok(&["-d", "notes", "set", "only", "in-notes"]);
    dir.ok(&["--doc", "notes", "set", "shared", "notes-value"]);

    // Values in one document are invisible in the other.
    assert_eq!(dir.ok(&["-d", "notes", "get", "only"]), "\"in-notes\"\n");
    dir.fails(4, &["get", "only"]);
    dir.fails(4, &["-d", "main", "get", "only"]);
    assert_eq!(dir.ok(&["get", "shared"]), "\"main-value\"\n");
    assert_eq!(
        dir.ok(&["-d", "notes", "get", "shared"]),
        "\"notes-value\"\n"
    );

    // A document can also be named by its id.
    assert_eq!(dir.ok(&["--doc", &id, "get", "only"]), "\"in-notes\"\n");

    let main_keys: Vec<String> = dir.json(&["ls", "--json"])["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(e, "key").to_string())
        .collect();
    assert_eq!(main_keys, ["shared"]);
    let notes_keys: Vec<String> = dir.json(&["-d", "notes", "ls", "--json"])["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(e, "key").to_string())
        .collect();
    assert_eq!(notes_keys, ["only", "shared"]);

    // Each document has its own history.
    assert_eq!(dir.ok(&["log"]).lines().count(), 2);
    assert_eq!(dir.ok(&["-d", "notes", "log"]).lines().count(), 3);
    assert_eq!(
        dir.run(&["-d", "notes", "log", "--json"])
            .success()
            .json_lines()[0]["doc"],
        id.as_str()
    );
}
