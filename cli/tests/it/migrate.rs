//! A store written by the release before packs (format 1: every block and index in one sled
//! tree) is migrated when it is first opened, and then reads exactly as it did: state, heads,
//! members, log, document names, arrival records (`convergence`) and the sync status of a
//! remote. The fixture in `tests/data/format1` is the `.weft` of a repo made with that release:
//! two documents, every op kind, a writer granted, changes pulled from a clone of it
//! (`laptop`, so some arrivals have a source), and a change made after the pull.

use std::path::Path;

use serde_json::{json, Value as Json};

use crate::util::Dir;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A repo holding a copy of the format-1 fixture.
fn format1_repo() -> Dir {
    let dir = Dir::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/format1/dot-weft");
    copy_dir(&fixture, &dir.join(".weft"));
    // Git keeps no empty directory; sled had made this one.
    std::fs::create_dir_all(dir.join(".weft/db/blobs")).unwrap();
    dir
}

const MAIN: &str = "bafyr4idfxtpmx6x7fx3auc6top5g4zj7jjm7m6pifmgcayw5lgdoyarvoe";
const JOURNAL: &str = "bafyr4iaqb23y2pjcq2pguc46bp3buni2u365iaqj3gts7flhmtahuu7cbu";

const LOG: &str = "\
bafyr4iacct4cigg46bismgoulhts5qva4qx7blqiwm5et5herj4rfxef7e 73b7acda 2026-12-06T23:35:58.760Z set title
bafyr4idui6bsc54vm4q2fr3iztcx4j5qtoejlxsyx5zt7hvk733ctes7tm 5bc2581d 2026-12-06T23:35:58.680Z add tags
bafyr4ihxjo3a4ls27wrk2vl5hyez57jxc6m7vfa2oyyxnjazxbnrwb4va4 5bc2581d 2026-12-06T23:35:58.663Z incr visits
bafyr4ifimaapm44ytxj3nrn72nbag2qoudyjrq64okplrz7biyujrks66i 5bc2581d 2026-12-06T23:35:58.647Z set from_laptop
bafyr4ibuwmjl776w5pz65tjqsyqbbcbuxtreniios7c2dsbu3lfigjitba 73b7acda 2026-12-06T23:35:58.587Z grant writer 5bc2581d
bafyr4if2da6bwkozhrsvpx4xk6b2idf755k5cht2r62t4xaq37rbh6insq 73b7acda 2026-12-06T23:35:58.476Z del gone
bafyr4icg732oky6y7y3t4vuk5qdyq3ysqb7auyivqsvon2tn4c377fdmxa 73b7acda 2026-12-06T23:35:58.458Z set gone
bafyr4icfmheoseuhtj4hjiek3yr5tkphmbkdijjgs4awsmxm7skbnq4mji 73b7acda 2026-12-06T23:35:58.437Z remove tags
bafyr4ibxnj4tryaecwrjwaumf3w6w5allxuazsydgbg6ikgoeujrwg6imi 73b7acda 2026-12-06T23:35:58.414Z add tags, add tags, add tags
bafyr4ihrx4wxflwoypmlgdaz72sorr6l534uidq4lrmkzbhmysan7d54pa 73b7acda 2026-12-06T23:35:58.387Z incr visits
bafyr4ie4fjgmxmb3higbdlujfgmk3e4pkjiicdgc5ikvrprq46hmlcr7he 73b7acda 2026-12-06T23:35:58.368Z set todo/1
bafyr4if3mkeb2t76ysbvf25zni4ozzugmafh73sgyv45giihif7hflxh5u 73b7acda 2026-12-06T23:35:58.348Z set title
bafyr4idfxtpmx6x7fx3auc6top5g4zj7jjm7m6pifmgcayw5lgdoyarvoe 73b7acda 2026-12-06T23:35:58.329Z genesis
";

