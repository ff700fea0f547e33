//! The admin HTTP server's limits over real sockets: GET and HEAD only, a bounded request head,
//! a head that must arrive in time, a bounded number of connections (more are closed at once),
//! and the page's own security headers.

mod common;

use common::{TestDir, TestServer};
use georoute::admin::{HEAD_TIMEOUT, MAX_CONNECTIONS, MAX_HEAD};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn admin_addr(s: &TestServer) -> SocketAddr {
    s.server.as_ref().unwrap().admin_addr.unwrap()
}

/// Sends `request` and reads the whole response (the server closes after one).
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn methods_other_than_get_and_head_are_refused_and_head_has_no_body() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let addr = admin_addr(&s);
    let r = exchange(
        addr,
        b"POST /status HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    assert!(r.to_ascii_lowercase().contains("allow: get, head"), "{r}");
    let r = exchange(addr, b"HEAD /status HTTP/1.1\r\nhost: a\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.ends_with("\r\n\r\n"), "HEAD carries no body: {r}");
    let r = exchange(addr, b"GET /nothing HTTP/1.1\r\nhost: a\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    let page = exchange(addr, b"GET / HTTP/1.1\r\nhost: a\r\n\r\n").to_ascii_lowercase();
    assert!(
        page.contains("content-security-policy: default-src 'none';"),
        "{}",
        &page[..400]
    );
    assert!(page.contains("cache-control: no-store"));
}

#[test]
fn an_oversized_request_head_is_refused_and_the_server_keeps_serving() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let addr = admin_addr(&s);
    let mut big = b"GET /status HTTP/1.1\r\nhost: a\r\nx-filler: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', MAX_HEAD * 2));
    big.extend(b"\r\n\r\n");
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may close before it has read everything; what it sent back is what counts.
    let _ = c.write_all(&big);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.is_empty() || out.starts_with("HTTP/1.1 431"),
        "an oversized head is refused, not served: {out}"
    );
    assert!(!out.contains("\"generation\""));
    assert!(s.admin("/healthz").contains("ok"));
}

#[test]
fn a_head_that_does_not_arrive_in_time_is_closed() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let mut c = TcpStream::connect(admin_addr(&s)).unwrap();
    c.set_read_timeout(Some(HEAD_TIMEOUT * 3)).unwrap();
    c.write_all(b"GET /status HTTP/1.1\r\nhost: a\r\n").unwrap();
    let t = Instant::now();
    let mut out = Vec::new();
    let r = c.read_to_end(&mut out);
    let waited = t.elapsed();
    assert!(
        r.is_ok(),
        "closed by the server, not by our read timeout: {r:?}"
    );
    assert!(!String::from_utf8_lossy(&out).contains("\"generation\""));
    assert!(
        waited >= HEAD_TIMEOUT - Duration::from_millis(500) && waited < HEAD_TIMEOUT * 2,
        "closed after {waited:?}"
    );
}

#[test]
fn connections_beyond_the_limit_are_closed_and_service_resumes_when_they_go() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let addr = admin_addr(&s);
    // Fill every slot with a connection that has sent half a request head.
    let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"GET /status HTTP/1.1\r\n").unwrap();
            c
        })
        .collect();
    // Accepting is asynchronous: wait (bounded) until the server has taken all of them.
    let deadline = Instant::now() + Duration::from_secs(3);
    let refused = loop {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nhost: a\r\n\r\n");
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        if out.is_empty() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(
        refused,
        "with {MAX_CONNECTIONS} open, one more gets nothing"
    );
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = exchange(addr, b"GET /healthz HTTP/1.1\r\nhost: a\r\n\r\n");
        if r.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service resumes once they close: {r}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
