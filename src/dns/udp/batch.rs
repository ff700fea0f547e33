//! gdnsd's UDP loop on Linux: `recvmmsg(16, MSG_WAITFORONE)` takes what has arrived (waiting
//! for the first datagram only), each is answered into its own buffer, and one `sendmmsg` sends
//! the batch, so a busy socket costs fewer than two system calls per answer. Sockets do not do
//! path MTU discovery (`IP_PMTUDISC_OMIT`: answers are at most 1232 bytes) and ask for low
//! delay (`IP_TOS`).

use super::datagram::{Local, answer, transient};
use crate::state::Shared;
use socket2::Socket;
use std::io;
use std::net::UdpSocket;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// Datagrams taken per receive.
const BATCH: usize = 16;
/// Receive buffer per datagram: larger queries are not DNS queries we answer.
const PACKET: usize = 4096;

/// Socket options of gdnsd's UDP sockets, best effort (a kernel without them still serves).
pub(super) fn set_options(socket: &Socket, ipv6: bool) {
    let fd = socket.as_raw_fd();
    let set = |level, name, value: libc::c_int| {
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid pointer to `value`.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    if ipv6 {
        set(
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_OMIT,
        );
    } else {
        set(
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_OMIT,
        );
        set(
            libc::IPPROTO_IP,
            libc::IP_TOS,
            libc::IPTOS_LOWDELAY as libc::c_int,
        );
    }
}

/// Receive and send state of one thread: buffers, addresses and the message headers pointing at
/// them. Boxed and never moved, so the headers' pointers, set once, stay valid: a receive only
/// resets the address lengths, a send only fills what differs per answer.
struct Batch {
    packets: [[u8; PACKET]; BATCH],
    names: [libc::sockaddr_storage; BATCH],
    /// Per datagram received: its length and its address's length.
    lens: [(usize, libc::socklen_t); BATCH],
    outs: Vec<Vec<u8>>,
    recv_iov: [libc::iovec; BATCH],
    recv_msgs: [libc::mmsghdr; BATCH],
    send_iov: [libc::iovec; BATCH],
    send_msgs: [libc::mmsghdr; BATCH],
}

impl Batch {
    fn new() -> Box<Self> {
        // SAFETY: every field is plain data (bytes, sockaddr_storage, iovec, mmsghdr, integers)
        // for which all zeroes is a valid value, except `outs`, written before any use.
        let mut b: Box<Self> = unsafe {
            let layout = std::alloc::Layout::new::<Self>();
            let ptr = std::alloc::alloc_zeroed(layout).cast::<Self>();
            if ptr.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            std::ptr::addr_of_mut!((*ptr).outs)
                .write((0..BATCH).map(|_| Vec::with_capacity(PACKET)).collect());
            Box::from_raw(ptr)
        };
        for i in 0..BATCH {
            b.recv_iov[i] = libc::iovec {
                iov_base: b.packets[i].as_mut_ptr().cast(),
                iov_len: PACKET,
            };
            let name = (&mut b.names[i] as *mut libc::sockaddr_storage).cast();
            let recv_iov: *mut libc::iovec = &mut b.recv_iov[i];
            let send_iov: *mut libc::iovec = &mut b.send_iov[i];
            let m = &mut b.recv_msgs[i].msg_hdr;
            m.msg_name = name;
            m.msg_iov = recv_iov;
            m.msg_iovlen = 1;
            let m = &mut b.send_msgs[i].msg_hdr;
            m.msg_iov = send_iov;
            m.msg_iovlen = 1;
        }
        b
    }
}

/// Serves one socket until `stop` is set.
pub(super) fn serve(socket: &UdpSocket, shared: &Shared, stop: &AtomicBool) {
    let fd = socket.as_raw_fd();
    let mut b = Batch::new();
    let mut local = Local::default();
    while !stop.load(Ordering::Relaxed) {
        let count = match receive(fd, &mut b) {
            Ok(r) => r,
            Err(e) if transient(&e) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "UDP receive failed");
                continue;
            }
        };
        // One load of the configuration and one clock read per batch.
        let serving = shared.load();
        let now = crate::clock::unix_now();
        let mut send = [false; BATCH];
        for (i, sent) in send.iter_mut().enumerate().take(count) {
            let (len, namelen) = b.lens[i];
            let Some(peer) = peer_of(&b.names[i], namelen) else {
                continue;
            };
            let packet = &b.packets[i][..len];
            *sent = answer(
                shared,
                &serving,
                packet,
                peer,
                now,
                &mut local,
                &mut b.outs[i],
            );
        }
        if let Err(e) = transmit(fd, &mut b, count, &send) {
            tracing::debug!(error = %e, "UDP send failed");
        }
    }
}

/// One `recvmmsg`: how many datagrams arrived (their lengths go to `b.lens`).
fn receive(fd: libc::c_int, b: &mut Batch) -> io::Result<usize> {
    for m in &mut b.recv_msgs {
        m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    }
    // SAFETY: every header points at live buffers of the stated sizes (set in `Batch::new`, the
    // batch never moves); the socket's receive timeout bounds the wait for the first datagram.
    let n = unsafe {
        libc::recvmmsg(
            fd,
            b.recv_msgs.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    for (i, m) in b.recv_msgs[..n as usize].iter().enumerate() {
        b.lens[i] = (m.msg_len as usize, m.msg_hdr.msg_namelen);
    }
    Ok(n as usize)
}

/// Sends the answers marked in `send` with as few `sendmmsg` calls as the kernel allows.
fn transmit(
    fd: libc::c_int,
    b: &mut Batch,
    received: usize,
    send: &[bool; BATCH],
) -> io::Result<()> {
    let mut count = 0;
    for (i, _) in send.iter().enumerate().take(received).filter(|(_, s)| **s) {
        b.send_iov[count].iov_base = b.outs[i].as_mut_ptr().cast();
        b.send_iov[count].iov_len = b.outs[i].len();
        let m = &mut b.send_msgs[count].msg_hdr;
        m.msg_name = (&mut b.names[i] as *mut libc::sockaddr_storage).cast();
        m.msg_namelen = b.lens[i].1;
        count += 1;
    }
    let msgs = &mut b.send_msgs;
    let mut sent = 0;
    // Bounded: each round sends at least one datagram or gives up on the rest.
    while sent < count {
        // SAFETY: headers point at the answers and addresses, alive for the call.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                msgs[sent..].as_mut_ptr(),
                (count - sent) as libc::c_uint,
                0,
            )
        };
        if n <= 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // Skip the datagram that failed (say, an unreachable peer) and go on with the rest.
            sent += 1;
            if sent >= count {
                return Err(e);
            }
            continue;
        }
        sent += n as usize;
    }
    Ok(())
}

/// The socket address the kernel wrote into `storage` (`len` bytes): IPv4 or IPv6.
fn peer_of(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large and
            // aligned enough for.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
