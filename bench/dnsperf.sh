#!/usr/bin/env bash
# Load-test georoute's DNS listener on loopback with dnsperf.
#
# Builds the release binary, starts `georoute serve` on 127.0.0.1:$BENCH_PORT
# with the shipped example configuration (zone azurecr.io), runs bounded
# dnsperf passes with different EDNS Client Subnet (ECS) values, and prints
# per-pass and overall throughput, latency and server CPU per answer.
#
# Traffic goes to 127.0.0.1 only. Every pass is bounded by -l (time limit)
# and by `timeout`.
#
# Environment (all optional):
#   BENCH_PORT         UDP/TCP port for the server            (default 5399)
#   BENCH_SECONDS      duration of each pass, seconds         (default 10)
#   BENCH_CLIENTS      dnsperf -c (number of client sockets)  (default: dnsperf's, 1)
#   BENCH_QPS          dnsperf -Q (max queries per second)    (default: unlimited)
#   BENCH_OUTSTANDING  dnsperf -q (max outstanding queries)   (default: dnsperf's, 100)
#   BENCH_QUERIES      lines/packets in the generated query files (default 10000)
#   BENCH_SEED         seed for the query mix                 (default 1)
#   BENCH_PASSES       space-separated passes to run (default: all of
#                      "mixed none 198.51.100.0/24 203.0.113.0/24 1.2.3.0/24
#                       81.2.69.0/24 2001:db8::/56"); a pass is
#                        mixed  - per-query ECS (varied subnets, some without
#                                 ECS) via a raw-packet file (dnsperf -B)
#                        none   - EDNS0 without ECS (dnsperf -e)
#                        CIDR   - one fixed ECS option on every query (-E 8:hex)
#   BENCH_PIN          1/0: pin dnsperf to CPU 0 and the server to CPU 1 with
#                      taskset when there are >= 2 CPUs      (default 1)
#   BENCH_NO_BUILD     1: skip `cargo build --release --locked`
#   BENCH_KEEP         1: keep the work dir (query files, dnsperf and server logs)
#
# Self-test of the encoders (no server, no build, no dnsperf needed):
#   bench/dnsperf.sh --selftest
set -euo pipefail

