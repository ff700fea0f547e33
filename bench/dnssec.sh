#!/usr/bin/env bash
# What DNSSEC online signing costs, in server CPU per answer (the DNSSEC issue's "Cost" goals):
#   - steady state (signature cache warm): CPU per signed answer against unsigned, same server;
#   - a signature cache miss: CPU per answer when every answer needs a fresh signature;
#   - the signature cache does not grow with steady traffic (georoute_dnssec_signatures_total);
#   - signed answers carry RRSIGs by the zone's key (dig +dnssec samples; the script fails if not).
#
# Copies the shipped example (zones/ geoip/ probes/ server.yaml) into a temporary folder, makes
# a key there (georoute keygen --algorithm $DNSSEC_ALG) and signs zone azurecr.io with it
# (`dnssec: {key_file: zone.pem}` appended to its zone file). Starts ONE
#   georoute serve --config DIR --no-probes --udp-threads 1 --dns 127.0.0.1:PORT --admin 127.0.0.1:PORT+1
# pinned to CPU 1 (taskset -c 1; dnsperf on CPU 0) when there are >= 2 CPUs. The example's
# server.yaml exempts loopback from rate limiting (checked). Then, with dnsperf at a fixed rate:
#   1. warm-up: one pass of each mix below;
#   2. rounds, unsigned-signed, then signed-unsigned, ...: the same small mix of queries as raw
#      packets (dnsperf -B, 2-byte length + message, dnsperf rewrites only the ID), RD=0 as a
#      resolver asks, EDNS0 (UDP size 1232):
#        myregistry.azurecr.io A with ECS 192.0.2.0/24, 81.2.69.0/24, 175.16.199.0/24,
#          2001:db8::/56 (one packet each; DNSSEC_ECS), myregistry.eastus.geo.azurecr.io A,
#          nope.azurecr.io A (does not exist)
#      "unsigned": OPT without DO; "signed": OPT with DO (the same queries otherwise);
#   3. miss passes at a lower rate: every query a different name that does not exist
#      (r<N>.azurecr.io A, dnsperf text file), with DO (each answer needs a new NSEC signature)
#      and without (u<N>.azurecr.io A: an NXDOMAIN the handler builds each time, unsigned);
#   4. dig +dnssec samples of every query of the mix (during round 1's signed pass and at the
#      end): each RRset of the answer and authority sections must be covered by an RRSIG with
#      the zone's algorithm and key tag; the same queries without DO must carry no RRSIG.
# Server CPU per answer = the change of utime+stime summed over /proc/PID/task/*/stat (fields
# 14 and 15, clock ticks) during the pass, divided by the responses dnsperf counted (as
# bench/compare.sh). georoute_dnssec_signatures_total (from /metrics) is read before and after
# every pass. Prints the medians per pass kind (min..max), the ratio signed/unsigned (of the
# medians and the median of the per-round ratios), lost queries, the signature counter, and the
# miss passes' CPU, signatures per answer and latency percentiles (dnsperf -v).
#
# Before each pass it waits while a cargo or fuzz process runs (polls every 20 s, at most
# DNSSEC_IDLE_WAIT seconds in all, then measures anyway and marks the pass busy). Every wait is
# bounded; everything it starts is stopped on exit. Raw outputs go to bench/out/dnssec-<UTC>/.
# Loopback only.
#
# Environment (all optional):
#   DNSSEC_ALG            ecdsa-p256 | ed25519                              (default ecdsa-p256)
#   DNSSEC_REPS           rounds; each runs the unsigned and signed pass    (default 6)
#   DNSSEC_SECONDS        length of each steady pass (dnsperf -l)          (default 15)
#   DNSSEC_QPS            offered rate of the steady passes (dnsperf -Q)   (default 50000)
#   DNSSEC_WARMUP         length of each warm-up pass, seconds             (default 5)
#   DNSSEC_ECS            ECS subnets of the global-name queries, "none" = no ECS option
#                         (default "192.0.2.0/24 81.2.69.0/24 175.16.199.0/24 2001:db8::/56")
#   DNSSEC_MISS_REPS      rounds of the miss passes (signed, unsigned; alternating) (default 2)
#   DNSSEC_MISS_SECONDS   length of each miss pass                          (default 15)
#   DNSSEC_MISS_QPS       offered rate of the miss passes                   (default 10000)
#   DNSSEC_MISS_NAMES     unique names per miss pass (default: 200000, or more if the pass
#                         would send more queries than that)
#   DNSSEC_OUTSTANDING    dnsperf -q                                        (default 1000)
#   DNSSEC_DNSPERF_BUF    dnsperf -b, KB                                    (default 2048)
#   DNSSEC_PORT           DNS port; the admin port is +1                    (default 5380)
#   DNSSEC_PIN            1: pin (>= 2 CPUs and taskset), 0: don't          (default 1)
#   DNSSEC_IDLE_WAIT      seconds in all to wait for cargo/fuzz; 0 = don't  (default 600)
#   DNSSEC_OUT            output directory                   (default bench/out/dnssec-<UTC time>)
#   GEOROUTE_BIN          the binary to measure (default target/release/georoute, built if stale)
#
#   bench/dnssec.sh                                   # ~5 min of load with the defaults
#   DNSSEC_REPS=1 DNSSEC_SECONDS=3 DNSSEC_WARMUP=1 DNSSEC_MISS_REPS=1 DNSSEC_MISS_SECONDS=3 bench/dnssec.sh
#   DNSSEC_ALG=ed25519 bench/dnssec.sh
set -euo pipefail

