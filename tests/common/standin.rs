//! A replica stand-in for tests: a real HTTP server on 127.0.0.x answering every request with a
//! status that the test can change.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A replica stand-in: answers every request with the current status (0: accept, never answer).
pub struct StandIn {
    /// Its address.
    pub addr: SocketAddr,
    /// The status it answers (0: accept, never answer).
    pub status: Arc<AtomicU16>,
    /// Requests seen.
    pub requests: Arc<AtomicUsize>,
    /// Host headers seen.
    pub hosts: Arc<Mutex<Vec<String>>>,
    /// User-Agent headers seen.
    pub agents: Arc<Mutex<Vec<String>>>,
    /// Requests whose User-Agent contains this get 503, whatever the status.
    pub fail_agent: Arc<Mutex<Option<String>>>,
}

impl StandIn {
    /// Listens on `ip`, answering `status`.
    pub fn start(ip: &str, status: u16) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(status));
        let requests = Arc::new(AtomicUsize::new(0));
        let hosts = Arc::new(Mutex::new(Vec::new()));
        let agents = Arc::new(Mutex::new(Vec::new()));
        let fail_agent: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let (s, r, h) = (status.clone(), requests.clone(), hosts.clone());
        let (a, f) = (agents.clone(), fail_agent.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (s, r, h) = (s.clone(), r.clone(), h.clone());
                let (a, f) = (a.clone(), f.clone());
                std::thread::spawn(move || {
                    conn.set_read_timeout(Some(Duration::from_secs(2))).ok();
                    let mut buf = [0u8; 4096];
                    let n = conn.read(&mut buf).unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    if let Some(host) = head.lines().find_map(|l| {
                        l.strip_prefix("host: ")
                            .or_else(|| l.strip_prefix("Host: "))
                    }) {
                        h.lock().unwrap().push(host.trim().to_string());
                    }
                    let agent = head
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("user-agent")
                                .then(|| value.trim().to_string())
                        })
                        .unwrap_or_default();
                    let refused = f
                        .lock()
                        .unwrap()
                        .as_deref()
                        .is_some_and(|bad| agent.contains(bad));
                    a.lock().unwrap().push(agent);
                    r.fetch_add(1, Ordering::SeqCst);
                    let code = if refused {
                        503
                    } else {
                        s.load(Ordering::SeqCst)
                    };
                    if code == 0 {
                        std::thread::sleep(Duration::from_secs(2));
                        return;
                    }
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                });
            }
        });
        Self {
            addr,
            status,
            requests,
            hosts,
            agents,
            fail_agent,
        }
    }

    /// Answers 503 to requests whose User-Agent contains `agent` (None: to nobody).
    pub fn fail_for(&self, agent: Option<&str>) {
        *self.fail_agent.lock().unwrap() = agent.map(str::to_string);
    }

    /// Changes the status it answers.
    pub fn set(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }
}
