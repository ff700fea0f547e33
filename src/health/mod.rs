//! Replica and region health. Probes write it; routing only reads it, through [`HealthState`].

pub mod table;

pub use table::{HealthState, HealthTable};