die() { echo "dnssec.sh: error: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd -P)

ALG=${DNSSEC_ALG:-ecdsa-p256}
REPS=${DNSSEC_REPS:-6}
SECS=${DNSSEC_SECONDS:-15}
QPS=${DNSSEC_QPS:-50000}
WARMUP=${DNSSEC_WARMUP:-5}
read -r -a ECS_LIST <<<"${DNSSEC_ECS:-192.0.2.0/24 81.2.69.0/24 175.16.199.0/24 2001:db8::/56}"
MISS_REPS=${DNSSEC_MISS_REPS:-2}
MISS_SECS=${DNSSEC_MISS_SECONDS:-15}
MISS_QPS=${DNSSEC_MISS_QPS:-10000}
MISS_NAMES=${DNSSEC_MISS_NAMES:-0}
OUTSTANDING=${DNSSEC_OUTSTANDING:-1000}
DPBUF=${DNSSEC_DNSPERF_BUF:-2048}
PORT=${DNSSEC_PORT:-5380}
PIN=${DNSSEC_PIN:-1}
IDLE_WAIT=${DNSSEC_IDLE_WAIT:-600}
for v in REPS SECS QPS WARMUP MISS_REPS MISS_SECS MISS_QPS MISS_NAMES OUTSTANDING DPBUF PORT PIN IDLE_WAIT; do
  is_uint "${!v}" || die "DNSSEC_${v} must be a non-negative integer (got '${!v}')"
  printf -v "$v" '%d' "$((10#${!v}))"
done
((REPS >= 1 && SECS >= 1 && QPS >= 1 && MISS_SECS >= 1 && MISS_QPS >= 1 && OUTSTANDING >= 1 && DPBUF >= 1)) ||
  die "reps, seconds, qps, outstanding, buffer must be >= 1"
((PORT >= 1024 && PORT <= 65534)) || die "DNSSEC_PORT must be 1024..65534"
case $ALG in ecdsa-p256) ALG_NUM=13 ;; ed25519) ALG_NUM=15 ;; *) die "DNSSEC_ALG must be ecdsa-p256 or ed25519" ;; esac
((${#ECS_LIST[@]} >= 1)) || die "DNSSEC_ECS is empty (use 'none' for no ECS option)"
# Enough unique names that a miss pass never sends one twice.
((MISS_NAMES > 0)) || MISS_NAMES=200000
((MISS_NAMES >= MISS_QPS * (MISS_SECS + 2))) || MISS_NAMES=$((MISS_QPS * (MISS_SECS + 2)))
APORT=$((PORT + 1))
ZONE=azurecr.io
GLOBAL=myregistry.azurecr.io
REGIONAL=myregistry.eastus.geo.azurecr.io
NXNAME=nope.azurecr.io

# ---------------------------------------------------------------------------
# Tools

missing=()
for t in dnsperf dig curl; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing ${missing[*]}: apt-get install -y dnsperf bind9-dnsutils curl"
  fi
  log "installing dnsperf bind9-dnsutils curl (missing: ${missing[*]})"
  timeout 600 apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null || log "apt-get update failed; trying the install anyway"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
    dnsperf bind9-dnsutils curl >/dev/null || die "apt-get install failed"
fi
for t in dnsperf dig curl python3 getconf timeout gzip; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found"
done
DNSPERF_VERSION=$(dnsperf -h 2>&1 | awk '/^Version/ {print $2; exit}' || true)
SRV_PIN=()
CLI_PIN=()
if ((PIN)) && (($(nproc) >= 2)) && command -v taskset >/dev/null 2>&1; then
  SRV_PIN=(taskset -c 1)
  CLI_PIN=(taskset -c 0)
  PIN_DESC="server taskset -c 1, dnsperf taskset -c 0"
else
  PIN_DESC="none ($(nproc) CPU(s), DNSSEC_PIN=$PIN)"
fi

# ---------------------------------------------------------------------------
# Binary (before waiting for an idle machine: a build is not a measurement)

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
release_binary
"$BIN" keygen --help >/dev/null 2>&1 || die "$BIN has no keygen subcommand (a build without DNSSEC?)"

# ---------------------------------------------------------------------------
# Output, work dir, cleanup

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${DNSSEC_OUT:-$REPO/bench/out/dnssec-$STAMP}
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/georoute-dnssec.XXXXXX")
SERVER_PID=
SAMPLER_PID=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$SAMPLER_PID"
  stop_pid "$SERVER_PID"
  rm -rf "$WORK"
  ((rc == 0)) || echo "dnssec.sh: failed (exit $rc); raw outputs in $OUT" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Wait for an idle machine (as bench/compare.sh; the budget is for the whole run)

IDLE_LEFT=$IDLE_WAIT
IDLE_WAITED=0

# ---------------------------------------------------------------------------
# The signed configuration

CONF=$WORK/config
mkdir -p "$CONF/geoip"
cp -r zones probes server.yaml "$CONF/"
# geoip/: everything but the (git-ignored, ~130 MB) DB-IP databases, unless geoip.yaml uses them.
for f in geoip/*; do
  [[ -f "$f" ]] || continue
  case ${f##*/} in dbip-*.mmdb) grep -q 'dbip' geoip/geoip.yaml || continue ;; esac
  cp "$f" "$CONF/geoip/"
done
ZONE_FILE=$CONF/zones/$ZONE.yaml
[[ -f "$ZONE_FILE" ]] || die "zones/$ZONE.yaml not found"
grep -q '^dnssec:' "$ZONE_FILE" && die "zones/$ZONE.yaml already has a dnssec: section"
# The rate limiter must not touch loopback: the example's server.yaml exempts 127.0.0.0/8.
grep -Eq '^[[:space:]]+exempt:.*127\.0\.0\.0/8' "$CONF/server.yaml" ||
  die "server.yaml does not exempt 127.0.0.0/8 from rate limiting (rate_limit.exempt): the benchmark would be rate limited"
"$BIN" keygen --algorithm "$ALG" --out "$CONF/zone.pem" >"$OUT/keygen.log" 2>&1 || { cat "$OUT/keygen.log" >&2; die "georoute keygen failed"; }
printf 'dnssec:\n  key_file: zone.pem\n' >>"$ZONE_FILE"
"$BIN" check --config "$CONF" >"$OUT/check.txt" 2>&1 || { cat "$OUT/check.txt" >&2; die "georoute check failed on the signed copy"; }
DS=$(awk '$2 == "IN" && $3 == "DS" {$1 = $1; print; exit}' "$OUT/check.txt")
[[ -n "$DS" ]] || { cat "$OUT/check.txt" >&2; die "georoute check printed no DS: is the zone signed?"; }
KEY_TAG=$(awk '{print $4}' <<<"$DS")
[[ "$(awk '{print $5}' <<<"$DS")" == "$ALG_NUM" ]] || die "DS algorithm is not $ALG_NUM: $DS"
cp "$ZONE_FILE" "$OUT/zone.yaml"
log "signed copy in $CONF: $DS"

# ---------------------------------------------------------------------------
# Server

for port in "$PORT" "$APORT"; do
  out=$(dig +short +tries=1 +time=1 @127.0.0.1 -p "$port" "$ZONE" SOA 2>/dev/null || true)
  [[ -z "$out" || "$out" == *";;"* ]] || die "something already answers DNS on 127.0.0.1:$port; set DNSSEC_PORT"
  ! curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null || die "something already listens on 127.0.0.1:$port (TCP); set DNSSEC_PORT"
done

"${SRV_PIN[@]}" "$BIN" serve --config "$CONF" --no-probes --udp-threads 1 --dns "127.0.0.1:$PORT" \
  --admin "127.0.0.1:$APORT" >"$OUT/georoute.log" 2>&1 </dev/null &
SERVER_PID=$!
deadline=$((SECONDS + 15))
until out=$(dig +short +tries=1 +time=1 @127.0.0.1 -p "$PORT" "$ZONE" SOA 2>/dev/null) && [[ "$out" == *ns1.azurecr.io* ]]; do
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$OUT/georoute.log" >&2; die "georoute exited during startup"; }
  ((SECONDS < deadline)) || { tail -n 20 "$OUT/georoute.log" >&2; die "georoute did not answer $ZONE SOA within 15 s"; }
  sleep 0.2
done

# signatures: georoute_dnssec_signatures_total from /metrics (bounded: 5 s).
signatures() {
  local v
  v=$(curl -s --max-time 5 "http://127.0.0.1:$APORT/metrics" | awk '$1 == "georoute_dnssec_signatures_total" {print $2; exit}') || true
  [[ "$v" =~ ^[0-9]+$ ]] || die "no georoute_dnssec_signatures_total on http://127.0.0.1:$APORT/metrics"
  echo "$v"
}
# The server signs ahead what it can (the warm-up thread logs "signatures warmed"); wait for it,
# at most 60 s (a build without a warm-up: until the counter stays still for 3 s).
WARMED="(no warm-up line in the log)"
deadline=$((SECONDS + 60))
last=-1
still=0
while ((SECONDS < deadline)); do
  if grep -q 'signatures warmed' "$OUT/georoute.log"; then
    WARMED=$(grep -m1 'signatures warmed' "$OUT/georoute.log" | sed -E 's/\x1b\[[0-9;]*m//g; s/^[^ ]+ +//')
    break
  fi
  now=$(signatures)
  if ((now == last)); then still=$((still + 1)); else still=0; fi
  ((still < 3)) || break
  last=$now
  sleep 1
done
SIG_START=$(signatures)

# ---------------------------------------------------------------------------
# Queries

# The mix as raw packets (dnsperf -B): ID 0 (dnsperf rewrites it), flags 0 (RD clear),
# QDCOUNT 1, ARCOUNT 1, OPT with UDP size 1232, DO as asked, the ECS option if any.
python3 - "$WORK" "$GLOBAL" "$REGIONAL" "$NXNAME" "${ECS_LIST[@]}" <<'PY' >"$WORK/mix.txt" || die "could not write the query mix"
import ipaddress, struct, sys
work, glob, regional, nx = sys.argv[1:5]
ecs = sys.argv[5:]
def qname(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.rstrip(".").split(".")) + b"\0"
def packet(name, subnet, do):
    opts = b""
    if subnet != "none":
        net = ipaddress.ip_network(subnet, strict=False)
        fam = 1 if net.version == 4 else 2
        data = struct.pack("!HBB", fam, net.prefixlen, 0) + net.network_address.packed[:(net.prefixlen + 7) // 8]
        opts = struct.pack("!HH", 8, len(data)) + data
    opt = b"\0" + struct.pack("!HHBBHH", 41, 1232, 0, 0, 0x8000 if do else 0, len(opts)) + opts
    return struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 1) + qname(name) + struct.pack("!HH", 1, 1) + opt
mix = [(glob, e) for e in ecs] + [(regional, "none"), (nx, "none")]
for kind, do in (("unsigned", False), ("signed", True)):
    with open("%s/mix-%s.bin" % (work, kind), "wb") as f:
        for name, e in mix:
            p = packet(name, e, do)
            f.write(struct.pack("!H", len(p)) + p)
for name, e in mix:
    print(name, e)
PY
MIX_DESC=$(awk '{printf "%s%s A%s", (NR > 1 ? ", " : ""), $1, ($2 == "none" ? "" : " ECS " $2)}' "$WORK/mix.txt")

# Unique non-existent names for the miss passes: <prefix><N>.azurecr.io A, N from 1.
miss_file() { # prefix offset file
  awk -v p="$1" -v o="$2" -v n="$MISS_NAMES" -v z="$ZONE" 'BEGIN {for (i = o + 1; i <= o + n; i++) printf "%s%d.%s A\n", p, i, z}' >"$3"
}

# ---------------------------------------------------------------------------
# Answer samples: dig +dnssec for every query of the mix; each RRset of the answer and authority
# sections covered by an RRSIG of algorithm ALG_NUM and key tag KEY_TAG. Without DO: no RRSIG.

sample_answers() { # dir
  local dir=$1 name e args i=0
  mkdir -p "$dir"
  while read -r name e; do
    i=$((i + 1))
    args=()
    [[ "$e" == none ]] || args=(+subnet="$e")
    timeout 15 dig +dnssec +nocookie +norec +bufsize=1232 +tries=3 +time=2 @127.0.0.1 -p "$PORT" "$name" A "${args[@]}" \
      >"$dir/$i-do.txt" 2>&1 || true
    timeout 15 dig +nodnssec +nocookie +norec +bufsize=1232 +tries=3 +time=2 @127.0.0.1 -p "$PORT" "$name" A "${args[@]}" \
      >"$dir/$i-nodo.txt" 2>&1 || true
  done <"$WORK/mix.txt"
  timeout 15 dig +dnssec +nocookie +norec +tries=3 +time=2 @127.0.0.1 -p "$PORT" "$ZONE" DNSKEY >"$dir/dnskey-do.txt" 2>&1 || true
}

# check_sample FILE DO(1|0) -> prints "ok ..." or "FAIL ..."; returns 1 on failure.
check_sample() {
  awk -v want_do="$2" -v alg="$ALG_NUM" -v tag="$KEY_TAG" '
    /status:/ {st = $6; sub(/,$/, "", st)}
    /^;; flags:/ {if ($0 ~ / tc[ ;]/) tc = 1}
    /^;; (ANSWER|AUTHORITY) SECTION/ {sec = 1; next}
    /^;; / {sec = 0}
    sec && NF == 0 {sec = 0}
    sec && $1 !~ /^;/ {
      if ($4 == "RRSIG") {
        nsig++; covered[tolower($1) " " $5] = 1
        if ($6 != alg || $11 != tag) bad = bad sprintf(" RRSIG %s %s alg %s tag %s;", $1, $5, $6, $11)
      } else { n++; if (!((tolower($1) " " $4) in rrset)) nset++; rrset[tolower($1) " " $4] = 1 }
    }
    END {
      if (st == "") { print "FAIL no answer"; exit 1 }
      if (st != "NOERROR" && st != "NXDOMAIN") { print "FAIL status " st; exit 1 }
      if (tc) { print "FAIL truncated"; exit 1 }
      if (!want_do) {
        if (nsig) { printf "FAIL %d RRSIG(s) without DO\n", nsig; exit 1 }
        printf "ok %s, %d record(s), no RRSIG\n", st, n; exit 0
      }
      for (k in rrset) if (!(k in covered)) miss = miss " " k
      if (!n) { print "FAIL " st ", no records"; exit 1 }
      if (miss != "") { printf "FAIL %s, RRsets without RRSIG:%s\n", st, miss; exit 1 }
      if (bad != "") { printf "FAIL %s, wrong key:%s\n", st, bad; exit 1 }
      printf "ok %s, %d RRset(s), %d RRSIG(s), alg %s tag %s\n", st, nset, nsig, alg, tag
    }' "$1"
}

SAMPLE_FAILS=0
: >"$OUT/samples.txt"
check_samples() { # dir label -> appends to samples.txt, counts failures
  local dir=$1 label=$2 name e i=0 v
  {
    echo "# $label"
    while read -r name e; do
      i=$((i + 1))
      v=$(check_sample "$dir/$i-do.txt" 1) || SAMPLE_FAILS=$((SAMPLE_FAILS + 1))
      printf '%-34s %-16s DO    %s\n' "$name" "$e" "$v"
      v=$(check_sample "$dir/$i-nodo.txt" 0) || SAMPLE_FAILS=$((SAMPLE_FAILS + 1))
      printf '%-34s %-16s no DO %s\n' "$name" "$e" "$v"
    done <"$WORK/mix.txt"
    v=$(check_sample "$dir/dnskey-do.txt" 1) || SAMPLE_FAILS=$((SAMPLE_FAILS + 1))
    printf '%-34s %-16s DO    %s\n' "$ZONE DNSKEY" - "$v"
  } >>"$OUT/samples.txt"
}

# Answer sizes (bytes, as dig receives them) for the environment record.
sample_answers "$OUT/samples-start"
sizes=$(i=0; while read -r name e; do
  i=$((i + 1))
  label=$name; [[ "$e" == none ]] || label+=" ECS $e"
  printf '%s%s: %s / %s' "$([[ $i -gt 1 ]] && echo '; ')" "$label" \
    "$(awk '/MSG SIZE/ {print $NF}' "$OUT/samples-start/$i-nodo.txt")" "$(awk '/MSG SIZE/ {print $NF}' "$OUT/samples-start/$i-do.txt")"
done <"$WORK/mix.txt")
check_samples "$OUT/samples-start" "at start (after the server's own signature warm-up)"

# ---------------------------------------------------------------------------
# Environment record

{
  echo "date (UTC):      $(date -u '+%Y-%m-%d %H:%M:%S')"
  echo "host:            $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "clock ticks:     $(getconf CLK_TCK)/s"
  echo "georoute:        $BIN ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$REPO" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ', src differs from HEAD'), built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M:%S'))"
  echo "dnsperf:         $DNSPERF_VERSION"
  echo "key:             $ALG (algorithm $ALG_NUM), key tag $KEY_TAG; $DS"
  echo "server:          georoute serve --no-probes --udp-threads 1, the shipped example signed (rate limiting exempts loopback)"
  echo "signature warm-up: $WARMED; georoute_dnssec_signatures_total $SIG_START before the first query"
  echo "mix (-B):        $MIX_DESC; RD=0, EDNS0 UDP 1232, unsigned = no DO, signed = DO"
  echo "answer bytes:    unsigned / signed: $sizes"
  echo "steady passes:   dnsperf -B -Q $QPS -l $SECS -q $OUTSTANDING -b $DPBUF -t 2, $REPS rounds, order alternating; warm-up ${WARMUP}s each"
  echo "miss passes:     dnsperf -Q $MISS_QPS -l $MISS_SECS -q $OUTSTANDING -b $DPBUF -t 2 -v, $MISS_NAMES unique names r<N>.$ZONE A (-D) / u<N>.$ZONE A (-e), $MISS_REPS rounds"
  echo "                 with signed-lowrate: the signed mix (-B) at $MISS_QPS qps, each round"
  echo "pinning:         $PIN_DESC"
} >"$OUT/env.txt"
cat "$OUT/env.txt"
echo

