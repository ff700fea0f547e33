//! Reads a configuration folder (`zones/`, `probes/`, `geoip/`) and returns a validated Config.

use super::error::{ConfigError, ConfigErrors, Problems};
use super::latency::{LatencyFile, LatencyTable};
use super::spec::{
    GeoIpFile, ProbesFile, RegionCatalogFile, RegionsHealthFile, RegistriesFile, ZoneFile,
};
use super::stamp::{FileStamp, file_identity};
use super::yaml::{ReadError, parse_file, parse_text, read_text};
use super::{Config, RegionUse, Registry, Zone, settings, validate};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Loads and validates the configuration in `dir`. Either everything is valid, or every problem
/// found is returned (with file:line:col) and nothing is built.
pub fn load(dir: &Path) -> Result<Config, ConfigErrors> {
    load_from(dir, None, false)
}

/// Loads like [`load`], reusing what `previous` (the running configuration of the same folder)
/// validated for every part file (`zones/<zone>.d/*.yaml`) whose content is unchanged, as long
/// as the region catalogue and the probe policies are unchanged too. With `trust_identity`, a
/// part file whose identity (inode, size, modification time) is unchanged is not even read.
/// The result is the same configuration a cold [`load`] of the folder builds.
pub fn load_from(
    dir: &Path,
    previous: Option<&Config>,
    trust_identity: bool,
) -> Result<Config, ConfigErrors> {
    let mut found = Vec::new();
    // What a registry's validation reads besides its own file: the catalogue and the policies.
    let mut registry_context = 0;

    let catalog_path = dir.join("geoip").join("regions.yaml");
    let catalog: Option<RegionCatalogFile> =
        parse_hashed(&catalog_path, &mut registry_context, &mut found);
    let regions = catalog
        .map(|c| settings::build_catalog(&catalog_path, c, &mut found))
        .unwrap_or_default();

    let geoip_path = dir.join("geoip").join("geoip.yaml");
    let geoip = if geoip_path.exists() {
        parse_file::<GeoIpFile>(&geoip_path, &mut found).unwrap_or_default()
    } else {
        GeoIpFile::default()
    };
    let mut geoip = settings::build_geoip(&geoip_path, geoip, &regions, &mut found);
    let latency_path = dir.join("geoip").join("latency.yaml");
    if latency_path.exists()
        && let Some(file) = parse_file::<LatencyFile>(&latency_path, &mut found)
    {
        geoip.latency = LatencyTable::build(&latency_path, file, &regions, &mut found);
    }

    let mut policy_files = Vec::new();
    let mut region_health = None;
    let mut fleet = None;
    for path in yaml_files(&dir.join("probes"), false, &mut found) {
        if path.file_name().is_some_and(|n| n == "fleet.yaml") {
            if let Some(f) = parse_file::<super::fleet::FleetFile>(&path, &mut found) {
                let mut problems = Problems::new(&path, &mut found);
                fleet = Some(super::fleet::build(f, &mut problems));
            }
        } else if path.file_name().is_some_and(|n| n == "regions.yaml") {
            region_health = parse_file::<RegionsHealthFile>(&path, &mut found).map(|f| (path, f));
        } else if let Some(f) = parse_hashed::<ProbesFile>(&path, &mut registry_context, &mut found)
        {
            policy_files.push((path, f));
        }
    }
    let policies = settings::build_policies(policy_files, &mut found);
    let region_health = match region_health {
        Some((path, f)) => settings::build_region_health(&path, f, &regions, &policies, &mut found),
        None => Default::default(),
    };

    let previous = previous.filter(|p| p.registry_context == registry_context && p.dir == dir);

    let mut zones = Vec::new();
    let mut parts_read = (0, 0);
    let zone_paths = yaml_files(&dir.join("zones"), true, &mut found);
    orphan_parts(&dir.join("zones"), &zone_paths, &mut found);
    for path in &zone_paths {
        // `zones/<zone>.d/*.yaml`: more registries of this zone, a file each.
        let part_dir = path.with_extension("d");
        let part_paths = if part_dir.is_dir() {
            yaml_files(&part_dir, false, &mut found)
        } else {
            Vec::new()
        };
        if part_paths.len() > super::MAX_FILES_PER_ZONE {
            found.push(ConfigError::at(
                &part_dir,
                1,
                1,
                format!(
                    "{} files; a zone's folder holds at most {} (put more registries in each)",
                    part_paths.len(),
                    super::MAX_FILES_PER_ZONE
                ),
            ));
            continue;
        }
        let before = previous.and_then(|c| c.zones.iter().find(|z| z.files[0] == *path));
        // Each file's place in the previous load (by name: path comparison is slow).
        let places: std::collections::HashMap<&std::ffi::OsStr, usize> = before
            .map(|z| z.files.iter().enumerate().map(|(i, f)| (f.as_os_str(), i)))
            .into_iter()
            .flatten()
            .collect();
        let parts: validate::Parts = part_paths
            .into_iter()
            .filter_map(|p| {
                let old = before.zip(places.get(p.as_os_str()).copied());
                let (part, reused) =
                    read_part(p, old, trust_identity, &regions, &policies, &mut found)?;
                if reused {
                    parts_read.1 += 1;
                } else {
                    parts_read.0 += 1;
                }
                Some(part)
            })
            .collect();
        let read = read_stamped(path).map_err(|e| found.push(e.at(path))).ok();
        let parsed = read.and_then(|(text, stamp)| {
            parse_text::<ZoneFile>(path, &text, &mut found).map(|f| (f, stamp))
        });
        if let Some((file, stamp)) = parsed {
            let mut problems = Problems::new(path, &mut found);
            let zone =
                validate::build_zone(dir, file, stamp, parts, &regions, &policies, &mut problems);
            if let Some(zone) = zone {
                zones.push((path.clone(), zone));
            }
        }
    }
    validate::check_across_zones(&zones, &mut found);
    let server = super::server::load(dir, &mut found);

    if !found.is_empty() {
        return Err(ConfigErrors::new(found));
    }
    Ok(Config {
        dir: dir.to_path_buf(),
        zone_files: zones.iter().map(|(p, _)| p.clone()).collect(),
        zones: zones.into_iter().map(|(_, z)| z).collect(),
        regions,
        geoip,
        policies,
        region_health,
        server,
        fleet,
        registry_context,
        parts_read,
    })
}

