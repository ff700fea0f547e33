#!/usr/bin/env bash
# External interoperability checks of the real georoute binary, in a private network namespace:
#
#   1. zonemaster-cli against azurecr.io, delegated from a stand-in root and io. (Debian's knotd)
#   2. an EDNS / DNS protocol compliance set in the spirit of RFC 8906 section 8 and ISC's
#      ednscomp (tests/external/ednscomp.py, dnspython)
#   3. unbound with EDNS Client Subnet in front of georoute: the demo subnets of README.md get
#      their region, also through unbound's ECS cache
#
# Usage (as root, or where unprivileged user namespaces are allowed):
#   tests/external/run.sh          run everything; exit 1 on any FAIL, 2 on a setup error
#   tests/external/run.sh --ci     install the tools first (apt-get, pip); "SKIP: <why>" and
#                                  exit 0 when they cannot be installed or unshare -n is not
#                                  permitted; otherwise as above
#   tests/external/run.sh --help
#
# Environment:
#   GEOROUTE_BIN   the binary (default target/release/georoute, built with
#                  `cargo build --release --locked` when missing or older than src/)
#   EXT_KEEP=1     keep the work directory (configs, logs, zonemaster output)
#   EXT_PARTS      parts to run, default "zonemaster edns unbound"
#   EXT_ZONEMASTER_LEVEL  zonemaster-cli --level (default WARNING); lower levels are printed
#                  as "info" lines and never fail the run
#
# Every packet stays inside the namespace (loopback only). Every wait is bounded, and every
# process started here is stopped on exit. See tests/external/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")

ZONE=azurecr.io
REGISTRY=myregistry
GEOROUTE_DNS=127.0.0.53          # the address the brief and the README use
NS1_V4=192.0.2.53 NS1_V6=2001:db8::53            # ns1.azurecr.io, as in zones/azurecr.io.yaml
NS2_V4=198.51.100.53 NS2_V6=2001:db8:1::53       # ns2.example.net (no address in the zone file)
ROOT_V4=127.0.0.10 IO_V4=127.0.0.11 NET_V4=127.0.0.12   # stand-in root, io. and net. servers
ADMIN=127.0.0.1:9153
UNBOUND_PORT=5353

APT_PACKAGES=(zonemaster-cli knot unbound bind9-dnsutils knot-dnsutils)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 2; }

usage() { sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; }

# ---------------------------------------------------------------------------------------------
# Outside the namespace: tools, binary, then re-execute inside `unshare -n`.

missing_tools() {
  local t out=()
  for t in zonemaster-cli knotd knotc unbound dig kdig ip timeout unshare; do
    command -v "$t" >/dev/null 2>&1 || out+=("$t")
  done
  echo "${out[*]}"
}

# Prints a python interpreter that can import dnspython, or nothing.
find_python() {
  local p
  for p in "${PYTHON:-}" python3 /usr/bin/python3; do
    if [[ -z "$p" ]] || ! command -v "$p" >/dev/null 2>&1; then continue; fi
    if "$p" -c 'import dns.message, dns.edns' >/dev/null 2>&1; then command -v "$p"; return 0; fi
  done
  return 0
}

ensure_python() { # $1 = ci (1/0); prints the interpreter or fails
  local py
  py=$(find_python)
  if [[ -z "$py" ]] && command -v python3 >/dev/null 2>&1; then
    log "dnspython missing: pip install dnspython" >&2
    timeout 300 python3 -m pip install --quiet dnspython >&2 2>&1 || true
    py=$(find_python)
  fi
  if [[ -z "$py" && "$1" == 1 ]]; then
    log "dnspython still missing: apt-get install python3-dnspython" >&2
    apt_install python3-dnspython >&2 || true
    py=$(find_python)
  fi
  [[ -n "$py" ]] || return 1
  echo "$py"
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  [[ $(id -u) -eq 0 ]] || return 1
  local opts=(-y -q -o DPkg::Lock::Timeout=600)
  DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install "${opts[@]}" "$@" >/dev/null 2>&1 && return 0
  # A fresh image may lack the package lists.
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get update -q -o DPkg::Lock::Timeout=600 >/dev/null 2>&1 || return 1
  DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install "${opts[@]}" "$@" >/dev/null 2>&1
}

