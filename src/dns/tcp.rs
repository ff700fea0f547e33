//! TCP: tokio tasks, two-byte length framing, pipelined queries answered in order, a connection
//! limit and idle/read timeouts (RFC 7766).

use super::handler::{Handled, Transport, handle};
use crate::state::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// TCP limits.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// Simultaneous connections; further ones wait in the accept queue.
    pub max_connections: usize,
    /// Close a connection idle this long between queries.
    pub idle_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            idle_timeout: Duration::from_secs(10),
        }
    }
}

/// Accepts connections until `stop` turns true; in-flight connections finish their current query.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    limits: TcpLimits,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _ = connection(stream, peer.ip(), &shared, limits, stop).await;
            drop(permit);
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: std::net::IpAddr,
    shared: &Shared,
    limits: TcpLimits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut packet = vec![0u8; 65535];
    let mut out = Vec::with_capacity(1024);
    loop {
        let len = tokio::select! {
            r = tokio::time::timeout(limits.idle_timeout, read.read_u16()) => match r {
                Ok(Ok(len)) => len as usize,
                _ => return Ok(()),
            },
            _ = stop.changed() => return Ok(()),
        };
        match tokio::time::timeout(limits.idle_timeout, read.read_exact(&mut packet[..len])).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let handled = {
            let snapshot = shared.snapshot.load();
            let health = shared.health.load();
            let handled = handle(
                &snapshot,
                &health,
                &packet[..len],
                peer,
                Transport::Tcp,
                &mut out,
            );
            shared.after_query(&snapshot, &handled, &packet[..len], peer);
            handled
        };
        match handled {
            Handled::Dropped => return Ok(()),
            Handled::Answered { .. } => {
                let mut framed = Vec::with_capacity(out.len() + 2);
                framed.extend_from_slice(&(out.len() as u16).to_be_bytes());
                framed.extend_from_slice(&out);
                write.write_all(&framed).await?;
            }
        }
    }
}