/// Reads one part file: its registries as validated before when its content is what `before`
/// read, else parsed anew.
fn read_part(
    path: PathBuf,
    before: Option<(&Zone, usize)>,
    trust_identity: bool,
    regions: &super::RegionCatalog,
    policies: &std::collections::BTreeMap<String, super::ProbePolicy>,
    found: &mut Vec<ConfigError>,
) -> Option<(validate::Part, bool)> {
    let old = before.map(|(z, f)| {
        let span = z.spans[f].start as usize..z.spans[f].end as usize;
        (z.stamps[f], (&z.registries[span], &z.uses[f]))
    });
    let reuse = |stamp: FileStamp, (regs, uses): (&[Arc<Registry>], &RegionUse)| {
        let part = validate::Part {
            stamp,
            registries: regs.to_vec(),
            uses: uses.clone(),
            path: path.clone(),
        };
        (part, true)
    };
    if let Some((stamp, regs)) = old
        && trust_identity
        && stamp.identity.is_some()
        && stamp.identity == file_identity(&path)
    {
        return Some(reuse(stamp, regs));
    }
    let (text, stamp) = match read_stamped(&path) {
        Ok(read) => read,
        Err(e) => {
            found.push(e.at(&path));
            return None;
        }
    };
    if let Some((old, regs)) = old
        && old.hash == stamp.hash
    {
        return Some(reuse(stamp, regs));
    }
    let file = parse_text::<RegistriesFile>(&path, &text, found)?;
    drop(text);
    // Checked at once, so only one file's parse is held at a time however many files there are.
    let (registries, uses) =
        validate::build_registries(&path, file.registries, regions, policies, found);
    let part = validate::Part {
        stamp,
        registries,
        uses,
        path,
    };
    Some((part, false))
}

/// A file's text (within the size limit) and its stamp: the identity is taken before the
/// read, so a change during the read shows as a new identity on the next look.
fn read_stamped(path: &Path) -> Result<(String, FileStamp), ReadError> {
    let identity = file_identity(path);
    let text = read_text(path)?;
    let hash = crate::hash::hash_bytes(text.as_bytes());
    Ok((text, FileStamp { identity, hash }))
}

/// Parses one file like `parse_file`, folding its name and content into `context`.
fn parse_hashed<T: serde::de::DeserializeOwned>(
    path: &Path,
    context: &mut u64,
    found: &mut Vec<ConfigError>,
) -> Option<T> {
    let (text, stamp) = read_stamped(path)
        .map_err(|e| found.push(e.at(path)))
        .ok()?;
    let name = crate::hash::hash_bytes(path.as_os_str().as_encoded_bytes());
    *context = crate::hash::mix64(*context ^ name ^ stamp.hash);
    parse_text(path, &text, found)
}

/// The `*.yaml`/`*.yml` files of a folder, sorted. Hidden entries (such as the `..data` folder of
/// a Kubernetes ConfigMap mount) are skipped; their visible symlinks are followed.
fn yaml_files(dir: &Path, required: bool, found: &mut Vec<ConfigError>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            if required || e.kind() != std::io::ErrorKind::NotFound {
                found.push(ConfigError::file(dir, format!("cannot read folder: {e}")));
            }
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.')
                && (name.ends_with(".yaml") || name.ends_with(".yml"))
                && p.is_file()
        })
        .collect();
    files.sort();
    if required && files.is_empty() {
        found.push(ConfigError::file(dir, "no .yaml file: nothing to serve"));
    }
    files
}

/// A `zones/<name>.d/` folder without its `zones/<name>.yaml` belongs to no zone: an error, so
/// its registries are not silently left out.
fn orphan_parts(zones: &Path, zone_paths: &[PathBuf], found: &mut Vec<ConfigError>) {
    let Ok(entries) = std::fs::read_dir(zones) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || !name.ends_with(".d") || !path.is_dir() {
            continue;
        }
        if !zone_paths.iter().any(|z| z.with_extension("d") == path) {
            found.push(ConfigError::at(
                &path,
                1,
                1,
                format!(
                    "a folder of registries with no zone file: add {}.yaml beside it, or remove it",
                    name.trim_end_matches(".d")
                ),
            ));
        }
    }
}
