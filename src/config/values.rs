//! Values written the same way in every file: networks (CIDR), durations (`10s`, `7d`), DNS
//! labels, and the prefix arithmetic over networks.

use super::error::Problems;
use super::spec::SpannedText;
use std::time::Duration;

/// Parses a CIDR (or a bare address as a host route), recording an error on failure.
pub fn parse_net(text: &SpannedText, p: &mut Problems<'_>) -> Option<ipnet::IpNet> {
    let s = text.value.trim();
    match cidr(s) {
        Some(net) if net.trunc() == net => Some(net),
        Some(net) => {
            p.at(
                text,
                format!("{s} has host bits set; did you mean {}?", net.trunc()),
            );
            None
        }
        None => {
            p.at(text, format!("{s:?} is not a network in CIDR form"));
            None
        }
    }
}

/// A CIDR, or a bare address as a host route; host bits are not checked here.
pub fn cidr(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Parses `500ms`, `10s`, `1m`, `2h`, `7d`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86_400)?),
        _ => return None,
    };
    Some(d)
}

/// True for a DNS label made of letters, digits and inner hyphens (1-63 characters).
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The prefix length at which `addr`'s block stops touching `net` (0 for another family).
pub fn separating_prefix(addr: std::net::IpAddr, net: &ipnet::IpNet) -> u8 {
    use std::net::IpAddr;
    let common = match (addr, net.network()) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) ^ u32::from(n)).leading_zeros() as u8,
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a) ^ u128::from(n)).leading_zeros() as u8,
        _ => return 0,
    };
    common.min(net.prefix_len()) + 1
}
