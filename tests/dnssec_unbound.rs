//! DNSSEC validated end to end: Debian's unbound as a validating resolver
//! whose only trust anchor is the zone's DS (as `georoute check` prints it), in front of a
//! georoute that probes real HTTP stand-ins. Every kind of answer comes back secure (AD): the
//! global name's CNAME and address chain, regional and data names, a name that does not exist,
//! NODATA, an empty non-terminal, the apex; after a replica fails, the new global answer is
//! secure too; with a wrong trust anchor the answer is SERVFAIL.
//!
//! It runs inside a private network namespace (`unshare -n`, like the external suites; on the
//! host's loopback where namespaces are not permitted), and unbound asks only georoute (a stub
//! zone) and refuses every other name (`local-zone: "." refuse`). Skipped, saying so, where
//! unbound is absent (`.ci/run` installs it).

mod common;

use common::{Ask, StandIn, TestDir, TestServer};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const POLICY: &str =
    "policies:\n  default: {scheme: http, interval: 100ms, timeout: 1s, fall: 2, rise: 2}\n";

fn zone(eastus: SocketAddr, eastus2: SocketAddr) -> String {
    format!(
        "zone: azurecr.io\n\
         soa: {{mname: ns1.azurecr.io., rname: hostmaster.azurecr.io., refresh: 3600, retry: 600, expire: 604800, minimum: 30}}\n\
         nameservers: [{{name: ns1.azurecr.io., addresses: [192.0.2.53]}}]\n\
         dnssec: {{key_file: keys/azurecr.io.pem}}\n\
         registries:\n\
         \x20 - name: myregistry\n\
         \x20   home_region: eastus\n\
         \x20   default_regions: [eastus, eastus2]\n\
         \x20   data_endpoints: true\n\
         \x20   ttl: {{global: 1, suspect: 1, regional: 1, data: 1}}\n\
         \x20   replicas:\n\
         \x20     - {{region: eastus, addresses: [192.0.2.10, \"2001:db8::10\"], data_addresses: [192.0.2.20, \"2001:db8::20\"], probe_address: \"{eastus}\"}}\n\
         \x20     - {{region: eastus2, addresses: [192.0.2.11], data_addresses: [192.0.2.21], probe_address: \"{eastus2}\"}}\n"
    )
}

/// An unbound on 127.0.0.1:`port` validating azurecr.io with `anchor` (a DS record's text).
struct Unbound {
    child: Child,
    addr: SocketAddr,
    dir: TestDir,
}

