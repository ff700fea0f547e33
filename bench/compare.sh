#!/usr/bin/env bash
# Server CPU per answer: georoute against gdnsd 3.x and a zero-work floor, in one run.
#
# Starts three servers on loopback, each pinned to CPU 1 (taskset -c 1) with one UDP thread:
#   floor     bench/floor (georoute-floor): gdnsd's socket setup and recvmmsg/sendmmsg loop,
#             a fixed answer written in place; what the kernel alone costs;
#   gdnsd     gdnsd 3.x, zone azurecr.io with myregistry as a DYNA geoip resource (city auto
#             mode over the demo database geoip/demo-city.mmdb, six regions, ECS on), health by
#             the http_status plugin against python3 stand-ins on 127.0.0.11-16;
#   georoute  target/release/georoute serve --no-probes --udp-threads 1 (the shipped example).
# Then, with dnsperf pinned to CPU 0, offers a fixed rate of `myregistry.azurecr.io A` (one ECS
# option on every query, dnsperf -E 8:<hex>) to each in turn, interleaved A-B-C, C-B-A, ...
# Server CPU per answer = the change of utime+stime summed over /proc/PID/task/*/stat (fields
# 14 and 15, clock ticks) during the pass, divided by the responses dnsperf counted. Prints per
# server the median µs/answer and lost %, and the ratios of the medians. Then one unlimited-rate
# pass per server (max QPS), during which dig samples the global name with several ECS subnets
# and georoute's answers are checked against `georoute explain`.
#
# Before each pass it waits until no cargo or fuzz process runs (polls every 20 s; at most
# COMPARE_IDLE_WAIT seconds in all, then measures anyway and marks such runs busy). Every wait is
# bounded; everything it starts is stopped on exit. Raw outputs go to bench/out/compare-<UTC>/
# (bench/out/latest links the last one). Loopback only.
#
# Environment (all optional):
#   COMPARE_REPS          rounds; each round runs every server once       (default 6)
#   COMPARE_SECONDS       length of each fixed-rate pass (dnsperf -l)      (default 15)
#   COMPARE_QPS           offered rate (dnsperf -Q)                        (default 100000)
#   COMPARE_OUTSTANDING   dnsperf -q of the fixed-rate passes              (default 1000: with
#                         dnsperf's 100, a stall of ~1 ms lowers the rate actually offered)
#   COMPARE_ECS           the ECS subnet sent on every query               (default 192.0.2.0/24:
#                         demo GeoIP, Sydney -> australiaeast)
#   COMPARE_DNSPERF_BUF   dnsperf -b, its socket buffers in KB (default 2048: with the 208 KB
#                         default, dnsperf itself drops answers once ~250 are queued for it)
#   COMPARE_MAX_SECONDS   length of the unlimited pass                     (default 10)
#   COMPARE_MAX_ARGS      dnsperf arguments of the unlimited pass          (default "-c 4 -q 200")
#   COMPARE_PORT          base port: floor +0, gdnsd +1, georoute +2, HTTP stand-ins +3 (default 5390)
#   COMPARE_IDLE_WAIT     seconds to wait for cargo/fuzz to finish; 0 = don't wait (default 2400)
#   COMPARE_BUILD         auto: build georoute if missing or older than src/, Cargo.*; 1: always;
#                         0: never (default auto). The floor is always built (a no-op when fresh).
#   COMPARE_OUT           output directory                  (default bench/out/compare-<UTC time>)
#
#   bench/compare.sh            # ~5 min of measurement with the defaults, plus starts and builds
#   COMPARE_REPS=2 COMPARE_SECONDS=5 bench/compare.sh   # a quick look
set -euo pipefail

