//! `server.yaml` (optional, at the root of the configuration folder): response rate limiting and
//! DNS COOKIE secrets. The on-disk keys and their validation into [`ServerSettings`] live here.

use super::error::{ConfigError, Problems};
use super::spec::{SpannedText, fixed};
use super::values::parse_net;
use ipnet::IpNet;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::path::Path;

/// `server.yaml` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Response rate limiting (on by default; empty: the defaults).
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
    /// DNS COOKIE secrets (empty: a random secret per start).
    #[serde(default)]
    pub cookies: Option<CookiesSpec>,
}

/// `rate_limit:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Responses per second per client network and response; 0 turns RRL off altogether.
    #[serde(default = "default_rps")]
    pub responses_per_second: Spanned<u32>,
    /// Every `slip`-th limited response is sent truncated; 0 drops them all.
    #[serde(default = "default_slip")]
    pub slip: Spanned<u32>,
    /// Responses per second per client network in all (whatever the name or ECS subnet); 0: no
    /// such bound.
    #[serde(default = "default_source_rps")]
    pub source_responses_per_second: Spanned<u32>,
    /// Client network prefix for IPv4 sources.
    #[serde(default = "default_v4")]
    pub ipv4_prefix: Spanned<u8>,
    /// Client network prefix for IPv6 sources.
    #[serde(default = "default_v6")]
    pub ipv6_prefix: Spanned<u8>,
    /// Sources never limited.
    #[serde(default)]
    pub exempt: Vec<SpannedText>,
}

impl Default for RateLimitSpec {
    fn default() -> Self {
        Self {
            responses_per_second: default_rps(),
            slip: default_slip(),
            source_responses_per_second: default_source_rps(),
            ipv4_prefix: default_v4(),
            ipv6_prefix: default_v6(),
            exempt: Vec::new(),
        }
    }
}

fn default_rps() -> Spanned<u32> {
    fixed(20)
}
fn default_slip() -> Spanned<u32> {
    fixed(2)
}
fn default_source_rps() -> Spanned<u32> {
    fixed(2000)
}
fn default_v4() -> Spanned<u8> {
    fixed(24)
}
fn default_v6() -> Spanned<u8> {
    fixed(56)
}

/// `cookies:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookiesSpec {
    /// File holding the secret (32 hex digits), relative to the configuration folder.
    #[serde(default)]
    pub secret_file: Option<SpannedText>,
    /// File holding the previous secret, accepted during a rotation.
    #[serde(default)]
    pub previous_secret_file: Option<SpannedText>,
}

/// Response rate limiting, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    /// Responses per second per client network and response (0: off).
    pub responses_per_second: u32,
    /// Every `slip`-th limited response is sent truncated (0: none).
    pub slip: u32,
    /// Responses per second per client network in all (0: unbounded).
    pub source_responses_per_second: u32,
    /// IPv4 client network prefix.
    pub ipv4_prefix: u8,
    /// IPv6 client network prefix.
    pub ipv6_prefix: u8,
    /// Never limited.
    pub exempt: Vec<IpNet>,
}

impl RateLimit {
    /// True when rate limiting applies at all (`responses_per_second: 0` turns all of it off,
    /// the per-network total included).
    pub fn enabled(&self) -> bool {
        self.responses_per_second > 0
    }
}

/// `server.yaml`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Response rate limiting.
    pub rate_limit: RateLimit,
    /// Cookie secrets from files (`None`: the process's random secret).
    pub cookie_secrets: Option<CookieSecrets>,
    /// The files read (watched for changes).
    pub files: Vec<std::path::PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        let mut found = Vec::new();
        build(
            Path::new("server.yaml"),
            Path::new("."),
            ServerFile::default(),
            &mut found,
        )
    }
}

/// Reads `dir/server.yaml` (absent: every default).
pub fn load(dir: &Path, found: &mut Vec<ConfigError>) -> ServerSettings {
    let path = dir.join("server.yaml");
    if !path.exists() {
        return build(&path, dir, ServerFile::default(), found);
    }
    let file = super::yaml::parse_file::<ServerFile>(&path, found).unwrap_or_default();
    let mut settings = build(&path, dir, file, found);
    settings.files.insert(0, path);
    settings
}

fn build(
    path: &Path,
    dir: &Path,
    file: ServerFile,
    found: &mut Vec<ConfigError>,
) -> ServerSettings {
    let mut p = Problems::new(path, found);
    let r = file.rate_limit.unwrap_or_default();
    let cookies = file.cookies.unwrap_or_default();
    let prefix = |v: &Spanned<u8>, max: u8, p: &mut Problems<'_>| {
        if v.value == 0 || v.value > max {
            p.at(
                v,
                format!("a prefix length is 1 to {max}, found {}", v.value),
            );
        }
        v.value.clamp(1, max)
    };
    let ipv4_prefix = prefix(&r.ipv4_prefix, 32, &mut p);
    let ipv6_prefix = prefix(&r.ipv6_prefix, 128, &mut p);
    let limit = |v: &Spanned<u32>, p: &mut Problems<'_>| {
        if v.value > 1_000_000 {
            p.at(v, "at most 1000000 responses per second");
        }
        v.value.min(1_000_000)
    };
    let rate_limit = RateLimit {
        responses_per_second: limit(&r.responses_per_second, &mut p),
        slip: {
            if r.slip.value > 10 {
                p.at(&r.slip, "slip is 0 (drop every limited response) to 10");
            }
            r.slip.value.min(10)
        },
        source_responses_per_second: limit(&r.source_responses_per_second, &mut p),
        ipv4_prefix,
        ipv6_prefix,
        exempt: r
            .exempt
            .iter()
            .filter_map(|t| parse_net(t, &mut p))
            .collect(),
    };
    let mut files = Vec::new();
    let mut secret = |spec: &Option<SpannedText>, p: &mut Problems<'_>| {
        let spec = spec.as_ref()?;
        let file = dir.join(&spec.value);
        files.push(file.clone());
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                p.at(
                    spec,
                    format!("cannot read cookie secret {}: {e}", file.display()),
                );
                return None;
            }
        };
        match parse_secret(&text) {
            Ok(s) => Some(s),
            Err(e) => {
                p.at(spec, format!("{}: {e}", file.display()));
                None
            }
        }
    };
    let current = secret(&cookies.secret_file, &mut p);
    let previous = secret(&cookies.previous_secret_file, &mut p);
    if let (None, Some(prev)) = (&cookies.secret_file, &cookies.previous_secret_file) {
        p.at(prev, "previous_secret_file needs secret_file");
    }
    ServerSettings {
        rate_limit,
        cookie_secrets: current.map(|current| CookieSecrets { current, previous }),
        files,
    }
}

/// DNS COOKIE secrets (from `secret_file` and `previous_secret_file`, or this process's random
/// one): the current one makes and verifies server cookies, the previous one also verifies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieSecrets {
    /// Makes and verifies server cookies.
    pub current: [u8; 16],
    /// Also verifies, during a rotation.
    pub previous: Option<[u8; 16]>,
}

impl std::fmt::Debug for CookieSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets: never in a log or a panic message.
        f.write_str(if self.previous.is_some() {
            "CookieSecrets { current, previous }"
        } else {
            "CookieSecrets { current }"
        })
    }
}

/// Parses a secret file's text: 32 hexadecimal digits (128 bits), surrounding space ignored.
pub fn parse_secret(text: &str) -> Result<[u8; 16], String> {
    let hex = text.trim();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "a cookie secret is 32 hexadecimal digits (128 bits), found {} characters",
            hex.len()
        ));
    }
    let mut secret = [0u8; 16];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(secret)
}
