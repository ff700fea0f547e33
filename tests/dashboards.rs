//! `deploy/grafana/georoute.json` and `deploy/prometheus/alerts.yaml` against the metrics the
//! server really exports: every series they query exists, the dashboard is a loadable model
//! with its datasource as a variable, and the alert rules pass `promtool check rules` and their
//! own `promtool test rules` unit tests.

mod common;

use common::{TestDir, TestServer};
use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The metric families `/metrics` of the shipped example declares.
fn exported() -> BTreeSet<String> {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let text = s.admin("/metrics");
    let names: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect();
    assert!(names.len() > 20, "{names:?}");
    names
}

/// The `georoute_*` names a query text uses, histogram suffixes folded to their family.
fn used(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("georoute_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        out.insert(family.to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn dashboard_and_alerts_use_only_exported_metrics() {
    let exported = exported();
    let dash_text = std::fs::read_to_string(Path::new(ROOT).join("deploy/grafana/georoute.json"))
        .expect("deploy/grafana/georoute.json");
    let dash: serde_json::Value = serde_json::from_str(&dash_text).expect("valid JSON");
    // The datasource is a variable, and every panel and query uses it.
    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["type"] == "datasource"
        && v["name"] == "datasource"
        && v["query"] == "prometheus"));
    let mut ids = BTreeSet::new();
    let mut queried = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for p in dash["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24, "{} is wider than the grid", p["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{} overlaps another panel",
                    p["title"]
                );
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", p["title"]);
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}");
            queried.extend(used(t["expr"].as_str().unwrap()));
        }
    }
    let unknown: Vec<_> = queried.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries unexported {unknown:?}"
    );
    // What the issue asks the dashboard to show.
    for want in [
        "georoute_dns_queries_total",
        "georoute_dns_zone_queries_total",
        "georoute_dns_global_answers_total",
        "georoute_probe_results_total",
        "georoute_probe_latency_seconds",
        "georoute_health_transitions_total",
        "georoute_health_fail_open_registries",
        "georoute_config_reloads_total",
        "georoute_rrl_limited_total",
    ] {
        assert!(queried.contains(want), "the dashboard does not show {want}");
    }

    let alerts = std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/alerts.yaml"))
        .expect("deploy/prometheus/alerts.yaml");
    let unknown: Vec<_> = used(&alerts).difference(&exported).cloned().collect();
    assert!(
        unknown.is_empty(),
        "the alert rules use unexported {unknown:?}"
    );
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = Path::new(ROOT).join("deploy/prometheus");
    for args in [
        vec!["check", "rules", "alerts.yaml"],
        vec!["test", "rules", "alerts_test.yaml"],
    ] {
        let out = match std::process::Command::new("promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
        {
            Ok(out) => out,
            Err(_) => {
                common::skip(
                    "promtool",
                    "promtool (Debian prometheus) is not installed; .ci/run installs it",
                );
                return;
            }
        };
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