die() { echo "compare.sh: error: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)
# task_ticks, dnsperf_stat, busy_procs, stop_pid, wait_idle.
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

REPS=${COMPARE_REPS:-6}
SECS=${COMPARE_SECONDS:-15}
QPS=${COMPARE_QPS:-100000}
OUTSTANDING=${COMPARE_OUTSTANDING:-1000}
DPBUF=${COMPARE_DNSPERF_BUF:-2048}
ECS=${COMPARE_ECS:-192.0.2.0/24}
MAX_SECS=${COMPARE_MAX_SECONDS:-10}
read -r -a MAX_ARGS <<<"${COMPARE_MAX_ARGS:--c 4 -q 200}"
BASE_PORT=${COMPARE_PORT:-5390}
IDLE_WAIT=${COMPARE_IDLE_WAIT:-2400}
BUILD=${COMPARE_BUILD:-auto}
for v in REPS SECS QPS OUTSTANDING DPBUF MAX_SECS BASE_PORT IDLE_WAIT; do
  is_uint "${!v}" || die "COMPARE_${v} must be a non-negative integer (got '${!v}')"
  printf -v "$v" '%d' "$((10#${!v}))"
done
((REPS >= 1 && SECS >= 1 && QPS >= 1 && OUTSTANDING >= 1 && DPBUF >= 1 && MAX_SECS >= 1)) || die "reps, seconds, qps, outstanding must be >= 1"
((BASE_PORT >= 1024 && BASE_PORT <= 65532)) || die "COMPARE_PORT must be 1024..65532"
case $BUILD in auto | 0 | 1) ;; *) die "COMPARE_BUILD must be auto, 0 or 1" ;; esac

SERVERS=(floor gdnsd georoute)
declare -A PORT=([floor]=$BASE_PORT [gdnsd]=$((BASE_PORT + 1)) [georoute]=$((BASE_PORT + 2)))
HTTP_PORT=$((BASE_PORT + 3))
ZONE=azurecr.io
QNAME=myregistry.azurecr.io
# The shipped example's replicas (zones/azurecr.io.yaml); westeurope is drained there
# (global_endpoint_routing: false), so gdnsd gets no coordinates for it (never an automatic answer).
REGIONS=(eastus eastus2 westeurope northeurope southeastasia australiaeast)
DRAINED=westeurope
# gdnsd's dcmap: one loopback address per region, where the HTTP stand-in for it listens.
declare -A DC_ADDR=() ADDR_DC=()
for i in "${!REGIONS[@]}"; do
  DC_ADDR[${REGIONS[i]}]=127.0.0.$((11 + i))
  ADDR_DC[127.0.0.$((11 + i))]=${REGIONS[i]}
done
# Subnets dig samples during the unlimited passes ("none" = no ECS option).
SAMPLES=(192.0.2.0/24 81.2.69.0/24 89.160.20.0/24 216.160.83.0/24 175.16.199.0/24 202.196.224.0/24
  198.51.100.0/24 203.0.113.0/24 1.2.3.0/24 2001:db8::/56 none)

# ---------------------------------------------------------------------------
# Helpers

# ecs_hex CIDR -> the ECS option data (RFC 7871): FAMILY, SOURCE PREFIX, SCOPE 0, address bytes.
ecs_hex() {
  python3 - "$1" <<'PY'
import ipaddress, sys
n = ipaddress.ip_network(sys.argv[1], strict=False)
fam = 1 if n.version == 4 else 2
nbytes = (n.prefixlen + 7) // 8
print("%04x%02x00%s" % (fam, n.prefixlen, n.network_address.packed[:nbytes].hex()))
PY
}


# ---------------------------------------------------------------------------
# Tools

missing=()
for t in dnsperf dig gdnsd; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing ${missing[*]}: apt-get install -y gdnsd dnsperf bind9-dnsutils"
  fi
  log "installing gdnsd dnsperf bind9-dnsutils (missing: ${missing[*]})"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
    gdnsd dnsperf bind9-dnsutils >/dev/null || die "apt-get install failed"
fi
for t in dnsperf dig gdnsd taskset python3 getconf timeout cargo; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found"
done
(($(nproc) >= 2)) || die "needs 2 CPUs (dnsperf on CPU 0, servers on CPU 1); nproc says $(nproc)"
GDNSD_VERSION=$(gdnsd -h 2>&1 | awk '/^gdnsd version/ {print $3; exit}' || true)
[[ "$GDNSD_VERSION" == 3.* ]] || die "needs gdnsd 3.x (found '${GDNSD_VERSION:-?}')"
DNSPERF_HELP=$(dnsperf -h 2>&1 || true)
DNSPERF_VERSION=$(awk '/^Version/ {print $2; exit}' <<<"$DNSPERF_HELP")
if grep -q -- '-E send EDNS option' <<<"$DNSPERF_HELP"; then
  ECS_HEX=$(ecs_hex "$ECS") || die "bad COMPARE_ECS '$ECS'"
  QUERY_ARGS=(-E "8:$ECS_HEX")
  QUERY_DESC="$QNAME A, EDNS0 with ECS $ECS on every query (dnsperf -E 8:$ECS_HEX)"
else
  QUERY_ARGS=(-e)
  QUERY_DESC="$QNAME A, EDNS0 without ECS (this dnsperf has no -E)"
  ECS=none
