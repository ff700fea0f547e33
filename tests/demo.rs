//! `georoute demo` as the real binary: the global name follows a stand-in failed and restored
//! through standard input, all on loopback.

mod common;

use common::{Ask, cname_region};
use hickory_proto::rr::RecordType;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the demo if the test fails before it quits.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn fail_and_restore_move_the_global_answer() {
    let child = Command::new(env!("CARGO_BIN_EXE_georoute"))
        .args(["demo", "--dns", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Reap(child);
    let child = &mut child.0;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .split_whitespace()
        .nth(4)
        .and_then(|a| a.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    let sydney = || {
        cname_region(
            &Ask::new("myregistry.azurecr.io", RecordType::A)
                .ecs("192.0.2.0/24")
                .udp(addr),
        )
    };
    let until = |want: &str, there: bool| {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if (sydney().as_deref() == Some(want)) == there {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the global name did not move (to: {there}) {want}");
    };
    until("australiaeast", true);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "fail australiaeast").unwrap();
    // Away from Australia East (where to is the failover spread's business).
    let failover = until("australiaeast", false);
    writeln!(stdin, "restore australiaeast").unwrap();
    let failback = until("australiaeast", true);
    eprintln!("failover {failover:?}, failback {failback:?}");
    writeln!(stdin, "quit").unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "demo did not quit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(child.wait().unwrap().success());
}
