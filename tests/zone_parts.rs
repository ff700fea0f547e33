//! A zone over several files (`zones/<zone>.yaml` plus `zones/<zone>.d/*.yaml`): it answers
//! exactly as the same zone in one file, a registry may be defined once per zone, and every limit
//! is a located sentence. Live: a toggle in one part file changes only that registry, and a
//! broken part file changes nothing.

mod common;

use common::parts::{REGIONS, answers, folder, registry};
use common::{Ask, TestDir, TestServer, cname_region};
use hickory_proto::rr::RecordType;
use std::time::{Duration, Instant};

/// Every answer of the zone in `dir` (see `common::parts::answers`).
fn answers_of(dir: &TestDir, n: usize) -> Vec<Vec<u8>> {
    let snap = georoute::load_snapshot(&dir.path, 1).unwrap_or_else(|e| panic!("{e}"));
    answers(&snap, n)
}

#[test]
fn a_zone_over_several_files_answers_as_the_same_zone_in_one() {
    let n = 40;
    let one = answers_of(&folder(n, 0), n);
    let split = answers_of(&folder(n, 4), n);
    assert_eq!(one.len(), n * 7 * 2 * 5);
    assert!(one.iter().all(|a| a.len() > 12), "every query answered");
    for (i, (a, b)) in one.iter().zip(&split).enumerate() {
        assert_eq!(a, b, "answer {i} differs");
    }
    // `check` names the files, and which file holds a registry.
    let dir = folder(n, 4);
    let (code, text, err) = common::check(&dir.path);
    assert_eq!(code, Some(0), "{text}{err}");
    assert!(
        text.contains("files: ") && text.contains("and 4 more in "),
        "{text}"
    );
    assert!(
        text.contains("defined in: ") && text.contains("part01.yaml"),
        "{text}"
    );
}

/// `georoute check` of a folder: the exit code and standard error.
fn check(dir: &TestDir) -> (Option<i32>, String) {
    let (code, _, err) = common::check(&dir.path);
    (code, err)
}

#[test]
fn one_name_per_zone_and_every_limit_a_located_sentence() {
    // A registry of the zone file defined again in a part file: the second names the first.
    let dir = folder(12, 2);
    let part = dir.path.join("zones/parts.test.d/part01.yaml");
    let text = std::fs::read_to_string(&part).unwrap();
    let line = text.lines().count() + 1;
    std::fs::write(&part, format!("{text}{}", registry(1))).unwrap();
    let (code, err) = check(&dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("part01.yaml:{line}:"))
            && err.contains("registry reg1 is defined twice (first at ")
            && err.contains("parts.test.yaml:"),
        "{err}"
    );

    // A part file with a key that is not `registries`, and a folder without its zone file.
    let dir = folder(8, 2);
    dir.write(
        "zones/parts.test.d/part00.yaml",
        "views: []\nregistries: []\n",
    );
    dir.write("zones/other.test.d/x.yaml", "registries: []\n");
    let (code, err) = check(&dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("part00.yaml:1:1: unknown field `views`"),
        "{err}"
    );
    assert!(
        err.contains("other.test.d:1:1: a folder of registries with no zone file"),
        "{err}"
    );

    // Over the byte limit: refused before parsing, at 1:1, in a sentence.
    let dir = folder(8, 2);
    let big = format!("registries: []\n#{}\n", "x".repeat(16 * 1024 * 1024));
    dir.write("zones/parts.test.d/part01.yaml", &big);
    let (code, err) = check(&dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("part01.yaml:1:1: the file is 16777233 bytes; one configuration file holds at most 16777216"),
        "{err}"
    );

    // Beyond the parser's budget (anchors, here): our sentence, not the parser's words.
    let dir = folder(8, 2);
    let mut anchored = String::from("registries:\n");
    for r in 0..400 {
        let reps: Vec<String> = (0..128)
            .map(|i| format!("{{region: &a{r}x{i} eastus, addresses: [192.0.2.1]}}"))
            .collect();
        anchored += &format!(
            "  - {{name: r{r}, home_region: eastus, replicas: [{}]}}\n",
            reps.join(", ")
        );
    }
    dir.write("zones/parts.test.d/part01.yaml", &anchored);
    let (code, err) = check(&dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("part01.yaml:") && err.contains("the file holds more than 50000 anchors"),
        "{err}"
    );
    assert!(!err.contains("budget") && !err.contains("Anchors"), "{err}");

    // More files than a zone's folder holds.
    let dir = folder(4, 0);
    for f in 0..=georoute::config::MAX_FILES_PER_ZONE {
        dir.write(
            &format!("zones/parts.test.d/f{f:05}.yaml"),
            "registries: []\n",
        );
    }
    let (code, err) = check(&dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("parts.test.d:1:1: 10001 files; a zone's folder holds at most 10000"),
        "{err}"
    );
    // (128 replicas a registry: tests/check.rs `too_many_replicas_for_routing`.)
}

#[test]
fn a_toggle_in_one_part_file_moves_only_its_registry_and_a_broken_one_changes_nothing() {
    let n = 12;
    let dir = folder(n, 3);
    let s = TestServer::start(&dir.path);
    let region = |i: usize| {
        cname_region(
            &Ask::new(&format!("reg{i}.parts.test"), RecordType::A)
                .ecs("198.51.100.0/24")
                .udp(s.addr),
        )
    };
    let before: Vec<Option<String>> = (0..n).map(region).collect();
    // reg4's home replica (index 0 of its replicas) is drained in its part file (part01: 4 % 3).
    let part = dir.path.join("zones/parts.test.d/part01.yaml");
    let text = std::fs::read_to_string(&part).unwrap();
    let home = REGIONS[4 % REGIONS.len()];
    let line = registry(4);
    let drained = line.replacen(
        &format!("{{region: {home}, global_endpoint_routing: true"),
        &format!("{{region: {home}, global_endpoint_routing: false"),
        1,
    );
    assert_ne!(line, drained);
    std::fs::write(&part, text.replace(&line, &drained)).unwrap();
    let start = Instant::now();
    while s.status()["generation"] != 2 {
        assert!(start.elapsed() < Duration::from_secs(10), "no reload");
        std::thread::sleep(Duration::from_millis(50));
    }
    let after: Vec<Option<String>> = (0..n).map(region).collect();
    for i in 0..n {
        if i != 4 {
            assert_eq!(before[i], after[i], "reg{i} moved");
        }
    }
    assert_ne!(
        after[4].as_deref(),
        Some(home),
        "reg4 left its drained replica"
    );

    // A broken part file: rejected at its place, and everything keeps answering as it was.
    dir.write(
        "zones/parts.test.d/part02.yaml",
        "registries:\n  - {name: reg, colour: blue}\n",
    );
    let start = Instant::now();
    while s.status()["reload_failures"] != 1 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no failed reload"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let error = s.status()["last_reload_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("part02.yaml:2:") && error.contains("colour"),
        "{error}"
    );
    assert_eq!((0..n).map(region).collect::<Vec<_>>(), after);
}