fi

# ---------------------------------------------------------------------------
# Builds (before waiting for the machine to be idle: a build is not a measurement)

BIN=$ROOT/target/release/georoute
FLOOR=$ROOT/bench/floor/target/release/georoute-floor
need_build=0
case $BUILD in
  1) need_build=1 ;;
  auto) [[ -x "$BIN" ]] && [[ -z "$(find src Cargo.toml Cargo.lock -newer "$BIN" -print -quit 2>/dev/null)" ]] || need_build=1 ;;
esac
if ((need_build)); then
  log "cargo build --release --locked"
  timeout 3600 cargo build --release --locked || die "georoute build failed"
fi
[[ -x "$BIN" ]] || die "$BIN not found (COMPARE_BUILD=0?)"
log "cargo build --release --manifest-path bench/floor/Cargo.toml"
timeout 1800 cargo build --release --quiet --manifest-path bench/floor/Cargo.toml || die "floor build failed"
[[ -x "$FLOOR" ]] || die "$FLOOR not found"

# ---------------------------------------------------------------------------
# Output, work dir, cleanup

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${COMPARE_OUT:-$ROOT/bench/out/compare-$STAMP}
mkdir -p "$OUT"
[[ -z "${COMPARE_OUT:-}" ]] && ln -sfn "compare-$STAMP" "$ROOT/bench/out/latest"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/georoute-compare.XXXXXX")
declare -A PID=()
STANDIN_PID=
SAMPLER_PID=

cleanup() {
  local rc=$? s
  trap - EXIT INT TERM
  stop_pid "$SAMPLER_PID"
  for s in "${SERVERS[@]}"; do stop_pid "${PID[$s]:-}"; done
  stop_pid "$STANDIN_PID"
  rm -rf "$WORK"
  ((rc == 0)) || echo "compare.sh: failed (exit $rc); raw outputs in $OUT" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Wait for an idle machine

# wait_idle: before every pass, wait while cargo/fuzz processes run, polling every 20 s. The
# COMPARE_IDLE_WAIT budget is for the whole run; once spent, passes run regardless (and the
# busy column of runs.tsv says so).
IDLE_LEFT=$IDLE_WAIT
IDLE_WAITED=0
wait_idle

# ---------------------------------------------------------------------------
# Servers

for s in "${SERVERS[@]}"; do
  out=$(dig +short +tries=1 +time=1 @127.0.0.1 -p "${PORT[$s]}" "$ZONE" SOA 2>/dev/null || true)
  [[ -z "$out" || "$out" == *";;"* ]] || die "something already answers DNS on 127.0.0.1:${PORT[$s]}; set COMPARE_PORT"
done

# wait_dns NAME PORT QNAME QTYPE PATTERN: up to 15 s for an answer matching PATTERN.
wait_dns() {
  local name=$1 port=$2 qn=$3 qt=$4 pat=$5 deadline=$((SECONDS + 15)) out
  while ((SECONDS < deadline)); do
    kill -0 "${PID[$name]}" 2>/dev/null || { tail -n 20 "$OUT/$name.log" >&2; die "$name exited during startup"; }
    out=$(dig +short +tries=1 +time=1 @127.0.0.1 -p "$port" "$qn" "$qt" 2>/dev/null || true)
    [[ "$out" =~ $pat ]] && return 0
    sleep 0.2
  done
  tail -n 20 "$OUT/$name.log" >&2
  die "$name did not answer $qn $qt on 127.0.0.1:$port within 15 s"
}

# HTTP stand-ins for gdnsd's http_status monitoring: /v2/ answers 401, like a registry
# without credentials (ok_codes includes 401), on each region's loopback address.
cat >"$WORK/standin.py" <<'PY'
import http.server, socketserver, sys, threading
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(401 if self.path.startswith("/v2/") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.server.server_address[0], fmt % args))
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
port = int(sys.argv[1])
servers = [Server((addr, port), Handler) for addr in sys.argv[2:]]
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PY
standin_addrs=()
for r in "${REGIONS[@]}"; do standin_addrs+=("${DC_ADDR[$r]}"); done
python3 -u "$WORK/standin.py" "$HTTP_PORT" "${standin_addrs[@]}" >"$OUT/standin.out" 2>"$OUT/standin.log" </dev/null &
STANDIN_PID=$!
for ((i = 0; i < 50; i++)); do
  grep -q ready "$OUT/standin.out" 2>/dev/null && break
  kill -0 "$STANDIN_PID" 2>/dev/null || { cat "$OUT/standin.log" >&2; die "HTTP stand-ins failed to start"; }
  sleep 0.2
