//! Slow and idle TCP clients: 1,000 connections that send nothing or one byte a second do not
//! keep UDP or a fresh TCP client from being answered within a second, and they are closed on
//! time (idle timeout for the silent ones, read timeout for the tricklers).

mod common;

use common::{Ask, TestDir, TestServer};
use hickory_proto::rr::RecordType;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const IDLE: Duration = Duration::from_secs(2);
const READ: Duration = Duration::from_secs(1);

#[test]
fn a_thousand_slow_connections_neither_block_others_nor_linger() {
    georoute::raise_open_file_limit().unwrap();
    let dir = TestDir::example();
    let s = TestServer::start_with(&dir.path, |st| {
        st.tcp.idle_timeout = IDLE;
        st.tcp.read_timeout = READ;
    });
    let opened = Instant::now();
    let mut conns: Vec<(TcpStream, bool, Option<Duration>)> = (0..1000)
        .map(|i| {
            let c = TcpStream::connect(s.addr).unwrap();
            c.set_nonblocking(true).unwrap();
            (c, i % 2 == 1, None) // odd ones trickle one byte a second
        })
        .collect();
    let connected = opened.elapsed();

    // While all of them are open: UDP and a fresh TCP client are answered within a second.
    let t = Instant::now();
    let m = Ask::new("myregistry.azurecr.io", RecordType::A).udp(s.addr);
    assert!(!m.answers.is_empty());
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "UDP took {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let m = Ask::new("myregistry.azurecr.io", RecordType::A).tcp(s.addr);
    assert!(!m.answers.is_empty());
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "fresh TCP took {:?}",
        t.elapsed()
    );

    // Trickle and watch for the server closing each connection (bounded: 10 s).
    let mut next_byte = Instant::now();
    let mut buf = [0u8; 16];
    while opened.elapsed() < Duration::from_secs(10) && conns.iter().any(|c| c.2.is_none()) {
        let trickle = Instant::now() >= next_byte;
        if trickle {
            next_byte += Duration::from_secs(1);
        }
        for (c, trickler, closed) in conns.iter_mut().filter(|c| c.2.is_none()) {
            if trickle && *trickler {
                let _ = c.write(&[0]);
            }
            match c.read(&mut buf) {
                Ok(0) => *closed = Some(opened.elapsed()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => *closed = Some(opened.elapsed()),
                Ok(_) => panic!("the server sent data to a client that asked nothing"),
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let times = |trickler: bool| -> Vec<Duration> {
        let mut v: Vec<_> = conns
            .iter()
            .filter(|c| c.1 == trickler)
            .map(|c| c.2.expect("closed within 10 s"))
            .collect();
        v.sort();
        v
    };
    let (idle, slow) = (times(false), times(true));
    eprintln!(
        "connect {connected:?}; idle closed {:?}..{:?}; tricklers closed {:?}..{:?}",
        idle[0],
        idle[idle.len() - 1],
        slow[0],
        slow[slow.len() - 1]
    );
    // Idle ones: at the idle timeout (counted from their accept, which follows the connect).
    assert!(
        idle[0] >= IDLE - Duration::from_millis(100),
        "{:?}",
        idle[0]
    );
    assert!(idle[idle.len() - 1] <= connected + IDLE + Duration::from_secs(2));
    // Tricklers: their first byte starts the read timeout; one byte a second never finishes.
    assert!(
        slow[0] >= READ - Duration::from_millis(100),
        "{:?}",
        slow[0]
    );
    assert!(slow[slow.len() - 1] <= connected + READ + Duration::from_secs(3));
}
