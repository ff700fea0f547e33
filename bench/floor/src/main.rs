//! The floor for `bench/compare.sh`: a UDP DNS responder that does no work.
//!
//! It answers every query with the same answer, written in place over the query:
//! the query's ID and question, QR and AA set (RD copied), one A record
//! `192.0.2.10` TTL 30 whose owner is a compression pointer to the question, and,
//! when the query's ARCOUNT is not zero, a fixed 11-byte OPT (UDP size 1232, no
//! options). The question is not looked at beyond finding where it ends, so the
//! query type does not matter.
//!
//! The socket setup and loop are gdnsd's (`src/dnsio_udp.c`, 3.x): one blocking
//! thread per socket, each socket with `SO_REUSEPORT`, `SO_RCVBUF` 1 MiB,
//! `IP_MTU_DISCOVER = IP_PMTUDISC_OMIT`, `IP_TOS = IPTOS_LOWDELAY` (IPv6:
//! `IPV6_MTU_DISCOVER`, `IPV6_TCLASS`); `recvmmsg(16, MSG_WAITFORONE)`, then one
//! `sendmmsg(MSG_DONTWAIT)` for the batch (runs of dropped packets skipped). What
//! it costs per answer is what the kernel costs: the limit a real server can get
//! near to but not below with this loop.
//!
//! Usage: `georoute-floor --listen 127.0.0.1:5397 --threads 1`

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::process::exit;
use std::thread;

/// Datagrams per `recvmmsg`, as gdnsd's `MMSG_WIDTH`.
const BATCH: usize = 16;
/// Receive buffer per datagram; also the largest answer (queries longer than
/// `BUF - ANSWER_MAX_EXTRA` are dropped).
const BUF: usize = 4096;
/// Requested `SO_RCVBUF`.
const RCVBUF: libc::c_int = 1 << 20;

const HEADER: usize = 12;
/// The answer record: pointer to offset 12, type A, class IN, TTL 30, RDLENGTH 4, 192.0.2.10.
const ANSWER_RR: [u8; 16] = [
    0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x04, 192, 0, 2, 10,
];
/// OPT: root owner, type 41, UDP size 1232, extended RCODE 0, version 0, flags 0, RDLENGTH 0.
const OPT_RR: [u8; 11] = [
    0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
const ANSWER_MAX_EXTRA: usize = ANSWER_RR.len() + OPT_RR.len();

fn usage() -> ! {
    eprintln!("usage: georoute-floor --listen ADDR:PORT [--threads N]");
    exit(2);
}

fn main() {
    let mut listen: Option<SocketAddr> = None;
    let mut threads: usize = 1;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => {
                let v = args.next().unwrap_or_else(|| usage());
                listen = Some(v.parse().unwrap_or_else(|_| {
                    eprintln!("georoute-floor: bad --listen address '{v}'");
                    exit(2)
                }));
            }
            "--threads" => {
                let v = args.next().unwrap_or_else(|| usage());
                threads = match v.parse() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        eprintln!("georoute-floor: bad --threads '{v}'");
                        exit(2)
                    }
                };
            }
            "-h" | "--help" => {
                println!("usage: georoute-floor --listen ADDR:PORT [--threads N]");
                return;
            }
            _ => usage(),
        }
    }
    let addr = listen.unwrap_or_else(|| usage());

    // Bind every socket before serving, so a bad address fails the start.
    let mut fds = Vec::with_capacity(threads);
    for _ in 0..threads {
        match udp_socket(addr) {
            Ok(fd) => fds.push(fd),
            Err(e) => {
                eprintln!("georoute-floor: socket on {addr}: {e}");
                exit(1);
            }
        }
    }
    eprintln!(
        "georoute-floor: listening on {addr} (UDP), {threads} thread(s), rcvbuf {} bytes",
        rcvbuf(fds[0])
    );
    let handles: Vec<_> = fds
        .into_iter()
        .map(|fd| thread::spawn(move || serve(fd)))
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(())
    }
}

fn setopt(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    val: libc::c_int,
    what: &str,
) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to a live c_int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &val as *const libc::c_int as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(rc, what)
}

fn rcvbuf(fd: libc::c_int) -> libc::c_int {
    let mut val: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid fd, val and len live for the call.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &mut val as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        );
    }
    val
}