# ---------------------------------------------------------------------------
# Passes

HZ=$(getconf CLK_TCK)
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' round pass sent completed lost lost_pct qps \
  avg_lat_us max_lat_us ticks us_per_answer srv_pct signatures rcodes busy >"$OUT/runs.tsv"
printf '%-6s %-15s %9s %9s %6s %7s %7s %8s %8s %6s %9s %5s %8s  %s\n' round pass sent completed lost lost% qps \
  lat_us max_us ticks us/answer srv% sigs busy

# one_pass ROUND PASS OUTFILE DNSPERF-ARGS...: one dnsperf run, its row in runs.tsv.
one_pass() {
  local round=$1 pass=$2 res=$3 t0 t1 s0 s1 rc=0 b b2 sent comp lost qps lat maxlat rt rcodes
  shift 3
  wait_idle
  b=$(busy_procs)
  s0=$(signatures)
  t0=$(task_ticks "$SERVER_PID") || die "georoute (pid $SERVER_PID) is gone"
  timeout -k 5 $((SECS + MISS_SECS + WARMUP + 60)) "${CLI_PIN[@]}" dnsperf -s 127.0.0.1 -p "$PORT" -t 2 \
    -b "$DPBUF" -q "$OUTSTANDING" "$@" >"$res" 2>&1 || rc=$?
  t1=$(task_ticks "$SERVER_PID") || { tail -n 20 "$OUT/georoute.log" >&2; die "georoute died during $pass"; }
  s1=$(signatures)
  b2=$(busy_procs)
  ((rc == 0)) || { grep -v '^>' "$res" | tail -n 20 >&2; die "dnsperf failed (exit $rc) in round $round $pass"; }
  sent=$(dnsperf_stat "$res" "Queries sent")
  comp=$(dnsperf_stat "$res" "Queries completed")
  lost=$(dnsperf_stat "$res" "Queries lost")
  qps=$(dnsperf_stat "$res" "Queries per second")
  lat=$(dnsperf_stat "$res" "Average Latency (s)")
  rt=$(dnsperf_stat "$res" "Run time (s)")
  maxlat=$(awk '/Average Latency/ {for (i = 1; i < NF; i++) if ($i == "max") {v = $(i + 1); sub(/\)$/, "", v); print v; exit}}' "$res")
  rcodes=$(awk -F': *' '/Response codes:/ {gsub(/ \([^)]*\)/, "", $2); gsub(/, /, ",", $2); gsub(/ /, "=", $2); print $2; exit}' "$res")
  [[ -n "$sent" && -n "$comp" ]] || { grep -v '^>' "$res" | tail -n 20 >&2; die "could not parse dnsperf output ($res)"; }
  ((comp > 0)) || die "no answers in round $round $pass ($res)"
  [[ ! "$rcodes" =~ SERVFAIL|REFUSED|FORMERR|NOTIMP ]] || die "unexpected response codes in round $round $pass: $rcodes ($res)"
  [[ -n "$b" || -n "$b2" ]] && b="busy:${b:-$b2}" || b=-
  : "${lost:=0}" "${qps:=0}" "${lat:=0}" "${maxlat:=0}" "${rt:=0}"
  awk -v r="$round" -v s="$pass" -v se="$sent" -v c="$comp" -v lo="$lost" -v q="$qps" -v la="$lat" -v ml="$maxlat" \
    -v rt="$rt" -v t="$((t1 - t0))" -v hz="$HZ" -v sg="$((s1 - s0))" -v rc="${rcodes:--}" -v b="$b" -v tsv="$OUT/runs.tsv" 'BEGIN {
      us = t / hz * 1e6 / c
      lp = se > 0 ? 100 * lo / se : 0
      sp = rt > 0 ? 100 * t / hz / rt : 0
      printf "%s\t%s\t%d\t%d\t%d\t%.4f\t%.0f\t%.1f\t%.1f\t%d\t%.3f\t%.0f\t%d\t%s\t%s\n", r, s, se, c, lo, lp, q, la * 1e6, ml * 1e6, t, us, sp, sg, rc, b >> tsv
      printf "%-6s %-15s %9d %9d %6d %6.3f%% %7.0f %8.1f %8.1f %6d %9.3f %4.0f%% %8d  %s\n", r, s, se, c, lo, lp, q, la * 1e6, ml * 1e6, t, us, sp, sg, b
    }'
}

