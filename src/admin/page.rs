//! The status page at `/`: one self-contained HTML document (inline CSS, JS and SVG; nothing
//! fetched from another origin) and `/routes`, the "who routes where" grid it recolours.
//!
//! The page is rendered on the server with every replica's state, so it reads right without
//! JavaScript; its script polls `/status` and `/routes` every 5 s and updates it in place.
//! Exactly one element per replica carries `data-replica="<registry>.<zone>/<region>"` and
//! `data-state` (up, down, drained, region-down); map markers carry `data-region`.
//!
//! The land is Natural Earth's 1:110m outline (public domain), as an SVG path in `land.txt`,
//! made by `make_land.py` (which names its source).

use crate::geo::Point;
use crate::health::HealthState;
use crate::state::Snapshot;
use serde_json::json;
use std::fmt::Write;

/// Map size (equirectangular: x from longitude, y from latitude).
const W: f64 = 1000.0;
const H: f64 = 500.0;

/// Sample client locations of the "who routes where" grid: every 10° of latitude from 60°S
/// to 70°N, every 15° of longitude.
fn grid() -> impl Iterator<Item = (f64, f64)> {
    (-6..=7)
        .flat_map(|la| (-12..12).map(move |lo| (f64::from(la) * 10.0, f64::from(lo) * 15.0 + 7.5)))
}

fn xy(lat: f64, lon: f64) -> (f64, f64) {
    ((lon + 180.0) / 360.0 * W, (90.0 - lat) / 180.0 * H)
}

/// A replica's state for the page.
pub fn state(snap: &Snapshot, health: &HealthState, z: usize, r: usize, i: usize) -> &'static str {
    let rep = &snap.config.zones[z].registries[r].replicas[i];
    if !rep.global_endpoint_routing {
        "drained"
    } else if !health.region_up(rep.region_index) {
        "region-down"
    } else if !health.replica_up((z, r, i)) {
        "down"
    } else {
        "up"
    }
}

/// Hash keys tried per sample point to find every replica its clients are spread over (a tie
/// band or a failover spread, hashed on the client subnet): 16 draws miss a member of an even
/// two-way tie with a chance of 2^-15.
const DRAWS: u64 = 16;

/// `/routes`: per registry, for each grid point, its coordinates, the region the routing
/// function picks now for the point's own hash key (`region`), and every region it sends
/// clients there to (`tie`, sorted; one region when nothing is shared).
pub fn routes(
    snap: &Snapshot,
    health: &HealthState,
    now_ms: u64,
    shown: &[(usize, usize)],
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for &(z, r) in shown {
        let zone = &snap.config.zones[z];
        let reg = &zone.registries[r];
        {
            let picks: Vec<serde_json::Value> = grid()
                .enumerate()
                .map(|(n, (lat, lon))| {
                    let at = |key: u64| {
                        Point::new(lat, lon).and_then(|p| {
                            crate::dns::global::route_at(snap, health, z, r, p, key, now_ms)
                        })
                    };
                    let pick = at(n as u64).map(|d| reg.replicas[d].region.as_ref());
                    let mut tie: std::collections::BTreeSet<&str> = (0..DRAWS)
                        .filter_map(|k| at(crate::hash::mix64((n as u64) * DRAWS + k)))
                        .map(|d| reg.replicas[d].region.as_ref())
                        .collect();
                    tie.extend(pick);
                    json!({"lat": lat, "lon": lon, "region": pick, "tie": tie})
                })
                .collect();
            out.insert(format!("{}.{}", reg.name, zone.name), json!(picks));
        }
    }
    serde_json::Value::Object(out)
}