/// Everything the release that wrote the fixture showed, shown again after the migration.
fn assert_reads_as_written(dir: &Dir) {
    assert_eq!(
        dir.json(&["--json", "ls"]),
        json!({"entries": [
            {"conflict": false, "key": "from_laptop", "kind": "register", "value": 42},
            {"conflict": false, "key": "tags", "kind": "set", "value": [7, "y", "z"]},
            {"conflict": false, "key": "title", "kind": "register", "value": "hello again"},
            {"conflict": false, "key": "todo/1", "kind": "register",
             "value": {"done": false, "title": "milk"}},
            {"conflict": false, "key": "visits", "kind": "counter", "value": 4},
        ]})
    );
    assert_eq!(
        dir.json(&["-d", "journal", "--json", "ls"]),
        json!({"entries": [
            {"conflict": false, "key": "body", "kind": "register", "value": "one line"},
        ]})
    );
    assert_eq!(
        dir.ok(&["heads"]),
        "bafyr4iacct4cigg46bismgoulhts5qva4qx7blqiwm5et5herj4rfxef7e\n"
    );
    assert_eq!(
        dir.ok(&["-d", "journal", "heads"]),
        "bafyr4ignahaxyb2fg34bfl57gpamjjyfb3a46jy623ugbkjjqdre4qor6a\n"
    );
    assert_eq!(
        dir.ok(&["members"]),
        "73b7acda10f0a05b1206be1759be4f04257a5848557d3f7ec29d12e57ad1912d\towner\n\
         5bc2581de3b854e9c264507eb76d05cb17773fd566e249e03e19cafc8651c085\twriter\n"
    );
    assert_eq!(dir.ok(&["log", "--full"]), LOG);
    assert_eq!(
        dir.ok(&["doc", "ls"]),
        format!("journal\t{JOURNAL}\nmain\t{MAIN}\n")
    );
    // Arrival records: when each change arrived and from whom.
    assert_eq!(
        dir.json(&["--json", "convergence"]),
        json!({"count": 3, "docs": [
            {"count": 0, "doc": JOURNAL, "local": 2, "max_ms": null, "median_ms": null,
             "min_ms": null, "name": "journal", "p99_ms": null},
            {"count": 3, "doc": MAIN, "local": 10, "max_ms": 89, "median_ms": 73, "min_ms": 56,
             "name": "main", "p99_ms": 89},
        ], "limit": 1000, "local": 12, "max_ms": 89, "median_ms": 73, "min_ms": 56,
        "p99_ms": 89, "sources": [
            {"count": 3, "max_ms": 89, "median_ms": 73, "min_ms": 56, "p99_ms": 89,
             "source": "laptop"},
        ]})
    );
    // The sync status of the remote (the sync layer's keyspace, carried over as it was).
    let mut status = dir.json(&["--json", "status"]);
    let remote = &mut status["remotes"][0];
    assert!(remote["last_success_age_ms"].as_u64().is_some());
    remote["last_success_age_ms"] = Json::Null;
    assert_eq!(remote["remote"], "laptop");
    assert_eq!(remote["url"], "/home/ada/laptop");
    assert_eq!(remote["last_success"], 1_796_600_158_738u64);
    assert_eq!(remote["docs"][1]["ahead"], 1);
    assert_eq!(
        remote["docs"][1]["theirs"],
        json!(["bafyr4idui6bsc54vm4q2fr3iztcx4j5qtoejlxsyx5zt7hvk733ctes7tm"])
    );
    assert_eq!(status["docs"][1]["count"], 13);
}

#[test]
fn a_format1_store_is_migrated_and_reads_as_it_did() {
    let dir = format1_repo();
    // The first command migrates, then reads.
    assert_eq!(dir.ok(&["get", "title"]), "\"hello again\"\n");
    assert!(
        dir.join(".weft/packs").is_dir(),
        "the blocks moved to packs"
    );
    let fsck = dir.json(&["fsck", "--json"]);
    assert_eq!(fsck["ok"], true, "{fsck}");
    assert_eq!(fsck["n_changes"], 15);
    assert_eq!(fsck["n_docs"], 2);
    assert_reads_as_written(&dir);
    // Migrated once: it goes on as a store of the new format.
    dir.ok(&["set", "after", "1"]);
    dir.ok(&["-d", "journal", "set", "body", "\"two lines\""]);
    assert_eq!(dir.ok(&["get", "after"]), "1\n");
    assert_eq!(dir.ok(&["log"]).lines().count(), 14);
    assert!(dir.json(&["fsck", "--json"])["ok"] == true);
}

#[test]
fn a_migration_cut_short_starts_over_at_the_next_open() {
    let dir = format1_repo();
    // A migration that died after writing some packs: they are thrown away and redone.
    let packs = dir.join(".weft/packs");
    std::fs::create_dir_all(&packs).unwrap();
    std::fs::write(packs.join("pack-0000000000000000.pack"), b"WEFTPACK half").unwrap();
    assert_reads_as_written(&dir);
    assert_eq!(dir.json(&["fsck", "--json"])["ok"], true);
}
