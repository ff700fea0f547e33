//! Why a server could not start: the one error type of the assembly, formatted by `main`.

use crate::config;
use std::net::SocketAddr;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("invalid configuration:\n{0}")]
    Config(#[from] config::ConfigErrors),
    /// A runtime piece could not be built from the configuration (a GeoIP database that does
    /// not open, a signing key that does not load).
    #[error("{0}")]
    Geo(String),
    /// A probe could not be set up (bad URL, unreadable CA file).
    #[error("{0}")]
    Probe(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}