die() { echo "dnsperf.sh: error: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# ---------------------------------------------------------------------------
# Encoding helpers. They set global variables instead of printing, so they can
# be called in loops without forking.

# ecs_hex CIDR -> ECS_HEX: the ECS option *data* (RFC 7871 section 6):
#   FAMILY u16 (1 = IPv4, 2 = IPv6), SOURCE PREFIX u8, SCOPE PREFIX u8 (= 0),
#   ADDRESS truncated to ceil(source/8) bytes, bits past the prefix zeroed.
# e.g. 198.51.100.0/24 -> 00011800c63364 ; 2001:db8::/56 -> 0002380020010db8000000
ecs_hex() {
  local cidr=$1 addr prefix family maxlen bytes=() i n
  [[ "$cidr" == */* ]] || { echo "ecs_hex: '$cidr' is not ADDRESS/PREFIX" >&2; return 1; }
  addr=${cidr%/*}
  prefix=${cidr##*/}
  is_uint "$prefix" || { echo "ecs_hex: bad prefix in '$cidr'" >&2; return 1; }
  prefix=$((10#$prefix))
  if [[ "$addr" == *:* ]]; then
    family=2 maxlen=128
    local head tail hg=() tg=() groups=() g
    if [[ "$addr" == *::* ]]; then
      head=${addr%%::*}
      tail=${addr#*::}
      [[ "$tail" != *::* ]] || { echo "ecs_hex: bad IPv6 address '$addr'" >&2; return 1; }
    else
      head=$addr tail=
    fi
    [[ -z "$head" ]] || IFS=: read -r -a hg <<<"$head"
    [[ -z "$tail" ]] || IFS=: read -r -a tg <<<"$tail"
    n=$((8 - ${#hg[@]} - ${#tg[@]}))
    if [[ "$addr" == *::* ]]; then
      ((n >= 1)) || { echo "ecs_hex: bad IPv6 address '$addr'" >&2; return 1; }
    else
      ((n == 0)) || { echo "ecs_hex: bad IPv6 address '$addr'" >&2; return 1; }
    fi
    groups=("${hg[@]+"${hg[@]}"}")
    for ((i = 0; i < n; i++)); do groups+=(0); done
    groups+=("${tg[@]+"${tg[@]}"}")
    for g in "${groups[@]}"; do
      [[ "$g" =~ ^[0-9a-fA-F]{1,4}$ ]] || { echo "ecs_hex: bad IPv6 group '$g' in '$addr'" >&2; return 1; }
      bytes+=($((16#$g >> 8)) $((16#$g & 255)))
    done
  else
    family=1 maxlen=32
    local octets=() o
    IFS=. read -r -a octets <<<"$addr"
    ((${#octets[@]} == 4)) || { echo "ecs_hex: bad IPv4 address '$addr'" >&2; return 1; }
    for o in "${octets[@]}"; do
      [[ "$o" =~ ^[0-9]{1,3}$ ]] && ((10#$o <= 255)) || { echo "ecs_hex: bad IPv4 address '$addr'" >&2; return 1; }
      bytes+=($((10#$o)))
    done
  fi
  ((prefix <= maxlen)) || { echo "ecs_hex: prefix /$prefix too long for '$addr'" >&2; return 1; }
  n=$(((prefix + 7) / 8))
  if ((prefix % 8 != 0)); then
    bytes[n - 1]=$((bytes[n - 1] & ((0xff << (8 - prefix % 8)) & 0xff)))
  fi
  printf -v ECS_HEX '%04x%02x%02x' "$family" "$prefix" 0
  for ((i = 0; i < n; i++)); do printf -v ECS_HEX '%s%02x' "$ECS_HEX" "${bytes[i]}"; done
}

# qname_hex NAME -> QNAME_HEX: wire-format owner name (uncompressed).
qname_hex() {
  local name=${1%.} label i c
  local labels=()
  QNAME_HEX=
  [[ -z "$name" ]] || IFS=. read -r -a labels <<<"$name"
  for label in "${labels[@]+"${labels[@]}"}"; do
    ((${#label} >= 1 && ${#label} <= 63)) || { echo "qname_hex: bad label in '$1'" >&2; return 1; }
    printf -v QNAME_HEX '%s%02x' "$QNAME_HEX" "${#label}"
    for ((i = 0; i < ${#label}; i++)); do
      c=${label:i:1}
      printf -v QNAME_HEX '%s%02x' "$QNAME_HEX" "'$c"
    done
  done
  QNAME_HEX+=00
}

qtype_code() {
  case $1 in
    A) echo 1 ;; NS) echo 2 ;; SOA) echo 6 ;; TXT) echo 16 ;; AAAA) echo 28 ;;
    *) echo "qtype_code: unsupported type $1" >&2; return 1 ;;
  esac
}

# query_hex QNAME_HEX QTYPE_NUM ECS_DATA_HEX -> PKT_HEX: a query with an EDNS0
# OPT record (UDP size 4096) carrying the ECS option if ECS_DATA_HEX is non-empty.
# ID 0 (dnsperf -B overwrites the first two bytes), flags 0 (RD clear, as a
# resolver asking an authoritative server), QDCOUNT 1, ARCOUNT 1.
query_hex() {
  local qn=$1 qt=$2 ecs=$3 rdata=
  if [[ -n "$ecs" ]]; then
    printf -v rdata '0008%04x%s' $((${#ecs} / 2)) "$ecs"
  fi
  printf -v PKT_HEX '000000000001000000000001%s%04x0001''0000291000''00000000''%04x%s' \
    "$qn" "$qt" $((${#rdata} / 2)) "$rdata"
}

# hex stream on stdin -> bytes on stdout
hex_to_bin() {
  if command -v perl >/dev/null 2>&1; then
    perl -ne 'chomp; print pack("H*", $_)'
  elif command -v xxd >/dev/null 2>&1; then
    xxd -r -p
  else
    die "need perl or xxd to write the binary query file"
  fi
}

# ---------------------------------------------------------------------------
REGIONS=(eastus eastus2 westeurope southeastasia australiaeast)
ZONE=azurecr.io
REGISTRY=myregistry
FIXED_SUBNETS=(198.51.100.0/24 203.0.113.0/24 1.2.3.0/24 81.2.69.0/24 2001:db8::/56)

# pick_query -> Q_NAME Q_TYPE, using $RANDOM (seeded): ~80% the global name.
pick_query() {
  local r=$((RANDOM % 100)) region=${REGIONS[RANDOM % ${#REGIONS[@]}]}
  if ((r < 60)); then
    Q_NAME=$REGISTRY.$ZONE Q_TYPE=A
  elif ((r < 80)); then
    Q_NAME=$REGISTRY.$ZONE Q_TYPE=AAAA
  elif ((r < 88)); then
    Q_NAME=$REGISTRY.$region.geo.$ZONE Q_TYPE=A
    ((RANDOM % 4)) || Q_TYPE=AAAA
  elif ((r < 95)); then
    Q_NAME=$REGISTRY.$region.data.$ZONE Q_TYPE=A
    ((RANDOM % 4)) || Q_TYPE=AAAA
  elif ((r < 98)); then
    Q_NAME=$ZONE Q_TYPE=SOA
  else
    Q_NAME=$ZONE Q_TYPE=NS
  fi
}

# Text query file for dnsperf -d: "name type" per line.
write_text_queries() {
  local out=$1 count=$2 i
  RANDOM=$BENCH_SEED
  {
    for ((i = 0; i < count; i++)); do
      pick_query
      printf '%s %s\n' "$Q_NAME" "$Q_TYPE"
    done
  } >"$out"
}

# Raw packet file for dnsperf -B (2-byte big-endian length + packet), each
# query with its own ECS: 10% none, 50% one of FIXED_SUBNETS, 30% a random
# IPv4 /24, 10% a random IPv6 /56 in 2000::/3.
write_mixed_packets() {
  local out=$1 count=$2 i r ecs key
  local -A qn_cache=() qt_cache=()
  local fixed_hex=() s
  for s in "${FIXED_SUBNETS[@]}"; do ecs_hex "$s"; fixed_hex+=("$ECS_HEX"); done
  RANDOM=$((BENCH_SEED + 1))
  {
    for ((i = 0; i < count; i++)); do
      pick_query
      key=$Q_NAME
      if [[ -z "${qn_cache[$key]+x}" ]]; then qname_hex "$Q_NAME"; qn_cache[$key]=$QNAME_HEX; fi
      if [[ -z "${qt_cache[$Q_TYPE]+x}" ]]; then qt_cache[$Q_TYPE]=$(qtype_code "$Q_TYPE"); fi
      r=$((RANDOM % 100))
      if ((r < 10)); then
        ecs=
      elif ((r < 60)); then
        ecs=${fixed_hex[RANDOM % ${#fixed_hex[@]}]}
      elif ((r < 90)); then
        printf -v ecs '00011800%02x%02x%02x' $((RANDOM % 223 + 1)) $((RANDOM % 256)) $((RANDOM % 256))
      else
        printf -v ecs '00023800%04x%04x%04x%02x' $((0x2000 + RANDOM % 0x2000)) \
          $(((RANDOM << 1 ^ RANDOM) & 0xffff)) $(((RANDOM << 1 ^ RANDOM) & 0xffff)) $((RANDOM % 256))
      fi
      query_hex "${qn_cache[$key]}" "${qt_cache[$Q_TYPE]}" "$ecs"
      printf '%04x%s\n' $((${#PKT_HEX} / 2)) "$PKT_HEX"
    done
  } | hex_to_bin >"$out"
}

# ---------------------------------------------------------------------------
selftest() {
  local fails=0 got want
  check() {
    if [[ "$1" == "$2" ]]; then echo "ok   $3 -> $1"; else echo "FAIL $3: got $1, want $2"; fails=$((fails + 1)); fi
  }
  ecs_hex 198.51.100.0/24; check "$ECS_HEX" 00011800c63364 "ecs 198.51.100.0/24"
  ecs_hex 203.0.113.0/24; check "$ECS_HEX" 00011800cb0071 "ecs 203.0.113.0/24"
  ecs_hex 1.2.3.0/24; check "$ECS_HEX" 00011800010203 "ecs 1.2.3.0/24"
  ecs_hex 81.2.69.0/24; check "$ECS_HEX" 00011800510245 "ecs 81.2.69.0/24"
  ecs_hex 81.2.69.142/32; check "$ECS_HEX" 000120005102458e "ecs 81.2.69.142/32"
  ecs_hex 10.255.255.255/12; check "$ECS_HEX" 00010c000af0 "ecs 10.255.255.255/12 (masked)"
  ecs_hex 0.0.0.0/0; check "$ECS_HEX" 00010000 "ecs 0.0.0.0/0"
  ecs_hex 2001:db8::/56; check "$ECS_HEX" 0002380020010db8000000 "ecs 2001:db8::/56"
  ecs_hex 2001:db8:abcd:12ff::1/60; check "$ECS_HEX" 00023c0020010db8abcd12f0 "ecs 2001:db8:abcd:12ff::1/60 (masked)"
  ecs_hex ::1/128; check "$ECS_HEX" 0002800000000000000000000000000000000001 "ecs ::1/128"
  for bad in 1.2.3/24 1.2.3.256/24 1.2.3.0/33 1.2.3.0 2001:db8::/129 1::2::3/64 1:2:3:4:5:6:7/64 x/8; do
    if (ecs_hex "$bad" 2>/dev/null); then echo "FAIL ecs $bad accepted"; fails=$((fails + 1)); else echo "ok   ecs $bad rejected"; fi
  done
  qname_hex myregistry.azurecr.io; check "$QNAME_HEX" 0a6d79726567697374727907617a757265637202696f00 "qname myregistry.azurecr.io"
  # The exact bytes dnsperf 2.10 sends for "myregistry.azurecr.io A" with
  # -E 8:00011800c63364 (captured), minus ID and with RD cleared.
  ecs_hex 198.51.100.0/24
  query_hex "$QNAME_HEX" 1 "$ECS_HEX"
  want=000000000001000000000001
  want+=0a6d79726567697374727907617a757265637202696f0000010001
  want+=000029100000000000000b0008000700011800c63364
  check "$PKT_HEX" "$want" "packet myregistry.azurecr.io A +ECS"
  query_hex "$QNAME_HEX" 28 ""
  check "${PKT_HEX: -30}" 001c00010000291000000000000000 "packet AAAA, OPT without options"
  got=$(BENCH_SEED=1; tmp=$(mktemp); write_mixed_packets "$tmp" 200; wc -c <"$tmp"; rm -f "$tmp")
  ((got > 200 * 40)) && echo "ok   mixed packet file: 200 packets, $got bytes" || { echo "FAIL mixed packet file size $got"; fails=$((fails + 1)); }
  got=$(BENCH_SEED=1; tmp=$(mktemp); write_text_queries "$tmp" 1000; awk '$1=="myregistry.azurecr.io"{g++} END{print g+0}' "$tmp"; rm -f "$tmp")
  echo "info text query file: $got/1000 global-name queries"
  ((fails == 0)) || { echo "$fails self-test failure(s)"; return 1; }
  echo "self-test passed"
}

# ---------------------------------------------------------------------------
# /proc/PID/stat fields 14 (utime) + 15 (stime), in clock ticks. The comm
# field (2) may contain spaces, so split after the last ')'.
cpu_ticks() {
  local stat rest f=()
  { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
  rest=${stat##*) }
  read -r -a f <<<"$rest"
  # rest starts at field 3: field 14 -> index 11, field 15 -> index 12
  echo $((f[11] + f[12]))
}

# dnsperf_stat FILE KEY -> first number after "KEY:" in dnsperf's output, or "".
dnsperf_stat() {
  awk -v key="$2:" 'p = index($0, key) {
    v = substr($0, p + length(key)); sub(/^[ \t]+/, "", v); split(v, a, /[ \t(]/); print a[1]; exit
  }' "$1"
}

main() {
  local port=${BENCH_PORT:-5399} secs=${BENCH_SECONDS:-10} nq=${BENCH_QUERIES:-10000}
  BENCH_SEED=${BENCH_SEED:-1}
  local passes=${BENCH_PASSES:-"mixed none ${FIXED_SUBNETS[*]}"}
  is_uint "$port" && port=$((10#$port)) && ((port > 0 && port < 65536)) || die "BENCH_PORT must be a port number"
  is_uint "$secs" && secs=$((10#$secs)) && ((secs > 0)) || die "BENCH_SECONDS must be a positive integer"
  is_uint "$nq" && nq=$((10#$nq)) && ((nq > 0)) || die "BENCH_QUERIES must be a positive integer"
  is_uint "$BENCH_SEED" || die "BENCH_SEED must be a non-negative integer"
  BENCH_SEED=$((10#$BENCH_SEED))
  local extra=() v
  for v in BENCH_CLIENTS:-c BENCH_QPS:-Q BENCH_OUTSTANDING:-q; do
    local name=${v%%:*} flag=${v#*:}
    if [[ -n "${!name:-}" ]]; then
      is_uint "${!name}" && ((10#${!name} > 0)) || die "$name must be a positive integer"
      extra+=("$flag" "$((10#${!name}))")
    fi
  done

  # Validate passes before doing anything slow.
  local p
  for p in $passes; do
    case $p in mixed | none) ;; *) ecs_hex "$p" >/dev/null || die "bad pass '$p' in BENCH_PASSES" ;; esac
  done

  # 1. Tools.
  if ! command -v dnsperf >/dev/null 2>&1 || ! command -v dig >/dev/null 2>&1; then
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
      command -v sudo >/dev/null 2>&1 || die "dnsperf/dig missing and not root (no sudo): apt-get install dnsperf bind9-dnsutils"
      sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 || die "dnsperf/dig missing and no apt-get"
    log "installing dnsperf and bind9-dnsutils"
    "${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf bind9-dnsutils >/dev/null
  fi
  command -v dnsperf >/dev/null 2>&1 || die "dnsperf not found after install"
  command -v dig >/dev/null 2>&1 || die "dig not found after install"
  log "$(dnsperf -h 2>&1 | awk '/^Version/ {print "dnsperf " $2; exit}')"

  # 2. Build.
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  local root bin
  root=$(pwd -P)
  bin=${CARGO_TARGET_DIR:-target}/release/georoute
  [[ "$bin" == /* ]] || bin=$root/$bin
  if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
    log "cargo build --release --locked"
    cargo build --release --locked
  fi
  [[ -x "$bin" ]] || die "server binary $bin not found"

  WORK=$(mktemp -d "${TMPDIR:-/tmp}/georoute-bench.XXXXXX")
  SERVER_PID=
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  # CPU pinning.
  local ncpu pin_srv=() pin_perf=()
  ncpu=$(nproc 2>/dev/null || echo 1)
  if [[ "${BENCH_PIN:-1}" == 1 ]] && ((ncpu >= 2)) && command -v taskset >/dev/null 2>&1; then
    pin_srv=(taskset -c 1) pin_perf=(taskset -c 0)
    log "pinning: dnsperf on CPU 0, server on CPU 1 ($ncpu CPUs)"
  else
    log "no CPU pinning ($ncpu CPUs)"
  fi

  # 3. Server.
  local probe
  probe=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" "$ZONE" SOA 2>/dev/null || true)
  [[ -z "$probe" || "$probe" == *";;"* ]] ||
    die "something already answers DNS on 127.0.0.1:$port; set BENCH_PORT"
  log "starting $bin serve --no-probes --dns 127.0.0.1:$port --admin 127.0.0.1:0 (cwd $root)"
  "${pin_srv[@]+"${pin_srv[@]}"}" "$bin" serve --no-probes --dns "127.0.0.1:$port" --admin 127.0.0.1:0 \
    >"$WORK/server.log" 2>&1 </dev/null &
  SERVER_PID=$!
  local deadline=$((SECONDS + 10)) up=0 out
  while ((SECONDS < deadline)); do
    kill -0 "$SERVER_PID" 2>/dev/null || { SERVER_FAILED=1; die "server exited during startup"; }
    out=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" "$ZONE" SOA 2>/dev/null || true)
    if [[ -n "$out" && "$out" != *";;"* ]]; then up=1; break; fi
    sleep 0.2
  done
  ((up)) || { SERVER_FAILED=1; die "server did not answer '$ZONE SOA' on 127.0.0.1:$port within 10 s"; }
  log "server up (pid $SERVER_PID): $ZONE SOA $out"

  # 4. Query files.
  log "generating $nq queries (seed $BENCH_SEED)"
  write_text_queries "$WORK/queries.txt" "$nq"
  case " $passes " in *" mixed "*) write_mixed_packets "$WORK/queries-mixed.bin" "$nq" ;; esac

  # 5./6. Passes.
  local hz
  hz=$(getconf CLK_TCK)
  printf '\n%-16s %10s %10s %8s %7s %10s %8s %8s %10s %6s\n' \
    pass sent completed lost lost% QPS avg_us max_us srv_us/q srv%
  local tot_sent=0 tot_comp=0 tot_lost=0 tot_ticks=0 tot_rt=0 lat_sum=0 lat_max=0
  local i=0
  for p in $passes; do
    i=$((i + 1))
    local args=(-s 127.0.0.1 -p "$port" -l "$secs" -t 2) label=$p
    case $p in
      mixed) args+=(-B -d "$WORK/queries-mixed.bin") ;;
      none) args+=(-e -d "$WORK/queries.txt") ;;
      *) ecs_hex "$p"; args+=(-E "8:$ECS_HEX" -d "$WORK/queries.txt") ;;
    esac
    args+=("${extra[@]+"${extra[@]}"}")
    local res=$WORK/pass$i.out t0 t1 rc=0
    t0=$(cpu_ticks "$SERVER_PID") || die "server (pid $SERVER_PID) is gone"
    timeout -k 5 $((secs + 30)) "${pin_perf[@]+"${pin_perf[@]}"}" dnsperf "${args[@]}" >"$res" 2>&1 || rc=$?
    t1=$(cpu_ticks "$SERVER_PID") || { SERVER_FAILED=1; die "server died during pass '$label'"; }
    if ((rc != 0)); then
      echo "--- dnsperf ${args[*]} (exit $rc):" >&2
      tail -n 30 "$res" >&2
      die "dnsperf failed in pass '$label'"
    fi
    local sent comp lost qps avg max rt rcodes
    sent=$(dnsperf_stat "$res" "Queries sent")
    comp=$(dnsperf_stat "$res" "Queries completed")
    lost=$(dnsperf_stat "$res" "Queries lost")
    qps=$(dnsperf_stat "$res" "Queries per second")
    rt=$(dnsperf_stat "$res" "Run time (s)")
    avg=$(dnsperf_stat "$res" "Average Latency (s)")
    max=$(awk '/Average Latency/ { if (match($0, /max [0-9.eE+-]+/)) print substr($0, RSTART + 4, RLENGTH - 4); exit }' "$res")
    rcodes=$(awk -F': *' '/Response codes:/ {print $2; exit}' "$res")
    [[ -n "$sent" && -n "$comp" ]] || { tail -n 30 "$res" >&2; die "could not parse dnsperf output of pass '$label'"; }
    : "${lost:=0}" "${qps:=0}" "${rt:=0}" "${avg:=0}" "${max:=0}"
    awk -v l="$label" -v s="$sent" -v c="$comp" -v lo="$lost" -v q="$qps" -v a="$avg" -v m="$max" \
      -v dt=$((t1 - t0)) -v hz="$hz" -v rt="$rt" -v rc="$rcodes" 'BEGIN {
        cpu = dt / hz
        printf "%-16s %10d %10d %8d %6.2f%% %10.0f %8.1f %8.1f %10s %5s%%\n", l, s, c, lo,
          (s > 0 ? 100 * lo / s : 0), q, a * 1e6, m * 1e6,
          (c > 0 ? sprintf("%.2f", cpu * 1e6 / c) : "n/a"), (rt > 0 ? sprintf("%.0f", 100 * cpu / rt) : "n/a")
        if (rc != "") printf "%-16s rcodes: %s\n", "", rc
      }'
    tot_sent=$((tot_sent + sent)) tot_comp=$((tot_comp + comp)) tot_lost=$((tot_lost + lost))
    tot_ticks=$((tot_ticks + t1 - t0))
    tot_rt=$(awk -v a="$tot_rt" -v b="$rt" 'BEGIN {print a + b}')
    lat_sum=$(awk -v a="$lat_sum" -v b="$avg" -v c="$comp" 'BEGIN {printf "%.9f", a + b * c}')
    lat_max=$(awk -v a="$lat_max" -v b="$max" 'BEGIN {print (b > a ? b : a)}')
    ((lost == 0)) || echo "warning: pass '$label' lost $lost queries" >&2
  done
  awk -v s="$tot_sent" -v c="$tot_comp" -v lo="$tot_lost" -v rt="$tot_rt" -v ls="$lat_sum" \
    -v m="$lat_max" -v dt="$tot_ticks" -v hz="$hz" 'BEGIN {
      cpu = dt / hz
      printf "%-16s %10d %10d %8d %6.2f%% %10.0f %8.1f %8.1f %10s %5s%%\n", "OVERALL", s, c, lo,
        (s > 0 ? 100 * lo / s : 0), (rt > 0 ? c / rt : 0), (c > 0 ? ls / c * 1e6 : 0), m * 1e6,
        (c > 0 ? sprintf("%.2f", cpu * 1e6 / c) : "n/a"), (rt > 0 ? sprintf("%.0f", 100 * cpu / rt) : "n/a")
    }'
  echo
  echo "avg_us/max_us: dnsperf latency; srv_us/q: server CPU (user+sys) per completed query; srv%: server CPU / wall time"
  ((tot_comp > 0)) || die "no query completed"
}

SERVER_FAILED=0
cleanup() {
  local rc=$?
  if [[ -n "${SERVER_PID:-}" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 20; i++)); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n "${WORK:-}" && -d "$WORK" ]]; then
    if ((SERVER_FAILED)) && [[ -s "$WORK/server.log" ]]; then
      echo "--- last lines of the server log:" >&2
      tail -n 30 "$WORK/server.log" >&2
    fi
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
      echo "work dir kept: $WORK" >&2
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

case ${1:-} in
  --selftest) selftest ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  "") main ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac
