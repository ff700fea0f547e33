//! Table tests for the name index: what exists, what is an empty non-terminal, and which zone
//! encloses a missing name (none above or beside an apex).

use super::{Entry, NameIndex};
use crate::dns::wire::to_wire;

/// Two zones sharing the parent `example.test`, one registry each (the first with a name server
/// host inside the zone), loaded from real files.
fn index() -> (NameIndex, Vec<crate::config::Zone>) {
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
    (NameIndex::build(&config), config.zones)
}

#[test]
fn names_entries_and_enclosing_zones() {
    let (index, zones) = index();
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
        assert_eq!(index.get(&zones, &wire), entry, "{name:?}");
        if entry.is_none() {
            assert_eq!(index.enclosing_zone(&wire), zone, "{name:?}");
        }
    }
    // The name server host outside every zone is not indexed at all.
    assert_eq!(index.get(&zones, &to_wire("ns.other.test")), None);
}
