//! Incremental apply: a reload reuses what the running configuration validated for every part
//! file whose content is unchanged, and the result answers exactly as a cold load of the same
//! files (every name, A/AAAA/TXT, 200 client subnets for each global name, from outside and
//! inside the view, byte for byte), through toggles, added and removed registries and files, a
//! touched file, zone-file and policy edits; a broken file changes nothing.

mod common;

use common::TestDir;
use common::parts::{REGIONS, ask, folder, part_of, registry, registry_with};
use georoute::config::{Config, load, load_from};
use georoute::dns::names::Entry;
use georoute::health::HealthState;
use georoute::snapshot::Snapshot;
use std::net::IpAddr;
use std::sync::Arc;

const N: usize = 40;
const PARTS: usize = 5;

/// 200 client subnets spread over the IPv4 space (and the demo database's test networks).
fn subnets() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = ["81.2.69.0", "216.160.83.0", "192.0.2.0", "2.125.160.0"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let mut i = 0u32;
    while out.len() < 200 {
        i += 1;
        let a = (i * 37) % 223 + 1;
        let b = (i * 101) % 256;
        out.push(IpAddr::from([a as u8, b as u8, (i % 256) as u8, 0]));
    }
    out
}

/// Every name of the zone, sorted, each with whether it is a global name.
fn names(snap: &Snapshot) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = snap
        .names
        .names_of(&snap.config, 0)
        .into_iter()
        .map(|(wire, e)| {
            let global = matches!(e, Entry::Global { .. });
            (georoute::dns::wire::name_text(&wire), global)
        })
        .collect();
    out.sort();
    out.push(("nope.parts.test".into(), false));
    out.push(("reg1.nowhere.geo.parts.test".into(), false));
    out
}

/// Every answer of `snap` for `names`.
fn sweep(snap: &Snapshot, names: &[(String, bool)], subnets: &[IpAddr]) -> Vec<Vec<u8>> {
    let health = HealthState::from_config(&snap.config);
    let mut out = Vec::new();
    for (name, global) in names {
        for qtype in [1u16, 28, 16] {
            out.push(ask(snap, &health, name, qtype, "10.1.2.3", None));
            out.push(ask(snap, &health, name, qtype, "198.51.100.7", None));
            let ecs = if *global { subnets } else { &subnets[..3] };
            for &e in ecs {
                out.push(ask(snap, &health, name, qtype, "198.51.100.7", Some(e)));
            }
        }
    }
    out
}

/// Loads `dir` both ways (incrementally from `previous`, and cold) and checks they answer
/// alike; returns the incremental one.
fn apply(dir: &TestDir, previous: &Config, step: &str) -> Config {
    let inc = load_from(&dir.path, Some(previous), true).unwrap_or_else(|e| panic!("{step}: {e}"));
    let cold = load(&dir.path).unwrap_or_else(|e| panic!("{step}: {e}"));
    let subnets = subnets();
    let (inc, cold) = (
        Snapshot::build(inc, 1).unwrap(),
        Snapshot::build(cold, 1).unwrap(),
    );
    let (ni, nc) = (names(&inc), names(&cold));
    assert_eq!(ni, nc, "{step}: the names differ");
    let (a, b) = (sweep(&inc, &nc, &subnets), sweep(&cold, &nc, &subnets));
    assert_eq!(a.len(), b.len());
    assert!(a.len() > 20_000, "{step}: {} answers", a.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "{step}: answer {i} differs");
    }
    inc.config
}

/// Whether registry `name` is the very one (not re-validated) in both configurations.
fn shared(a: &Config, b: &Config, name: &str) -> bool {
    let (x, y) = (a.zones[0].registry(name), b.zones[0].registry(name));
    let (Some((i, _)), Some((j, _))) = (x, y) else {
        return false;
    };
    Arc::ptr_eq(&a.zones[0].registries[i], &b.zones[0].registries[j])
}

