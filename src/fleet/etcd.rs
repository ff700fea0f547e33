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

/// What a watch delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// The changes of one revision: each key with its new value, or None when deleted (a lease
    /// that expired deletes its keys).
    Changes {
        /// The store's revision after them.
        revision: u64,
        /// (key, value or deleted).
        events: Vec<(String, Option<String>)>,
    },
    /// The stream ended (etcd went away, or the revision was compacted): read again.
    Broken(String),
}

/// A client for a list of endpoints: each call goes to the one that answered last, then the
/// others in turn.
pub struct Etcd {
    http: reqwest::Client,
    /// For watches: no total timeout (a watch lasts), only one to connect.
    streaming: reqwest::Client,
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
        let streaming = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("etcd client: {e}"))?;
        Ok(Self {
            http,
            streaming,
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

impl Etcd {
    /// Watches every key under `prefix` from `start` (a revision), sending what changes to `tx`
    /// until the stream ends, then one [`Watched::Broken`].
    pub async fn watch(
        &self,
        prefix: &str,
        start: u64,
        tx: tokio::sync::mpsc::UnboundedSender<Watched>,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let base = match self.endpoints.get(self.current.load(Relaxed)) {
            Some(b) => b.clone(),
            None => return,
        };
        let body = json!({"create_request": {
            "key": b64(prefix), "range_end": prefix_end(prefix), "start_revision": start.to_string(),
        }});
        let sent = self
            .streaming
            .post(format!("{base}/v3/watch"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                let _ = tx.send(Watched::Broken(format!("{base}/v3/watch: {}", r.status())));
                return;
            }
            Err(e) => {
                let _ = tx.send(Watched::Broken(format!("{base}/v3/watch: {e}")));
                return;
            }
        };
        // One JSON object per message; they may arrive split or together.
        let mut buf: Vec<u8> = Vec::new();
        let end = loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break "the watch stream ended".to_string(),
                Err(e) => break format!("the watch stream broke: {e}"),
            };
            buf.extend_from_slice(&chunk);
            let mut stream = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
            let mut used = 0;
            let mut stop = None;
            while let Some(message) = stream.next() {
                let Ok(v) = message else { break };
                used = stream.byte_offset();
                let result = &v["result"];
                if result["canceled"].as_bool() == Some(true) || v.get("error").is_some() {
                    stop = Some(format!("watch canceled: {v}"));
                    break;
                }
                let revision = result["header"]["revision"]
                    .as_str()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                let events: Vec<(String, Option<String>)> = result["events"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|e| {
                                let key = text(&e["kv"]["key"]);
                                let deleted = e["type"].as_str() == Some("DELETE");
                                (key, (!deleted).then(|| text(&e["kv"]["value"])))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if !events.is_empty() && tx.send(Watched::Changes { revision, events }).is_err() {
                    return;
                }
            }
            buf.drain(..used);
            if let Some(stop) = stop {
                break stop;
            }
        };
        let _ = tx.send(Watched::Broken(end));
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
