//! Test harness: configuration folders on disk, a whole server in-process on 127.0.0.1:0, a DNS
//! client over real UDP/TCP sockets that decodes with hickory-proto, and .mmdb writers.
#![allow(dead_code)]

pub mod parts;
pub mod skip;
pub mod standin;
#[allow(unused_imports)]
pub use skip::skip;
#[allow(unused_imports)]
pub use standin::StandIn;

use georoute::{Server, Settings};
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// `server.yaml` exempting loopback from rate limiting.
pub const LOOPBACK_EXEMPT: &str = "rate_limit: {exempt: [127.0.0.0/8, \"::1/128\"]}\n";

/// A temporary folder, removed on drop.
pub struct TestDir {
    /// Its path.
    pub path: PathBuf,
}

impl TestDir {
    /// A fresh empty folder.
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "georoute-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }

    /// A copy of the shipped example configuration.
    pub fn example() -> Self {
        let dir = Self::new("example");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(root.join("server.yaml"), dir.path.join("server.yaml")).unwrap();
        for sub in ["zones", "probes", "geoip"] {
            std::fs::create_dir_all(dir.path.join(sub)).unwrap();
            for entry in std::fs::read_dir(root.join(sub)).unwrap() {
                let p = entry.unwrap().path();
                // Real databases fetched by geoip/fetch-dbip.sh are large and not the example's.
                let name = p.file_name().unwrap().to_string_lossy();
                if name.starts_with("dbip-city-") || !p.is_file() {
                    continue;
                }
                std::fs::copy(&p, dir.path.join(sub).join(p.file_name().unwrap())).unwrap();
            }
        }
        dir
    }

    /// The shipped example with its zone signed by a new key of `algorithm` (`ecdsa-p256` or
    /// `ed25519`) in `keys/azurecr.io.pem`.
    pub fn signed_example(algorithm: &str) -> Self {
        let dir = Self::example();
        dir.write(
            "keys/azurecr.io.pem",
            &georoute::dnssec::key::generate(algorithm).unwrap(),
        );
        let zone = dir.path.join("zones/azurecr.io.yaml");
        let mut text = std::fs::read_to_string(&zone).unwrap();
        text.push_str("dnssec:\n  key_file: keys/azurecr.io.pem\n  signature_validity: 7d\n");
        std::fs::write(zone, text).unwrap();
        dir
    }

    /// The DS record (as `georoute check` prints it) of the folder's first zone, which is
    /// signed.
    pub fn first_zone_ds(&self) -> String {
        let snap = georoute::load_snapshot(&self.path, 1).unwrap();
        snap.zones[0]
            .signing
            .as_ref()
            .expect("a signed zone")
            .ds_text(&snap.config.zones[0].name)
    }

    /// A folder with the region catalogue and the given zone file (as `zones/test.yaml`).
    pub fn with_zone(zone_yaml: &str) -> Self {
        let dir = Self::new("zone");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        dir.write(
            "geoip/regions.yaml",
            &std::fs::read_to_string(root.join("geoip/regions.yaml")).unwrap(),
        );
        dir.write("zones/test.yaml", zone_yaml);
        // Tests poll from loopback faster than the default rate limit; the rate limiting tests
        // write their own server.yaml.
        dir.write("server.yaml", LOOPBACK_EXEMPT);
        dir
    }

