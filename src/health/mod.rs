//! Replica and region health. Probes write it; routing only reads it, through [`HealthState`].
//!
//! `state.rs` is the pure rise/fall/flap machine, `prober.rs` runs the probes and publishes the
//! table, `table.rs` is what the query path reads.

pub mod prober;
pub mod state;
pub mod table;

pub use table::HealthState;
