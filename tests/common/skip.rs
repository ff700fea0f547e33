//! Tests that cannot run say so where a plain `cargo test` shows it: [`skip`] prints the reason,
//! records it under `target/tmp/skipped/<run>/`, and the last test binary (`tests/zz_skipped.rs`)
//! lists every record of the same `cargo test` run after all the others.
//!
//! A run is the `cargo test` process: every test binary it starts has it as parent (a test that
//! reruns itself in a network namespace hands the run on in `GEOROUTE_TEST_RUN`). CI names the
//! tools it installed in `GEOROUTE_REQUIRE_TOOLS` (space-separated); a test that would skip for
//! want of one of them fails instead.

use std::path::PathBuf;

/// The environment variable that carries the run to a re-executed test.
pub const RUN_VAR: &str = "GEOROUTE_TEST_RUN";

/// This test run's id: the `cargo test` process's id.
pub fn run_id() -> String {
    std::env::var(RUN_VAR).unwrap_or_else(|_| std::os::unix::process::parent_id().to_string())
}

/// Where this run's skip records go.
pub fn run_dir(run: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("skipped")
        .join(run)
}

/// Says that the calling test does not run, for want of `tool` (a short name such as `etcd`,
/// `kdig`, `chromium`, or `dbip-files`), and why; the test returns right after. Panics instead
/// when `GEOROUTE_REQUIRE_TOOLS` names `tool`: CI installed it, so it must not be missing.
pub fn skip(tool: &str, reason: &str) {
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("a test")
        .to_string();
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| {
            s.rsplit_once('-')
                .map_or(s.clone(), |(name, _hash)| name.to_string())
        })
        .unwrap_or_default();
    let required = std::env::var("GEOROUTE_REQUIRE_TOOLS").unwrap_or_default();
    if required.split_whitespace().any(|t| t == tool) {
        panic!(
            "{binary}::{test} would skip ({reason}), but {tool} was installed for this run \
             (GEOROUTE_REQUIRE_TOOLS): it must run"
        );
    }
    eprintln!("SKIP: {reason}");
    let dir = run_dir(&run_id());
    if std::fs::create_dir_all(&dir).is_ok() {
        let file = dir.join(format!("{binary}--{}.txt", test.replace("::", "-")));
        let _ = std::fs::write(file, format!("{binary}\t{test}\t{tool}\t{reason}\n"));
    }
}