    /// Writes a file (creating folders).
    pub fn write(&self, rel: &str, contents: &str) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    /// Writes bytes.
    pub fn write_bytes(&self, rel: &str, contents: &[u8]) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs the real `georoute check --config <dir>`: exit code, standard output, standard error.
pub fn check(dir: &Path) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_georoute"))
        .args(["check", "--config"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback port free for both UDP and TCP right now (for programs that need a fixed one).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// Runs the test `name` of this test binary again inside a private network namespace
/// (`unshare -n`, loopback up), so that nothing it starts can reach another network. Returns
/// false when already inside one, or when namespaces are not permitted here (the caller then
/// runs on the host's loopback); panics when the run inside fails.
pub fn rerun_in_private_netns(name: &str) -> bool {
    const MARK: &str = "GEOROUTE_TEST_IN_NETNS";
    if std::env::var_os(MARK).is_some() {
        return false;
    }
    let permitted = std::process::Command::new("unshare")
        .args(["-n", "ip", "link", "set", "lo", "up"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !permitted {
        eprintln!("note: unshare -n is not permitted here; running on the host's loopback");
        return false;
    }
    let me = std::env::current_exe().unwrap();
    let status = std::process::Command::new("unshare")
        .args([
            "-n",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(me)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(MARK, "1")
        .env(skip::RUN_VAR, skip::run_id())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{name} failed inside its network namespace"
    );
    true
}

/// A server running in-process, with its own runtime.
pub struct TestServer {
    /// DNS address (UDP and TCP).
    pub addr: SocketAddr,
    /// The server.
    pub server: Option<Server>,
    runtime: tokio::runtime::Runtime,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0 for a configuration folder.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, |_| {})
    }

    /// Starts a server with adjusted settings.
    pub fn start_with(dir: &Path, adjust: impl FnOnce(&mut Settings)) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut settings = Settings::new(dir);
        settings.dns = vec!["127.0.0.1:0".parse().unwrap()];
        settings.udp_threads = 2;
        settings.admin = Some("127.0.0.1:0".parse().unwrap());
        // The example's replicas are not on loopback: tests that probe enable it themselves.
        settings.probes = false;
        adjust(&mut settings);
        let server = runtime
            .block_on(Server::start(settings))
            .expect("server starts");
        Self {
            addr: server.dns_addrs[0],
            server: Some(server),
            runtime,
        }
    }
}

impl TestServer {
    /// GET `path` on the admin address; the body of a 200 response.
    pub fn admin(&self, path: &str) -> String {
        let addr = self
            .server
            .as_ref()
            .unwrap()
            .admin_addr
            .expect("an admin address");
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(c, "GET {path} HTTP/1.1\r\nhost: admin\r\n\r\n").unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        out.split_once("\r\n\r\n").unwrap().1.to_string()
    }

    /// The `/status` document.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.admin("/status")).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

/// How to ask.
#[derive(Clone, Debug)]
pub struct Ask {
    /// Query name.
    pub name: String,
    /// Query type.
    pub rtype: RecordType,
    /// Send an OPT record with this payload size.
    pub edns: Option<u16>,
    /// Client subnet (implies EDNS).
    pub ecs: Option<(IpAddr, u8)>,
    /// Source address to send from (a 127.x address).
    pub source: IpAddr,
    /// A COOKIE option's bytes (implies EDNS).
    pub cookie: Option<Vec<u8>>,
    /// EDNS header flags (DO 0x8000, CO 0x4000; implies EDNS).
    pub edns_flags: u16,
    /// Recursion desired (for queries to a resolver).
    pub rd: bool,
}

impl Ask {
    /// An A-or-other query without EDNS, from 127.0.0.1.
    pub fn new(name: &str, rtype: RecordType) -> Self {
        Self {
            name: name.into(),
            rtype,
            edns: None,
            ecs: None,
            source: "127.0.0.1".parse().unwrap(),
            cookie: None,
            edns_flags: 0,
            rd: false,
        }
    }

    /// With the DNSSEC OK bit.
    pub fn dnssec(mut self) -> Self {
        self.edns_flags |= 0x8000;
        self.edns.get_or_insert(1232);
        self
    }

    /// With RFC 9824's Compact Answers OK bit.
    pub fn compact_ok(mut self) -> Self {
        self.edns_flags |= 0x4000;
        self.edns.get_or_insert(1232);
        self
    }

    /// With recursion desired.
    pub fn rd(mut self) -> Self {
        self.rd = true;
        self
    }

    /// With a COOKIE option (client cookie, optionally followed by a server cookie).
    pub fn cookie(mut self, bytes: &[u8]) -> Self {
        self.cookie = Some(bytes.to_vec());
        self.edns.get_or_insert(1232);
        self
    }

    /// With an ECS option (`"198.51.100.0/24"`).
    pub fn ecs(mut self, cidr: &str) -> Self {
        let net: ipnet::IpNet = cidr.parse().unwrap();
        self.ecs = Some((net.network(), net.prefix_len()));
        self.edns.get_or_insert(1232);
        self
    }

    /// With EDNS.
    pub fn edns(mut self, size: u16) -> Self {
        self.edns = Some(size);
        self
    }

    /// From another loopback address.
    pub fn from(mut self, source: &str) -> Self {
        self.source = source.parse().unwrap();
        self
    }

    /// The query's wire bytes.
    pub fn packet(&self) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 0x4242;
        m.add_query(Query::query(
            Name::from_ascii(&self.name).unwrap(),
            self.rtype,
        ));
        if let Some(size) = self.edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            if let Some((addr, prefix)) = self.ecs {
                e.options_mut()
                    .insert(EdnsOption::Subnet(ClientSubnet::new(addr, prefix, 0)));
            }
            if let Some(c) = &self.cookie {
                e.options_mut().insert(EdnsOption::Unknown(10, c.clone()));
            }
            m.set_edns(e);
        }
        let mut bytes = m.to_vec().unwrap();
        if self.rd {
            bytes[2] |= 0x01;
        }
        if self.edns.is_some() && self.edns_flags != 0 {
            // The OPT record follows the question: name, type and class, then its TTL, whose
            // last two bytes are the EDNS flags.
            let labels = self
                .name
                .trim_end_matches('.')
                .split('.')
                .filter(|l| !l.is_empty());
            let qname = labels.map(|l| l.len() + 1).sum::<usize>() + 1;
            let flags_at = 12 + qname + 4 + 1 + 2 + 2 + 2;
            bytes[flags_at..flags_at + 2].copy_from_slice(&self.edns_flags.to_be_bytes());
        }
        bytes
    }

    /// Sends over UDP and decodes the answer.
    pub fn udp(&self, server: SocketAddr) -> Message {
        Message::from_vec(&udp_raw(server, self.source, &self.packet()).expect("an answer"))
            .unwrap()
    }

    /// Sends over TCP and decodes the answer.
    pub fn tcp(&self, server: SocketAddr) -> Message {
        let mut s = TcpStream::connect(server).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp_send(&mut s, &self.packet());
        Message::from_vec(&tcp_read(&mut s).expect("an answer")).unwrap()
    }
}

/// Sends raw bytes over UDP from `source`; `None` when nothing comes back within 1.5 s.
pub fn udp_raw(server: SocketAddr, source: IpAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind(SocketAddr::new(source, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 65535];
    for _ in 0..3 {
        sock.send_to(packet, server).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

/// Writes one length-prefixed message.
pub fn tcp_send(s: &mut TcpStream, packet: &[u8]) {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    s.write_all(&framed).unwrap();
}

/// Reads one length-prefixed message; `None` on close or timeout.
pub fn tcp_read(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// The answer section as `name type data` lines (names lower-case, no trailing dot).
pub fn answers(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.name.to_string().trim_end_matches('.').to_lowercase(),
                r.record_type(),
                rdata(&r.data)
            )
        })
        .collect()
}

fn rdata(d: &RData) -> String {
    d.to_string().trim_end_matches('.').to_string()
}

/// The region a global-name answer points at (the CNAME target's second label).
pub fn cname_region(m: &Message) -> Option<String> {
    m.answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) => c.0.to_string().split('.').nth(1).map(str::to_string),
        _ => None,
    })
}