# Warm-up: both mixes once (fills the signature cache and the per-thread response slots).
for kind in unsigned signed; do
  ((WARMUP > 0)) || break
  one_pass warm "$kind" "$OUT/warm-$kind.txt" -B -d "$WORK/mix-$kind.bin" -Q "$QPS" -l "$WARMUP"
done
SIG_BEFORE=$(signatures)

# Steady rounds, A-B then B-A.
for ((r = 1; r <= REPS; r++)); do
  if ((r % 2)); then order=(unsigned signed); else order=(signed unsigned); fi
  for kind in "${order[@]}"; do
    if ((r == 1)) && [[ "$kind" == signed ]]; then
      (sleep 2; sample_answers "$OUT/samples-load") </dev/null >/dev/null 2>&1 &
      SAMPLER_PID=$!
    fi
    one_pass "$r" "$kind" "$OUT/run-$r-$kind.txt" -B -d "$WORK/mix-$kind.bin" -Q "$QPS" -l "$SECS"
    if [[ -n "$SAMPLER_PID" ]]; then
      # The sampler's digs are bounded (timeout 15 each); wait for it, at most 3 minutes.
      for ((i = 0; i < 1800; i++)); do kill -0 "$SAMPLER_PID" 2>/dev/null || break; sleep 0.1; done
      stop_pid "$SAMPLER_PID"
      SAMPLER_PID=
    fi
  done
