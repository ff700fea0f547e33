//! `probes/fleet.yaml`: the etcd cluster a fleet of instances shares health through (SPEC
//! section 11). Absent: every instance decides from its own probes alone.

use super::error::Problems;
use super::spec::SpannedText;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::time::Duration;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// The `fleet:` block.
    pub fleet: FleetSpec,
}

/// `fleet:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    /// etcd v3 endpoints (`http://host:2379`).
    pub etcd: Vec<SpannedText>,
    /// Key prefix.
    #[serde(default = "default_prefix")]
    pub prefix: SpannedText,
    /// Instances that probe each replica (0: every instance).
    #[serde(default = "default_observers")]
    pub observers: Spanned<u32>,
    /// `majority` or a number of observers.
    #[serde(default = "default_quorum")]
    pub quorum: SpannedText,
    /// How long a silent instance stays in the fleet.
    #[serde(default = "default_lease")]
    pub lease: SpannedText,
}

fn default_prefix() -> SpannedText {
    super::spec::fixed("/georoute/".into())
}
fn default_observers() -> Spanned<u32> {
    super::spec::fixed(3)
}
fn default_quorum() -> SpannedText {
    super::spec::fixed("majority".into())
}
fn default_lease() -> SpannedText {
    super::spec::fixed("15s".into())
}

/// How many down verdicts take a replica down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    /// More than half of the replica's observers.
    Majority,
    /// At least this many.
    Count(u32),
}

/// The validated fleet settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSettings {
    /// etcd endpoints, base URLs without a trailing slash.
    pub etcd: Vec<String>,
    /// Key prefix, ending with `/`.
    pub prefix: String,
    /// Observers per replica (0: every instance).
    pub observers: u32,
    /// The quorum rule.
    pub quorum: Quorum,
    /// The membership lease.
    pub lease: Duration,
}

/// Checks the file; problems go to `p` with their location.
pub fn build(file: FleetFile, p: &mut Problems<'_>) -> FleetSettings {
    let f = file.fleet;
    let mut etcd = Vec::new();
    for e in &f.etcd {
        let url = e.value.trim_end_matches('/');
        let ok = reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if ok {
            etcd.push(url.to_string());
        } else {
            p.at(
                e,
                format!(
                    "{:?} is not an etcd endpoint such as http://127.0.0.1:2379",
                    e.value
                ),
            );
        }
    }
    if f.etcd.is_empty() {
        p.at(&f.prefix, "fleet.etcd needs at least one endpoint");
    }
    let mut prefix = f.prefix.value.clone();
    if !prefix.starts_with('/') || prefix.contains(char::is_whitespace) {
        p.at(
            &f.prefix,
            format!("prefix {prefix:?} must start with / and have no spaces"),
        );
    }
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    let quorum = match f.quorum.value.as_str() {
        "majority" => Quorum::Majority,
        n => match n.parse::<u32>() {
            Ok(n) if n >= 1 && (f.observers.value == 0 || n <= f.observers.value) => {
                Quorum::Count(n)
            }
            _ => {
                p.at(
                    &f.quorum,
                    format!(
                        "quorum {n:?} is `majority` or a number from 1 to observers ({})",
                        f.observers.value
                    ),
                );
                Quorum::Majority
            }
        },
    };
    let lease = match super::values::parse_duration(&f.lease.value) {
        Some(d) if (2..=3600).contains(&d.as_secs()) && d.subsec_nanos() == 0 => d,
        _ => {
            p.at(
                &f.lease,
                format!(
                    "lease {:?} is whole seconds from 2s to 1h (such as 15s)",
                    f.lease.value
                ),
            );
            Duration::from_secs(15)
        }
    };
    FleetSettings {
        etcd,
        prefix,
        observers: f.observers.value,
        quorum,
        lease,
    }
}
