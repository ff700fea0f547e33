//! Writes `geoip/demo-city.mmdb`, the small demo database of the shipped example.
//!
//! Run: `cargo run --example make_demo_mmdb` (from the repository root). The output is
//! byte-for-byte reproducible (fixed build time); `tests/demo_mmdb.rs` checks the committed file
//! against this program. Layout: MaxMind GeoIP2-City (nested `location`, `country`, `continent`).

use ipnet::IpNet;
use mmdb_writer::{Value, Writer};
use std::time::{Duration, UNIX_EPOCH};

/// (network, latitude/longitude, country, continent, city): one demo record.
pub type DemoRecord = (
    &'static str,
    Option<(f64, f64)>,
    &'static str,
    &'static str,
    &'static str,
);

/// What the demo database says.
pub const NETWORKS: &[DemoRecord] = &[
    // Documentation ranges (RFC 5737, RFC 3849), so `dig +subnet=` shows routing.
    (
        "192.0.2.0/24",
        Some((-33.8688, 151.2093)),
        "AU",
        "OC",
        "Sydney",
    ),
    (
        "2001:db8::/48",
        Some((1.3521, 103.8198)),
        "SG",
        "AS",
        "Singapore",
    ),
    ("2001:db8:1::/48", None, "", "OC", ""),
    // Ranges MaxMind uses in its own test databases, with their places.
    (
        "81.2.69.0/24",
        Some((51.5142, -0.0931)),
        "GB",
        "EU",
        "London",
    ),
    (
        "89.160.20.0/24",
        Some((58.4167, 15.6167)),
        "SE",
        "EU",
        "Linköping",
    ),
    (
        "216.160.83.0/24",
        Some((47.2513, -122.3149)),
        "US",
        "NA",
        "Milton",
    ),
    (
        "175.16.199.0/24",
        Some((43.88, 125.3228)),
        "CN",
        "AS",
        "Changchun",
    ),
    // Country only: the country centroid is used.
    ("202.196.224.0/20", None, "PH", "AS", ""),
];

/// Builds the database bytes.
pub fn build() -> Vec<u8> {
    let mut writer = Writer::builder("GeoIP2-City")
        .description(&[(
            "en",
            "georoute demo City database (documentation and test ranges)",
        )])
        .build_epoch(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
        .build();
    for &(net, coordinates, country, continent, city) in NETWORKS {
        let mut record = Vec::new();
        if let Some((lat, lon)) = coordinates {
            record.push((
                "location",
                Value::map([
                    ("latitude", Value::Double(lat)),
                    ("longitude", Value::Double(lon)),
                ]),
            ));
        }
        if !country.is_empty() {
            record.push(("country", Value::map([("iso_code", Value::from(country))])));
        }
        record.push(("continent", Value::map([("code", Value::from(continent))])));
        if !city.is_empty() {
            record.push((
                "city",
                Value::map([("names", Value::map([("en", Value::from(city))]))]),
            ));
        }
        let net: IpNet = net.parse().expect("demo network");
        writer
            .insert_value(net, Value::map(record))
            .expect("demo record");
    }
    writer.to_bytes().expect("demo database")
}

#[allow(dead_code)]
fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "geoip/demo-city.mmdb".into());
    std::fs::write(&path, build()).expect("writing the demo database");
    println!("wrote {path}");
}
