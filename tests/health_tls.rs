//! HTTPS probes against a real TLS server on 127.0.0.1 made at test time: a private CA trusted
//! through `tls_ca` makes the replica healthy (SNI and Host are the regional name), an untrusted
//! certificate counts as a failure and moves the global answer away, `tls_verify: false` accepts.

mod common;

use common::{Ask, TestDir, TestServer, cname_region};
use hickory_proto::rr::RecordType;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

const EASTUS: &str = "reg.eastus.geo.tls.test";

type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;

/// A stand-in registry answering every request `401 Unauthorized` (as `/v2/` does without a
/// token), over TLS when given a config. It records the SNI of every ClientHello (`hellos`, even
/// when the handshake then fails) and (SNI, Host) of every request (`requests`).
struct Stub {
    addr: SocketAddr,
    hellos: Arc<Mutex<Vec<Option<String>>>>,
    requests: Seen,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Stub {
    fn start(tls: Option<rustls::ServerConfig>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (hellos, requests) = (Arc::new(Mutex::new(Vec::new())), Seen::default());
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let tls = tls.map(Arc::new);
        let (h, r) = (hellos.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (mut tcp, _) = tokio::select! {
                        a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                        _ = &mut stopped => return,
                    };
                    let (tls, h, r) = (tls.clone(), h.clone(), r.clone());
                    tokio::spawn(tokio::time::timeout(Duration::from_secs(5), async move {
                        let Some(config) = tls else {
                            return answer(&mut tcp, None, &r).await;
                        };
                        let acceptor = rustls::server::Acceptor::default();
                        let Ok(start) = tokio_rustls::LazyConfigAcceptor::new(acceptor, tcp).await
                        else {
                            return;
                        };
                        let sni = start.client_hello().server_name().map(str::to_string);
                        h.lock().unwrap().push(sni);
                        let Ok(mut s) = start.into_stream(config).await else {
                            return;
                        };
                        let sni = s.get_ref().1.server_name().map(str::to_string);
                        answer(&mut s, sni, &r).await;
                    }));
                }
            });
        });
        Self {
            addr,
            hellos,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = self.thread.take().map(|t| t.join());
    }
}

