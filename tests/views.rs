//! SPEC section 5 over real sockets: split horizon by source address, private answers only to
//! view clients, ECS selects a view only from a trusted resolver, health-aware inside a view.

mod common;

use common::{Ask, TestDir, TestServer, answers, cname_region, ecs_scope};
use georoute::health::HealthState;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const ZONE: &str = r#"
zone: v.test
soa: {mname: ns1.v.test., rname: hostmaster.v.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}
nameservers: [{name: ns1.v.test., addresses: [192.0.2.1]}]
registries:
  - name: reg
    home_region: eastus
    replicas:
      - {region: eastus, addresses: [20.0.0.1], data_addresses: [20.0.1.1]}
      - {region: eastus2, addresses: [20.0.0.2], data_addresses: [20.0.1.2]}
      - {region: northeurope, addresses: [20.0.0.3], data_addresses: [20.0.1.3]}
      - {region: westeurope, global_endpoint_routing: false, addresses: [20.0.0.4]}
views:
  - name: routed
    clients: [127.0.0.2/32]
    region: eastus
    registries:
      reg:
        regional: {eastus: 10.1.0.1, eastus2: 10.1.0.2, northeurope: 10.1.0.3, westeurope: 10.1.0.4}
        data: {eastus: 10.1.1.1}
  - name: pinned
    clients: [127.0.0.3/32]
    region: eastus
    global: pinned
    fallback: public
    registries:
      reg:
        global_address: 10.2.0.9
        regional: {eastus: 10.2.0.1}
  - name: behind-resolver
    clients: [10.50.0.0/16]
    region: northeurope
    trusted_resolvers: [127.0.0.4/32]
    registries:
      reg:
        regional: {northeurope: 10.50.0.3}
"#;

fn a_records(m: &hickory_proto::op::Message) -> Vec<String> {
    answers(m)
        .into_iter()
        .filter(|l| l.contains(" A "))
        .collect()
}

#[test]
fn split_horizon() {
    let dir = TestDir::with_zone(ZONE);
    let s = TestServer::start(&dir.path);
    let a = s.addr;
    let ask = |name: &str, from: &str| Ask::new(name, RecordType::A).from(from).udp(a);

    // Routed view: regional and data names answer private addresses.
    assert_eq!(
        answers(&ask("reg.eastus.geo.v.test", "127.0.0.2")),
        ["reg.eastus.geo.v.test A 10.1.0.1"]
    );
    assert_eq!(
        answers(&ask("reg.eastus.data.v.test", "127.0.0.2")),
        ["reg.eastus.data.v.test A 10.1.1.1"]
    );
    // A name the view has no private address for: NXDOMAIN (fallback none).
    assert_eq!(
        ask("reg.eastus2.data.v.test", "127.0.0.2")
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    // The global name is routed from the view's region and answers the private address.
    let g = ask("reg.v.test", "127.0.0.2");
    let region = cname_region(&g).unwrap();
    assert!(region == "eastus" || region == "eastus2", "{region}");
    let want = if region == "eastus" {
        "10.1.0.1"
    } else {
        "10.1.0.2"
    };
    assert_eq!(a_records(&g), [format!("reg.{region}.geo.v.test A {want}")]);
    // ECS from a view client does not move it (views follow the source) and the scope is 0.
    let m = Ask::new("reg.v.test", RecordType::A)
        .from("127.0.0.2")
        .ecs("192.0.2.0/24")
        .udp(a);
    assert_eq!(cname_region(&m).as_deref(), Some(region.as_str()));
    assert_eq!(ecs_scope(&m), Some((24, 0)));

    // Pinned view: the private global address; fallback public for names without one.
    assert_eq!(
        answers(&ask("reg.v.test", "127.0.0.3")),
        ["reg.v.test A 10.2.0.9"]
    );
    assert_eq!(
        answers(&ask("reg.eastus2.geo.v.test", "127.0.0.3")),
        ["reg.eastus2.geo.v.test A 20.0.0.2"]
    );

    // A trusted resolver's ECS selects the view; anyone else's does not.
    let m = Ask::new("reg.v.test", RecordType::A)
        .from("127.0.0.4")
        .ecs("10.50.7.0/24")
        .udp(a);
    assert_eq!(a_records(&m), ["reg.northeurope.geo.v.test A 10.50.0.3"]);
    assert_eq!(
        ecs_scope(&m),
        Some((24, 16)),
        "scope: the view network that matched"
    );
    let m = Ask::new("reg.v.test", RecordType::A)
        .from("127.0.0.5")
        .ecs("10.50.7.0/24")
        .udp(a);
    assert!(
        a_records(&m).iter().all(|l| l.contains(" 20.0.0.")),
        "no private address: {m:?}"
    );

    // Queries from view clients are counted per view.
    let metrics = s.admin("/metrics");
    assert!(
        metrics.contains("georoute_dns_view_queries_total{zone=\"v.test\",view=\"routed\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("georoute_dns_view_queries_total{zone=\"v.test\",view=\"pinned\"} 2"),
        "{metrics}"
    );

    // Outside every view: never a private address.
    for name in [
        "reg.v.test",
        "reg.eastus.geo.v.test",
        "reg.eastus.data.v.test",
        "reg.westeurope.geo.v.test",
    ] {
        let m = ask(name, "127.0.0.1");
        assert!(
            a_records(&m).iter().all(|l| l.contains(" 20.0.")),
            "{name}: {m:?}"
        );
    }
}

#[test]
fn views_follow_health_and_the_routing_flag() {
    let dir = TestDir::with_zone(ZONE);
    let s = TestServer::start(&dir.path);
    let shared = s.server.as_ref().unwrap().shared.clone();
    // eastus and eastus2 fail: the view's clients move to northeurope's private address, never
    // to westeurope (routing false), although westeurope is nearer to nothing here anyway.
    shared.update_health(|config| {
        HealthState::from_config(config).with_unhealthy([(0, 0, 0), (0, 0, 1)])
    });
    let g = Ask::new("reg.v.test", RecordType::A)
        .from("127.0.0.2")
        .udp(s.addr);
    assert_eq!(a_records(&g), ["reg.northeurope.geo.v.test A 10.1.0.3"]);
    // The regional names of the failed replicas keep answering inside the view.
    let r = Ask::new("reg.eastus.geo.v.test", RecordType::A)
        .from("127.0.0.2")
        .udp(s.addr);
    assert_eq!(answers(&r), ["reg.eastus.geo.v.test A 10.1.0.1"]);
}