fn udp_socket(addr: SocketAddr) -> io::Result<libc::c_int> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::IPPROTO_UDP,
        )
    };
    check(fd, "socket")?;
    setopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
    setopt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1, "SO_REUSEPORT")?;
    setopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF, "SO_RCVBUF")?;
    // SAFETY (both arms): sockaddr structs fully initialised (zeroed, then set), passed with their size.
    let rc = match addr {
        SocketAddr::V4(a) => {
            setopt(
                fd,
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                libc::IP_PMTUDISC_OMIT,
                "IP_MTU_DISCOVER",
            )?;
            setopt(
                fd,
                libc::IPPROTO_IP,
                libc::IP_TOS,
                libc::IPTOS_LOWDELAY as libc::c_int,
                "IP_TOS",
            )?;
            let mut sa: libc::sockaddr_in = unsafe { mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = a.port().to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            unsafe {
                libc::bind(
                    fd,
                    &sa as *const libc::sockaddr_in as *const libc::sockaddr,
                    mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            setopt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1, "IPV6_V6ONLY")?;
            setopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_MTU_DISCOVER,
                libc::IPV6_PMTUDISC_OMIT,
                "IPV6_MTU_DISCOVER",
            )?;
            setopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_TCLASS,
                libc::IPTOS_LOWDELAY as libc::c_int,
                "IPV6_TCLASS",
            )?;
            let mut sa: libc::sockaddr_in6 = unsafe { mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = a.port().to_be();
            sa.sin6_addr.s6_addr = a.ip().octets();
            sa.sin6_scope_id = a.scope_id();
            unsafe {
                libc::bind(
                    fd,
                    &sa as *const libc::sockaddr_in6 as *const libc::sockaddr,
                    mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    check(rc, "bind")?;
    Ok(fd)
}

/// Rewrites the query in `pkt[..len]` into the fixed answer; returns the answer's
/// length, or 0 to drop (too short, a response, or a question that runs off the end).
#[inline]
fn answer(pkt: &mut [u8], len: usize) -> usize {
    if len < HEADER || pkt[2] & 0x80 != 0 {
        return 0;
    }
    // End of the first question: labels up to the root, then type and class.
    let mut i = HEADER;
    loop {
        if i >= len {
            return 0;
        }
        let l = pkt[i] as usize;
        if l == 0 {
            i += 1;
            break;
        }
        if l & 0xc0 != 0 {
            return 0; // no compression (or extended labels) in a query's question
        }
        i += 1 + l;
    }
    let qend = i + 4;
    if qend > len || qend + ANSWER_MAX_EXTRA > pkt.len() {
        return 0;
    }
    let has_opt = pkt[10] != 0 || pkt[11] != 0;
    // Header: ID kept; QR, opcode kept, AA, RD kept; RA 0, RCODE 0.
    pkt[2] = 0x80 | (pkt[2] & 0x78) | 0x04 | (pkt[2] & 0x01);
    pkt[3] = 0;
    pkt[4..12].copy_from_slice(&[0, 1, 0, 1, 0, 0, 0, has_opt as u8]);
    pkt[qend..qend + ANSWER_RR.len()].copy_from_slice(&ANSWER_RR);
    let mut end = qend + ANSWER_RR.len();
    if has_opt {
        pkt[end..end + OPT_RR.len()].copy_from_slice(&OPT_RR);
        end += OPT_RR.len();
    }
    end
}

fn serve(fd: libc::c_int) {
    let mut bufs = vec![[0u8; BUF]; BATCH];
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut names: [libc::sockaddr_storage; BATCH] = unsafe { mem::zeroed() };
    let mut iovs: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
    for i in 0..BATCH {
        iovs[i].iov_base = bufs[i].as_mut_ptr() as *mut libc::c_void;
        msgs[i].msg_hdr.msg_iov = &mut iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name =
            &mut names[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
    }
    loop {
        for i in 0..BATCH {
            iovs[i].iov_len = BUF;
            msgs[i].msg_hdr.msg_namelen =
                mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_flags = 0;
        }
        // SAFETY: msgs points at BATCH initialised headers whose buffers outlive the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                eprintln!("georoute-floor: recvmmsg: {e}");
            }
            continue;
        }
        let n = n as usize;
        for i in 0..n {
            let len = msgs[i].msg_len as usize;
            // A source port of zero is dropped, as gdnsd does.
            let port_zero = match names[i].ss_family as libc::c_int {
                // SAFETY: the family says which struct the storage holds.
                libc::AF_INET => unsafe {
                    (*(&names[i] as *const _ as *const libc::sockaddr_in)).sin_port == 0
                },
                libc::AF_INET6 => unsafe {
                    (*(&names[i] as *const _ as *const libc::sockaddr_in6)).sin6_port == 0
                },
                _ => true,
            };
            let truncated = msgs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            iovs[i].iov_len = if port_zero || truncated {
                0
            } else {
                answer(&mut bufs[i], len)
            };
        }
        // Send the runs of answers (iov_len > 0), skipping dropped ones.
        let mut done = 0;
        while done < n {
            while done < n && iovs[done].iov_len == 0 {
                done += 1;
            }
            let mut run = 0;
            while done + run < n && iovs[done + run].iov_len != 0 {
                run += 1;
            }
            if run == 0 {
                break;
            }
            // SAFETY: msgs[done..done + run] are initialised headers over live buffers.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs.as_mut_ptr().add(done),
                    run as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                done += 1; // the first of the run failed: skip it, as gdnsd does
            } else {
                done += rc as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(opt: bool) -> Vec<u8> {
        let mut q = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, opt as u8];
        for l in ["myregistry", "azurecr", "io"] {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        if opt {
            // OPT with an ECS option for 192.0.2.0/24
            q.extend_from_slice(&[
                0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 11, 0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2,
            ]);
        }
        q
    }

    #[test]
    fn answers_in_place() {
        for opt in [false, true] {
            let q = query(opt);
            let mut buf = [0u8; BUF];
            buf[..q.len()].copy_from_slice(&q);
            let n = answer(&mut buf, q.len());
            let qend = 12 + 1 + 10 + 1 + 7 + 1 + 2 + 1 + 4;
            assert_eq!(n, qend + 16 + if opt { 11 } else { 0 });
            assert_eq!(&buf[..2], &[0xab, 0xcd]);
            assert_eq!(buf[2], 0x85); // QR, AA, RD
            assert_eq!(buf[3], 0);
            assert_eq!(&buf[4..12], &[0, 1, 0, 1, 0, 0, 0, opt as u8]);
            assert_eq!(&buf[12..qend], &q[12..qend]);
            assert_eq!(&buf[qend..qend + 16], &ANSWER_RR);
        }
    }

    #[test]
    fn drops_bad_packets() {
        let mut buf = [0u8; BUF];
        assert_eq!(answer(&mut buf, 5), 0);
        let mut q = query(false);
        q[2] |= 0x80;
        buf[..q.len()].copy_from_slice(&q);
        assert_eq!(answer(&mut buf, q.len()), 0);
        let q = query(false);
        buf[..q.len()].copy_from_slice(&q);
        assert_eq!(answer(&mut buf, q.len() - 2), 0);
    }
}
