//! `georoute check` and `georoute explain`, run as the real binary on real files: the shipped
//! example passes and explains as documented; every validation rule of SPEC.md section 6 is
//! enforced with exit code 2 and a `file:line:col: message` that points at the offending text.
//!
//! Test YAML marks each place an error must be reported with `»` (removed before writing).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const ZONE: &str = "zones/test.yaml";

/// A minimal valid zone; the tests below change one thing in it.
const BASE: &str = "\
zone: example.com
ttl: 3600
soa: {mname: ns1.example.com., rname: hostmaster.example.com., refresh: 3600, retry: 600, expire: 604800, minimum: 30}
nameservers:
  - {name: ns1.example.com., addresses: [192.0.2.53]}
registries:
  - name: reg
    home_region: eastus
    replicas:
      - region: eastus
        addresses: [20.62.128.10]
      - region: westeurope
        addresses: [20.105.0.10]
";

/// A fresh configuration folder, removed when dropped.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Dir {
    /// Writes `text` without its marks to `rel`; returns the (line, column) of each mark.
    fn write(&self, rel: &str, text: &str) -> Vec<(usize, usize)> {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut marks: Vec<(usize, usize)> = Vec::new();
        for (line, l) in text.split('\n').enumerate() {
            for (i, _) in l.match_indices('»') {
                let col = l[..i].chars().count() - marks.iter().filter(|m| m.0 == line + 1).count();
                marks.push((line + 1, col + 1));
            }
        }
        std::fs::write(path, text.replace('»', "")).unwrap();
        marks
    }
}

/// A folder with the shipped region catalogue and `zones/test.yaml` holding `zone_yaml`.
fn config(zone_yaml: &str) -> (Dir, Vec<(usize, usize)>) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = Dir(std::env::temp_dir().join(format!("georoute-check-{}-{n}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let catalogue = std::fs::read_to_string(format!("{ROOT}/geoip/regions.yaml")).unwrap();
    dir.write("geoip/regions.yaml", &catalogue);
    let marks = dir.write(ZONE, zone_yaml);
    (dir, marks)
}

/// `BASE` with `from` (which must occur) replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} is not in BASE");
    BASE.replacen(from, to, 1)
}

/// Runs the binary; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_georoute"))
        .args(args)
        .output()
        .expect("running georoute");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
    (
        out.status.code().expect("exit code"),
        text(out.stdout),
        text(out.stderr),
    )
}

fn check(dir: &Dir) -> (i32, String, String) {
    run(&["check", "--config", dir.0.to_str().unwrap()])
}

/// `check` accepts the zone and lists its registry.
fn accepts(zone_yaml: &str) {
    let (dir, _) = config(zone_yaml);
    let (code, out, err) = check(&dir);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("configuration OK"), "{out}");
    assert!(out.contains("registry reg.example.com"), "{out}");
}

/// `check` exits 2 and reports exactly these errors: `<dir>/<file>:<line>:<col>: ` followed by
/// a message containing the fragment.
fn rejected(dir: &Dir, expected: &[(&str, (usize, usize), &str)]) {
    let (code, out, err) = check(dir);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    let mut lines = err.lines();
    assert_eq!(
        lines.next(),
        Some("georoute: invalid configuration:"),
        "{err}"
    );
    let lines: Vec<&str> = lines.collect();
    assert_eq!(lines.len(), expected.len(), "unexpected errors:\n{err}");
    for (file, (line, col), fragment) in expected {
        let prefix = format!("{}:{line}:{col}: ", dir.0.join(file).display());
        let found = lines
            .iter()
            .any(|l| l.starts_with(&prefix) && l.contains(fragment));
        assert!(found, "expected `{prefix}...{fragment}...` in:\n{err}");
    }
}

/// The zone is rejected with one error per mark, in mark order, with these fragments.
fn rejects(zone_yaml: &str, fragments: &[&str]) {
    let (dir, marks) = config(zone_yaml);
    assert_eq!(marks.len(), fragments.len(), "marks in {zone_yaml}");
    let expected: Vec<_> = marks
        .into_iter()
        .zip(fragments)
        .map(|(m, f)| (ZONE, m, *f))
        .collect();
    rejected(&dir, &expected);
}

