//! Table tests for the name index: what exists, what is an empty non-terminal, and which zone
//! encloses a missing name (none above or beside an apex).

use super::{Entry, NameIndex};
use crate::dns::wire::to_wire;

/// Two zones sharing the parent `example.test`, one registry each (the first with a name server
/// host inside the zone), loaded from real files.
fn index() -> (NameIndex, crate::config::Config) {
    let zones: Vec<(&str, String)> = [
        ("a.yaml", "a.example.test", "ns1.a.example.test"),
        ("b.yaml", "b.example.test", "ns.other.test"),
    ]
    .into_iter()
    .map(|(file, zone, ns)| {
        (file, format!(
            "zone: {zone}\nsoa: {{mname: {ns}., rname: h.{zone}., refresh: 1, retry: 1, expire: 1, minimum: 1}}\nnameservers: [{{name: {ns}., addresses: [192.0.2.1]}}]\nregistries:\n  - name: reg\n    home_region: eastus\n    replicas: [{{region: eastus, addresses: [192.0.2.10]}}]\n"
        ))
    })
    .collect();
    let config = crate::config::load_test_zones("names", &zones);
    (NameIndex::build(&config), config)
}

#[test]
fn names_entries_and_enclosing_zones() {
    let (index, config) = index();
    let regional = Entry::Regional {
        registry: 0,
        replica: 0,
    };
    let data = Entry::Data {
        registry: 0,
        replica: 0,
    };
    // name → (exact entry, enclosing zone when missing)
    type Row = (&'static str, Option<(usize, Entry)>, Option<usize>);
    let table: [Row; 16] = [
        ("a.example.test", Some((0, Entry::Apex)), Some(0)),
        ("b.example.test", Some((1, Entry::Apex)), Some(1)),
        (
            "reg.a.example.test",
            Some((0, Entry::Global { registry: 0 })),
            Some(0),
        ),
        (
            "reg.eastus.geo.b.example.test",
            Some((1, regional)),
            Some(1),
        ),
        ("reg.eastus.data.a.example.test", Some((0, data)), Some(0)),
        (
            "ns1.a.example.test",
            Some((0, Entry::Host { nameserver: 0 })),
            Some(0),
        ),
        ("geo.a.example.test", Some((0, Entry::Empty)), Some(0)),
        (
            "eastus.geo.a.example.test",
            Some((0, Entry::Empty)),
            Some(0),
        ),
        (
            "eastus.data.b.example.test",
            Some((1, Entry::Empty)),
            Some(1),
        ),
        ("nope.a.example.test", None, Some(0)),
        ("x.reg.a.example.test", None, Some(0)),
        // Above and beside the apexes: not ours, no zone encloses them.
        ("example.test", None, None),
        ("test", None, None),
        ("", None, None),
        ("c.example.test", None, None),
        ("other.test", None, None),
    ];
    for (name, entry, zone) in table {
        let wire = to_wire(name);
        assert_eq!(index.get(&config, &wire), entry, "{name:?}");
        if entry.is_none() {
            assert_eq!(index.enclosing_zone(&wire), zone, "{name:?}");
        }
    }
    // The name server host outside every zone is not indexed at all.
    assert_eq!(index.get(&config, &to_wire("ns.other.test")), None);
}

/// Every name `names_of` lists is found as itself, and nothing it does not list is an empty
/// non-terminal of the zone.
#[test]
fn every_listed_name_is_found_as_itself() {
    let (index, config) = index();
    for z in 0..config.zones.len() {
        let names = index.names_of(&config, z);
        assert!(names.len() >= 7, "{names:?}");
        for (wire, entry) in names {
            assert_eq!(index.get(&config, &wire), Some((z, entry)), "{wire:?}");
        }
    }
}

/// A zone inside another (`geo.example.test` inside `example.test`): a name below the inner
/// apex is the inner zone's alone, as DNS has it, even where the outer zone's registries
/// would have a regional name there.
#[test]
fn the_nearest_apex_owns_a_name() {
    let zone = |apex: &str, registries: &str| {
        format!(
            "zone: {apex}\nsoa: {{mname: ns.other.test., rname: h.other.test., refresh: 1, retry: 1, expire: 1, minimum: 1}}\nnameservers: [{{name: ns.other.test.}}]\nregistries:\n{registries}"
        )
    };
    let reg = "  - {name: reg, home_region: eastus, replicas: [{region: eastus, addresses: [192.0.2.10]}]}\n";
    let config = crate::config::load_test_zones(
        "nested",
        &[
            ("outer.yaml", zone("example.test", reg)),
            ("inner.yaml", zone("geo.example.test", "  []\n")),
        ],
    );
    let index = NameIndex::build(&config);
    let at = |name: &str| {
        let wire = to_wire(name);
        (index.get(&config, &wire), index.enclosing_zone(&wire))
    };
    let outer = config
        .zones
        .iter()
        .position(|z| z.name == "example.test")
        .unwrap();
    let inner = 1 - outer;
    assert_eq!(
        at("reg.example.test"),
        (Some((outer, Entry::Global { registry: 0 })), Some(outer))
    );
    assert_eq!(
        at("geo.example.test"),
        (Some((inner, Entry::Apex)), Some(inner))
    );
    assert_eq!(at("reg.eastus.geo.example.test"), (None, Some(inner)));
    assert_eq!(at("eastus.geo.example.test"), (None, Some(inner)));
}
