//! The committed demo database is exactly what `examples/make_demo_mmdb.rs` writes, and the
//! example configuration routes its networks as documented.

#[path = "../examples/make_demo_mmdb.rs"]
mod make_demo_mmdb;

#[test]
fn committed_demo_database_is_reproducible() {
    let committed =
        std::fs::read("geoip/demo-city.mmdb").expect("geoip/demo-city.mmdb is committed");
    assert!(
        committed == make_demo_mmdb::build(),
        "geoip/demo-city.mmdb differs from what the generator writes: run `cargo run --example make_demo_mmdb`"
    );
}