done
SIG_AFTER=$(signatures)
check_samples "$OUT/samples-load" "under load (round 1, signed pass)"

# Miss passes: every query a name not asked before; and the steady signed mix at the same rate
# (per-answer CPU depends on the rate: at a low rate the thread wakes up for fewer packets each).
for ((r = 1; r <= MISS_REPS; r++)); do
  if ((r % 2)); then order=(miss-signed miss-unsigned signed-lowrate); else order=(signed-lowrate miss-unsigned miss-signed); fi
  for kind in "${order[@]}"; do
    if [[ "$kind" == signed-lowrate ]]; then
      one_pass "m$r" "$kind" "$OUT/run-m$r-$kind.txt" -B -d "$WORK/mix-signed.bin" -Q "$MISS_QPS" -l "$MISS_SECS"
      continue
    fi
    if [[ "$kind" == miss-signed ]]; then prefix=r; flag=-D; else prefix=u; flag=-e; fi
    # A fresh range of names per round: N from (r-1)*MISS_NAMES+1 (no name is ever asked twice).
    miss_file "$prefix" $(((r - 1) * MISS_NAMES)) "$WORK/miss.txt"
    one_pass "m$r" "$kind" "$OUT/run-m$r-$kind.txt" -d "$WORK/miss.txt" "$flag" -Q "$MISS_QPS" -l "$MISS_SECS" -v
    # Latency percentiles from dnsperf -v ("> RCODE name type seconds" per answer).
    awk '/^> / {printf "%.0f\n", $NF * 1e6}' "$OUT/run-m$r-$kind.txt" | sort -n | awk -v r="m$r" -v k="$kind" '
      {v[NR] = $1}
      END {
        if (!NR) exit
        printf "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", r, k, NR, v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1],
          v[int(NR * 0.999) + 1], v[int(NR * 0.9999) + 1], v[NR]
      }' >>"$WORK/lat.tsv"
    gzip -f "$OUT/run-m$r-$kind.txt"
  done
