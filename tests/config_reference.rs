//! docs/configuration.md against the loader's own types: every key the loader accepts is
//! documented there, and every key documented there is accepted.
//!
//! For each level of nesting the page documents (the root of a file, `registries[]`,
//! `policies.<name>`, ...), a file with an unknown key at that level is parsed: the loader's
//! error lists the keys it accepts there, which must be the keys the page lists. A documented key
//! whose value turns out to be a map of keys must have its keys documented too.

use std::collections::{BTreeMap, BTreeSet};

const UNKNOWN: &str = "zz_unknown_key";

/// Parses `yaml` as the file `file` of the reference; the error text on failure.
fn parse(file: &str, yaml: &str) -> Result<(), String> {
    use georoute::config::{fleet, latency, server, spec};
    fn with<T: serde::de::DeserializeOwned>(yaml: &str) -> Result<(), String> {
        serde_saphyr::from_str::<T>(yaml)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    match file {
        "zones/<zone>.yaml" => with::<spec::ZoneFile>(yaml),
        "zones/<zone>.d/<part>.yaml" => with::<spec::RegistriesFile>(yaml),
        "probes/<name>.yaml" => with::<spec::ProbesFile>(yaml),
        "probes/regions.yaml" => with::<spec::RegionsHealthFile>(yaml),
        "probes/fleet.yaml" => with::<fleet::FleetFile>(yaml),
        "geoip/geoip.yaml" => with::<spec::GeoIpFile>(yaml),
        "geoip/regions.yaml" => with::<spec::RegionCatalogFile>(yaml),
        "geoip/latency.yaml" => with::<latency::LatencyFile>(yaml),
        "server.yaml" => with::<server::ServerFile>(yaml),
        other => panic!("docs/configuration.md documents {other}, which the loader does not read"),
    }
}

/// File → documented key paths, read from the page's tables.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let mut out = read_page();
    // A part file's registries have the keys of a zone file's `registries[]`, documented once.
    let inherited: Vec<String> = out["zones/<zone>.yaml"]
        .iter()
        .filter(|k| k.starts_with("registries[]."))
        .cloned()
        .collect();
    out.get_mut("zones/<zone>.d/<part>.yaml")
        .expect("a section for part files")
        .extend(inherited);
    out
}

/// File → key paths, as the page's tables list them.
fn read_page() -> BTreeMap<String, BTreeSet<String>> {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut file = None;
    for line in page.lines() {
        if line.starts_with("## ") {
            // A section of one file's keys, or of something else (the limits).
            file = line
                .strip_prefix("## `")
                .and_then(|h| h.split('`').next())
                .map(str::to_string);
        } else if let (Some(f), Some(row)) = (&file, line.strip_prefix("| `")) {
            let key = row.split('`').next().unwrap().to_string();
            assert!(
                out.entry(f.clone()).or_default().insert(key.clone()),
                "{f}: {key} is documented twice"
            );
        }
    }
    out
}

fn parent(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(p, _)| p)
}

fn child(path: &str) -> &str {
    let last = path.rsplit_once('.').map_or(path, |(_, c)| c);
    last.strip_suffix("[]").unwrap_or(last)
}

/// A file in YAML flow style with `inner` placed at `path` (`a[].<x>.b`).
fn nest(path: &str, inner: &str) -> String {
    if path.is_empty() {
        return inner.to_string();
    }
    let (seg, rest) = path.split_once('.').unwrap_or((path, ""));
    let inside = nest(rest, inner);
    if seg.starts_with('<') {
        format!("{{x: {inside}}}")
    } else if let Some(list) = seg.strip_suffix("[]") {
        format!("{{{list}: [{inside}]}}")
    } else {
        format!("{{{seg}: {inside}}}")
    }
}

/// The keys the loader accepts at `level` of `file`, or None when that level is not a map of
/// fixed keys.
fn accepted(file: &str, level: &str) -> Option<BTreeSet<String>> {
    let err = parse(file, &nest(level, &format!("{{{UNKNOWN}: 0}}"))).err()?;
    let at = err.find(&format!("unknown field `{UNKNOWN}`"))?;
    let rest = &err[at..];
    let rest = &rest[rest
        .find("expected")
        .map_or(rest.len(), |i| i + "expected".len())..];
    let list = rest.lines().next().unwrap_or("");
    let keys: BTreeSet<String> = list
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty() && *w != "one" && *w != "of")
        .map(str::to_string)
        .collect();
    Some(keys)
}

#[test]
fn every_accepted_key_is_documented_and_nothing_else() {
    let docs = documented();
    assert_eq!(
        docs.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "geoip/geoip.yaml",
            "geoip/latency.yaml",
            "geoip/regions.yaml",
            "probes/<name>.yaml",
            "probes/fleet.yaml",
            "probes/regions.yaml",
            "server.yaml",
            "zones/<zone>.d/<part>.yaml",
            "zones/<zone>.yaml",
        ],
        "a section per file the loader reads"
    );
    let mut problems = Vec::new();
    let mut levels_checked = 0;
    for (file, keys) in &docs {
        let mut levels: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for k in keys {
            levels
                .entry(parent(k))
                .or_default()
                .insert(child(k).to_string());
        }
        for (level, listed) in &levels {
            match accepted(file, level) {
                None => problems.push(format!(
                    "{file}: `{level}` is documented as having keys, but the loader takes no keys there"
                )),
                Some(accepted) => {
                    levels_checked += 1;
                    for k in accepted.difference(listed) {
                        problems.push(format!("{file}: `{}` is accepted but not documented", join(level, k)));
                    }
                    for k in listed.difference(&accepted) {
                        problems.push(format!("{file}: `{}` is documented but rejected", join(level, k)));
                    }
                }
            }
        }
        // A documented key whose value is a map of keys must have them documented.
        for k in keys {
            let struct_level = [k.clone(), format!("{k}[]")]
                .into_iter()
                .any(|l| accepted(file, &l).is_some_and(|a| !a.is_empty()));
            let has_children = levels.keys().any(|l| *l == k || *l == format!("{k}[]"));
            if struct_level && !has_children {
                problems.push(format!("{file}: the keys of `{k}` are not documented"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(levels_checked >= 20, "only {levels_checked} levels checked");
}

fn join(level: &str, key: &str) -> String {
    if level.is_empty() {
        key.to_string()
    } else {
        format!("{level}.{key}")
    }
}

#[test]
fn the_checker_sees_an_undocumented_key() {
    // The same probe on a level the page documents: a key removed from the page's list would be
    // reported, and a made-up one too.
    let routing = accepted("zones/<zone>.yaml", "registries[].routing").unwrap();
    assert!(routing.contains("failback_ramp"), "{routing:?}");
    assert!(!routing.contains("colour"), "{routing:?}");
    assert!(
        accepted("zones/<zone>.yaml", "zone").is_none(),
        "a text is not a map"
    );
}
