//! The `georoute` command: serve | check | explain. Parses flags, sets up logging, formats
//! errors and picks the exit code (0 fine, 1 runtime failure, 2 invalid configuration or usage).

use clap::{Parser, Subcommand, ValueEnum};
use georoute::health::HealthState;
use georoute::{Error, Server, Settings, load_snapshot};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "georoute",
    version,
    about = "Health-aware GeoDNS for geo-replicated registries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve DNS for the zones in the configuration folder.
    Serve {
        /// Folder holding zones/, probes/ and geoip/.
        #[arg(long, default_value = ".")]
        config: PathBuf,
        /// DNS listen address for UDP and TCP (repeatable).
        #[arg(long = "dns", default_value = "127.0.0.1:5300")]
        dns: Vec<SocketAddr>,
        /// Admin HTTP address (/metrics, /status, /healthz, /readyz).
        #[arg(long, default_value = "127.0.0.1:9153")]
        admin: SocketAddr,
        /// Log format.
        #[arg(long, value_enum, default_value_t = LogFormat::Human)]
        log_format: LogFormat,
        /// UDP threads per listen address (default: one per CPU).
        #[arg(long)]
        udp_threads: Option<usize>,
        /// UDP receive buffer in bytes (0: system default).
        #[arg(long, default_value_t = 1 << 20)]
        udp_recv_buffer: usize,
        /// Do not probe replicas: every replica counts healthy (demos, tests).
        #[arg(long)]
        no_probes: bool,
        /// Log one query in N at info level (0: off, the default).
        #[arg(long, default_value_t = 0)]
        query_log_sample: u64,
        /// This instance's name in a fleet (probes/fleet.yaml) and in its probes' User-Agent
        /// (default: the host name).
        #[arg(long)]
        instance: Option<String>,
    },
    /// Show health-driven failover locally: loopback replica stand-ins you can fail and restore.
    Demo {
        /// Folder whose geoip/ and server.yaml the demo uses.
        #[arg(long, default_value = ".")]
        config: PathBuf,
        /// DNS listen address for UDP and TCP.
        #[arg(long, default_value = "127.0.0.1:5300")]
        dns: SocketAddr,
        /// Admin HTTP address.
        #[arg(long, default_value = "127.0.0.1:9153")]
        admin: SocketAddr,
    },
    /// Validate the configuration and print what would be served.
    Check {
        /// Folder holding zones/, probes/ and geoip/.
        #[arg(long, default_value = ".")]
        config: PathBuf,
    },
    /// Make a DNSSEC signing key (PKCS#8 PEM) for a zone's `dnssec: {key_file: ...}`.
    Keygen {
        /// ecdsa-p256 (algorithm 13) or ed25519 (algorithm 15).
        #[arg(long, default_value = "ecdsa-p256")]
        algorithm: String,
        /// Write the key to this file (created, never overwritten, mode 0600); default: stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show which answer a client gets for a name, and why.
    Explain {
        /// The name, e.g. myregistry.azurecr.io.
        name: String,
        /// The client's address (the packet's source).
        #[arg(long)]
        client: IpAddr,
        /// An EDNS Client Subnet, e.g. 198.51.100.0/24.
        #[arg(long)]
        ecs: Option<ipnet::IpNet>,
        /// Folder holding zones/, probes/ and geoip/.
        #[arg(long, default_value = ".")]
        config: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn main() -> ExitCode {
    // Output piped into `head` and the like: end quietly on a closed pipe, as command-line tools
    // do, instead of panicking in print!.
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            dns,
            admin,
            log_format,
            udp_threads,
            udp_recv_buffer,
            no_probes,
            query_log_sample,
            instance,
        } => {
            init_logging(log_format);
            let mut settings = Settings::new(config);
            settings.dns = dns;
            settings.udp_recv_buffer = udp_recv_buffer;
            if let Some(n) = udp_threads {
                settings.udp_threads = n.max(1);
            }
            settings.admin = Some(admin);
            settings.probes = !no_probes;
            settings.query_log_every = query_log_sample;
            if let Some(name) = instance {
                settings.instance = name;
            }
            serve(settings)
        }
        Command::Demo { config, dns, admin } => {
            init_logging(LogFormat::Human);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("georoute: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match runtime.block_on(georoute::demo::run(&config, dns, admin)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("georoute: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Check { config } => check(&config),
        Command::Keygen { algorithm, out } => keygen(&algorithm, out.as_deref()),
        Command::Explain {
            name,
            client,
            ecs,
            config,
        } => match load_snapshot(&config, 1) {
            Ok(snap) => {
                let health = HealthState::from_config(&snap.config);
                print!(
                    "{}",
                    georoute::explain::explain(&snap, &health, &name, client, ecs)
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
    }
}

fn init_logging(format: LogFormat) {
    // Failed certificate checks are reported once in our own transition line, not per probe.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,rustls_platform_verifier=off")
    });
    // Colour only on a terminal, and never with NO_COLOR set (https://no-color.org): a log file
    // or a pipe gets plain text that grep finds.
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(settings: Settings) -> ExitCode {
    if let Err(e) = georoute::raise_open_file_limit() {
        tracing::warn!(error = %e, "cannot raise the open-file limit");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("georoute: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let server = match Server::start(settings).await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        wait_for_signal().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

fn check(config: &std::path::Path) -> ExitCode {
    let snap = match load_snapshot(config, 1) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    print!("{}", georoute::check::render(&snap));
    ExitCode::SUCCESS
}

fn keygen(algorithm: &str, out: Option<&std::path::Path>) -> ExitCode {
    let pem = match georoute::dnssec::key::generate(algorithm) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("georoute keygen: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(path) = out else {
        print!("{pem}");
        return ExitCode::SUCCESS;
    };
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    // A missing folder (the README's `keys/`) is made, readable by this user only.
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        && let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    {
        eprintln!("georoute keygen: cannot make {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(pem.as_bytes()));
    match written {
        Ok(()) => {
            eprintln!("georoute keygen: wrote {} ({algorithm})", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("georoute keygen: cannot write {}: {e}", path.display());
            ExitCode::from(1)
        }
    }
}

fn fail(e: Error) -> ExitCode {
    eprintln!("georoute: {e}");
    match e {
        Error::Config(_) | Error::Geo(_) | Error::Probe(_) => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}
