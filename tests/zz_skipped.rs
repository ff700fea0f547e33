//! The last test binary of a `cargo test` run (`zz` sorts after every other): lists what this
//! run skipped and why, so a plain `cargo test` shows what did not run. Without a custom harness,
//! so its output is never captured. (A skip for want of a tool that `GEOROUTE_REQUIRE_TOOLS`
//! names fails its own test: `common::skip` panics.)

#[path = "common/skip.rs"]
#[allow(dead_code)] // skip() is for the tests; this binary only reads what they wrote
mod skip;

fn main() {
    let run = skip::run_id();
    let dir = skip::run_dir(&run);
    let mut records: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    records.sort();
    if records.is_empty() {
        println!("\nskipped tests in this run: none");
    } else {
        println!("\nskipped tests in this run ({}):", records.len());
        for r in &records {
            let mut f = r.trim_end().splitn(4, '\t');
            let (binary, test, tool, reason) = (
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
            );
            println!("  SKIP tests/{binary}.rs {test} (needs {tool}): {reason}");
        }
        println!("(each says what it needs; .ci/run installs the tools)");
    }
    // Records of this run are shown once; older runs' records go too.
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(parent) = dir.parent()
        && let Ok(entries) = std::fs::read_dir(parent)
    {
        let day = std::time::Duration::from_secs(86_400);
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > day);
            if old {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}
