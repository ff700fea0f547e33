//! Admin HTTP (default 127.0.0.1:9153, never the DNS port): the status page `/` (`page.rs`) and
//! its `/routes`, `/metrics`, `/status`, `/healthz`, `/readyz`.
//!
//! A deliberately small HTTP/1.1 server for GET requests: one request per connection, bounded
//! request size and read time. Nothing here changes state.

mod page;

use crate::health::prober::{Prober, TargetKey};
use crate::state::Shared;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the admin endpoints read.
#[derive(Clone)]
pub struct Admin {
    /// Configuration and health.
    pub shared: Arc<Shared>,
    /// The probes.
    pub prober: Arc<Prober>,
}

/// Serves admin requests until `stop` turns true.
pub async fn serve(listener: TcpListener, admin: Admin, mut stop: watch::Receiver<bool>) {
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = stop.changed() => return,
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), connection(stream, &admin)).await;
        });
    }
}

async fn connection(mut stream: TcpStream, admin: &Admin) -> std::io::Result<()> {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        if len == buf.len() {
            return respond(&mut stream, 431, "text/plain", "request header too large\n").await;
        }
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(());
        }
        len += n;
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return respond(&mut stream, 405, "text/plain", "only GET\n").await;
    }
    match path.split('?').next().unwrap_or("") {
        "/" => {
            let serving = admin.shared.load();
            let body = page::render(
                &serving.snapshot,
                &serving.health,
                crate::state::unix_now_ms(),
            );
            respond(&mut stream, 200, "text/html; charset=utf-8", &body).await
        }
        "/routes" => {
            let serving = admin.shared.load();
            let body = page::routes(
                &serving.snapshot,
                &serving.health,
                crate::state::unix_now_ms(),
            )
            .to_string();
            respond(&mut stream, 200, "application/json", &body).await
        }
        "/healthz" => respond(&mut stream, 200, "text/plain", "ok\n").await,
        "/readyz" => respond(&mut stream, 200, "text/plain", "ready\n").await,
        "/metrics" => {
            let body = metrics(admin);
            respond(&mut stream, 200, "text/plain; version=0.0.4", &body).await
        }
        "/status" => {
            let body = serde_json::to_string_pretty(&status(admin)).unwrap_or_default();
            respond(&mut stream, 200, "application/json", &body).await
        }
        _ => respond(&mut stream, 404, "text/plain", "not found\n").await,
    }
}

async fn respond(stream: &mut TcpStream, code: u16, kind: &str, body: &str) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The `/status` document: configuration generation, every registry's replicas with routing
/// flag, health and probe details, and region health.
pub fn status(admin: &Admin) -> serde_json::Value {
    let serving = admin.shared.load();
    let (snapshot, health) = (&serving.snapshot, &serving.health);
    let probes = admin.prober.status();
    let config = &snapshot.config;
    let zones: Vec<_> = config.zones.iter().enumerate().map(|(z, zone)| {
        let registries: Vec<_> = zone.registries.iter().enumerate().map(|(r, reg)| {
            let replicas: Vec<_> = reg.replicas.iter().enumerate().map(|(i, rep)| {
                let key = TargetKey::Replica(zone.name.clone(), reg.name.clone(), rep.region.clone())
                    .label();
                json!({
                    "region": rep.region,
                    "global_endpoint_routing": rep.global_endpoint_routing,
                    "weight": rep.weight,
                    "healthy": health.replica_up((z, r, i)),
                    "suspect": health.replica((z, r, i)).suspect,
                    "failback_ramp": ramp_status(reg, health.recovered_at_ms((z, r, i), rep.region_index)),
                    "region_healthy": health.region_up(rep.region_index),
                    "eligible": rep.global_endpoint_routing && health.healthy((z, r, i), rep.region_index),
                    "probe": probes.get(&key),
                })
            }).collect();
            json!({"name": reg.name, "global_name": format!("{}.{}", reg.name, zone.name), "replicas": replicas})
        }).collect();
        json!({"zone": zone.name, "registries": registries})
    }).collect();
    // Regions worth reporting: marked down, or watched by a region probe.
    let regions: serde_json::Map<String, serde_json::Value> = config
        .regions
        .regions
        .iter()
        .enumerate()
        .filter(|(i, r)| !health.region_up(*i) || config.region_health.probes.contains_key(&r.name))
        .map(|(i, r)| {
            (
                r.name.clone(),
                json!({
                    "healthy": health.region_up(i),
                    "operator_reason": config.region_health.down.get(&r.name),
                    "probe": probes.get(TargetKey::Region(r.name.clone()).label()),
                }),
            )
        })
        .collect();
    let (fail_open, fail_open_events) = admin.prober.fail_open();
    let reload = admin.shared.reload_status();
    json!({
        "generation": snapshot.generation,
        "reloads": reload.reloads,
        "reload_failures": reload.failures,
        "last_reload_error": reload.last_error,
        "fail_open": fail_open,
        "fail_open_events": fail_open_events,
        "zones": zones,
        "regions": regions,
    })
}

/// The `/metrics` text.
pub fn metrics(admin: &Admin) -> String {
    let serving = admin.shared.load();
    let snapshot = &serving.snapshot;
    let reload = admin.shared.reload_status();
    let (failing, events) = admin.prober.fail_open();
    let gauges = crate::metrics::Gauges {
        generation: snapshot.generation,
        reloads: reload.reloads,
        reload_failures: reload.failures,
        fail_open_events: events,
        failing_open: failing.len(),
    };
    crate::metrics::render(
        &admin.shared.metrics,
        &snapshot.counters,
        &snapshot.config,
        &serving.health,
        &gauges,
    )
}

/// A replica's failback ramp right now: the share of its clients it has back, or null when it
/// is not ramping.
fn ramp_status(reg: &crate::config::Registry, recovered_at_ms: Option<u64>) -> serde_json::Value {
    let ramp_ms = reg.routing.failback_ramp_ms;
    match crate::route::ramp_elapsed(recovered_at_ms, crate::state::unix_now_ms(), ramp_ms) {
        Some(elapsed) => json!({
            "share": elapsed as f64 / ramp_ms as f64,
            "recovered_at_unix": recovered_at_ms.unwrap_or(0) as f64 / 1000.0,
        }),
        _ => serde_json::Value::Null,
    }
}