/// A sample dot at (x, y) in the given colours: one disc, or equal wedges when several
/// regions share the point (the page's script draws the same with `wedges()`).
fn wedges(x: f64, y: f64, colours: &[String]) -> String {
    const R: f64 = 6.0;
    match colours {
        [] => format!(r##"<circle cx="{x:.1}" cy="{y:.1}" r="{R}" fill="#bbb"/>"##),
        [one] => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="{R}" fill="{one}"/>"#),
        many => {
            let step = std::f64::consts::TAU / many.len() as f64;
            let mut out = String::new();
            for (i, c) in many.iter().enumerate() {
                let (a0, a1) = (i as f64 * step, (i + 1) as f64 * step);
                let _ = write!(
                    out,
                    r#"<path d="M{x:.1} {y:.1}L{:.2} {:.2}A{R} {R} 0 0 1 {:.2} {:.2}Z" fill="{c}"/>"#,
                    x + R * a0.sin(),
                    y - R * a0.cos(),
                    x + R * a1.sin(),
                    y - R * a1.cos(),
                );
            }
            out
        }
    }
}

/// Label size estimate: 13 px bold text (8.2 px a character, its white outline included).
fn label_box(text: &str, x: f64, y: f64, anchor_end: bool) -> (f64, f64, f64, f64) {
    let w = text.chars().count() as f64 * 8.2 + 4.0;
    let x0 = if anchor_end { x - w } else { x };
    (x0, y - 12.0, x0 + w, y + 4.0)
}

fn overlaps(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Places each region's label beside its marker where it covers no other label and no marker:
/// right, left, then above and below, then further down. Returns (x, y, anchored at its end).
fn place_labels(markers: &[(String, f64, f64)]) -> Vec<(f64, f64, bool)> {
    let discs: Vec<(f64, f64, f64, f64)> = markers
        .iter()
        .map(|(_, x, y)| (x - 11.0, y - 11.0, x + 11.0, y + 11.0))
        .collect();
    let mut placed: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut out = Vec::new();
    for (name, x, y) in markers {
        // Nearest first: beside the marker, then ever further above and below it, then
        // further out to the side (a leader line joins a label set apart).
        let mut candidates = Vec::new();
        for dx in [12.0, 48.0, 96.0] {
            for step in 0..=24 {
                let dy = if step % 2 == 0 {
                    4.0 + 8.0 * f64::from(step)
                } else {
                    4.0 - 8.0 * f64::from(step + 1)
                };
                candidates.push((x + dx, y + dy, false));
                candidates.push((x - dx, y + dy, true));
            }
        }
        let fits = |&(tx, ty, end): &(f64, f64, bool)| {
            let b = label_box(name, tx, ty, end);
            b.0 >= 0.0
                && b.2 <= W
                && b.1 >= 0.0
                && b.3 <= H
                && !placed.iter().any(|p| overlaps(*p, b))
                && !discs.iter().any(|d| overlaps(*d, b))
        };
        let chosen = candidates
            .iter()
            .copied()
            .find(fits)
            .unwrap_or(candidates[0]);
        placed.push(label_box(name, chosen.0, chosen.1, chosen.2));
        out.push(chosen);
    }
    out
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Distinct colours, given to regions in the order they first appear in the configuration; no
/// red or orange, which mean down and region down.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#393b79",
    "#637939", "#7f7f7f",
];

/// Each region's colour: the palette by first appearance among the registries shown, then a
/// hue from its name.
fn colours(snap: &Snapshot, shown: &[(usize, usize)]) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for reg in shown
        .iter()
        .map(|&(z, r)| &snap.config.zones[z].registries[r])
    {
        for rep in &reg.replicas {
            let n = out.len();
            out.entry(rep.region.to_string())
                .or_insert_with(|| match PALETTE.get(n) {
                    Some(c) => (*c).to_string(),
                    None => {
                        let h = crate::hash::hash_bytes(rep.region.as_bytes()) % 360;
                        format!("hsl({},55%,40%)", 160 + h % 140)
                    }
                });
        }
    }
    out
}

/// `/`: the whole page.
pub fn render(
    snap: &Snapshot,
    health: &HealthState,
    now_ms: u64,
    selection: &super::selection::Selection,
) -> String {
    let config = &snap.config;
    let shown = &selection.shown;
    let palette = colours(snap, shown);
    let colour = |region: &str| {
        palette
            .get(region)
            .cloned()
            .unwrap_or_else(|| "#888".into())
    };
    let mut map = format!(r#"<path class="land" d="{LAND}"/>"#);
    // Graticule every 30°, the equator a little stronger.
    for lat in (-60..=60).step_by(30) {
        let (_, y) = xy(f64::from(lat), 0.0);
        let class = if lat == 0 { "eq" } else { "grid" };
        let _ = write!(
            map,
            r#"<line class="{class}" x1="0" y1="{y:.1}" x2="{W}" y2="{y:.1}"/>"#
        );
    }
    for lon in (-150..=150).step_by(30) {
        let (x, _) = xy(0.0, f64::from(lon));
        let _ = write!(
            map,
            r#"<line class="grid" x1="{x:.1}" y1="0" x2="{x:.1}" y2="{H}"/>"#
        );
    }
    // Who routes where, for the first registry (the selector switches registries).
    // (Drawn for the first only: the page's script fetches `/routes` for a selected other.)
    let routes = routes(snap, health, now_ms, &shown[..shown.len().min(1)]);
    let first = routes.as_object().and_then(|m| m.iter().next());
    if let Some((_, picks)) = first {
        for ((lat, lon), pick) in grid().zip(picks.as_array().into_iter().flatten()) {
            let (x, y) = xy(lat, lon);
            let region = pick["region"].as_str().unwrap_or("");
            let tie: Vec<&str> = pick["tie"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str())
                .collect();
            let colours: Vec<String> = tie.iter().map(|t| colour(t)).collect();
            let _ = write!(
                map,
                r#"<g class="sample" data-sample-region="{r}" data-tie="{t}" data-x="{x:.1}" data-y="{y:.1}">{w}</g>"#,
                r = esc(region),
                t = esc(&tie.join(" ")),
                w = wedges(x, y, &colours),
            );
        }
    }
    // Every region that has a replica, as a marker, its label where it covers nothing else.
    let mut marked = std::collections::BTreeSet::new();
    let mut markers: Vec<(usize, String, f64, f64)> = Vec::new();
    for &(z, r) in shown {
        let reg = &config.zones[z].registries[r];
        {
            for rep in &reg.replicas {
                if marked.insert(rep.region_index) {
                    let p = &config.regions.get(rep.region_index);
                    let (x, y) = xy(p.point.latitude, p.point.longitude);
                    markers.push((rep.region_index, rep.region.to_string(), x, y));
                }
            }
        }
    }
    let spots: Vec<(String, f64, f64)> = markers
        .iter()
        .map(|(_, name, x, y)| (name.clone(), *x, *y))
        .collect();
    for ((region_index, region, x, y), (tx, ty, end)) in markers.iter().zip(place_labels(&spots)) {
        // The marker shows the first registry's replica there (the selector's default; the
        // script follows the selection).
        let first = shown.first().copied();
        let shown = first
            .and_then(|(z, r)| {
                let reg = &config.zones[z].registries[r];
                let i = reg
                    .replicas
                    .iter()
                    .position(|o| o.region_index == *region_index)?;
                Some(state(snap, health, z, r, i))
            })
            .unwrap_or("none");
        let anchor = if end { "end" } else { "start" };
        // A label set apart from its marker is joined to it by a thin line.
        let leader = if (ty - y - 4.0).abs() > 12.0 || (tx - x).abs() > 12.0 {
            format!(
                r#"<line class="leader" x1="{x:.1}" y1="{y:.1}" x2="{tx:.1}" y2="{:.1}"/>"#,
                ty - 4.0
            )
        } else {
            String::new()
        };
        let _ = write!(
            map,
            r#"<g class="marker st-{shown}" data-region="{r}">{leader}<circle cx="{x:.1}" cy="{y:.1}" r="9" fill="{c}"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="{anchor}">{r}</text></g>"#,
            r = esc(region),
            c = colour(region),
        );
    }
    let mut list = String::new();
    if selection.total > shown.len() && !selection.named {
        let _ = write!(
            list,
            r#"<p class="note">Showing the first {} of {} registries; add <code>?registry=NAME</code> to the address for any other.</p>"#,
            shown.len(),
            selection.total
        );
    }
    for &(z, r) in shown {
        let zone = &config.zones[z];
        let reg = &zone.registries[r];
        {
            let name = format!("{}.{}", reg.name, zone.name);
            let _ = write!(
                list,
                r#"<section class="registry"><h2>{}</h2><ul>"#,
                esc(&name)
            );
            for (i, rep) in reg.replicas.iter().enumerate() {
                let st = state(snap, health, z, r, i);
                let _ = write!(
                    list,
                    r#"<li data-replica="{n}/{reg}" data-state="{st}"><span class="dot" style="background:{c}"></span><b>{reg}</b> <span class="state">{st}</span></li>"#,
                    n = esc(&name),
                    reg = esc(&rep.region),
                    c = colour(&rep.region),
                );
            }
            list.push_str("</ul></section>");
        }
    }
    let mut options = String::new();
    for &(z, r) in shown {
        let zone = &config.zones[z];
        let name = format!("{}.{}", zone.registries[r].name, zone.name);
        let _ = write!(options, "<option>{}</option>", esc(&name));
    }
    PAGE.replace("{{generation}}", &snap.generation.to_string())
        .replace("{{registries}}", &options)
        .replace("{{map}}", &map)
        .replace("{{list}}", &list)
}

const PAGE: &str = include_str!("page.html");
const LAND: &str = include_str!("land.txt");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_cover_no_label_and_no_marker() {
        // Every region of the catalogue at once, the neighbours that collided among them
        // (eastus/eastus2, northeurope/westeurope, the European and Asian clusters).
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/geoip/regions.yaml"))
                .unwrap();
        let catalogue: crate::config::spec::RegionCatalogFile =
            serde_saphyr::from_str(&text).unwrap();
        let markers: Vec<(String, f64, f64)> = catalogue
            .regions
            .iter()
            .filter(|(n, _)| !n.ends_with("euap") && !n.ends_with("stg"))
            .map(|(n, r)| {
                let (x, y) = xy(r.latitude.value, r.longitude.value);
                (n.clone(), x, y)
            })
            .collect();
        assert!(markers.len() >= 20, "{} regions read", markers.len());
        for set in [
            markers.clone(),
            markers
                .iter()
                .filter(|m| {
                    ["eastus", "eastus2", "northeurope", "westeurope"].contains(&m.0.as_str())
                })
                .cloned()
                .collect(),
        ] {
            let spots = place_labels(&set);
            let boxes: Vec<_> = set
                .iter()
                .zip(&spots)
                .map(|((n, _, _), (x, y, end))| label_box(n, *x, *y, *end))
                .collect();
            for (i, a) in boxes.iter().enumerate() {
                for (j, b) in boxes.iter().enumerate().skip(i + 1) {
                    assert!(!overlaps(*a, *b), "{} and {} overlap", set[i].0, set[j].0);
                }
                for (j, (_, x, y)) in set.iter().enumerate() {
                    let disc = (x - 9.0, y - 9.0, x + 9.0, y + 9.0);
                    assert!(
                        !overlaps(*a, disc),
                        "{}'s label covers {}'s marker",
                        set[i].0,
                        set[j].0
                    );
                }
            }
        }
    }

    #[test]
    fn a_shared_point_is_drawn_in_wedges() {
        let one = wedges(10.0, 10.0, &["#111".into()]);
        assert_eq!(one.matches("<circle").count(), 1);
        let two = wedges(10.0, 10.0, &["#111".into(), "#222".into()]);
        assert_eq!(two.matches("<path").count(), 2, "{two}");
        assert!(two.contains("#111") && two.contains("#222"));
        assert!(wedges(0.0, 0.0, &[]).contains("#bbb"));
    }
}
