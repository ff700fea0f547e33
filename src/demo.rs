//! `georoute demo`: health-driven failover on one machine, without Docker. Starts one loopback
//! HTTP stand-in per replica (answering `/v2/` with 401, like a registry, or 503 when failed),
//! serves the example registry probing them every second, and takes `fail <region>` /
//! `restore <region>` on standard input.

use crate::{Server, Settings};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// The demo registry's replicas: region, routed globally.
const REPLICAS: [(&str, bool); 6] = [
    ("eastus", true),
    ("eastus2", true),
    ("westeurope", false),
    ("northeurope", true),
    ("southeastasia", true),
    ("australiaeast", true),
];

/// Runs the demo until standard input says `quit` or a signal arrives. `config` supplies
/// `geoip/` (the demo database and region catalogue) and `server.yaml`.
pub async fn run(config: &Path, dns: SocketAddr, admin: SocketAddr) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("georoute-demo-{}", std::process::id()));
    let result = run_in(config, &dir, dns, admin).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(
    config: &Path,
    dir: &Path,
    dns: SocketAddr,
    admin: SocketAddr,
) -> Result<(), String> {
    // The ports first, before any probe starts: a clear line instead of a late bind error.
    free(dns, admin)?;
    let failed: Arc<Vec<AtomicBool>> =
        Arc::new(REPLICAS.iter().map(|_| AtomicBool::new(false)).collect());
    let mut ports = Vec::new();
    for i in 0..REPLICAS.len() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("stand-in: {e}"))?;
        ports.push(listener.local_addr().map_err(|e| e.to_string())?);
        tokio::spawn(stand_in(listener, failed.clone(), i));
    }
    write_config(config, dir, &ports)?;
    let mut settings = Settings::new(dir);
    settings.dns = vec![dns];
    settings.admin = Some(admin);
    let server = Server::start(settings).await.map_err(|e| e.to_string())?;
    let addr = server.dns_addrs[0];
    println!(
        "georoute demo: DNS on {addr}, admin on {}",
        server.admin_addr.map_or("-".into(), |a| a.to_string())
    );
    println!(
        "replica stand-ins on 127.0.0.1 answer /v2/ with 401 (healthy); probes every 1 s, fall 2, rise 2."
    );
    println!(
        "try:  dig @{} -p {} myregistry.azurecr.io +subnet=192.0.2.0/24 +short   (Sydney: australiaeast)",
        addr.ip(),
        addr.port()
    );
    println!("then type:  fail australiaeast    (dig again within a few seconds: another region)");
    println!("            restore australiaeast (it comes back);  status;  quit");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        let line = tokio::select! {
            l = lines.next_line(), if stdin_open => l,
            _ = shutdown_signal() => break,
        };
        let Ok(Some(line)) = line else {
            // No terminal (or end of input): keep serving until a signal.
            stdin_open = false;
            continue;
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["quit"] | ["exit"] => break,
            ["status"] => {
                for (i, (region, routed)) in REPLICAS.iter().enumerate() {
                    let state = if failed[i].load(Ordering::Relaxed) {
                        "failing (503)"
                    } else {
                        "healthy (401)"
                    };
                    println!(
                        "  {region:<14} {state}{}",
                        if *routed {
                            ""
                        } else {
                            ", drained from the global name"
                        }
                    );
                }
            }
            [verb @ ("fail" | "restore"), region] => {
                match REPLICAS.iter().position(|r| r.0 == *region) {
                    Some(i) => {
                        failed[i].store(*verb == "fail", Ordering::Relaxed);
                        println!(
                            "  {region}'s stand-in now answers {}",
                            if *verb == "fail" { 503 } else { 401 }
                        );
                    }
                    None => println!(
                        "  unknown region {region}; one of: {}",
                        REPLICAS.map(|r| r.0).join(", ")
                    ),
                }
            }
            [] => {}
            _ => println!("  commands: fail <region>, restore <region>, status, quit"),
        }
    }
    server.shutdown().await;
    Ok(())
}

/// Checks that the demo's DNS (UDP and TCP) and admin addresses can be listened on.
fn free(dns: SocketAddr, admin: SocketAddr) -> Result<(), String> {
    let taken = |what: &str, addr: SocketAddr, e: std::io::Error| {
        format!(
            "cannot listen on {addr} ({what}): {e}; is a `georoute serve` or another demo running? \
             Stop it, or pick other ports with --dns and --admin"
        )
    };
    std::net::UdpSocket::bind(dns).map_err(|e| taken("DNS over UDP", dns, e))?;
    std::net::TcpListener::bind(dns).map_err(|e| taken("DNS over TCP", dns, e))?;
    std::net::TcpListener::bind(admin).map_err(|e| taken("admin HTTP", admin, e))?;
    Ok(())
}

/// Writes the demo configuration: the example's GeoIP folder and server settings, a zone whose
/// replicas are probed at the stand-ins, and a one-second probe policy.
fn write_config(config: &Path, dir: &Path, ports: &[SocketAddr]) -> Result<(), String> {
    let io = |e: std::io::Error| format!("demo configuration in {}: {e}", dir.display());
    for sub in ["zones", "probes", "geoip"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io)?;
    }
    let geoip: Vec<PathBuf> = std::fs::read_dir(config.join("geoip"))
        .map_err(|e| format!("{}: {e}", config.join("geoip").display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    for file in geoip {
        if let Some(name) = file.file_name() {
            std::fs::copy(&file, dir.join("geoip").join(name)).map_err(io)?;
        }
    }
    if config.join("server.yaml").exists() {
        std::fs::copy(config.join("server.yaml"), dir.join("server.yaml")).map_err(io)?;
    }
    std::fs::write(
        dir.join("probes/demo.yaml"),
        "policies:\n  demo: {scheme: http, interval: 1s, timeout: 500ms, fall: 2, rise: 2}\n",
    )
    .map_err(io)?;
    let mut zone = String::from(
        "# Written by `georoute demo`: the example registry, probed at loopback stand-ins.\n\
         zone: azurecr.io\n\
         soa: {mname: ns1.azurecr.io., rname: hostmaster.azurecr.io., refresh: 3600, retry: 600, expire: 604800, minimum: 30}\n\
         nameservers: [{name: ns1.azurecr.io., addresses: [192.0.2.53]}]\n\
         registries:\n  - name: myregistry\n    home_region: eastus\n    default_regions: [eastus]\n    probe: demo\n    replicas:\n",
    );
    for (i, ((region, routed), port)) in REPLICAS.iter().zip(ports).enumerate() {
        zone += &format!(
            "      - {{region: {region}, global_endpoint_routing: {routed}, addresses: [192.0.2.{}], data_addresses: [192.0.2.{}], probe_address: \"{port}\"}}\n",
            10 + i,
            20 + i
        );
    }
    std::fs::write(dir.join("zones/azurecr.io.yaml"), zone).map_err(io)
}

/// Answers every HTTP request with 401 (a registry's unauthenticated `/v2/`) or 503 (failed).
async fn stand_in(listener: tokio::net::TcpListener, failed: Arc<Vec<AtomicBool>>, index: usize) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let failed = failed.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(2), conn.read(&mut buf)).await;
            if !matches!(read, Ok(Ok(n)) if n > 0) {
                return;
            }
            let status = if failed[index].load(Ordering::Relaxed) {
                "503 Service Unavailable"
            } else {
                "401 Unauthorized"
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nDocker-Distribution-Api-Version: registry/2.0\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = conn.write_all(response.as_bytes()).await;
        });
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
