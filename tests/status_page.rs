//! The status page at `/` without a browser: one self-contained document, under
//! 300 KB, exactly one `data-replica` element per replica with the right `data-state`, map
//! markers by `data-region`, and `/routes` (the "who routes where" grid) from the routing
//! function; a live change of region health shows on the next load.

mod common;

use common::{TestDir, TestServer};
use std::time::{Duration, Instant};

/// (data-replica, data-state) of the document's elements (the script's selectors aside).
fn states(page: &str) -> Vec<(String, String)> {
    let page = &page[..page.find("<script>").unwrap_or(page.len())];
    page.match_indices("data-replica=\"")
        .map(|(at, m)| {
            let rest = &page[at + m.len()..];
            let name = rest[..rest.find('"').unwrap()].to_string();
            let st = rest.split("data-state=\"").nth(1).unwrap();
            (name, st[..st.find('"').unwrap()].to_string())
        })
        .collect()
}

#[test]
fn the_page_is_self_contained_and_names_every_replica_once() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let page = s.admin("/");
    assert!(page.starts_with("<!doctype html>"), "{}", &page[..100]);
    assert!(page.len() < 300 * 1024, "{} bytes", page.len());
    for external in [
        "http://", "https://", "src=\"//", "<link", "<img", "@import", "url(",
    ] {
        assert!(
            !page.contains(external),
            "the page refers elsewhere: {external}"
        );
    }
    assert!(page.contains("<svg") && page.contains("<script>"));
    let regions = [
        "eastus",
        "eastus2",
        "westeurope",
        "northeurope",
        "southeastasia",
        "australiaeast",
    ];
    let want: Vec<(String, String)> = regions
        .iter()
        .map(|r| {
            let st = if *r == "westeurope" { "drained" } else { "up" };
            (format!("myregistry.azurecr.io/{r}"), st.to_string())
        })
        .collect();
    assert_eq!(states(&page), want);
    for r in regions {
        assert_eq!(
            page.matches(&format!(" data-region=\"{r}\"")).count(),
            1,
            "{r}"
        );
    }
    assert!(page.contains("class=\"marker st-drained\" data-region=\"westeurope\""));
    assert!(page.contains("id=\"event-list\""), "the recent events list");
    // Who routes where: 14 x 24 sample points, each with its coordinates, the region its own
    // hash key picks, and every region clients there are spread over (`tie`).
    let routes: serde_json::Value = serde_json::from_str(&s.admin("/routes")).unwrap();
    let picks = routes["myregistry.azurecr.io"].as_array().unwrap();
    assert_eq!(picks.len(), 14 * 24);
    assert_eq!(page.matches("class=\"sample\"").count(), picks.len());
    // Row 30°S (index 3), column 157.5°E (index 22): near Sydney.
    let sydney = &picks[3 * 24 + 22];
    assert_eq!(
        (sydney["lat"].as_f64(), sydney["lon"].as_f64()),
        (Some(-30.0), Some(157.5))
    );
    assert_eq!(sydney["region"], "australiaeast");
    assert_eq!(sydney["tie"], serde_json::json!(["australiaeast"]));
    for p in picks {
        assert_ne!(
            p["region"], "westeurope",
            "a drained replica is never picked: {p}"
        );
        let tie: Vec<&str> = p["tie"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(!tie.contains(&"westeurope"), "{p}");
        assert!(
            tie.contains(&p["region"].as_str().unwrap()),
            "the pick is one of the tie: {p}"
        );
    }
    // East US and East US 2 lie within the tie band of each other: clients near them are
    // shared, and the page draws such a point as a split dot, one wedge per region.
    let shared = picks
        .iter()
        .position(|p| p["tie"] == serde_json::json!(["eastus", "eastus2"]))
        .expect("a sample point shared by eastus and eastus2");
    let dots: Vec<&str> = page.split("<g class=\"sample\"").skip(1).collect();
    let dot = dots[shared].split("</g>").next().unwrap();
    assert!(dot.contains("data-tie=\"eastus eastus2\""), "{dot}");
    assert_eq!(dot.matches("<path").count(), 2, "{dot}");
    assert_eq!(
        dots[3 * 24 + 22]
            .split("</g>")
            .next()
            .unwrap()
            .matches("<circle")
            .count(),
        1
    );
}

#[test]
fn a_region_marked_down_shows_on_the_page() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    dir.write(
        "probes/regions.yaml",
        "regions:\n  australiaeast: {status: down, reason: test}\n",
    );
    let start = Instant::now();
    loop {
        let page = s.admin("/");
        let st = states(&page);
        if st.contains(&(
            "myregistry.azurecr.io/australiaeast".into(),
            "region-down".into(),
        )) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{st:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let routes: serde_json::Value = serde_json::from_str(&s.admin("/routes")).unwrap();
    assert_ne!(
        routes["myregistry.azurecr.io"][3 * 24 + 22]["region"],
        "australiaeast"
    );
}
