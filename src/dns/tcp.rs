//! TCP: tokio tasks, two-byte length framing, pipelined queries answered in order, a connection
//! limit and idle/read timeouts (RFC 7766).

use super::handler::{Handled, Request, Transport, handle};
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
    /// A message, once its first byte has arrived, must be complete within this time (a client
    /// trickling one byte a second is closed, not waited for).
    pub read_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            idle_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(3),
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
        // Idle: wait for the first byte of the next message.
        let first = tokio::select! {
            r = tokio::time::timeout(limits.idle_timeout, read.read_u8()) => match r {
                Ok(Ok(b)) => b,
                _ => return Ok(()),
            },
            _ = stop.changed() => return Ok(()),
        };
        // Reading: the rest of the length and the message, within the read timeout.
        let body = async {
            let second = read.read_u8().await?;
            let len = u16::from_be_bytes([first, second]) as usize;
            read.read_exact(&mut packet[..len]).await?;
            Ok::<usize, std::io::Error>(len)
        };
        let len = match tokio::time::timeout(limits.read_timeout, body).await {
            Ok(Ok(len)) => len,
            _ => return Ok(()),
        };
        let handled = {
            let serving = shared.load();
            let snapshot = &serving.snapshot;
            let request = Request {
                packet: &packet[..len],
                source: peer,
                transport: Transport::Tcp,
                now_ms: crate::clock::unix_now_ms(),
            };
            let handled = handle(
                snapshot,
                &serving.health,
                &snapshot.cookies,
                &request,
                &mut out,
            );
            shared.after_query(snapshot, &handled, &packet[..len], peer);
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
