//! DNS: the synchronous query handler and the UDP and TCP transports around it.

pub mod answer;
pub mod cookie;
pub mod global;
pub mod handler;
pub mod names;
pub mod outcome;
pub mod reuse;
pub mod rrl;
pub mod tcp;
pub mod udp;
pub mod wire;

pub use handler::{Handled, Request, Transport, handle};
