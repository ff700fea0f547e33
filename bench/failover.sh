#!/usr/bin/env bash
# Measures failover and failback time of the real binary with the DEFAULT probe policy
# (interval 10s ±10%, timeout 5s, fall 3, rise 3) against a replica stand-in on loopback.
#
# Two stand-ins (python3 http.server) answer 401 like an unauthenticated /v2/. dig polls the
# global name every 0.5 s. The primary switches to 503 → time until the answer moves (failover);
# back to 401 → time until it returns (failback). Takes about 90 s. Loopback only.
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
    replicas:
      - {region: eastus, addresses: [127.0.0.2]}
      - {region: westus, addresses: [127.0.0.3]}
Y
port=${FAILOVER_PORT:-5398}
target/release/georoute serve --config "$work" --dns 127.0.0.1:$port --admin 127.0.0.1:0 2>"$work/log" &
answer() { dig +short +tries=1 +time=1 @127.0.0.1 -p "$port" reg.f.test A | head -1; }
for _ in $(seq 50); do [ -n "$(answer)" ] && break; sleep 0.2; done
[ "$(answer)" = "reg.eastus.geo.f.test." ] || { echo "unexpected start answer: $(answer)"; cat "$work/log"; exit 1; }
sleep 3
measure() { # $1 = wanted answer; prints seconds until it appears (at most 120 s)
  local start=$(date +%s.%N)
  for _ in $(seq 240); do
    [ "$(answer)" = "$1" ] && { echo "$(date +%s.%N) - $start" | bc; return; }
    sleep 0.5
  done
  echo "timeout"; return 1
}
echo 503 > "$work/primary"
fo=$(measure reg.westus.geo.f.test.)
echo "failover: ${fo} s (expected fall × interval + up to one interval ≈ 20–35 s)"
sleep 2
echo 401 > "$work/primary"
fb=$(measure reg.eastus.geo.f.test.)
echo "failback: ${fb} s (expected rise × interval ≈ 20–33 s)"
grep -c "health transition" "$work/log" | sed 's/^/health transitions logged: /'
