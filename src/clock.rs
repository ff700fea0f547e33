//! The wall clock, read in one place: cookie timestamps, rate limiting buckets, signature
//! times and the failback ramp (whose start the health snapshot carries as Unix time).

/// Wall-clock time since the Unix epoch.
pub fn unix_now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// [`unix_now`] in milliseconds.
pub fn unix_now_ms() -> u64 {
    unix_now().as_millis() as u64
}
