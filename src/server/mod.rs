//! Assembly: builds the runtime from a configuration folder, binds every listener, starts the
//! tasks that wait (probes, fleet, reload, admin) and stops them. The one place that knows
//! every part, so that no part needs to know another one above it.

mod error;
pub mod reload;

pub use error::Error;
pub use reload::load_snapshot;

use crate::dns::tcp::TcpLimits;
use crate::state::Shared;
use crate::{admin, dns, dnssec, fleet, health};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How to run a server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Folder holding `zones/`, `probes/` and `geoip/`.
    pub config_dir: PathBuf,
    /// DNS listen addresses (UDP and TCP on each).
    pub dns: Vec<SocketAddr>,
    /// UDP threads per address.
    pub udp_threads: usize,
    /// Requested UDP receive buffer in bytes (0: the system default).
    pub udp_recv_buffer: usize,
    /// TCP limits.
    pub tcp: TcpLimits,
    /// Admin HTTP address (`None`: no admin server).
    pub admin: Option<SocketAddr>,
    /// Probes running at once, at most.
    pub probe_concurrency: usize,
    /// Run health probes (off: every replica counts healthy; regions.yaml still applies).
    pub probes: bool,
    /// Log one query in this many at info level (0: off).
    pub query_log_every: u64,
    /// This instance's name in a fleet and in its probes' User-Agent.
    pub instance: String,
}

/// The host's name (the default instance name), or `georoute` when it has none.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let len = buf.iter().position(|&b| b == 0).unwrap_or(0);
    match std::str::from_utf8(&buf[..len]) {
        Ok(name) if ok && !name.is_empty() => name.to_string(),
        _ => "georoute".into(),
    }
}

impl Settings {
    /// Defaults of `georoute serve` for a configuration folder.
    pub fn new(config_dir: impl Into<PathBuf>) -> Self {
        Self {
            config_dir: config_dir.into(),
            dns: vec![SocketAddr::from(([127, 0, 0, 1], 5300))],
            udp_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            udp_recv_buffer: 1 << 20,
            tcp: TcpLimits::default(),
            admin: Some(SocketAddr::from(([127, 0, 0, 1], 9153))),
            probe_concurrency: 64,
            probes: true,
            query_log_every: 0,
            instance: host_name(),
        }
    }
}