done
rm -f "$WORK/miss.txt"

# Samples at the end (the miss passes evicted much of the signature cache: these re-sign).
sample_answers "$OUT/samples-end"
check_samples "$OUT/samples-end" "at the end"
kill -0 "$SERVER_PID" 2>/dev/null || die "georoute exited"

# ---------------------------------------------------------------------------
# Summary

{
  printf 'round\tpass\tanswers\tp50_us\tp99_us\tp99.9_us\tp99.99_us\tmax_us\n'
  cat "$WORK/lat.tsv" 2>/dev/null || true
} >"$OUT/latency.tsv"
{
  echo
  echo "georoute $ALG (key tag $KEY_TAG), one UDP thread; server CPU (utime+stime, all threads) per answer dnsperf counted"
  awk -F'\t' -v sig_start="$SIG_START" -v sig_before="$SIG_BEFORE" -v sig_after="$SIG_AFTER" -v qps="$QPS" -v secs="$SECS" \
    -v mqps="$MISS_QPS" -v msecs="$MISS_SECS" -v latf="$OUT/latency.tsv" '
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
    NR > 1 && $1 != "warm" {
      k = $2; n[k]++; us[k, n[k]] = $11; q[k, n[k]] = $7; al[k, n[k]] = $8
      sent[k] += $3; comp[k] += $4; lost[k] += $5; sigs[k] += $13; maxl[k] = ($9 > maxl[k] ? $9 : maxl[k])
      spa[k, n[k]] = $13 / $4
      v[$1, k] = $11; rounds[$1] = 1
      if ($15 != "-") { busy++; busyk[k]++ } else { nc[k]++; cus[k, nc[k]] = $11 }
    }
    END {
      printf "\nsteady state: %d qps x %ds, rounds unsigned-signed / signed-unsigned\n", qps, secs
      printf "%-15s %4s %10s %17s %8s %12s %9s %8s %9s\n", "pass", "runs", "median_us", "min..max_us", "lat_us", "lost/sent", "answers", "qps", "sigs"
      split("unsigned signed", S, " ")
      for (i = 1; i <= 2; i++) {
        k = S[i]; c = n[k]; if (!c) continue
        med[k] = median(us, k, c)
        printf "%-15s %4d %10.3f %8.3f..%-8.3f %8.1f %5d/%-8d %9d %8.0f %9d\n", k, c, med[k], mm(us, k, c, "min"), mm(us, k, c, "max"),
          median(al, k, c), lost[k], sent[k], comp[k], median(q, k, c), sigs[k]
      }
      for (r in rounds) if ((r, "signed") in v && (r, "unsigned") in v) { m++; R["x", m] = v[r, "signed"] / v[r, "unsigned"] }
      if (med["unsigned"] > 0 && m)
        printf "\nsigned/unsigned: ratio of the medians %.3f, median of the %d per-round ratios %.3f (min %.3f, max %.3f); extra %.3f us per signed answer\n",
          med["signed"] / med["unsigned"], m, median(R, "x", m), mm(R, "x", m, "min"), mm(R, "x", m, "max"), med["signed"] - med["unsigned"]
      if (busy) {
        printf "WARNING: %d pass(es) had cargo/fuzz processes running (column busy in runs.tsv)\n", busy
        if (nc["signed"] && nc["unsigned"])
          printf "without them: unsigned %.3f us (%d runs), signed %.3f us (%d): ratio %.3f\n", median(cus, "unsigned", nc["unsigned"]),
            nc["unsigned"], median(cus, "signed", nc["signed"]), nc["signed"], median(cus, "signed", nc["signed"]) / median(cus, "unsigned", nc["unsigned"])
      }
      printf "\nsignature cache: georoute_dnssec_signatures_total %d at start (server warm-up done), %d after the warm-up passes, %d after the %d steady signed passes (%d signed answers): %d made during them\n",
        sig_start, sig_before, sig_after, n["signed"], comp["signed"], sig_after - sig_before
      printf "\nsignature cache misses: %d qps x %ds, every query a name not asked before (NXDOMAIN; with DO a compact denial: NSEC + RRSIG)\n", mqps, msecs
      printf "%-15s %4s %10s %17s %10s %8s %12s %9s\n", "pass", "runs", "median_us", "min..max_us", "sigs/ans", "lat_us", "lost/sent", "answers"
      split("miss-signed miss-unsigned signed-lowrate", M, " ")
      for (i = 1; i <= 3; i++) {
        k = M[i]; c = n[k]; if (!c) continue
        med[k] = median(us, k, c)
        printf "%-15s %4d %10.3f %8.3f..%-8.3f %10.3f %8.1f %5d/%-8d %9d\n", k, c, med[k], mm(us, k, c, "min"), mm(us, k, c, "max"),
          median(spa, k, c), median(al, k, c), lost[k], sent[k], comp[k]
      }
      if (n["miss-signed"] && n["signed"]) {
        s = median(spa, "miss-signed", n["miss-signed"])
        printf "\ncost of a miss, us per answer (medians):\n"
        printf "  miss-signed - signed (steady mix, %6d qps)   = %8.3f\n", qps, med["miss-signed"] - med["signed"]
        if (n["signed-lowrate"])
          printf "  miss-signed - signed-lowrate (same rate)       = %8.3f  (handler run + one signature)\n", med["miss-signed"] - med["signed-lowrate"]
        if (n["miss-unsigned"]) {
          d = med["miss-signed"] - med["miss-unsigned"]
          printf "  miss-signed - miss-unsigned (the signing)      = %8.3f  = %.3f us per signature (%.3f signatures per answer)\n",
            d, (s > 0 ? d / s : 0), s
        }
      }
      while ((getline line < latf) > 0) { if (lh++) lt = lt "  " line "\n"; else lt = "  " line "\n" }
      if (lh > 1) printf "\nlatency of the miss passes as dnsperf saw it (us, dnsperf -v):\n%s", lt
    }' "$OUT/runs.tsv"
  echo
  echo "answers sampled with dig (+dnssec: every RRset covered by an RRSIG with the zone's key; without DO: no RRSIG):"
  awk '/^#/ {h = $0; next} {n[h]++} / (DO|no DO) +ok / {ok[h]++} END {for (h in n) printf "  %s: %d of %d ok\n", h, ok[h], n[h]}' "$OUT/samples.txt" | sort
  ((SAMPLE_FAILS == 0)) || grep -v ' ok ' "$OUT/samples.txt" | grep -v '^#' | sed 's/^/  /'
  echo "waited ${IDLE_WAITED} s in all for cargo/fuzz processes to finish (budget ${IDLE_WAIT} s)"
  echo "raw outputs: $OUT"
} | tee "$OUT/summary.txt"
((SAMPLE_FAILS == 0)) || die "$SAMPLE_FAILS sampled answer(s) failed the RRSIG check (see $OUT/samples.txt)"