done
grep -q ready "$OUT/standin.out" || die "HTTP stand-ins not ready within 10 s"

# floor
taskset -c 1 "$FLOOR" --listen "127.0.0.1:${PORT[floor]}" --threads 1 >"$OUT/floor.log" 2>&1 </dev/null &
PID[floor]=$!
wait_dns floor "${PORT[floor]}" "$QNAME" A '^192\.0\.2\.10$'

# gdnsd: configuration written from the shipped example's values.
GD=$WORK/gdnsd
mkdir -p "$GD/zones" "$GD/run" "$GD/state"
coords() { # region -> "lat, lon" from geoip/regions.yaml
  local line
  line=$(grep -E "^  $1: \{" geoip/regions.yaml) || die "region $1 not in geoip/regions.yaml"
  sed -E 's/.*latitude: *([-0-9.]+), *longitude: *([-0-9.]+).*/\1, \2/' <<<"$line"
}
{
  cat <<EOF
# Written by bench/compare.sh: the shipped example (zones/azurecr.io.yaml, geoip/) for gdnsd 3.x.
options => {
  listen => [ 127.0.0.1:${PORT[gdnsd]} ]
  udp_threads => 1
  tcp_threads => 1
  udp_rcvbuf => 1048576
  edns_client_subnet => true
  run_dir => $GD/run
  state_dir => $GD/state
}
service_types => {
  # like georoute's default probe policy: GET /v2/, 401 is healthy, every 10 s, 5 s timeout
  registry_v2 => { plugin => http_status, port => $HTTP_PORT, url_path => "/v2/", ok_codes => [ 200, 401 ], interval => 10, timeout => 5 }
}
plugins => {
  geoip => {
    maps => {
      regions => {
        geoip2_db => $ROOT/geoip/demo-city.mmdb
        datacenters => [ ${REGIONS[*]} ]
        # city auto mode; $DRAINED has no coordinates: drained from automatic answers
        auto_dc_coords => {
EOF
  for r in "${REGIONS[@]}"; do
    [[ "$r" == "$DRAINED" ]] || echo "          $r => [ $(coords "$r") ]"
  done
  cat <<EOF
        }
        # geoip/geoip.yaml's overrides: 198.51.100.0/24 -> westeurope (drained: northeurope),
        # 203.0.113.0/24 -> Tokyo (southeastasia)
        nets => {
          198.51.100.0/24 => [ northeurope, eastus, eastus2 ]
          203.0.113.0/24 => [ southeastasia, australiaeast, eastus ]
        }
      }
    }
    resources => {
      myregistry => {
        map => regions
        service_types => registry_v2
        dcmap => {
EOF
  for r in "${REGIONS[@]}"; do echo "          $r => ${DC_ADDR[$r]}"; done
  cat <<'EOF'
        }
      }
    }
  }
}
EOF
} >"$GD/config"
{
  # shellcheck disable=SC2016 # a literal $TTL
  echo '$TTL 3600'
  echo '@ SOA ns1.azurecr.io. hostmaster.azurecr.io. 1 3600 600 604800 30'
  echo '@ NS ns1.azurecr.io.'
  echo '@ NS ns2.example.net.'
  echo 'ns1 A 192.0.2.53'
  echo 'ns1 AAAA 2001:db8::53'
  echo 'myregistry 30 DYNA geoip!myregistry'
  for i in "${!REGIONS[@]}"; do
    echo "myregistry.${REGIONS[i]}.geo 300 A 192.0.2.$((10 + i))"
    echo "myregistry.${REGIONS[i]}.data 300 A 192.0.2.$((20 + i))"
  done
} >"$GD/zones/$ZONE"
mkdir -p "$OUT/gdnsd"
cp "$GD/config" "$GD/zones/$ZONE" "$OUT/gdnsd/"
timeout 30 gdnsd -c "$GD" checkconf >"$OUT/gdnsd/checkconf.log" 2>&1 || { cat "$OUT/gdnsd/checkconf.log" >&2; die "gdnsd checkconf failed"; }
taskset -c 1 gdnsd -c "$GD" -D start >"$OUT/gdnsd.log" 2>&1 </dev/null &
PID[gdnsd]=$!
wait_dns gdnsd "${PORT[gdnsd]}" "$ZONE" SOA 'ns1\.azurecr\.io'
up=$(grep -c 'registry_v2. initialized to UP' "$OUT/gdnsd.log" || true)
((up == ${#REGIONS[@]})) || { cat "$OUT/gdnsd.log" >&2; die "gdnsd: $up of ${#REGIONS[@]} monitored addresses UP at start"; }

# georoute, from the repo root: the shipped example.
taskset -c 1 "$BIN" serve --no-probes --udp-threads 1 --dns "127.0.0.1:${PORT[georoute]}" --admin 127.0.0.1:0 \
  >"$OUT/georoute.log" 2>&1 </dev/null &
PID[georoute]=$!
wait_dns georoute "${PORT[georoute]}" "$ZONE" SOA 'ns1\.azurecr\.io'

# What each answers to the load's query (ECS as dnsperf sends it, no cookie).
subnet_arg=()
[[ "$ECS" == none ]] || subnet_arg=(+subnet="$ECS")
for s in "${SERVERS[@]}"; do
  timeout 10 dig +nocookie +tries=2 +time=2 @127.0.0.1 -p "${PORT[$s]}" "$QNAME" A "${subnet_arg[@]}" \
    >"$OUT/answer-$s.txt" 2>&1 || true
  grep -q 'status: NOERROR' "$OUT/answer-$s.txt" || { cat "$OUT/answer-$s.txt" >&2; die "$s: no NOERROR answer to $QNAME A"; }
done
if [[ "$ECS" != none ]]; then
  grep -q 'CLIENT-SUBNET' "$OUT/answer-gdnsd.txt" || die "gdnsd did not echo ECS: is the DYNA geoip answer working?"
  gd_addr=$(awk '$1 == "'"$QNAME"'." && $4 == "A" {print $5; exit}' "$OUT/answer-gdnsd.txt")
  [[ -n "${ADDR_DC[$gd_addr]:-}" ]] || die "gdnsd answered '$gd_addr', not one of its dcmap addresses"
  log "gdnsd DYNA geoip answer for ECS $ECS: $gd_addr (${ADDR_DC[$gd_addr]})"
fi

# Environment record.
{
  echo "date (UTC):      $(date -u '+%Y-%m-%d %H:%M:%S')"
  echo "host:            $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "clock ticks:     $(getconf CLK_TCK)/s"
  echo "net.core.rmem_max: $(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo ?)"
  echo "georoute:        $BIN ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ', src differs from HEAD'), built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M:%S'))"
  echo "gdnsd:           $GDNSD_VERSION"
  echo "dnsperf:         $DNSPERF_VERSION"
  echo "queries:         $QUERY_DESC"
  echo "fixed-rate pass: dnsperf -Q $QPS -l $SECS -q $OUTSTANDING -b $DPBUF -t 2, $REPS rounds, order alternating A-B-C / C-B-A"
  echo "unlimited pass:  dnsperf ${MAX_ARGS[*]} -l $MAX_SECS -b $DPBUF -t 2"
  echo "pinning:         servers taskset -c 1, dnsperf taskset -c 0"
  for s in "${SERVERS[@]}"; do
    echo "answer size $s: $(awk '/MSG SIZE/ {print $NF " bytes"}' "$OUT/answer-$s.txt")  ($(awk '/^;; ANSWER SECTION/ {a = 1; next} a && NF == 0 {a = 0} a {printf "%s %s; ", $4, $5}' "$OUT/answer-$s.txt"))"
  done
} >"$OUT/env.txt"
cat "$OUT/env.txt"
echo

# ---------------------------------------------------------------------------
# Fixed-rate passes

HZ=$(getconf CLK_TCK)
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' round server sent completed lost lost_pct qps avg_lat_us ticks us_per_answer srv_pct busy >"$OUT/runs.tsv"
printf '%-5s %-9s %9s %9s %6s %7s %8s %8s %7s %10s %5s  %s\n' round server sent completed lost lost% qps lat_us ticks us/answer srv% busy

# one_pass LABEL SERVER OUTFILE DNSPERF-ARGS... -> sets P_SENT P_COMP P_LOST P_QPS P_LAT P_RT P_TICKS
one_pass() {
  local label=$1 s=$2 res=$3 t0 t1 rc=0
  shift 3
  t0=$(task_ticks "${PID[$s]}") || die "$s (pid ${PID[$s]}) is gone"
  timeout -k 5 $((SECS + MAX_SECS + 30)) taskset -c 0 dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$WORK/queries.txt" \
    -t 2 -b "$DPBUF" "${QUERY_ARGS[@]}" "$@" >"$res" 2>&1 || rc=$?
  t1=$(task_ticks "${PID[$s]}") || die "$s died during $label"
  ((rc == 0)) || { tail -n 20 "$res" >&2; die "dnsperf failed (exit $rc) in $label against $s"; }
  P_SENT=$(dnsperf_stat "$res" "Queries sent")
  P_COMP=$(dnsperf_stat "$res" "Queries completed")
  P_LOST=$(dnsperf_stat "$res" "Queries lost")
  P_QPS=$(dnsperf_stat "$res" "Queries per second")
  P_LAT=$(dnsperf_stat "$res" "Average Latency (s)")
  P_RT=$(dnsperf_stat "$res" "Run time (s)")
  [[ -n "$P_SENT" && -n "$P_COMP" ]] || { tail -n 20 "$res" >&2; die "could not parse dnsperf output ($res)"; }
  : "${P_LOST:=0}" "${P_QPS:=0}" "${P_LAT:=0}" "${P_RT:=0}"
  P_TICKS=$((t1 - t0))
}

echo "$QNAME A" >"$WORK/queries.txt"
for ((r = 1; r <= REPS; r++)); do
  if ((r % 2)); then order=(floor gdnsd georoute); else order=(georoute gdnsd floor); fi
  for s in "${order[@]}"; do
    wait_idle
    b=$(busy_procs)
    one_pass "round $r" "$s" "$OUT/run-$r-$s.txt" -Q "$QPS" -l "$SECS" -q "$OUTSTANDING"
    b2=$(busy_procs)
    [[ -n "$b" || -n "$b2" ]] && b="busy:${b:-$b2}" || b=-
    awk -v r="$r" -v s="$s" -v se="$P_SENT" -v c="$P_COMP" -v lo="$P_LOST" -v q="$P_QPS" -v la="$P_LAT" \
      -v rt="$P_RT" -v t="$P_TICKS" -v hz="$HZ" -v b="$b" -v tsv="$OUT/runs.tsv" 'BEGIN {
        us = c > 0 ? t / hz * 1e6 / c : -1
        lp = se > 0 ? 100 * lo / se : 0
        sp = rt > 0 ? 100 * t / hz / rt : 0
        printf "%d\t%s\t%d\t%d\t%d\t%.4f\t%.0f\t%.1f\t%d\t%.3f\t%.0f\t%s\n", r, s, se, c, lo, lp, q, la * 1e6, t, us, sp, b >> tsv
        printf "%-5d %-9s %9d %9d %6d %6.3f%% %8.0f %8.1f %7d %10.3f %4.0f%%  %s\n", r, s, se, c, lo, lp, q, la * 1e6, t, us, sp, b
      }'
  done
done

# ---------------------------------------------------------------------------
# Unlimited passes, with dig samples of the global name under load

# georoute explain for each sample: what georoute must answer.
for e in "${SAMPLES[@]}"; do
  f=$OUT/explain-${e//[\/:]/_}.txt
  if [[ "$e" == none ]]; then
    "$BIN" explain "$QNAME" --client 127.0.0.1 >"$f" 2>&1 || die "georoute explain failed (see $f)"
  else
    "$BIN" explain "$QNAME" --client 127.0.0.1 --ecs "$e" >"$f" 2>&1 || die "georoute explain --ecs $e failed (see $f)"
  fi
done

sample_answers() { # server port outdir
  local s=$1 port=$2 dir=$3 e args
  mkdir -p "$dir"
  for e in "${SAMPLES[@]}"; do
    args=()
    [[ "$e" == none ]] || args=(+subnet="$e")
    timeout 15 dig +nocookie +tries=3 +time=2 @127.0.0.1 -p "$port" "$QNAME" A "${args[@]}" \
      >"$dir/${e//[\/:]/_}.txt" 2>&1 || true
  done
}

echo
printf '%-9s %9s %9s %6s %7s %8s %8s %10s %5s\n' server sent completed lost lost% max_qps lat_us us/answer srv%
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' server sent completed lost lost_pct qps avg_lat_us us_per_answer srv_pct >"$OUT/max.tsv"
for s in "${SERVERS[@]}"; do
  wait_idle
  (sleep 2; sample_answers "$s" "${PORT[$s]}" "$OUT/samples-$s") </dev/null >/dev/null 2>&1 &
  SAMPLER_PID=$!
  one_pass "unlimited" "$s" "$OUT/max-$s.txt" -l "$MAX_SECS" "${MAX_ARGS[@]}"
  # The sampler's digs are bounded (timeout 15 each); wait for it, at most 3 minutes.
  for ((i = 0; i < 1800; i++)); do kill -0 "$SAMPLER_PID" 2>/dev/null || break; sleep 0.1; done
  stop_pid "$SAMPLER_PID"
  SAMPLER_PID=
  awk -v s="$s" -v se="$P_SENT" -v c="$P_COMP" -v lo="$P_LOST" -v q="$P_QPS" -v la="$P_LAT" -v t="$P_TICKS" \
    -v rt="$P_RT" -v hz="$HZ" -v tsv="$OUT/max.tsv" 'BEGIN {
      us = c > 0 ? t / hz * 1e6 / c : -1
      lp = se > 0 ? 100 * lo / se : 0
      sp = rt > 0 ? 100 * t / hz / rt : 0
      printf "%s\t%d\t%d\t%d\t%.4f\t%.0f\t%.1f\t%.3f\t%.0f\n", s, se, c, lo, lp, q, la * 1e6, us, sp >> tsv
      printf "%-9s %9d %9d %6d %6.3f%% %8.0f %8.1f %10.3f %4.0f%%\n", s, se, c, lo, lp, q, la * 1e6, us, sp
    }'
done

# ---------------------------------------------------------------------------
# Answer check: georoute against `georoute explain`; gdnsd and floor recorded.

# dig_answer FILE -> "CNAME target A address" etc. (the answer section, type and data), the
# ECS scope ("-" if none) and the status.
dig_answer() {
  awk '/status:/ {st = $6; sub(/,$/, "", st)}
       /CLIENT-SUBNET:/ {n = split($3, p, "/"); sc = "/" p[n]}
       /^;; ANSWER SECTION/ {a = 1; next}
       a && NF == 0 {a = 0}
       a {ans = ans (ans ? " " : "") $4 " " $5}
       END {printf "%s|%s|%s\n", (ans ? ans : "(none)"), (sc ? sc : "-"), (st ? st : "no-answer")}' "$1"
}
mismatches=0
{
  printf '%-18s %-14s %-62s %-6s %s\n' subnet server answer scope check
  for e in "${SAMPLES[@]}"; do
    key=${e//[\/:]/_}
    ex=$OUT/explain-$key.txt
    choice=$(awk '/^choice:/ {print $2; exit}' "$ex")
    want=$(awk -F' [|] ' '/^answer A:/ {
      sub(/^answer A: */, "", $1); split($1, c, " "); split($2, d, " ")
      printf "CNAME %s A %s", c[3], d[3]; exit }' "$ex")
    wscope=$(awk '/^scope:/ {print $2; exit}' "$ex")
    if [[ "$e" == none ]]; then
      wscope=-
    else
      src=${e##*/}
      ((${wscope#/} <= src)) || wscope=/$src
    fi
    for s in "${SERVERS[@]}"; do
      IFS='|' read -r got scope st < <(dig_answer "$OUT/samples-$s/$key.txt")
      case $s in
        georoute)
          if [[ "$st" == NOERROR && "$got" == "$want" && "$scope" == "$wscope" ]]; then
            verdict="ok (explain: $choice, scope $wscope)"
          else
            verdict="MISMATCH: explain says $want scope $wscope"
            [[ "$st" == NOERROR ]] || verdict+=" (status $st)"
            mismatches=$((mismatches + 1))
          fi
          ;;
        gdnsd)
          addr=${got##* }
          region=${ADDR_DC[$addr]:-?}
          if [[ "$st" != NOERROR ]]; then verdict="status $st"
          elif [[ "$region" == "$choice" ]]; then verdict="$region (same region as georoute)"
          else verdict="$region (georoute: $choice)"; fi
          ;;
        floor)
          [[ "$got" == "A 192.0.2.10" ]] && verdict="fixed answer" || verdict="unexpected ($st)"
          ;;
      esac
      printf '%-18s %-14s %-62s %-6s %s\n' "$e" "$s" "$got" "$scope" "$verdict"
    done
  done
  echo "georoute answers differing from georoute explain: $mismatches of ${#SAMPLES[@]}"
} >"$OUT/check.txt"

# ---------------------------------------------------------------------------
# Summary

{
  echo
  echo "fixed rate $QPS qps x ${SECS}s, $REPS rounds; server CPU (utime+stime, all threads) per answer dnsperf counted"
  awk -F'\t' 'NR > 1 {
      n[$2]++; us[$2, n[$2]] = $10; lp[$2, n[$2]] = $6; sent[$2] += $3; lost[$2] += $5; q[$2, n[$2]] = $7
      if ($12 != "-") busy++
      else { nc[$2]++; cus[$2, nc[$2]] = $10 }
      ratio_g[$1] = ratio_g[$1]; v[$1, $2] = $10
    }
    function median(arr, key, cnt,    i, j, t, a) {
      for (i = 1; i <= cnt; i++) a[i] = arr[key, i]
      for (i = 2; i <= cnt; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return cnt % 2 ? a[(cnt + 1) / 2] : (a[cnt / 2] + a[cnt / 2 + 1]) / 2
    }
    function mm(arr, key, cnt, want,    i, m) {
      m = arr[key, 1]
      for (i = 2; i <= cnt; i++) if ((want == "min" && arr[key, i] < m) || (want == "max" && arr[key, i] > m)) m = arr[key, i]
      return m
    }
    END {
      printf "%-9s %5s %12s %15s %14s %12s %10s\n", "server", "runs", "median_us", "min..max_us", "median_lost%", "lost/sent", "median_qps"
      split("floor gdnsd georoute", S, " ")
      for (k = 1; k <= 3; k++) {
        s = S[k]; c = n[s]
        med[s] = median(us, s, c)
        printf "%-9s %5d %12.3f %7.3f..%-7.3f %13.4f%% %5d/%-8d %8.0f\n", s, c, med[s], mm(us, s, c, "min"), mm(us, s, c, "max"),
          median(lp, s, c), lost[s], sent[s], median(q, s, c)
      }
      printf "\nratios of the medians:  georoute/gdnsd %.3f   georoute/floor %.3f   gdnsd/floor %.3f\n",
        med["georoute"] / med["gdnsd"], med["georoute"] / med["floor"], med["gdnsd"] / med["floor"]
      # the same ratios paired within each round (robust to drift between rounds)
      for (r in ratio_g) {
        m++; rg[m] = v[r, "georoute"] / v[r, "gdnsd"]; rf[m] = v[r, "georoute"] / v[r, "floor"]
        gf[m] = v[r, "gdnsd"] / v[r, "floor"]
      }
      for (i = 1; i <= m; i++) { RG["x", i] = rg[i]; RF["x", i] = rf[i]; GF["x", i] = gf[i] }
      printf "median of per-round ratios: georoute/gdnsd %.3f   georoute/floor %.3f   gdnsd/floor %.3f\n",
        median(RG, "x", m), median(RF, "x", m), median(GF, "x", m)
      if (busy) {
        printf "WARNING: %d run(s) had cargo/fuzz processes running (column busy in runs.tsv)\n", busy
        if (nc["floor"] && nc["gdnsd"] && nc["georoute"]) {
          for (k = 1; k <= 3; k++) cmed[S[k]] = median(cus, S[k], nc[S[k]])
          printf "without them: median_us floor %.3f (%d runs)  gdnsd %.3f (%d)  georoute %.3f (%d);", cmed["floor"], nc["floor"],
            cmed["gdnsd"], nc["gdnsd"], cmed["georoute"], nc["georoute"]
          printf "  georoute/gdnsd %.3f  georoute/floor %.3f\n", cmed["georoute"] / cmed["gdnsd"], cmed["georoute"] / cmed["floor"]
        }
      }
    }' "$OUT/runs.tsv"
  echo "waited ${IDLE_WAITED} s in all for cargo/fuzz processes to finish (budget ${IDLE_WAIT} s)"
  echo
  echo "unlimited rate (dnsperf ${MAX_ARGS[*]} -l $MAX_SECS), one pass each:"
  awk -F'\t' 'NR > 1 {
      printf "  %-9s max %7.0f qps  lost %d/%d (%.3f%%)  %.3f us/answer  server CPU %s%%\n", $1, $6, $4, $2, $5, $8, $9
      if ($9 < 90) low = low " " $1
    }
    END { if (low) printf "  (server CPU below 90%% for%s: there the client side (dnsperf on CPU 0), not the server, set the maximum)\n", low }' "$OUT/max.tsv"
  echo
  echo "answers sampled with dig during the unlimited passes (check.txt):"
  cat "$OUT/check.txt"
  echo
  echo "raw outputs: $OUT"
} | tee "$OUT/summary.txt"
