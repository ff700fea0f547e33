//! The admin endpoints at the size of a registry service: `/status` lists at most
//! `STATUS_REGISTRIES` registries and counts them all, `?registry=` shows any one, the status
//! page draws at most `PAGE_REGISTRIES`, `/metrics` sums a zone of more than
//! `PER_REPLICA_SERIES` replicas by region (promtool reads it), and `/status` and the metrics
//! say when probes cannot keep to their schedule.

mod common;

use common::parts::folder;
use common::{TestDir, TestServer};
use georoute::admin::{PAGE_REGISTRIES, STATUS_REGISTRIES};
use std::time::{Duration, Instant};

#[test]
fn a_large_zone_is_summed_and_listed_in_part() {
    // 3,400 registries of 3 replicas: 10,200, over the per-replica series limit.
    let n = 3_400;
    let dir = folder(n, 10);
    let s = TestServer::start(&dir.path);

    let status = s.status();
    assert_eq!(status["registries_total"], n);
    assert_eq!(status["registries_listed"], STATUS_REGISTRIES);
    let zone = &status["zones"][0];
    assert_eq!(zone["registries_total"], n);
    assert_eq!(
        zone["registries"].as_array().unwrap().len(),
        STATUS_REGISTRIES
    );
    assert_eq!(status["probe_schedule"]["on_schedule"], true);

    for query in ["reg3399", "reg3399.parts.test", "REG3399.parts.test."] {
        let one: serde_json::Value =
            serde_json::from_str(&s.admin(&format!("/status?registry={query}"))).unwrap();
        let listed = one["zones"][0]["registries"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{query}");
        assert_eq!(listed[0]["name"], "reg3399");
        assert_eq!(listed[0]["replicas"].as_array().unwrap().len(), 3);
    }
    let none: serde_json::Value =
        serde_json::from_str(&s.admin("/status?registry=nothing")).unwrap();
    assert_eq!(none["registries_listed"], 0);

    let page = s.admin("/");
    assert!(
        page.contains(&format!(
            "Showing the first {PAGE_REGISTRIES} of {n} registries"
        )),
        "the page says it shows part"
    );
    assert_eq!(page.matches("<option>").count(), PAGE_REGISTRIES);
    let routes: serde_json::Value =
        serde_json::from_str(&s.admin("/routes?registry=reg77")).unwrap();
    let keys: Vec<&String> = routes.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["reg77.parts.test"]);

    let metrics = s.admin("/metrics");
    assert!(
        !metrics.contains("georoute_health_replica_up{zone=\"parts.test\""),
        "no series per replica"
    );
    for region in ["eastus", "westeurope", "southeastasia", "australiaeast"] {
        let series = format!("georoute_health_replicas{{zone=\"parts.test\",region=\"{region}\"}}");
        assert_eq!(common::metric(&metrics, &series), 2_550.0, "{series}");
        let down =
            format!("georoute_health_replicas_down{{zone=\"parts.test\",region=\"{region}\"}}");
        assert_eq!(common::metric(&metrics, &down), 0.0, "{down}");
    }
    assert!(metrics.contains("georoute_dns_global_answers_by_region_total{zone=\"parts.test\""));
    assert!(metrics.contains("georoute_probe_late_recent_seconds 0\n"));
    assert!(metrics.len() < 100_000, "{} bytes", metrics.len());
    match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(metrics.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            // promtool flags counters not named *_total and the like as lint; none here.
            assert!(out.status.success(), "{text}");
        }
        Err(_) => common::skip("promtool", "promtool absent: the exposition is not linted"),
    }
}

#[test]
fn probes_that_cannot_keep_to_their_schedule_say_how_late_they_are() {
    // A listener that accepts and never answers: every HTTP probe waits for its timeout, and
    // one probe at a time cannot probe twelve targets a second.
    let hold = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hold.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hold.incoming().take(10_000).flatten() {
            held.push(c);
        }
    });
    let mut zone = String::from(common::parts::HEAD);
    zone += "registries:\n";
    for r in 0..4 {
        zone += &format!("  - name: r{r}\n    home_region: eastus\n    replicas:\n");
        for region in ["eastus", "westeurope", "southeastasia"] {
            zone += &format!(
                "      - {{region: {region}, addresses: [192.0.2.1], probe_address: \"{addr}\"}}\n"
            );
        }
    }
    let dir = TestDir::with_zone(&zone);
    dir.write(
        "probes/default.yaml",
        "policies:\n  default: {scheme: http, interval: 1s, timeout: 900ms, fall: 3, rise: 2}\n",
    );
    let s = TestServer::start_with(&dir.path, |settings| {
        settings.probes = true;
        settings.probe_concurrency = 1;
    });
    let start = Instant::now();
    let schedule = loop {
        let schedule = s.status()["probe_schedule"].clone();
        if schedule["on_schedule"] == false {
            break schedule;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still on schedule: {schedule}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(schedule["targets"], 12);
    assert!(
        schedule["late_recent_max_s"].as_f64().unwrap() > 1.0,
        "{schedule}"
    );
    let metrics = s.admin("/metrics");
    let late = common::metric(&metrics, "georoute_probe_late_recent_seconds");
    assert!(late > 1.0, "{late}");
}
