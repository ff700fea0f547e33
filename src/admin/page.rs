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

/// `/routes`: per registry, the region the routing function picks now for each grid point.
pub fn routes(snap: &Snapshot, health: &HealthState, now_ms: u64) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (z, zone) in snap.config.zones.iter().enumerate() {
        for (r, reg) in zone.registries.iter().enumerate() {
            let picks: Vec<serde_json::Value> = grid()
                .enumerate()
                .map(|(n, (lat, lon))| {
                    let choice = Point::new(lat, lon).and_then(|p| {
                        crate::dns::global::route_at(snap, health, z, r, p, n as u64, now_ms)
                    });
                    choice.map_or(serde_json::Value::Null, |d| json!(reg.replicas[d].region))
                })
                .collect();
            out.insert(format!("{}.{}", reg.name, zone.name), json!(picks));
        }
    }
    serde_json::Value::Object(out)
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

/// Each region's colour: the palette by first appearance, then a hue from its name.
fn colours(snap: &Snapshot) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for reg in snap.config.zones.iter().flat_map(|z| &z.registries) {
        for rep in &reg.replicas {
            let n = out.len();
            out.entry(rep.region.clone())
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
pub fn render(snap: &Snapshot, health: &HealthState, now_ms: u64) -> String {
    let config = &snap.config;
    let palette = colours(snap);
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
    let routes = routes(snap, health, now_ms);
    let first = routes.as_object().and_then(|m| m.iter().next());
    if let Some((_, picks)) = first {
        for ((lat, lon), pick) in grid().zip(picks.as_array().into_iter().flatten()) {
            let (x, y) = xy(lat, lon);
            let region = pick.as_str().unwrap_or("");
            let _ = write!(
                map,
                r#"<circle class="sample" data-sample-region="{r}" cx="{x:.1}" cy="{y:.1}" r="6" fill="{c}"/>"#,
                r = esc(region),
                c = if region.is_empty() {
                    "#bbb".into()
                } else {
                    colour(region)
                },
            );
        }
    }
    // Every region that has a replica, as a marker; a label that would cover another moves down.
    let mut marked = std::collections::BTreeSet::new();
    let mut labels: Vec<(f64, f64)> = Vec::new();
    for zone in &config.zones {
        for reg in &zone.registries {
            for rep in &reg.replicas {
                if marked.insert(rep.region_index) {
                    // The marker shows the first registry's replica there (the selector's
                    // default; the script follows the selection).
                    let shown = config
                        .zones
                        .iter()
                        .enumerate()
                        .flat_map(|(z, zone)| (0..zone.registries.len()).map(move |r| (z, r)))
                        .next()
                        .and_then(|(z, r)| {
                            let reg = &config.zones[z].registries[r];
                            let i = reg
                                .replicas
                                .iter()
                                .position(|o| o.region_index == rep.region_index)?;
                            Some(state(snap, health, z, r, i))
                        })
                        .unwrap_or("none");
                    let p = &config.regions.get(rep.region_index);
                    let (x, y) = xy(p.point.latitude, p.point.longitude);
                    // Near the right edge the label goes to the left of its marker.
                    let (anchor, tx) = if x > W - 140.0 {
                        ("end", x - 12.0)
                    } else {
                        ("start", x + 12.0)
                    };
                    let mut ty = y + 4.0;
                    while labels
                        .iter()
                        .any(|&(lx, ly)| (lx - tx).abs() < 110.0 && (ly - ty).abs() < 15.0)
                    {
                        ty += 15.0;
                    }
                    labels.push((tx, ty));
                    let _ = write!(
                        map,
                        r#"<g class="marker st-{shown}" data-region="{r}"><circle cx="{x:.1}" cy="{y:.1}" r="9" fill="{c}"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="{anchor}">{r}</text></g>"#,
                        r = esc(&rep.region),
                        c = colour(&rep.region),
                    );
                }
            }
        }
    }
    let mut list = String::new();
    for (z, zone) in config.zones.iter().enumerate() {
        for (r, reg) in zone.registries.iter().enumerate() {
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
    for name in routes.as_object().into_iter().flat_map(|m| m.keys()) {
        let _ = write!(options, "<option>{}</option>", esc(name));
    }
    PAGE.replace("{{generation}}", &snap.generation.to_string())
        .replace("{{registries}}", &options)
        .replace("{{map}}", &map)
        .replace("{{list}}", &list)
}

const PAGE: &str = include_str!("page.html");
const LAND: &str = include_str!("land.txt");
