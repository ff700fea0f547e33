//! A small etcd v3 client over etcd's documented JSON gateway (`POST /v3/...`, keys and values
//! base64), through the HTTP client the probes already use: the Rust etcd crates need protoc at
//! build time, and the gateway is part of every etcd v3 server.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::time::Duration;

/// One key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A client for a list of endpoints: each call goes to the one that answered last, then the
/// others in turn.
pub struct Etcd {
    http: reqwest::Client,
    endpoints: Vec<String>,
    current: std::sync::atomic::AtomicUsize,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn text(v: &Value) -> String {
    v.as_str()
        .and_then(|s| B64.decode(s).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The end of the range of keys that start with `prefix` (etcd's convention).
fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xFF {
            bytes.push(last + 1);
            return B64.encode(bytes);
        }
    }
    B64.encode([0u8])
}

impl Etcd {
    /// A client; `timeout` bounds every call.
    pub fn new(endpoints: Vec<String>, timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("etcd client: {e}"))?;
        Ok(Self {
            http,
            endpoints,
            current: Default::default(),
        })
    }

    async fn call(&self, path: &str, body: Value) -> Result<Value, String> {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.endpoints.len().max(1);
        let first = self.current.load(Relaxed);
        let mut last_error = String::from("no etcd endpoint");
        for i in 0..n {
            let at = (first + i) % n;
            let Some(base) = self.endpoints.get(at) else {
                break;
            };
            let sent = self
                .http
                .post(format!("{base}{path}"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    let parsed = r.text().await.map_err(|e| e.to_string()).and_then(|t| {
                        serde_json::from_str::<Value>(&t).map_err(|e| format!("{e}: {t}"))
                    });
                    match parsed {
                        Ok(v) => {
                            self.current.store(at, Relaxed);
                            return Ok(v);
                        }
                        Err(e) => last_error = format!("{base}{path}: {e}"),
                    }
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    last_error = format!("{base}{path}: {status}: {}", text.trim());
                }
                Err(e) => last_error = format!("{base}{path}: {e}"),
            }
        }
        Err(last_error)
    }

    /// Grants a lease of `ttl`; its id.
    pub async fn grant(&self, ttl: Duration) -> Result<String, String> {
        let v = self
            .call("/v3/lease/grant", json!({"TTL": ttl.as_secs().to_string()}))
            .await?;
        v["ID"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("lease grant: no ID in {v}"))
    }

    /// Refreshes a lease; false when it no longer exists.
    pub async fn keep_alive(&self, lease: &str) -> Result<bool, String> {
        let v = self
            .call("/v3/lease/keepalive", json!({"ID": lease}))
            .await?;
        let ttl = v["result"]["TTL"]
            .as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(0);
        Ok(ttl > 0)
    }

    /// Revokes a lease (its keys go with it).
    pub async fn revoke(&self, lease: &str) -> Result<(), String> {
        self.call("/v3/lease/revoke", json!({"ID": lease}))
            .await
            .map(drop)
    }

    /// Puts a key under a lease.
    pub async fn put(&self, key: &str, value: &str, lease: &str) -> Result<(), String> {
        let body = json!({"key": b64(key), "value": b64(value), "lease": lease});
        self.call("/v3/kv/put", body).await.map(drop)
    }

    /// Deletes a key.
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        self.call("/v3/kv/deleterange", json!({"key": b64(key)}))
            .await
            .map(drop)
    }

    /// Every key under `prefix`, in one consistent read: the store's revision and the keys.
    pub async fn range(&self, prefix: &str) -> Result<(u64, Vec<Kv>), String> {
        let body = json!({"key": b64(prefix), "range_end": prefix_end(prefix)});
        let v = self.call("/v3/kv/range", body).await?;
        let revision = v["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        let kvs = v["kvs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|kv| Kv {
                        key: text(&kv["key"]),
                        value: text(&kv["value"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((revision, kvs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_like_etcds_clients() {
        assert_eq!(B64.decode(prefix_end("/g/")).unwrap(), b"/g0");
        assert_eq!(B64.decode(prefix_end("a\u{7f}")).unwrap(), b"a\x80");
    }
}