/// A running server.
pub struct Server {
    /// The addresses actually bound (port 0 resolved).
    pub dns_addrs: Vec<SocketAddr>,
    /// The admin address actually bound, if any.
    pub admin_addr: Option<SocketAddr>,
    /// The shared state (tests swap health through it).
    pub shared: Arc<Shared>,
    /// The probes.
    pub prober: Arc<health::prober::Prober>,
    stop: Arc<AtomicBool>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    udp: Vec<std::thread::JoinHandle<()>>,
    tcp: Vec<tokio::task::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Loads the configuration, binds every address and starts serving. Must run inside a tokio
    /// runtime (TCP is served by tasks).
    pub async fn start(settings: Settings) -> Result<Self, Error> {
        // Taken before the load, so a change made while starting is not missed; the files the
        // configuration names (cookie secrets) are known only after it.
        let files = reload::fingerprint(&settings.config_dir, &[]);
        let snapshot = load_snapshot(&settings.config_dir, 1)?;
        let files = reload::with_files(files, snapshot.config.watched_files());
        let shared = Shared::new(snapshot);
        dnssec::warm::spawn(Arc::clone(&shared.load()));
        shared
            .query_log_every
            .store(settings.query_log_every, Ordering::Relaxed);
        let prober = health::prober::Prober::new(
            shared.clone(),
            settings.probe_concurrency,
            settings.probes,
            &settings.instance,
        )
        .map_err(Error::Probe)?;
        if settings.probes {
            // One bounded probe round before the listeners open.
            prober.first_round().await;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut dns_addrs = Vec::new();
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for &addr in &settings.dns {
            let (sockets, listener) = bind_pair(addr, &settings)?;
            let bound = sockets[0]
                .local_addr()
                .map_err(|source| Error::Bind { addr, source })?;
            dns_addrs.push(bound);
            udp.extend(dns::udp::serve(sockets, shared.clone(), stop.clone()));
            tcp.push(tokio::spawn(dns::tcp::serve(
                listener,
                shared.clone(),
                settings.tcp,
                stop_rx.clone(),
            )));
        }
        let mut tasks = if settings.probes {
            prober.spawn(stop_rx.clone())
        } else {
            Vec::new()
        };
        tasks.push(tokio::spawn(reload::watch(
            shared.clone(),
            prober.clone(),
            files,
            stop_rx.clone(),
        )));
        let fleet_settings = shared.snapshot().config.fleet.clone();
        let mut fleet_state = None;
        if let (true, Some(fleet)) = (settings.probes, fleet_settings) {
            let name = &settings.instance;
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid {
                return Err(Error::Probe(format!(
                    "instance name {name:?}: letters, digits, '-', '_' and '.' only (--instance)"
                )));
            }
            // Read etcd twice per shortest probe interval (100 ms to 1 s).
            let poll = shared
                .snapshot()
                .config
                .policies
                .values()
                .map(|p| p.interval / 2)
                .min()
                .unwrap_or(std::time::Duration::from_secs(1))
                .clamp(
                    std::time::Duration::from_millis(100),
                    std::time::Duration::from_secs(1),
                );
            let state = fleet::FleetState::new(name.clone(), fleet);
            prober.join_fleet(state.clone());
            fleet_state = Some(state.clone());
            let task = fleet::spawn(state, prober.clone(), poll, stop_rx.clone());
            tasks.push(task.map_err(Error::Probe)?);
        }
        let mut admin_addr = None;
        if let Some(addr) = settings.admin {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })?;
            admin_addr = listener.local_addr().ok();
            let state = admin::Admin {
                shared: shared.clone(),
                prober: prober.clone(),
                fleet: fleet_state.clone(),
            };
            tasks.push(tokio::spawn(admin::serve(listener, state, stop_rx.clone())));
        }
        let addresses: Vec<String> = dns_addrs.iter().map(ToString::to_string).collect();
        let admin = admin_addr.map_or_else(|| "off".to_string(), |a| a.to_string());
        tracing::info!(addresses = %addresses.join(","), %admin, generation = 1, "serving DNS");
        Ok(Self {
            dns_addrs,
            admin_addr,
            shared,
            prober,
            stop,
            stop_tx,
            udp,
            tcp,
            tasks,
        })
    }

    /// Stops accepting, lets in-flight queries finish, and waits for every transport.
    pub async fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.stop_tx.send(true);
        for t in self.tcp.into_iter().chain(self.tasks) {
            let _ = t.await;
        }
        let udp = self.udp;
        let _ = tokio::task::spawn_blocking(move || {
            for t in udp {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// Raises this process's soft limit of open files to its hard limit (the TCP connection limit
/// and the probes need more than the common default of 1024). Returns the limit now in force.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(limit.rlim_cur)
}

/// Binds UDP and TCP on the same port; with port 0, retries until both get one port.
fn bind_pair(
    addr: SocketAddr,
    settings: &Settings,
) -> Result<(Vec<std::net::UdpSocket>, tokio::net::TcpListener), Error> {
    let mut last = None;
    for _ in 0..20 {
        let sockets = dns::udp::bind(addr, settings.udp_threads, settings.udp_recv_buffer)
            .map_err(|source| Error::Bind { addr, source })?;
        let port = sockets[0]
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        match bind_tcp(port) {
            Ok(l) => return Ok((sockets, l)),
            Err(e) if addr.port() == 0 => last = Some(e),
            Err(source) => return Err(Error::Bind { addr, source }),
        }
    }
    Err(Error::Bind {
        addr,
        source: last.unwrap_or_else(|| std::io::Error::other("no free port")),
    })
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    tokio::net::TcpListener::from_std(socket.into())
}