/// Reads one request head, records its Host header and answers 401.
async fn answer<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    s: &mut S,
    sni: Option<String>,
    record: &Seen,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16384 {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let host = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("host").then(|| v.trim().to_string())
    });
    record.lock().unwrap().push((sni, host));
    let reply = "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer realm=\"x\"\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n";
    let _ = s.write_all(reply.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// A private CA (PEM) and a TLS server config for `EASTUS` with a certificate it signed.
fn pki() -> (String, rustls::ServerConfig) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(vec![EASTUS.to_string()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone(), ca.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .unwrap();
    (ca.pem(), config)
}

/// Zone `tls.test`: eastus probed over HTTPS at the TLS stub (policy `default`, whose TLS lines
/// are `tls`), westeurope over plain HTTP at the plain stub (policy `plain`).
fn config(tls: &Stub, plain: &Stub, ca_pem: &str, tls_lines: &str) -> TestDir {
    let dir = TestDir::with_zone(&format!(
        r#"
zone: tls.test
soa: {{mname: ns1.tls.test., rname: hostmaster.tls.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}}
nameservers: [{{name: ns1.tls.test., addresses: [192.0.2.1]}}]
registries:
  - name: reg
    home_region: eastus
    default_regions: [eastus, westeurope]
    replicas:
      - {{region: eastus, addresses: [20.0.0.1], probe_address: "{}"}}
      - {{region: westeurope, addresses: [20.0.0.2], probe_address: "{}", probe: plain}}
"#,
        tls.addr, plain.addr
    ));
    dir.write("probes/ca.pem", ca_pem);
    let policy = "{scheme: SCHEME, interval: 100ms, timeout: 500ms, fall: 2, rise: 2";
    dir.write(
        "probes/default.yaml",
        &format!(
            "policies:\n  default: {}{tls_lines}}}\n  plain: {}}}\n",
            policy.replace("SCHEME", "https"),
            policy.replace("SCHEME", "http")
        ),
    );
    dir
}

fn start(dir: &TestDir) -> TestServer {
    TestServer::start_with(&dir.path, |s| s.probes = true)
}

/// The probe section of one replica in `/status`.
fn probe(status: &Value, region: &str) -> Value {
    status["zones"][0]["registries"][0]["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == region)
        .map(|r| r["probe"].clone())
        .unwrap()
}

/// Polls every 50 ms (at most 100 times and 5 s) until `done` holds of `/status` and the region
/// the global name answers from 127.0.0.1; panics with `/status` otherwise.
fn wait_for(server: &TestServer, what: &str, done: impl Fn(&Value, Option<&str>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    for _ in 0..100 {
        let st = server.status();
        let region = cname_region(&Ask::new("reg.tls.test", RecordType::A).udp(server.addr));
        if done(&st, region.as_deref()) {
            return;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} within 5 s; /status: {:#}", server.status());
}

fn up(st: &Value, region: &str) -> bool {
    probe(st, region)["health"] == "up"
}

#[test]
fn private_ca_makes_the_replica_healthy_with_the_regional_name() {
    let (ca_pem, tls) = pki();
    let (tls, plain) = (Stub::start(Some(tls)), Stub::start(None));
    let dir = config(&tls, &plain, &ca_pem, ", tls_ca: ca.pem");
    let server = start(&dir);
    wait_for(&server, "eastus up and answered", |st, region| {
        up(st, "eastus") && up(st, "westeurope") && region == Some("eastus")
    });
    let p = probe(&server.status(), "eastus");
    assert_eq!(p["last_probe"]["status"], 401, "{p:#}");
    assert_eq!(p["last_probe"]["success"], true, "{p:#}");
    assert!(p["last_probe"]["error"].is_null(), "{p:#}");
    let seen = tls.requests.lock().unwrap().clone();
    assert!(!seen.is_empty());
    let want = (Some(EASTUS.to_string()), Some(EASTUS.to_string()));
    assert!(seen.iter().all(|s| *s == want), "SNI and Host: {seen:?}");
    let plain_seen = plain.requests.lock().unwrap().clone();
    let want = Some("reg.westeurope.geo.tls.test".to_string());
    assert!(plain_seen.iter().all(|(_, h)| *h == want), "{plain_seen:?}");
}

#[test]
fn an_untrusted_certificate_fails_the_probe_and_moves_the_answer() {
    let (ca_pem, tls) = pki();
    let (tls, plain) = (Stub::start(Some(tls)), Stub::start(None));
    let dir = config(&tls, &plain, &ca_pem, "");
    let server = start(&dir);
    wait_for(
        &server,
        "eastus down and the answer on westeurope",
        |st, r| {
            probe(st, "eastus")["health"] == "down"
                && up(st, "westeurope")
                && r == Some("westeurope")
        },
    );
    let p = probe(&server.status(), "eastus");
    let error = p["last_probe"]["error"].as_str().unwrap_or_default();
    let lower = error.to_lowercase();
    assert!(
        lower.contains("certificate") || lower.contains("unknownissuer"),
        "a TLS error: {p:#}"
    );
    assert!(p["last_probe"]["status"].is_null(), "{p:#}");
    // The handshake offered the regional name as SNI and failed before any request was sent.
    let hellos = tls.hellos.lock().unwrap().clone();
    assert!(!hellos.is_empty());
    assert!(
        hellos.iter().all(|h| h.as_deref() == Some(EASTUS)),
        "{hellos:?}"
    );
    assert!(tls.requests.lock().unwrap().is_empty());
}

#[test]
fn tls_verify_false_accepts_the_certificate() {
    let (_, tls) = pki();
    let (tls, plain) = (Stub::start(Some(tls)), Stub::start(None));
    let dir = config(&tls, &plain, "", ", tls_verify: false");
    let server = start(&dir);
    wait_for(&server, "eastus up and answered", |st, region| {
        up(st, "eastus") && region == Some("eastus")
    });
    assert_eq!(
        probe(&server.status(), "eastus")["last_probe"]["status"],
        401
    );
    let seen = tls.requests.lock().unwrap().clone();
    let want = (Some(EASTUS.to_string()), Some(EASTUS.to_string()));
    assert!(
        !seen.is_empty() && seen.iter().all(|s| *s == want),
        "{seen:?}"
    );
}