/// The ECS option of a response: (source prefix, scope prefix).
pub fn ecs_scope(m: &Message) -> Option<(u8, u8)> {
    let edns = m.edns.as_ref()?;
    edns.options().as_ref().iter().find_map(|(_, o)| match o {
        EdnsOption::Subnet(cs) => Some((cs.source_prefix(), cs.scope_prefix())),
        _ => None,
    })
}

/// The COOKIE option of a response (client cookie and server cookie bytes).
pub fn cookie_of(m: &Message) -> Option<Vec<u8>> {
    let edns = m.edns.as_ref()?;
    edns.options().as_ref().iter().find_map(|(_, o)| match o {
        EdnsOption::Unknown(10, data) => Some(data.clone()),
        _ => None,
    })
}

/// The value of one sample in Prometheus text (0 when absent).
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// One MaxMind-layout record: coordinates and/or country and/or continent.
pub struct CityRecord<'a> {
    /// Network.
    pub net: &'a str,
    /// Coordinates.
    pub at: Option<(f64, f64)>,
    /// Country ISO code.
    pub country: Option<&'a str>,
    /// Continent code.
    pub continent: Option<&'a str>,
}

/// Writes a MaxMind GeoIP2-City-layout database.
pub fn maxmind_city(records: &[CityRecord<'_>]) -> Vec<u8> {
    use mmdb_writer::{Value, Writer};
    let mut w = Writer::new("GeoIP2-City");
    for r in records {
        let mut m = Vec::new();
        if let Some((lat, lon)) = r.at {
            m.push((
                "location",
                Value::map([
                    ("latitude", Value::Double(lat)),
                    ("longitude", Value::Double(lon)),
                    ("accuracy_radius", Value::U16(50)),
                ]),
            ));
        }
        if let Some(c) = r.country {
            m.push((
                "country",
                Value::map([("iso_code", Value::from(c)), ("geoname_id", Value::U32(1))]),
            ));
        }
        if let Some(c) = r.continent {
            m.push(("continent", Value::map([("code", Value::from(c))])));
        }
        w.insert_value(r.net.parse::<ipnet::IpNet>().unwrap(), Value::map(m))
            .unwrap();
    }
    w.to_bytes().unwrap()
}

/// Writes an ip-location-db (flat, f32 coordinates) database for one IP version.
pub fn flat_city(v4: bool, records: &[(&str, f32, f32, &str)]) -> Vec<u8> {
    use mmdb_writer::{IpVersion, Value, Writer};
    let mut w = Writer::builder("ip-location-db city")
        .ip_version(if v4 { IpVersion::V4 } else { IpVersion::V6 })
        .build();
    for &(net, lat, lon, cc) in records {
        let m = Value::map([
            ("city", Value::from("x")),
            ("country_code", Value::from(cc)),
            ("latitude", Value::Float(lat)),
            ("longitude", Value::Float(lon)),
        ]);
        w.insert_value(net.parse::<ipnet::IpNet>().unwrap(), m)
            .unwrap();
    }
    w.to_bytes().unwrap()
}
