//! The status page in a real browser: Debian's headless Chromium, driven over the
//! DevTools protocol, loads `/` from a server probing real HTTP stand-ins, and the test reads
//! the DOM the page's own script keeps up to date: one `data-replica` element per replica with
//! its `data-state`, map markers, the grid. Then a stand-in fails and the same page (not
//! reloaded) shows the replica down, the marker changed and the event listed, within 15 s. It
//! saves a screenshot (`$CARGO_TARGET_TMPDIR/status-page.png`).
//!
//! Skipped, saying so, where Chromium is absent (`.ci/run` installs Debian's `chromium`).

mod common;

use common::{StandIn, TestDir, TestServer};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

const POLICY: &str =
    "policies:\n  default: {scheme: http, interval: 100ms, timeout: 1s, fall: 2, rise: 2}\n";

fn chromium() -> Option<String> {
    let candidates = [
        std::env::var("GEOROUTE_CHROMIUM").unwrap_or_default(),
        "chromium".into(),
        "chromium-browser".into(),
    ];
    candidates.into_iter().filter(|c| !c.is_empty()).find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A headless Chromium and a DevTools session on one page.
struct Browser {
    child: Child,
    ws: WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    session: String,
    next: u64,
    _profile: TestDir,
}

impl Browser {
    fn launch(binary: &str) -> Browser {
        let profile = TestDir::new("chromium");
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // It prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium announces its DevTools address within 30 s");
        let (ws, _) = tungstenite::connect(url.as_str()).expect("DevTools connects");
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        }
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next: 0,
            _profile: profile,
        };
        let target = b.call("Target.createTarget", json!({"url": "about:blank"}));
        let target = target["targetId"].as_str().unwrap().to_string();
        let attached = b.call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        b
    }

    /// One DevTools command (on the page's session once attached); its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        // Events arrive in between; the answer carries our id. Bounded by the read timeout.
        for _ in 0..10_000 {
            let Message::Text(text) = self.ws.read().expect("DevTools answers") else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
        panic!("{method}: no answer");
    }

    /// Evaluates a JavaScript expression in the page; its value (JSON).
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Polls `expression` every 100 ms until it is true, at most `limit`; the time it took.
    fn wait(&mut self, expression: &str, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.eval(expression) == json!(true) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (the screenshot's encoding).
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .map(value)
        .collect();
    digits
        .chunks(4)
        .flat_map(|c| {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(c.len() - 1)
        })
        .collect()
}

/// A zone of real regions, each replica probed on its own loopback stand-in; westeurope drained.
fn zone(standins: &[(&str, &StandIn)]) -> String {
    let mut y = String::from(
        "zone: azurecr.io\nsoa: {mname: ns1.azurecr.io., rname: hostmaster.azurecr.io., refresh: 3600, retry: 600, expire: 604800, minimum: 30}\nnameservers: [{name: ns1.azurecr.io., addresses: [192.0.2.1]}]\nregistries:\n",
    );
    for (name, regions) in [
        (
            "myregistry",
            &[
                "eastus",
                "westeurope",
                "northeurope",
                "southeastasia",
                "australiaeast",
            ][..],
        ),
        ("team", &["eastus", "westeurope"][..]),
    ] {
        y += &format!(
            "  - name: {name}\n    home_region: eastus\n    default_regions: [eastus]\n    replicas:\n"
        );
        for (i, region) in regions.iter().enumerate() {
            let probe = standins.iter().find(|(r, _)| r == region).unwrap().1.addr;
            let drained = if *region == "westeurope" && name == "myregistry" {
                ", global_endpoint_routing: false"
            } else {
                ""
            };
            y += &format!(
                "      - {{region: {region}, addresses: [192.0.2.{}], probe_address: \"{probe}\"{drained}}}\n",
                10 + i
            );
        }
    }
    y
}

#[test]
fn the_page_follows_a_failing_replica_in_a_real_browser() {
    let Some(binary) = chromium() else {
        common::skip(
            "chromium",
            "the status page browser test needs Chromium (Debian: apt-get install chromium; \
             or set GEOROUTE_CHROMIUM); .ci/run installs it",
        );
        return;
    };
    let regions = [
        "eastus",
        "westeurope",
        "northeurope",
        "southeastasia",
        "australiaeast",
    ];
    let standins: Vec<StandIn> = (0..regions.len())
        .map(|i| StandIn::start(&format!("127.0.0.{}", 2 + i), 401))
        .collect();
    let named: Vec<(&str, &StandIn)> = regions.iter().copied().zip(&standins).collect();
    let dir = TestDir::with_zone(&zone(&named));
    dir.write("probes/default.yaml", POLICY);
    let s = TestServer::start_with(&dir.path, |st| st.probes = true);
    let admin = s.server.as_ref().unwrap().admin_addr.unwrap();

    let mut b = Browser::launch(&binary);
    b.call("Page.enable", json!({}));
    b.call("Page.navigate", json!({"url": format!("http://{admin}/")}));
    // The script has run once it has filled in the time of its first refresh.
    b.wait(
        "document.getElementById('updated')?.textContent.includes(':') === true",
        Duration::from_secs(20),
    )
    .expect("the page's script refreshes from /status and /routes");
    b.eval("window.notReloaded = true");

    let states = |b: &mut Browser| -> Vec<(String, String)> {
        let v = b.eval(
            "JSON.stringify([...document.querySelectorAll('[data-replica]')]\
             .map(e => [e.dataset.replica, e.dataset.state]))",
        );
        serde_json::from_str(v.as_str().unwrap()).unwrap()
    };
    let mut want: Vec<(String, String)> = regions
        .iter()
        .map(|r| {
            let st = if *r == "westeurope" { "drained" } else { "up" };
            (format!("myregistry.azurecr.io/{r}"), st.to_string())
        })
        .collect();
    want.push(("team.azurecr.io/eastus".into(), "up".into()));
    want.push(("team.azurecr.io/westeurope".into(), "up".into()));
    assert_eq!(states(&mut b), want, "exactly one element per replica");
    assert_eq!(
        b.eval("document.querySelectorAll('.marker').length"),
        json!(5)
    );
    assert_eq!(
        b.eval("document.querySelector('.marker[data-region=westeurope]').getAttribute('class')"),
        json!("marker st-drained")
    );
    let sydney = "document.querySelectorAll('.sample')[3 * 24 + 22].dataset.sampleRegion";
    assert_eq!(b.eval(sydney), json!("australiaeast"));
    assert_eq!(
        b.eval(
            "[...document.querySelectorAll('.sample')]\
             .filter(d => d.dataset.sampleRegion === 'westeurope').length"
        ),
        json!(0),
        "a drained replica is never picked"
    );
    // As the browser lays them out: no region label overlaps another label or a marker.
    let overlaps = b.eval(
        "(() => { const boxes = [...document.querySelectorAll('.marker')].map(m => \
           [m.dataset.region, m.querySelector('text').getBBox(), m.querySelector('circle').getBBox()]); \
         const hit = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height; \
         const out = []; \
         for (const [n, t] of boxes) for (const [o, u, c] of boxes) { \
           if (n < o && hit(t, u)) out.push(n + ' label / ' + o + ' label'); \
           if (n !== o && hit(t, c)) out.push(n + ' label / ' + o + ' marker'); } \
         return out.join('; '); })()",
    );
    assert_eq!(overlaps, json!(""), "labels laid out by the browser");
    // Every sample dot is drawn as its regions: one disc, or one wedge per region sharing it.
    let misdrawn = b.eval(
        "[...document.querySelectorAll('.sample')].filter(d => { \
           const n = d.dataset.tie ? d.dataset.tie.split(' ').length : 0; \
           return n > 1 ? d.querySelectorAll('path').length !== n \
                        : d.querySelectorAll('circle').length !== 1; }).length",
    );
    assert_eq!(misdrawn, json!(0), "sample dots drawn as their regions");

    // Fail Australia East; the page, not reloaded, shows it within 15 s.
    standins[4].set(503);
    let failed = Instant::now();
    let took = b
        .wait(
            "document.querySelector('[data-replica=\"myregistry.azurecr.io/australiaeast\"]')\
             .dataset.state === 'down'",
            Duration::from_secs(15),
        )
        .unwrap_or_else(|| {
            panic!(
                "the page did not show the failure within 15 s: {:?}",
                states(&mut b)
            )
        });
    eprintln!(
        "the page showed australiaeast down {:.1} s after its stand-in failed ({took:?} of polling)",
        failed.elapsed().as_secs_f64()
    );
    assert_eq!(
        b.eval("window.notReloaded"),
        json!(true),
        "updated in place"
    );
    assert_eq!(
        b.eval(
            "document.querySelector('.marker[data-region=australiaeast]').getAttribute('class')"
        ),
        json!("marker st-down")
    );
    assert_ne!(b.eval(sydney), json!("australiaeast"), "the grid moved");
    let events = b.eval("document.getElementById('event-list').textContent");
    assert!(
        events
            .as_str()
            .unwrap()
            .contains("myregistry.azurecr.io/australiaeast: up \u{2192} down"),
        "{events}"
    );

    // The selector shows another registry's routes: team's westeurope is not drained, so
    // European points go there; its markers follow (no australiaeast replica: faded).
    let select = |b: &mut Browser, name: &str| {
        b.eval(&format!(
            "(() => {{ const s = document.getElementById('registry'); s.value = '{name}'; \
             s.dispatchEvent(new Event('change')); }})()"
        ));
    };
    let picked = "[...new Set([...document.querySelectorAll('.sample')]\
                  .map(d => d.dataset.sampleRegion))].sort().join()";
    select(&mut b, "team.azurecr.io");
    assert_eq!(b.eval(picked), json!("eastus,westeurope"));
    assert_eq!(
        b.eval(
            "document.querySelector('.marker[data-region=australiaeast]').getAttribute('class')"
        ),
        json!("marker st-none")
    );
    select(&mut b, "myregistry.azurecr.io");
    assert_eq!(b.eval(picked), json!("eastus,northeurope,southeastasia"));

    let shot = b.call("Page.captureScreenshot", json!({"format": "png"}));
    let png = base64(shot["data"].as_str().unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {} ({} bytes)", path.display(), png.len());
    // The README's picture is this one, as a small JPEG.
    let shot = b.call(
        "Page.captureScreenshot",
        json!({"format": "jpeg", "quality": 70}),
    );
    let jpeg = base64(shot["data"].as_str().unwrap());
    std::fs::write(path.with_extension("jpg"), &jpeg).unwrap();
}
