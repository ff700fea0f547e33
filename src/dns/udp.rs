//! UDP: dedicated blocking threads, one SO_REUSEPORT socket each, calling the handler directly.
//!
//! No async runtime on this path (see PERFORMANCE notes in the README). On Linux a thread takes
//! up to 16 datagrams per `recvmmsg` and sends their answers with one `sendmmsg` (`batch.rs`,
//! gdnsd's loop); elsewhere one receive and one send per answer. Each thread wakes at least
//! every 200 ms to notice shutdown. Response rate limiting applies here (UDP only: a TCP client
//! has proved its address).

#[cfg(target_os = "linux")]
mod batch;
mod datagram;

use crate::state::Shared;
#[cfg(not(target_os = "linux"))]
use datagram::{Local, answer, transient};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
#[cfg(not(target_os = "linux"))]
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

/// Binds `threads` sockets to `addr` (port 0: the first one picks, the rest share it).
pub fn bind(addr: SocketAddr, threads: usize, recv_buffer: usize) -> io::Result<Vec<UdpSocket>> {
    let mut sockets = Vec::new();
    let mut addr = addr;
    for _ in 0..threads.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        #[cfg(unix)]
        socket.set_reuse_port(true)?;
        if recv_buffer > 0 {
            // Best effort: the kernel caps it at net.core.rmem_max.
            let _ = socket.set_recv_buffer_size(recv_buffer);
        }
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        #[cfg(target_os = "linux")]
        batch::set_options(&socket, addr.is_ipv6());
        socket.bind(&addr.into())?;
        let socket: UdpSocket = socket.into();
        addr = socket.local_addr()?;
        sockets.push(socket);
    }
    Ok(sockets)
}

/// Serves each socket on its own thread until `stop` is set.
pub fn serve(
    sockets: Vec<UdpSocket>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> Vec<JoinHandle<()>> {
    sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("dns-udp-{i}"))
                .spawn(move || serve_socket(&socket, &shared, &stop))
                .expect("spawning a UDP thread")
        })
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn serve_socket(socket: &UdpSocket, shared: &Shared, stop: &AtomicBool) {
    let mut packet = [0u8; 4096];
    let mut out = Vec::with_capacity(4096);
    let mut local = Local::default();
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match socket.recv_from(&mut packet) {
            Ok(x) => x,
            Err(e) if transient(&e) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "UDP receive failed");
                continue;
            }
        };
        let serving = shared.load();
        if answer(
            shared,
            &serving,
            &packet[..len],
            peer,
            crate::clock::unix_now(),
            &mut local,
            &mut out,
        ) && let Err(e) = socket.send_to(&out, peer)
        {
            tracing::debug!(error = %e, %peer, "UDP send failed");
        }
    }
}

#[cfg(target_os = "linux")]
fn serve_socket(socket: &UdpSocket, shared: &Shared, stop: &AtomicBool) {
    batch::serve(socket, shared, stop);
}