/// `BASE` with one edit is rejected with one error at the mark.
fn rejects_edit(from: &str, to: &str, fragment: &str) {
    rejects(&edit(from, to), &[fragment]);
}

#[test]
fn shipped_example_passes() {
    let (code, out, err) = run(&["check", "--config", ROOT]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("myregistry"), "{out}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn minimal_config_and_boundaries_pass() {
    accepts(BASE);
    let ttls = "    ttl: {global: 1, regional: 86400}\n    replicas:";
    accepts(&edit("ttl: 3600", "ttl: 86400").replace("    replicas:", ttls));
    // One drained replica is fine; names are case-insensitive.
    accepts(&edit(
        "[20.105.0.10]",
        "[20.105.0.10]\n        global_endpoint_routing: false",
    ));
    accepts(&edit("region: westeurope", "region: WestEurope"));
}

#[test]
fn unknown_keys() {
    rejects_edit(
        "ttl: 3600",
        "ttl: 3600\n»colour: red",
        "unknown field `colour`",
    );
    let nested = "[20.62.128.10]\n        »colour: red";
    rejects_edit(
        "[20.62.128.10]",
        nested,
        "unknown field `colour`, expected one of region",
    );
    let (dir, _) = config(BASE);
    let probes = "policies:\n  default:\n    flap: {limit: 4, »windw: 10m}\n";
    let at = dir.write("probes/default.yaml", probes)[0];
    rejected(
        &dir,
        &[("probes/default.yaml", at, "unknown field `windw`")],
    );
}

#[test]
fn bad_values_and_yaml_syntax() {
    // A value of the wrong kind names its key and what the key takes (not "invalid u32").
    rejects_edit(
        "ttl: 3600",
        "ttl: »abc",
        "ttl: a whole number of seconds from 1 to 86400, not \"abc\"",
    );
    rejects_edit(
        "ttl: 3600",
        "ttl: »-1",
        "ttl: a whole number of seconds from 1 to 86400, not \"-1\"",
    );
    let alias = "    global_answer: »alias\n    replicas:";
    rejects_edit(
        "    replicas:",
        alias,
        "unknown variant `alias`, expected one of cname",
    );
    // The parser reports where it stops: the second `:`, the unclosed quote.
    rejects_edit(
        "zone: example.com",
        "zone: example.com»: x",
        "mapping values",
    );
    rejects_edit(
        "zone: example.com",
        "zone: »\"example.com",
        "unclosed quote",
    );
}

#[test]
fn duplicate_region_or_registry() {
    rejects_edit(
        "region: westeurope",
        "region: »eastus",
        "eastus appears twice",
    );
    // `REG` is `reg` again.
    let registry = &BASE[BASE.find("  - name: reg").unwrap()..];
    let twice = format!("{BASE}{}", registry.replace("name: reg", "name: »REG"));
    rejects(&twice, &["registry reg is defined twice"]);
}

#[test]
fn regions_missing_from_the_catalogue() {
    rejects_edit(
        "region: westeurope",
        "region: »nowhere",
        "\"nowhere\" is not in geoip/regions.yaml",
    );
    let view = "views:\n  - {name: v, clients: [10.0.0.0/8], region: »atlantis}\n";
    rejects(
        &format!("{BASE}{view}"),
        &["\"atlantis\" is not in geoip/regions.yaml"],
    );
    // Overrides and region health name catalogue regions too; errors of every file are reported.
    let (dir, _) = config(BASE);
    let geoip = dir.write(
        "geoip/geoip.yaml",
        "locations:\n  - {clients: 198.51.100.0/24, region: »narnia}\n",
    );
    let health = dir.write(
        "probes/regions.yaml",
        "regions:\n  westeurope: {status: down}\n  »mordor: {status: down}\n",
    );
    rejected(
        &dir,
        &[
            ("geoip/geoip.yaml", geoip[0], "unknown region \"narnia\""),
            (
                "probes/regions.yaml",
                health[0],
                "unknown region \"mordor\"",
            ),
        ],
    );
}

#[test]
fn registry_without_a_globally_routed_replica() {
    let drained = BASE
        .replace(
            "        addresses: [20",
            "        global_endpoint_routing: false\n        addresses: [20",
        )
        .replace("name: reg", "name: »reg");
    rejects(
        &drained,
        &["registry reg has no replica with global_endpoint_routing: true"],
    );
}

#[test]
fn addresses_of_the_wrong_kind() {
    rejects_edit(
        "[20.105.0.10]",
        "[20.105.0.10, »not-an-ip]",
        "\"not-an-ip\" is not an IPv4 or IPv6 address",
    );
    let mapped = "[20.105.0.10, »\"::ffff:1.2.3.4\"]";
    rejects_edit(
        "[20.105.0.10]",
        mapped,
        "::ffff:1.2.3.4 is an IPv4-mapped IPv6 address",
    );
    rejects_edit(
        "[192.0.2.53]",
        "[192.0.2.53, »224.0.0.1]",
        "224.0.0.1 is not a unicast address",
    );
    let view = "views:
  - name: v
    clients: [10.0.0.0/8]
    region: eastus
    registries: {reg: {global_address: »\"::ffff:10.0.0.4\"}}
";
    rejects(&format!("{BASE}{view}"), &["IPv4-mapped"]);
}

#[test]
fn overlapping_views() {
    let views = "views:
  - {name: a, clients: [10.1.0.0/16], region: eastus}
  - {name: b, clients: [10.2.0.0/16, »10.1.2.0/24], region: westeurope}
";
    rejects(
        &format!("{BASE}{views}"),
        &["view b (10.1.2.0/24) overlaps view a (10.1.0.0/16)"],
    );
    accepts(&format!(
        "{BASE}{}",
        views.replace("»10.1.2.0/24", "10.3.0.0/24")
    ));
}

#[test]
fn ttls_out_of_range() {
    rejects_edit(
        "ttl: 3600",
        "ttl: »0",
        "ttl must be 1..=86400 seconds, not 0",
    );
    rejects_edit("ttl: 3600", "ttl: »100000", "ttl must be 1..=86400 seconds");
    rejects_edit(
        "minimum: 30",
        "minimum: »0",
        "soa.minimum must be 1..=86400",
    );
    let ttl = "    ttl: {global: »0, data: »86401}\n    replicas:";
    rejects(
        &edit("    replicas:", ttl),
        &["ttl.global must be", "ttl.data must be"],
    );
}

#[test]
fn invalid_dns_names() {
    rejects_edit(
        "zone: example.com",
        "zone: »bad..name",
        "\"bad..name\" is not a valid DNS name",
    );
    rejects_edit(
        "zone: example.com",
        "zone: »example.com..",
        "is not a valid DNS name",
    );
    rejects_edit(
        "name: reg",
        "name: »my_registry!",
        "\"my_registry!\" is not a valid DNS label",
    );
    rejects_edit("{name: ns1.", "{name: »ns1..", "is not a valid DNS name");
}

#[test]
fn probe_policy_and_home_region() {
    let policy = "    probe: »nosuch\n    replicas:";
    rejects_edit("    replicas:", policy, "unknown probe policy \"nosuch\"");
    // A policy defined in probes/*.yaml may be named.
    let (dir, _) = config(&edit("    replicas:", "    probe: fast\n    replicas:"));
    dir.write("probes/default.yaml", "policies:\n  fast: {interval: 2s}\n");
    assert_eq!(check(&dir).0, 0);

    let home = "registry reg has no replica in region \"japaneast\"";
    rejects_edit("home_region: eastus", "home_region: »japaneast", home);
    let defaults = "    default_regions: [eastus, »brazilsouth]\n    replicas:";
    rejects_edit(
        "    replicas:",
        defaults,
        "no replica in region \"brazilsouth\"",
    );
}

#[test]
fn geoip_settings() {
    let (dir, _) = config(BASE);
    let geoip = "subnet_prefix: {ipv4: »40, ipv6: 56}
locations:
  - {clients: »198.51.100.1/24, region: westeurope}
  - {clients: 203.0.113.0/24, latitude: 35.68, longitude: 139.69}
";
    let at = dir.write("geoip/geoip.yaml", geoip);
    let host_bits = "198.51.100.1/24 has host bits set; did you mean 198.51.100.0/24?";
    let expected = [
        (
            "geoip/geoip.yaml",
            at[0],
            "subnet_prefix.ipv4 must be 0..=32",
        ),
        ("geoip/geoip.yaml", at[1], host_bits),
    ];
    rejected(&dir, &expected);
}

#[test]
fn every_error_of_a_run_is_reported() {
    let yaml = edit("ttl: 3600", "ttl: »0")
        .replace("[20.62.128.10]", "[»\"::ffff:20.62.128.10\", 20.62.128.10]")
        .replace("region: westeurope", "region: »nowhere");
    let (dir, at) = config(&yaml);
    // A broken second zone file does not hide the errors of the first.
    let other = dir.write("zones/zz.yaml", "zone: other.example\nsoa: »[\n");
    let expected = [
        (ZONE, at[0], "ttl must be"),
        (ZONE, at[1], "IPv4-mapped"),
        (ZONE, at[2], "\"nowhere\" is not in geoip/regions.yaml"),
        ("zones/zz.yaml", other[0], "expected mapping start"),
    ];
    rejected(&dir, &expected);
}

fn explain(name: &str, ecs: Option<&str>) -> String {
    let mut args = vec!["explain", name, "--client", "127.0.0.1", "--config", ROOT];
    args.extend(ecs.iter().flat_map(|e| ["--ecs", e]));
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    out
}

#[test]
fn explain_global_name_by_geoip_and_override() {
    let sydney = explain("myregistry.azurecr.io", Some("192.0.2.0/24"));
    assert!(
        sydney.contains("location: GeoIP network 192.0.2.0/24"),
        "{sydney}"
    );
    assert!(sydney.contains("choice:   australiaeast"), "{sydney}");
    let regions = "eastus eastus2 westeurope northeurope southeastasia australiaeast";
    for region in regions.split(' ') {
        let row = sydney
            .lines()
            .find(|l| l.split_whitespace().next() == Some(region));
        let row = row.unwrap_or_else(|| panic!("no row for {region}:\n{sydney}"));
        let km = row.split_whitespace().nth(1).unwrap();
        assert!(km.parse::<f64>().is_ok(), "distance of {region}: {row}");
    }

    let amsterdam = explain("myregistry.azurecr.io", Some("198.51.100.0/24"));
    let located = "location: override 198.51.100.0/24 (region westeurope)";
    assert!(amsterdam.contains(located), "{amsterdam}");
    assert!(amsterdam.contains("choice:   northeurope"), "{amsterdam}");
    let drained = amsterdam
        .lines()
        .find(|l| l.trim_start().starts_with("westeurope "));
    let drained = drained.expect("a westeurope row");
    assert!(
        drained.contains("false") && drained.trim_end().ends_with("no"),
        "{drained}"
    );
}

#[test]
fn explain_regional_name_is_static() {
    let out = explain("myregistry.westeurope.geo.azurecr.io", None);
    assert!(out.contains("static"), "{out}");
    let a = out
        .lines()
        .find(|l| l.starts_with("answer A:"))
        .expect("an A line");
    assert!(a.contains("192.0.2.12"), "{out}");
}

#[test]
fn too_many_replicas_for_routing() {
    // A catalogue larger than Azure's, and a registry with a replica in each of 130 regions.
    let (dir, _) = config(BASE);
    let mut catalogue = String::from("regions:\n");
    let mut zone = String::from(
        "zone: big.test\nsoa: {mname: ns1.big.test., rname: h.big.test., refresh: 1, retry: 1, expire: 1, minimum: 30}\nnameservers: [{name: ns2.example.net.}]\nregistries:\n  - name: reg\n    home_region: r0\n    replicas:\n",
    );
    for i in 0..130 {
        catalogue += &format!("  r{i}: {{latitude: 0, longitude: {}}}\n", i - 65);
        zone += &format!("      - {{region: r{i}, addresses: [192.0.2.1]}}\n");
    }
    std::fs::write(dir.0.join("geoip/regions.yaml"), catalogue).unwrap();
    std::fs::write(dir.0.join(ZONE), zone).unwrap();
    let (code, _, err) = check(&dir);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("test.yaml:5:11: registry reg has 130 replicas; at most 128"),
        "{err}"
    );
}

#[test]
fn latency_table_and_routing_knobs() {
    let (dir, _) = config(BASE);
    let latency = "networks:
  - {clients: 198.51.100.0/24, rtt_ms: {westeurope: 12, eastus: 85}}
  - {clients: 198.51.100.0/25, rtt_ms: {westeurope: 9}}
  - {clients: »198.51.100.0/24, rtt_ms: {eastus: 80}}
  - {clients: 203.0.113.0/24, rtt_ms: {nowhere: »5, eastus: »-3}}
  - {clients: »203.0.113.9/24, rtt_ms: {eastus: 5}}
";
    let at = dir.write("geoip/latency.yaml", latency);
    let expected = [
        (
            "geoip/latency.yaml",
            at[0],
            "198.51.100.0/24 is listed twice (first at line 2); nested networks are fine",
        ),
        ("geoip/latency.yaml", at[1], "unknown region \"nowhere\""),
        (
            "geoip/latency.yaml",
            at[2],
            "rtt_ms.eastus must be 0..=60000",
        ),
        ("geoip/latency.yaml", at[3], "has host bits set"),
    ];
    rejected(&dir, &expected);

    let yaml = BASE.replace(
        "    home_region: eastus\n",
        "    home_region: eastus\n    ttl: {global: 30, suspect: »0}\n    routing: {failback_ramp: »soon, failover_band_percent: »-1}\n",
    );
    let (dir, at) = config(&yaml);
    let expected = [
        (ZONE, at[0], "ttl.suspect must be 1..="),
        (
            ZONE,
            at[1],
            "failback_ramp \"soon\" is not a duration of at most 1h",
        ),
        (
            ZONE,
            at[2],
            "failover_band_percent must be a non-negative number",
        ),
    ];
    rejected(&dir, &expected);
}

#[test]
fn explain_shows_the_failover_band_and_measured_times() {
    let dir = common::TestDir::example();
    dir.write(
        "probes/regions.yaml",
        "regions:\n  australiaeast: {status: down, reason: test}\n",
    );
    dir.write(
        "geoip/latency.yaml",
        "networks:\n  - {clients: 203.0.113.0/24, rtt_ms: {northeurope: 12, eastus: 85}}\n",
    );
    let config = dir.path.to_string_lossy().to_string();
    let explain = |ecs: &str| {
        let args = [
            "explain",
            "myregistry.azurecr.io",
            "--client",
            "127.0.0.1",
            "--config",
            &config,
            "--ecs",
            ecs,
        ];
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        out
    };
    // Sydney with Australia East's region down: Southeast Asia, within the failover band.
    let sydney = explain("192.0.2.0/24");
    assert!(sydney.contains("choice:   southeastasia"), "{sydney}");
    assert!(
        sydney.contains("within the failover band (up to "),
        "{sydney}"
    );
    assert!(sydney.contains(" km)"), "{sydney}");
    // A measured network: ranked by RTT, North Europe first.
    let measured = explain("203.0.113.0/24");
    assert!(
        measured.contains("ranked:   by measured RTT (203.0.113.0/24 in geoip/latency.yaml): northeurope 12 ms, eastus 85 ms"),
        "{measured}"
    );
    assert!(measured.contains("choice:   northeurope"), "{measured}");
}
