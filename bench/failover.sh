#!/usr/bin/env bash
# Measures failover and failback time of the real binary with the DEFAULT probe policy
# (interval 10s ±10%, timeout 5s, fall 3, rise 3) against a replica stand-in on loopback.
#
# Two stand-ins (python3 http.server) answer 401 like an unauthenticated /v2/. dig polls the
# global name every 0.5 s, straight from georoute and, as a client sees it, through Debian's
# unbound (a caching resolver, stub zone to georoute; skipped with a message when absent). The
# primary switches to 503 → time until each answer moves (failover); back to 401 → time until
# it returns (failback). Takes about 90 s. Loopback only.
#
#   FAILOVER_SUSPECT_TTL  ttl.suspect of the zone (default 5; 30 = ttl.global, no suspect TTL)
#   FAILOVER_PORT         georoute's DNS port (default 5398; unbound listens on the next one)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dig >/dev/null || { apt-get update -qq && apt-get install -y -qq bind9-dnsutils >/dev/null; }
cargo build --release --locked -q
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/zones" "$work/probes" "$work/geoip"
cp geoip/regions.yaml "$work/geoip/"

standin() { # $1 = ip, $2 = port, $3 = status file
  python3 - "$1" "$2" "$3" <<'PY' &
import http.server, sys
ip, port, status = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = int(open(status).read().strip())
        self.send_response(code); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((ip, port), H).serve_forever()
PY
}
echo 401 > "$work/primary"; echo 401 > "$work/backup"
standin 127.0.0.2 8080 "$work/primary"
standin 127.0.0.3 8080 "$work/backup"
cat > "$work/probes/default.yaml" <<'Y'
policies:
  default: {scheme: http, port: 8080}   # every other setting is the default: 10s, 5s, 3, 3
Y
cat > "$work/zones/f.test.yaml" <<'Y'
zone: f.test
soa: {mname: ns1.f.test., rname: hostmaster.f.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}
nameservers: [{name: ns1.f.test., addresses: [192.0.2.1]}]
registries:
  - name: reg
    home_region: eastus
    ttl: {global: 30, suspect: SUSPECT_TTL}
    replicas:
      - {region: eastus, addresses: [127.0.0.2]}
      - {region: westus, addresses: [127.0.0.3]}
Y
suspect=${FAILOVER_SUSPECT_TTL:-5}
sed -i "s/SUSPECT_TTL/$suspect/" "$work/zones/f.test.yaml"
port=${FAILOVER_PORT:-5398}
uport=$((port + 1))
target/release/georoute serve --config "$work" --dns 127.0.0.1:$port --admin 127.0.0.1:0 2>"$work/log" &
answer() { dig +short +tries=1 +time=1 @127.0.0.1 -p "${1:-$port}" reg.f.test A | head -1; }
for _ in $(seq 50); do [ -n "$(answer)" ] && break; sleep 0.2; done
[ "$(answer)" = "reg.eastus.geo.f.test." ] || { echo "unexpected start answer: $(answer)"; cat "$work/log"; exit 1; }
via_unbound=0
if command -v unbound >/dev/null; then
  cat > "$work/unbound.conf" <<U
server:
    interface: 127.0.0.1@$uport
    port: $uport
    do-not-query-localhost: no
    use-syslog: no
    logfile: "$work/unbound.log"
    username: ""
    chroot: ""
    directory: "$work"
    pidfile: "$work/unbound.pid"
    module-config: "iterator"
    local-zone: "test." nodefault    # unbound answers test. itself by default (RFC 6761)
stub-zone:
    name: "f.test"
    stub-addr: 127.0.0.1@$port
U
  unbound -d -c "$work/unbound.conf" &
  for _ in $(seq 50); do [ -n "$(answer $uport)" ] && break; sleep 0.2; done
  [ "$(answer $uport)" = "reg.eastus.geo.f.test." ] && via_unbound=1
fi
((via_unbound)) || echo "SKIP through unbound: unbound absent or not answering (apt-get install unbound)"
sleep 3
measure() { # $1 = wanted answer; prints "direct unbound" seconds until each shows it (at most 150 s)
  local start d="" u="" now
  start=$(date +%s.%N)
  ((via_unbound)) || u="-"
  for _ in $(seq 300); do
    now=$(date +%s.%N)
    [[ -z "$d" && "$(answer)" == "$1" ]] && d=$(echo "$now - $start" | bc)
    [[ -z "$u" && "$(answer $uport)" == "$1" ]] && u=$(echo "$now - $start" | bc)
    [[ -n "$d" && -n "$u" ]] && { echo "$d $u"; return; }
    sleep 0.5
  done
  echo "${d:-timeout} ${u:-timeout}"; return 1
}
echo "ttl.global 30, ttl.suspect $suspect; default probes (10 s, fall 3, rise 3)"
echo 503 > "$work/primary"
read -r fo ufo < <(measure reg.westus.geo.f.test.)
echo "failover: georoute ${fo} s, client through unbound ${ufo} s (expected fall × interval + up to one interval ≈ 20–35 s, then at most the TTL in force)"
sleep 2
echo 401 > "$work/primary"
read -r fb ufb < <(measure reg.eastus.geo.f.test.)
echo "failback: georoute ${fb} s, client through unbound ${ufb} s (expected rise × interval ≈ 20–33 s, then up to ttl.global)"
grep -c "health transition" "$work/log" | sed 's/^/health transitions logged: /'