skip_or_die() { # $1 = ci, $2 = why
  if [[ "$1" == 1 ]]; then echo "SKIP: $2"; exit 0; fi
  die "$2"
}

locate_binary() {
  local bin=${GEOROUTE_BIN:-}
  if [[ -n "$bin" ]]; then
    [[ -x "$bin" ]] || die "GEOROUTE_BIN=$bin is not an executable file"
    (cd "$REPO" && realpath "$bin")
    return
  fi
  bin=$REPO/target/release/georoute
  if [[ ! -x "$bin" ]] || [[ -n "$(find "$REPO/src" "$REPO/Cargo.toml" "$REPO/Cargo.lock" -newer "$bin" -print -quit 2>/dev/null)" ]]; then
    command -v cargo >/dev/null 2>&1 || die "$bin is missing or stale and cargo is not installed"
    log "cargo build --release --locked"
    (cd "$REPO" && cargo build --release --locked >&2) || die "cargo build --release --locked failed"
  fi
  [[ -x "$bin" ]] || die "$bin not found after the build"
  echo "$bin"
}

outside() {
  local ci=0
  case ${1:-} in
    --ci) ci=1 ;;
    "") ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
  local missing
  missing=$(missing_tools)
  if [[ -n "$missing" ]]; then
    if ((ci)); then
      log "installing ${APT_PACKAGES[*]} (missing: $missing)"
      apt_install "${APT_PACKAGES[@]}" iproute2 util-linux coreutils ||
        skip_or_die 1 "cannot install ${APT_PACKAGES[*]} with apt-get (missing: $missing)"
      missing=$(missing_tools)
      [[ -z "$missing" ]] || skip_or_die 1 "still missing after apt-get: $missing"
    else
      die "missing tools: $missing (Debian: apt-get install ${APT_PACKAGES[*]} iproute2 util-linux), or run with --ci"
    fi
  fi
  local py
  py=$(ensure_python "$ci") || skip_or_die "$ci" "python3 with dnspython is not available (pip install dnspython, or apt-get install python3-dnspython)"

  # A private network namespace: as root `unshare -n`; otherwise in a user namespace.
  local unshare=()
  if unshare -n true 2>/dev/null; then
    unshare=(unshare -n)
  elif unshare -r -n true 2>/dev/null; then
    unshare=(unshare -r -n)
  else
    skip_or_die "$ci" "unshare -n is not permitted here (needs root or unprivileged user namespaces)"
  fi

  local bin
  bin=$(locate_binary)
  log "binary: $bin ($("$bin" --version 2>/dev/null || echo '?'))"
  log "re-executing in a private network namespace (${unshare[*]})"
  exec "${unshare[@]}" -- env EXT_INSIDE=1 GEOROUTE_BIN="$bin" PYTHON="$py" bash "$SELF"
}

# ---------------------------------------------------------------------------------------------
# Inside the namespace.

PIDS=()
NAMES=()
WORK=
FAILS=0
SUMMARY=()

DETAILS=()
pass() { printf 'PASS %s\n' "$*"; SUMMARY+=("PASS $*"); }
fail() { printf 'FAIL %s\n' "$*"; SUMMARY+=("FAIL $*"); FAILS=$((FAILS + 1)); }
detail() { DETAILS+=("$*"); } # a line repeated in the summary (the reason behind a FAIL)

