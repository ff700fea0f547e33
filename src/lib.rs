//! georoute: an authoritative, health-aware GeoDNS server for geo-replicated registries.
//!
//! Module map, in layers from the top (the command line) to the bottom (leaves). A module may
//! import its own layer and the layers below it, never one above: `.ci/layers` checks it (and
//! that no two files import each other, however indirectly) on every CI run. What a lower piece
//! needs from a higher one is handed to it as a value (a trait object, a plain struct defined
//! below), never imported.
//!
//! | layer | module | owns | may import |
//! |---|---|---|---|
//! | command line | `main.rs`, [`check`], [`demo`], [`explain`] | the CLI, the `check` report, `georoute demo`, the account of one decision | everything |
//! | assembly | [`server`] | [`Server::start`]: build, bind, start every task, reload (`server/reload.rs`), stop | everything below |
//! | tasks | [`admin`] | admin HTTP: `/status`, `/metrics`, `/routes`, the status page | tasks and below |
//! | tasks | [`fleet`] | etcd membership, observer choice, quorum; hands its verdicts to the prober | tasks and below |
//! | tasks | [`health`] `::prober`, [`dnssec`] `::warm` | probes that write the health table; the signature warm-up | transports and below |
//! | transports | [`dns`] `::udp`, `::tcp`, `::reuse` | bytes in, bytes out around the handler; per-thread response reuse | handler and below |
//! | handler | [`dns`] `::handler` | one query: names → view → route → answer → sign | steps and below |
//! | steps | [`dns`] `::answer`, `::global`, [`dnssec`] `::sign` | writing an answer's records; signing and denial | state and below |
//! | state | [`state`] | [`state::Serving`] (snapshot + health) behind one ArcSwap, [`state::Shared`] | build and below |
//! | build | [`snapshot`], [`dns`] `::names`, [`metrics`], [`dnssec`] (`Signing`) | Config → runtime pieces: name index, view indexes, GeoIP readers, keys, cookie secrets, counters | pure and below |
//! | pure | [`route`], [`view`], [`geo`], [`health`] `::table`/`::state`, [`dns`] `::cookie`/`::rrl`/`::outcome` | functions and lock-free tables over plain data | config and below |
//! | config | [`config`] | on-disk YAML → validated, plain [`config::Config`] (no index, no signer, no open file) | leaves |
//! | leaves | [`dns`] `::wire`, [`hash`], [`clock`], [`events`], [`geo`] `::point`, [`dnssec`] `::key` | the wire codec, stable hashes, the clock, the event log, coordinates, key parsing | nothing of ours |
//!
//! One query: `dns::udp` reads a datagram, loads [`state::Serving`] once, and calls
//! `dns::handle` with the snapshot and health it loaded; nothing on that path locks, logs at
//! info level or does I/O. [`Server::start`] starts a whole server in-process, so tests run
//! exactly what `serve` runs.

pub mod admin;
pub mod check;
pub mod clock;
pub mod config;
pub mod demo;
pub mod dns;
pub mod dnssec;
pub mod events;
pub mod explain;
pub mod fleet;
pub mod geo;
pub mod hash;
pub mod health;
pub mod metrics;
pub mod route;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod view;

pub use server::{Error, Server, Settings, host_name, load_snapshot, raise_open_file_limit};
