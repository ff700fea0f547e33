//! What the handler did with one query, in plain values: the vocabulary the handler writes
//! and the counters, the rate limiter and the query log read (so none of them imports the
//! handler).

use super::cookie;
use super::wire::ClientSubnet;

/// What happened to a query, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Nothing is sent (not a query, or too short to answer).
    Dropped,
    /// A response with this RCODE was written.
    Answered {
        /// RCODE (extended codes included).
        rcode: u16,
        /// True when the UDP response was truncated.
        truncated: bool,
        /// What was asked and answered, for the metrics and rate limiting.
        about: About,
        /// Length of the question section echoed (0: none), for [`crate::dns::wire::truncate`].
        question_len: u16,
        /// Where the response's OPT record starts (0: none), for [`crate::dns::wire::truncate`].
        opt_at: u16,
    },
}

/// Labels of an answered query (indexes into the snapshot's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct About {
    /// QTYPE, when the question was readable.
    pub qtype: Option<u16>,
    /// The zone, when the name was in one.
    pub zone: Option<usize>,
    /// The view (index in the zone's views), when the client was in one.
    pub view: Option<usize>,
    /// The global name's choice: (registry, replica).
    pub chosen: Option<(usize, usize)>,
    /// The chosen replica's region (catalogue index).
    pub chosen_region: Option<usize>,
    /// The choice was a suspect replica (answered with `ttl.suspect`).
    pub suspect: bool,
    /// What a failback ramp did to the choice.
    pub ramp: crate::route::Ramp,
    /// The Client Subnet the query carried (when ECS is honoured).
    pub ecs: Option<ClientSubnet>,
    /// What the query's COOKIE proved.
    pub cookie: cookie::Check,
    /// A signed response: the Unix time after which one of its signatures is made again (0:
    /// not signed). A kept copy must not be served after it.
    pub refresh_at: u64,
}
