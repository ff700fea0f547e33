//! Live reload: file changes (polled, so editors' rename-on-save and Kubernetes' `..data`
//! symlink swap are both seen) and SIGHUP go down one debounced path:
//! load → validate → build → one atomic swap. On any error the old configuration keeps serving.

use super::error::Error;
use crate::config::{Identity, file_identity};
use crate::health::prober::Prober;
use crate::state::{Shared, Snapshot};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the files are looked at: every 100 ms, or less often when one look costs more
/// than 4 % of that (a folder of thousands of part files), up to every 2 s.
const POLL: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(2);

/// How long after a change the files are looked at again, to see that a save is complete.
const SETTLE: Duration = Duration::from_millis(50);

/// The poll interval after a look that took `look`.
fn poll_interval(look: Duration) -> Duration {
    (look * 25).clamp(POLL, POLL_MAX)
}

/// Every file's identity: path, then inode, size and modification time (symlinks followed).
pub type Fingerprint = Vec<(PathBuf, Identity)>;

/// The identity of every file in the configuration folder (and of `extra` files it names, such
/// as cookie secrets), to notice changes.
pub fn fingerprint(dir: &Path, extra: &[PathBuf]) -> Fingerprint {
    let mut out = Vec::new();
    for sub in ["zones", "probes", "geoip"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            // A zone's part files (`zones/<zone>.d/*.yaml`), one level down, as the loader
            // reads them.
            if sub == "zones" && path.extension().is_some_and(|e| e == "d") && path.is_dir() {
                for part in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                    let part = part.path();
                    let visible = part
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.'));
                    if let (true, Some(id)) = (visible, file_identity(&part)) {
                        out.push((part, id));
                    }
                }
            }
            if let Some(id) = file_identity(&path) {
                out.push((path, id));
            }
        }
    }
    with_files(
        out,
        std::iter::once(dir.join("server.yaml")).chain(extra.iter().cloned()),
    )
}

/// Adds the identities of `files` (those that exist) to a fingerprint.
pub fn with_files(mut fp: Fingerprint, files: impl IntoIterator<Item = PathBuf>) -> Fingerprint {
    for path in files {
        if let Some(id) = file_identity(&path) {
            fp.push((path, id));
        }
    }
    // By the paths' bytes (comparing paths by components is slow for thousands of files).
    fp.sort_unstable_by(|a, b| (a.0.as_os_str(), a.1).cmp(&(b.0.as_os_str(), b.1)));
    fp.dedup();
    fp
}

/// Loads and validates the configuration and builds a snapshot of it.
pub fn load_snapshot(dir: &std::path::Path, generation: u64) -> Result<Snapshot, Error> {
    load_snapshot_from(dir, None, false, generation)
}

/// [`load_snapshot`], reusing what `previous` validated (see [`crate::config::load_from`]).
fn load_snapshot_from(
    dir: &std::path::Path,
    previous: Option<&crate::config::Config>,
    trust_identity: bool,
    generation: u64,
) -> Result<Snapshot, Error> {
    let config = crate::config::load_from(dir, previous, trust_identity)?;
    Snapshot::build(config, generation).map_err(Error::Geo)
}

/// Reloads the configuration now, reusing what the running one validated for every part file
/// whose content is unchanged (with `trust_identity`, whose identity is unchanged: it is not
/// read). Returns the new generation, or the errors (the old configuration keeps serving).
pub fn reload(
    shared: &Shared,
    prober: &Arc<Prober>,
    stop: watch::Receiver<bool>,
    trust_identity: bool,
) -> Result<u64, String> {
    let old = shared.snapshot();
    let started = std::time::Instant::now();
    let mut parts = (0, 0);
    let result = (|| {
        let generation = old.generation + 1;
        let dir = &old.config.dir;
        let snapshot = load_snapshot_from(dir, Some(&old.config), trust_identity, generation)
            .map_err(|e| match e {
                // The errors themselves, one per line (each file:line:col).
                Error::Config(errors) => errors.to_string(),
                other => other.to_string(),
            })?;
        parts = snapshot.config.parts_read;
        let lost: Vec<String> = old
            .config
            .zone_files
            .iter()
            .filter(|f| !snapshot.config.zone_files.contains(f))
            .map(|f| {
                format!(
                    "{}: the file is gone; the zone keeps serving (restart to remove a zone)",
                    f.display()
                )
            })
            .collect();
        if !lost.is_empty() {
            return Err(lost.join("\n"));
        }
        snapshot
            .counters
            .carry_from(&snapshot.config, &old.counters, &old.config);
        prober.reconfigure(snapshot, stop)?;
        crate::dnssec::warm::spawn(std::sync::Arc::clone(&shared.load()));
        Ok(generation)
    })();
    let mut status = shared.reload.lock().unwrap_or_else(|e| e.into_inner());
    match &result {
        Ok(generation) => {
            status.reloads += 1;
            status.last_error = None;
            let change = format!("generation {generation}");
            shared
                .events
                .record("reload", "configuration".into(), change, "applied".into());
            let ms = started.elapsed().as_millis() as u64;
            let (parsed, reused) = parts;
            tracing::info!(target: "georoute::reload", generation, ms, parts_parsed = parsed, parts_reused = reused, "configuration reloaded");
        }
        Err(e) => {
            status.failures += 1;
            status.last_error = Some(e.clone());
            let kept = "rejected; the previous configuration keeps serving".to_string();
            shared
                .events
                .record("reload-failed", "configuration".into(), kept, e.clone());
            // One line per error (each file:line:col), so every one is seen and greppable.
            for error in e.lines().filter(|l| !l.trim().is_empty()) {
                tracing::error!(target: "georoute::reload", %error, "configuration reload failed; the previous configuration keeps serving");
            }
        }
    }
    result
}

/// Watches the configuration folder and SIGHUP until `stop`, reloading on every settled change.
/// `seen` is the folder's fingerprint taken when the running configuration was loaded, so a
/// change made before this task first runs is not missed.
pub async fn watch(
    shared: Arc<Shared>,
    prober: Arc<Prober>,
    mut seen: Fingerprint,
    mut stop: watch::Receiver<bool>,
) {
    let dir = shared.snapshot().config.dir.clone();
    let mut interval = POLL;
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let signal = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let signal = std::future::pending::<()>();
        let forced = tokio::select! {
            _ = tokio::time::sleep(interval) => false,
            _ = signal => true,
            _ = stop.changed() => return,
        };
        let extra = shared.snapshot().config.watched_files();
        let look = std::time::Instant::now();
        let now = fingerprint(&dir, &extra);
        interval = poll_interval(look.elapsed());
        if !forced && now == seen {
            continue;
        }
        // Debounce: wait until two looks SETTLE apart agree (an editor's save is done).
        let mut settled = now;
        for _ in 0..40 {
            tokio::time::sleep(SETTLE).await;
            let again = fingerprint(&dir, &extra);
            if again == settled {
                break;
            }
            settled = again;
        }
        seen = settled;
        // A signal (SIGHUP) reads every file again; a noticed change trusts unchanged identities.
        let _ = reload(&shared, &prober, stop.clone(), !forced);
    }
}