/// Rewrites registry `n`'s line in its part file.
fn edit(dir: &TestDir, n: usize, line: &str) {
    let path = dir.path.join(part_of(n, PARTS));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(&registry(n)),
        "reg{n} is in {}",
        path.display()
    );
    std::fs::write(&path, text.replace(&registry(n), line)).unwrap();
}

#[test]
fn an_incremental_apply_answers_as_a_cold_load_of_the_same_files() {
    let dir = folder(N, PARTS);
    let first = load(&dir.path).unwrap();

    // A toggle in one file: only that file's registries are validated again.
    edit(&dir, 7, &registry_with(7, |i| i != 0));
    let c = apply(&dir, &first, "toggle");
    assert!(!shared(&first, &c, "reg7") && !shared(&first, &c, "reg12"));
    assert!(shared(&first, &c, "reg8") && shared(&first, &c, "reg9"));
    assert!(
        !shared(&first, &c, "reg0"),
        "the zone file is read every time"
    );

    // A registry added to one file and another removed from a second.
    let p1 = dir.path.join(part_of(6, PARTS));
    let text = std::fs::read_to_string(&p1).unwrap();
    std::fs::write(&p1, format!("{text}{}", registry(100))).unwrap();
    edit(&dir, 9, "");
    let c = apply(&dir, &c, "add and remove");
    assert!(c.zones[0].registry("reg100").is_some() && c.zones[0].registry("reg9").is_none());
    assert!(shared(&first, &c, "reg8"));

    // A file rewritten with the same bytes (a new identity): still reused.
    let p3 = dir.path.join(part_of(8, PARTS));
    let same = std::fs::read(&p3).unwrap();
    std::fs::remove_file(&p3).unwrap();
    std::fs::write(&p3, same).unwrap();
    let c = apply(&dir, &c, "touch");
    assert!(shared(&first, &c, "reg8"));

    // A new file, and a file gone.
    dir.write(
        "zones/parts.test.d/part99.yaml",
        &format!("registries:\n{}", registry(200)),
    );
    std::fs::remove_file(dir.path.join(part_of(5, PARTS))).unwrap();
    let c = apply(&dir, &c, "files added and removed");
    assert!(c.zones[0].registry("reg200").is_some() && c.zones[0].registry("reg10").is_none());
    assert!(shared(&first, &c, "reg8"));

    // The zone file's views change: the parts are reused, the view sees them.
    let zone = dir.path.join("zones/parts.test.yaml");
    let text = std::fs::read_to_string(&zone).unwrap();
    let text = text.replace(
        "{reg3: {global_address: 10.1.0.4}}",
        "{reg3: {global_address: 10.1.0.4}, reg8: {global_address: 10.1.0.8}}",
    );
    std::fs::write(&zone, text).unwrap();
    let c = apply(&dir, &c, "view edit");
    assert!(shared(&first, &c, "reg8"));
    assert!(c.zones[0].views[0].registries.contains_key("reg8"));

    // A probe policy file changes what registries may name: everything is validated again.
    dir.write("probes/extra.yaml", "policies:\n  extra: {kind: none}\n");
    let c = apply(&dir, &c, "policies");
    assert!(!shared(&first, &c, "reg8"));

    // A broken file: the same located error both ways.
    let p = dir.path.join(part_of(11, PARTS));
    let region = REGIONS[0];
    std::fs::write(
        &p,
        format!("registries:\n  - {{name: reg11, home_region: {region}, replicas: [{{region: nowhere, addresses: [192.0.2.1]}}]}}\n"),
    )
    .unwrap();
    let a = load_from(&dir.path, Some(&c), true)
        .unwrap_err()
        .to_string();
    let b = load(&dir.path).unwrap_err().to_string();
    assert_eq!(a, b);
    assert!(a.contains("part01.yaml:2:") && a.contains("nowhere"), "{a}");
}