cleanup() {
  local rc=$? i pid
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || continue
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    local n
    for ((n = 0; n < 50; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: ${NAMES[i]} (pid $pid) did not stop on SIGTERM within 5 s; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    if [[ "${EXT_KEEP:-0}" == 1 ]]; then
      echo "work directory kept: $WORK" >&2
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

start_bg() { # name cmd...: start a background process, logging to $WORK/<name>.log
  local name=$1
  shift
  "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  PIDS+=($!)
  NAMES+=("$name")
  log "started $name (pid $!): $*"
}

alive() { # name: is the process started under that name still running?
  local i
  for i in "${!NAMES[@]}"; do
    [[ "${NAMES[i]}" == "$1" ]] && { kill -0 "${PIDS[i]}" 2>/dev/null; return; }
  done
  return 1
}

show_log() { # name
  echo "--- last lines of $1.log:" >&2
  tail -n 25 "$WORK/$1.log" >&2 || true
}

# wait_soa NAME ZONE ADDR [PORT]: until ADDR answers ZONE SOA authoritatively, at most 10 s.
wait_soa() {
  local name=$1 zone=$2 addr=$3 port=${4:-53} deadline=$((SECONDS + 10)) out
  while ((SECONDS < deadline)); do
    alive "$name" || { show_log "$name"; die "$name exited during start-up"; }
    out=$(dig +norec +time=1 +tries=1 -p "$port" "@$addr" "$zone" SOA 2>/dev/null || true)
    if grep -q 'status: NOERROR' <<<"$out" && grep -q 'flags:.* aa' <<<"$out"; then return 0; fi
    sleep 0.2
  done
  show_log "$name"
  die "$name did not answer '$zone SOA' on $addr port $port within 10 s"
}

setup_network() {
  ip link set lo up
  ip addr add "$NS1_V4/32" dev lo
  ip addr add "$NS2_V4/32" dev lo
  HAVE_V6=1
  if ip -6 addr add "$NS1_V6/128" dev lo nodad 2>/dev/null && ip -6 addr add "$NS2_V6/128" dev lo nodad 2>/dev/null; then
    # Wait (bounded) until the addresses can be bound.
    local n
    for ((n = 0; n < 20; n++)); do ip -6 addr show dev lo tentative | grep -q inet6 || break; sleep 0.1; done
  else
    HAVE_V6=0
    log "IPv6 is not available in the namespace: IPv6 name server addresses are left out"
  fi
}

# The shipped example, plus two zones whose NS answers are large (truncation tests), RRL off.
make_config() {
  CFG=$WORK/config
  mkdir -p "$CFG"
  cp -R "$REPO/zones" "$REPO/probes" "$REPO/geoip" "$CFG/"
  [[ -f "$REPO/server.yaml" ]] && cp "$REPO/server.yaml" "$CFG/"
  big_zone big.test 12 >"$CFG/zones/big.test.yaml"
  big_zone huge.test 24 >"$CFG/zones/huge.test.yaml"

  local bin=$GEOROUTE_BIN
  "$bin" check --config "$CFG" >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log" >&2; die "georoute check rejects the test configuration"; }

  # Response rate limiting would drop most of the compliance and zonemaster queries (they all
  # come from one address): turn it off when this binary knows the keys. responses_per_second: 0
  # alone leaves the per-network bound (source_responses_per_second) on, so both are tried
  # first, then the one key of SPEC section 9, then none (a binary without RRL).
  local orig='' setting
  [[ -f "$CFG/server.yaml" ]] && orig=$(cat "$CFG/server.yaml")
  RRL_NOTE=
  for setting in '{responses_per_second: 0, source_responses_per_second: 0}' '{responses_per_second: 0}'; do
    {
      # Keep every other top-level key of a shipped server.yaml.
      [[ -n "$orig" ]] && awk '/^rate_limit:/ {skip = 1; next} skip && /^[^[:space:]#]/ {skip = 0} !skip' <<<"$orig"
      echo "rate_limit: $setting"
    } >"$CFG/server.yaml"
    if "$bin" check --config "$CFG" >"$WORK/check-rrl.log" 2>&1; then
      RRL_NOTE="server.yaml rate_limit: $setting (accepted by georoute check)"
      break
    fi
  done
  if [[ -z "$RRL_NOTE" ]]; then
    if [[ -n "$orig" ]]; then printf '%s\n' "$orig" >"$CFG/server.yaml"; else rm -f "$CFG/server.yaml"; fi
    RRL_NOTE="this binary rejects rate_limit in server.yaml: left out ($(head -n 1 "$WORK/check-rrl.log"))"
  fi
  log "$RRL_NOTE"
}

# big_zone ZONE N: a zone with N in-zone name servers, each with an A and an AAAA glue record.
big_zone() {
  local zone=$1 n=$2 i
  echo "# generated by tests/external/run.sh: a large NS answer"
  echo "zone: $zone"
  echo "soa: {mname: ns1.$zone., rname: hostmaster.$zone., refresh: 14400, retry: 3600, expire: 604800, minimum: 300}"
  echo "nameservers:"
  for ((i = 1; i <= n; i++)); do
    echo "  - {name: ns$i.$zone., addresses: [192.0.2.$i, \"2001:db8::$i\"]}"
  done
}

start_georoute() {
  local dns=(--dns "$GEOROUTE_DNS:53" --dns "$NS1_V4:53" --dns "$NS2_V4:53")
  ((HAVE_V6)) && dns+=(--dns "[$NS1_V6]:53" --dns "[$NS2_V6]:53")
  start_bg georoute "$GEOROUTE_BIN" serve --config "$CFG" "${dns[@]}" --admin "$ADMIN" --no-probes
  wait_soa georoute "$ZONE" "$GEOROUTE_DNS"
  local a
  for a in "$NS1_V4" "$NS2_V4"; do wait_soa georoute "$ZONE" "$a"; done
  ((HAVE_V6)) && for a in "$NS1_V6" "$NS2_V6"; do wait_soa georoute "$ZONE" "$a"; done
  log "georoute answers on $GEOROUTE_DNS, $NS1_V4, $NS2_V4$( ((HAVE_V6)) && echo ", $NS1_V6, $NS2_V6")"
}

# ---------------------------------------------------------------------------------------------
# Part 1: zonemaster.

# knot_instance NAME ADDR ZONE=FILE...: one knotd serving the given zones on ADDR:53.
knot_instance() {
  local name=$1 addr=$2 z
  shift 2
  local dir=$WORK/knot-$name
  mkdir -p "$dir/db"
  {
    echo "server:"
    echo "    rundir: \"$dir\""
    echo "    pidfile: \"$dir/knot.pid\""
    echo "    listen: $addr@53"
    echo "log:"
    echo "  - target: stderr"
    echo "    any: info"
    echo "database:"
    echo "    storage: \"$dir/db\""
    echo "zone:"
    for z in "$@"; do
      echo "  - domain: \"${z%%=*}\""
      echo "    storage: \"$dir\""
      echo "    file: \"${z#*=}\""
      echo "    journal-content: none"
      echo "    zonefile-sync: -1"
    done
  } >"$dir/knot.conf"
  knotc -c "$dir/knot.conf" conf-check >"$dir/conf-check.log" 2>&1 || { cat "$dir/conf-check.log" >&2; die "knot configuration of $name rejected"; }
  start_bg "knot-$name" knotd -c "$dir/knot.conf"
}

write_parent_zones() {
  local d
  for d in root io net; do mkdir -p "$WORK/knot-$d"; done
  local v6_ns1='' v6_ns2=
  if ((HAVE_V6)); then
    v6_ns1="ns1.azurecr.io. 86400 IN AAAA $NS1_V6"
    v6_ns2="ns2.example.net. 3600 IN AAAA $NS2_V6"
  fi
  cat >"$WORK/knot-root/root.zone" <<EOF
.                       86400 IN SOA a.root-servers.stand-in. hostmaster.root-servers.stand-in. 1 1800 900 604800 86400
.                       518400 IN NS a.root-servers.stand-in.
a.root-servers.stand-in. 518400 IN A $ROOT_V4
io.                     172800 IN NS a.nic.io.
a.nic.io.               172800 IN A $IO_V4
net.                    172800 IN NS a.gtld-servers.net.
a.gtld-servers.net.     172800 IN A $NET_V4
EOF
  cat >"$WORK/knot-io/io.zone" <<EOF
io.                     86400 IN SOA a.nic.io. hostmaster.nic.io. 1 1800 900 604800 86400
io.                     86400 IN NS a.nic.io.
a.nic.io.               86400 IN A $IO_V4
azurecr.io.             86400 IN NS ns1.azurecr.io.
azurecr.io.             86400 IN NS ns2.example.net.
ns1.azurecr.io.         86400 IN A $NS1_V4
$v6_ns1
EOF
  cat >"$WORK/knot-net/net.zone" <<EOF
net.                    86400 IN SOA a.gtld-servers.net. hostmaster.gtld-servers.net. 1 1800 900 604800 86400
net.                    86400 IN NS a.gtld-servers.net.
a.gtld-servers.net.     86400 IN A $NET_V4
example.net.            86400 IN NS a.gtld-servers.net.
EOF
  cat >"$WORK/knot-net/example.net.zone" <<EOF
example.net.            3600 IN SOA a.gtld-servers.net. hostmaster.example.net. 1 14400 3600 604800 3600
example.net.            3600 IN NS a.gtld-servers.net.
ns2.example.net.        3600 IN A $NS2_V4
$v6_ns2
EOF
  cat >"$WORK/hints.zone" <<EOF
.                        3600000      NS    a.root-servers.stand-in.
a.root-servers.stand-in. 3600000      A     $ROOT_V4
EOF
}

# The allowlist: zonemaster messages (WARNING and above) that the loopback setup itself causes.
# Anything else at WARNING, ERROR or CRITICAL fails the run. Keep every entry explained; the
# README lists them too. Format: TAG|reason
ZONEMASTER_ALLOW=(
  # ADDRESS01: ns1's glue 192.0.2.53 / 2001:db8::53 is the shipped example's own documentation
  # address (RFC 5737 / RFC 3849), and the stand-in ns2.example.net is given 198.51.100.53 /
  # 2001:db8:1::53 for the same reason: no globally routable address exists in the namespace.
  "NAMESERVER_IP_PRIVATE_NETWORK|documentation (RFC 5737/3849) addresses in the namespace, not globally routable"
  # ADDRESS02: nobody serves in-addr.arpa / ip6.arpa in the stand-in root, so the name
  # server addresses have no PTR (and documentation ranges have none in the real DNS either).
  "NAMESERVER_IP_WITHOUT_REVERSE|no reverse zones (in-addr.arpa, ip6.arpa) under the stand-in root"
  # CONNECTIVITY03: the ASN lookup zones (asnlookup.zonemaster.net, asn.cymru.com) do not
  # exist under the stand-in root, so no name server address has an AS. (Engine 4.6.2 stays
  # silent when every lookup gets NXDOMAIN; other versions report these.)
  "ERROR_ASN_DATABASE|the ASN lookup zones (asnlookup.zonemaster.net, asn.cymru.com) do not exist offline"
  "EMPTY_ASN_SET|the ASN lookup zones do not exist offline, so no address maps to an AS"
  "IPV4_ONE_ASN|every address is on the one loopback interface (one AS by construction)"
  "IPV6_ONE_ASN|every address is on the one loopback interface (one AS by construction)"
)

zonemaster_part() {
  log "part 1: zonemaster-cli $(zonemaster-cli --version 2>/dev/null | awk '/CLI version/ {print $3}') against $ZONE, offline"
  write_parent_zones
  knot_instance root "$ROOT_V4" ".=root.zone"
  knot_instance io "$IO_V4" "io.=io.zone"
  knot_instance net "$NET_V4" "net.=net.zone" "example.net.=example.net.zone"
  wait_soa knot-root . "$ROOT_V4"
  wait_soa knot-io io. "$IO_V4"
  wait_soa knot-net net. "$NET_V4"
  wait_soa knot-net example.net. "$NET_V4"

  local args=(--hints "$WORK/hints.zone" --level "${EXT_ZONEMASTER_LEVEL:-WARNING}" --json-stream --json-translate --no-progress)
  ((HAVE_V6)) || args+=(--no-ipv6)
  local rc=0
  timeout -k 10 900 zonemaster-cli "${args[@]}" "$ZONE" >"$WORK/zonemaster.json" 2>"$WORK/zonemaster.err" || rc=$?
  if ((rc != 0)); then
    tail -n 20 "$WORK/zonemaster.err" >&2
    fail "zonemaster: zonemaster-cli exited with status $rc"
    return
  fi
  local allow
  allow=$(printf '%s\n' "${ZONEMASTER_ALLOW[@]}")
  local out
  out=$("$PYTHON" - "$WORK/zonemaster.json" "$allow" <<'PY'
import json, sys
path, allow_text = sys.argv[1], sys.argv[2]
allow = {}
for line in allow_text.splitlines():
    if "|" in line:
        tag, why = line.split("|", 1)
        allow[tag] = why
bad = 0
seen = set()
n = 0
for line in open(path):
    line = line.strip()
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    level = m.get("level", "")
    tag = m.get("tag", "?")
    where = "%s/%s" % (m.get("module", "?"), m.get("testcase", "?"))
    text = m.get("message") or json.dumps(m.get("args", {}), sort_keys=True)
    text = " ".join(text.split())
    if level not in ("WARNING", "ERROR", "CRITICAL"):
        print("info    %-8s %s %s: %s" % (level, where, tag, text))
        continue
    n += 1
    if tag in allow:
        seen.add(tag)
        print("ALLOWED %-8s %s %s: %s\n        (allowlisted: %s)" % (level, where, tag, text, allow[tag]))
    else:
        bad += 1
        print("FAIL    %-8s %s %s: %s" % (level, where, tag, text))
for tag in sorted(set(allow) - seen):
    print("note: allowlisted %s was not reported this run" % tag)
print("RESULT %d %d" % (n, bad))
PY
) || { fail "zonemaster: could not parse zonemaster-cli's output"; return; }
  grep -v '^RESULT ' <<<"$out" || true
  local line
  while IFS= read -r line; do detail "zonemaster ${line#FAIL    }"; done < <(grep '^FAIL ' <<<"$out" || true)
  local total bad
  read -r _ total bad < <(grep '^RESULT ' <<<"$out")
  if ((bad == 0)); then
    pass "zonemaster: $total message(s) at WARNING or above, all allowlisted (loopback setup)"
  else
    fail "zonemaster: $bad message(s) at WARNING or above not explained by the loopback setup (of $total)"
  fi
}

# ---------------------------------------------------------------------------------------------
# Part 2: EDNS compliance.

edns_part() {
  log "part 2: EDNS / DNS compliance (tests/external/ednscomp.py) against $GEOROUTE_DNS"
  local rc=0
  timeout -k 5 300 "$PYTHON" "$HERE/ednscomp.py" --server "$GEOROUTE_DNS" --zone "$ZONE" \
    --big big.test:12 --huge huge.test:24 >"$WORK/ednscomp.out" 2>&1 || rc=$?
  cat "$WORK/ednscomp.out"
  local line
  while IFS= read -r line; do detail "edns ${line#FAIL }"; done < <(grep '^FAIL ' "$WORK/ednscomp.out" || true)
  local n_pass n_fail
  n_pass=$(grep -c '^PASS ' "$WORK/ednscomp.out" || true)
  n_fail=$(grep -c '^FAIL ' "$WORK/ednscomp.out" || true)
  if ((rc == 0 && n_fail == 0 && n_pass > 0)); then
    pass "edns: $n_pass checks"
  else
    fail "edns: $n_fail of $((n_pass + n_fail)) checks failed (exit $rc)"
  fi
}

# ---------------------------------------------------------------------------------------------
# Part 3: unbound with ECS in front.

unbound_part() {
  log "part 3: unbound $(unbound -V 2>/dev/null | awk '/^Version/ {print $2}') with ECS (subnetcache) on 127.0.0.1:$UNBOUND_PORT"
  local dir=$WORK/unbound a
  mkdir -p "$dir"
  {
    echo "server:"
    echo "    interface: 127.0.0.1@$UNBOUND_PORT"
    echo "    port: $UNBOUND_PORT"
    echo "    do-daemonize: no"
    echo "    username: \"\""
    echo "    chroot: \"\""
    echo "    directory: \"$dir\""
    echo "    pidfile: \"$dir/unbound.pid\""
    echo "    use-syslog: no"
    echo "    logfile: \"\""
    echo "    verbosity: 1"
    echo "    num-threads: 1"
    echo "    so-reuseport: no"
    echo "    do-ip6: $( ((HAVE_V6)) && echo yes || echo no)"
    echo "    access-control: 127.0.0.0/8 allow"
    echo "    do-not-query-localhost: no"
    echo "    module-config: \"subnetcache iterator\""
    echo "    qname-minimisation: no"
    echo "    minimal-responses: no"
    for a in "$GEOROUTE_DNS" "$NS1_V4" "$NS2_V4"; do echo "    send-client-subnet: $a"; done
    ((HAVE_V6)) && for a in "$NS1_V6" "$NS2_V6"; do echo "    send-client-subnet: $a"; done
    echo "    client-subnet-always-forward: yes"
    echo "    max-client-subnet-ipv4: 24"
    echo "    max-client-subnet-ipv6: 56"
    echo "remote-control:"
    echo "    control-enable: no"
    echo "stub-zone:"
    echo "    name: \"$ZONE\""
    echo "    stub-addr: $GEOROUTE_DNS"
  } >"$dir/unbound.conf"
  unbound-checkconf "$dir/unbound.conf" >"$dir/checkconf.log" 2>&1 || { cat "$dir/checkconf.log" >&2; fail "unbound: configuration rejected"; return; }
  start_bg unbound unbound -d -c "$dir/unbound.conf"
  local deadline=$((SECONDS + 10)) out
  while ((SECONDS < deadline)); do
    alive unbound || { show_log unbound; fail "unbound: exited during start-up"; return; }
    out=$(dig +time=1 +tries=1 -p "$UNBOUND_PORT" @127.0.0.1 "$ZONE" SOA 2>/dev/null || true)
    grep -q 'status: NOERROR' <<<"$out" && break
    sleep 0.2
  done
  grep -q 'status: NOERROR' <<<"$out" || { show_log unbound; fail "unbound: no answer to '$ZONE SOA' within 10 s"; return; }

  # subnet -> the region README.md promises (198.51.100.0/24: override westeurope, drained ->
  # northeurope). Asked in this order, then again in another order: the second round comes from
  # unbound's ECS cache and must not hand one subnet's answer to another.
  # "none": no ECS from dig; unbound then sends its client's 127.0.0.0/24, a location georoute
  # does not know: the home region eastus.
  local cases=("192.0.2.0/24 australiaeast" "198.51.100.0/24 northeurope" "203.0.113.0/24 southeastasia" "none eastus")
  local round c subnet want got ecs before after
  for round in 1 2 3; do
    local order=(0 1 2 3)
    ((round == 2)) && order=(3 2 0 1)
    ((round == 3)) && order=(1 3 2 0)
    for c in "${order[@]}"; do
      read -r subnet want <<<"${cases[c]}"
      local sub=("+subnet=$subnet")
      [[ "$subnet" == none ]] && sub=()
      before=$(global_answers "$want")
      out=$(dig +time=2 +tries=2 -p "$UNBOUND_PORT" @127.0.0.1 "$REGISTRY.$ZONE" A "${sub[@]}" 2>&1 || true)
      after=$(global_answers "$want")
      got=$(awk -v n="$REGISTRY.$ZONE." '$1 == n && $4 == "CNAME" {print $5; exit}' <<<"$out")
      ecs=$(awk '/CLIENT-SUBNET:/ {print $3; exit}' <<<"$out")
      local region=${got#"$REGISTRY".}
      region=${region%%.*}
      local from="georoute"
      [[ "$before" == "$after" ]] && from="unbound's cache"
      if ! grep -q 'status: NOERROR' <<<"$out"; then
        fail "unbound round $round: $REGISTRY.$ZONE A ${sub[*]:-(no ECS)}: $(grep -o 'status: [A-Z]*' <<<"$out" || echo 'no answer')"
      elif [[ "$region" == "$want" ]]; then
        pass "unbound round $round: ${sub[*]:-(no ECS)} -> CNAME $got (ECS in reply ${ecs:-none}; answered from $from)"
      else
        fail "unbound round $round: ${sub[*]:-(no ECS)} -> CNAME '${got:-none}', want $REGISTRY.$want.geo.$ZONE. (ECS in reply ${ecs:-none}; from $from)"
      fi
      if ((round > 1)) && [[ "$from" != "unbound's cache" ]]; then
        echo "note: round $round for $subnet went to georoute again (cache expired or not used)"
      fi
    done
  done
}

# global_answers REGION: georoute's count of global answers for that region (from /metrics).
global_answers() {
  local m
  m=$(timeout 5 "$PYTHON" - "$ADMIN" <<'PY' 2>/dev/null || true
import sys, urllib.request
print(urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=3).read().decode())
PY
)
  awk -v r="region=\"$1\"" '/^georoute_dns_global_answers_total/ && index($0, r) {s += $NF} END {print s + 0}' <<<"$m"
}

# ---------------------------------------------------------------------------------------------

inside() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/georoute-external.XXXXXX")
  setup_network
  make_config
  start_georoute
  local parts=${EXT_PARTS:-zonemaster edns unbound} p
  for p in $parts; do
    case $p in
      zonemaster) zonemaster_part ;;
      edns) edns_part ;;
      unbound) unbound_part ;;
      *) die "unknown part '$p' in EXT_PARTS" ;;
    esac
    alive georoute || { show_log georoute; fail "georoute exited during part '$p'"; break; }
  done
  echo
  echo "==================== summary ===================="
  echo "binary: $GEOROUTE_BIN"
  echo "rate limiting: $RRL_NOTE"
  echo "IPv6 in the namespace: $( ((HAVE_V6)) && echo yes || echo no)"
  local ub_pass ub_fail
  ub_pass=$(printf '%s\n' "${SUMMARY[@]}" | grep -c '^PASS unbound' || true)
  ub_fail=$(printf '%s\n' "${SUMMARY[@]}" | grep -c '^FAIL unbound' || true)
  printf '%s\n' "${SUMMARY[@]}" | grep -vE '^(PASS|FAIL) unbound' || true
  if ((ub_pass + ub_fail > 0)); then
    if ((ub_fail == 0)); then echo "PASS unbound: $ub_pass checks"; else echo "FAIL unbound: $ub_fail of $((ub_pass + ub_fail)) checks failed"; fi
  fi
  printf '%s\n' "${SUMMARY[@]}" | grep -E '^FAIL unbound' || true
  ((${#DETAILS[@]} == 0)) || printf '  %s\n' "${DETAILS[@]}"
  if ((FAILS > 0)); then
    echo "RESULT: $FAILS failure(s)"
    exit 1
  fi
  echo "RESULT: all passed"
}

if [[ "${EXT_INSIDE:-}" == 1 ]]; then
  inside
else
  outside "$@"
fi