impl Unbound {
    fn start(georoute: SocketAddr, anchor: &str) -> Unbound {
        let dir = TestDir::new("unbound");
        // unbound takes a fixed port.
        let port = common::free_port();
        let conf = format!(
            "server:\n\
             \x20 interface: 127.0.0.1@{port}\n  port: {port}\n  do-daemonize: no\n\
             \x20 username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n\
             \x20 use-syslog: no\n  logfile: \"{d}/unbound.log\"\n  verbosity: 1\n  val-log-level: 2\n\
             \x20 num-threads: 1\n  so-reuseport: no\n  do-ip6: no\n  do-tcp: yes\n\
             \x20 access-control: 127.0.0.0/8 allow\n  do-not-query-localhost: no\n\
             \x20 module-config: \"validator iterator\"\n\
             \x20 trust-anchor: \"{anchor}\"\n\
             \x20 cache-max-ttl: 1\n  cache-max-negative-ttl: 1\n\
             \x20 local-zone: \".\" refuse\n  local-zone: \"azurecr.io.\" transparent\n\
             remote-control:\n  control-enable: no\n\
             stub-zone:\n  name: \"azurecr.io\"\n  stub-addr: {georoute}\n",
            d = dir.path.display(),
            georoute = format_args!("{}@{}", georoute.ip(), georoute.port()),
        );
        dir.write("unbound.conf", &conf);
        let child = Command::new("unbound")
            .args(["-d", "-c"])
            .arg(dir.path.join("unbound.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound starts");
        let mut u = Unbound {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        // Up once it answers anything (bounded).
        let deadline = Instant::now() + Duration::from_secs(15);
        while u.ask("azurecr.io", RecordType::SOA).is_none() {
            if let Ok(Some(st)) = u.child.try_wait() {
                panic!("unbound exited ({st}): {}", u.log());
            }
            assert!(
                Instant::now() < deadline,
                "unbound did not answer: {}",
                u.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        u
    }

    fn ask(&self, name: &str, rtype: RecordType) -> Option<Message> {
        let ask = Ask::new(name, rtype).rd().dnssec();
        let raw = common::udp_raw(self.addr, ask.source, &ask.packet())?;
        Message::from_vec(&raw).ok()
    }

    /// Asks until an answer comes (unbound may be fetching the key), bounded.
    fn answer(&self, name: &str, rtype: RecordType) -> Message {
        for _ in 0..20 {
            if let Some(m) = self.ask(name, rtype) {
                return m;
            }
        }
        panic!("no answer from unbound for {name} {rtype}: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path.join("unbound.log")).unwrap_or_default()
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cname(m: &Message) -> Option<String> {
    m.answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) => Some(c.0.to_string()),
        _ => None,
    })
}

#[test]
fn unbound_validates_every_answer_and_a_failover_stays_secure() {
    if Command::new("unbound").arg("-V").output().is_err() {
        common::skip(
            "unbound",
            "the DNSSEC end-to-end test needs unbound (Debian: apt-get install unbound); \
             .ci/run installs it",
        );
        return;
    }
    if common::rerun_in_private_netns("unbound_validates_every_answer_and_a_failover_stays_secure")
    {
        return;
    }
    let eastus = StandIn::start("127.0.0.2", 401);
    let eastus2 = StandIn::start("127.0.0.3", 401);
    let dir = TestDir::with_zone(&zone(eastus.addr, eastus2.addr));
    dir.write("probes/default.yaml", POLICY);
    dir.write(
        "keys/azurecr.io.pem",
        &georoute::dnssec::key::generate("ecdsa-p256").unwrap(),
    );
    let s = TestServer::start_with(&dir.path, |st| st.probes = true);
    let ds = dir.first_zone_ds();
    let unbound = Unbound::start(s.addr, &ds);

    let secure = |name: &str, rtype: RecordType, rcode: ResponseCode, answers: bool| {
        let m = unbound.answer(name, rtype);
        let what = format!("{name} {rtype}");
        assert_eq!(
            m.metadata.response_code,
            rcode,
            "{what}: {m}\n{}",
            unbound.log()
        );
        assert!(
            m.metadata.authentic_data,
            "{what} is not secure (no AD): {m}\n{}",
            unbound.log()
        );
        assert_eq!(!m.answers.is_empty(), answers, "{what}: {m}");
        m
    };
    let global = secure(
        "myregistry.azurecr.io",
        RecordType::A,
        ResponseCode::NoError,
        true,
    );
    assert_eq!(
        cname(&global).as_deref(),
        Some("myregistry.eastus.geo.azurecr.io.")
    );
    assert!(
        global
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::A)
    );
    secure(
        "myregistry.azurecr.io",
        RecordType::AAAA,
        ResponseCode::NoError,
        true,
    );
    secure(
        "myregistry.eastus2.geo.azurecr.io",
        RecordType::A,
        ResponseCode::NoError,
        true,
    );
    secure(
        "myregistry.eastus.data.azurecr.io",
        RecordType::AAAA,
        ResponseCode::NoError,
        true,
    );
    secure("azurecr.io", RecordType::SOA, ResponseCode::NoError, true);
    secure("azurecr.io", RecordType::NS, ResponseCode::NoError, true);
    secure(
        "azurecr.io",
        RecordType::DNSKEY,
        ResponseCode::NoError,
        true,
    );
    // Compact denial: unbound passes a name that does not exist on as a secure NODATA.
    secure(
        "nope.azurecr.io",
        RecordType::A,
        ResponseCode::NoError,
        false,
    );
    secure(
        "deeper.nope.azurecr.io",
        RecordType::AAAA,
        ResponseCode::NoError,
        false,
    );
    // NODATA (eastus2 has no IPv6 address) and the empty non-terminal geo.azurecr.io.
    secure(
        "myregistry.eastus2.geo.azurecr.io",
        RecordType::AAAA,
        ResponseCode::NoError,
        false,
    );
    secure(
        "geo.azurecr.io",
        RecordType::A,
        ResponseCode::NoError,
        false,
    );
    secure("azurecr.io", RecordType::TXT, ResponseCode::NoError, false);

    // Fail eastus: within 15 s the global name points at eastus2, still secure.
    eastus.set(503);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = secure(
            "myregistry.azurecr.io",
            RecordType::A,
            ResponseCode::NoError,
            true,
        );
        if cname(&m).as_deref() == Some("myregistry.eastus2.geo.azurecr.io.") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failover through unbound: {m}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(unbound);

    // A trust anchor that is not the zone's key: every answer is bogus, so SERVFAIL.
    let other = georoute::dnssec::ZoneKey::from_pem(
        georoute::dnssec::key::generate("ecdsa-p256")
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let wrong = georoute::dnssec::Signing::new(other, 7 * 86_400, "azurecr.io");
    let unbound = Unbound::start(s.addr, &wrong.ds_text("azurecr.io"));
    let m = unbound.answer("myregistry.azurecr.io", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{m}");
    assert!(
        unbound.log().contains("validation failure"),
        "{}",
        unbound.log()
    );
}
