#!/usr/bin/env bash
# Soak test of the real binary: sustained load while the configuration and the replicas' health
# keep changing, checking every sampled global answer and the server's memory.
#
# What it does (everything on 127.0.0.1):
#   1. six replica stand-ins (python3 http.server, one port each) answer /v2/ with 401, or 503
#      while "down"; the zone soak.test has registry reg with a replica per stand-in, probed
#      with kind http, scheme http, probe_address 127.0.0.1:<port>, interval 1s, timeout 500ms,
#      fall 2, rise 2 (flap damping off: limit 1000000), rate limiting off in server.yaml when
#      the binary accepts the keys (responses_per_second and source_responses_per_second 0);
#   2. georoute serve on 127.0.0.1:$SOAK_PORT; a 10 s unlimited dnsperf pass measures the
#      maximum rate, then dnsperf offers half of it (-Q max/2) for $SOAK_SECONDS, with per-query
#      ECS (raw packets, -B) over the global, regional, data and apex names;
#   3. meanwhile: the zone file is rewritten every second (rename into place), alternating
#      eastus2's weight 100/50, and every 5th rewrite flips northeurope's routing flag; each
#      stand-in flaps on its own schedule (eastus: down 4 s every 10 s, eastus2: 5 s/13 s,
#      westeurope: 6 s/17 s, northeurope: 4 s/11 s, southeastasia: 7 s/19 s,
#      australiaeast: 8 s/23 s), so now and then none is up (fail open);
#   4. a sampler (dnspython) sends $SOAK_SAMPLE_QPS global-name queries a second with varied ECS
#      (override subnets of every region, README's demo subnets, unknown IPv4 /24 and IPv6
#      /56) and checks each answer's region against the eligible set of that moment: routing
#      true and stand-in up. A replica counts as both eligible and not for $SOAK_GRACE s after
#      its stand-in changed (default fall x interval x 1.1 jitter + timeout + 0.5 s = 3.2 s)
#      and $SOAK_ROUTING_GRACE s after its routing flag was written (default 1.5 s: SPEC says
#      1 s); when no replica can be eligible the fail-open set (every routed replica) is
#      allowed;
#   5. RSS of the server from /proc/PID/status every 10 s.
#
# At the end it prints dnsperf's queries sent / completed / lost, the sampled answers checked
# and the violations (each one listed), RSS first / last / max, and from /metrics the reloads,
# reload failures and health transitions. Exit status 1 when lost queries > 0.1 %, any
# violation, RSS grew more than 10 % after the first minute's warm-up, the server died, or
# nothing was sampled;
# 2 on a setup error.
#
# Usage:
#   bench/soak.sh                      # 10 minutes (plus ~20 s of set-up)
#   SOAK_SECONDS=60 bench/soak.sh      # a short run
#
# Environment (all optional):
#   SOAK_SECONDS        length of the soak pass                     (default 600)
#   SOAK_MAX_SECONDS    length of the unlimited pass that measures the maximum (default 10)
#   SOAK_PORT           DNS port                                    (default 5396)
#   SOAK_ADMIN          admin address                               (default 127.0.0.1:9156)
#   SOAK_STANDIN_PORT   first stand-in port (six consecutive)       (default 18081)
#   SOAK_SAMPLE_QPS     sampler rate                                (default 300)
#   SOAK_GRACE          health grace, seconds                       (default 3.2)
#   SOAK_ROUTING_GRACE  routing-flag grace, seconds                 (default 1.5)
#   SOAK_QPS            skip the maximum pass and offer this rate
#   SOAK_REWRITE_EVERY  seconds between zone rewrites              (default 1)
#   SOAK_KEEP=1         keep the work directory (config, logs, samples, dnsperf output)
#   GEOROUTE_BIN        the binary (default target/release/georoute, built with
#                       `cargo build --release --locked` when missing or older than src/)
# Needs dnsperf, dig (apt-get install dnsperf bind9-dnsutils) and python3 with dnspython
# (pip install dnspython; done here when missing).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd -P)

die() { echo "soak.sh: error: $*" >&2; exit 2; }
log() { echo "==> $*" >&2; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_num() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac

SECS=${SOAK_SECONDS:-600}
MAX_SECS=${SOAK_MAX_SECONDS:-10}
PORT=${SOAK_PORT:-5396}
ADMIN=${SOAK_ADMIN:-127.0.0.1:9156}
SPORT=${SOAK_STANDIN_PORT:-18081}
SAMPLE_QPS=${SOAK_SAMPLE_QPS:-300}
GRACE=${SOAK_GRACE:-3.2}
RGRACE=${SOAK_ROUTING_GRACE:-1.5}
for v in SECS MAX_SECS PORT SPORT SAMPLE_QPS; do
  if ! { is_uint "${!v}" && ((10#${!v} > 0)); }; then die "$v must be a positive integer (got '${!v}')"; fi
done
if ! { is_num "$GRACE" && is_num "$RGRACE" && is_num "${SOAK_REWRITE_EVERY:-1}"; }; then
  die "SOAK_GRACE, SOAK_ROUTING_GRACE and SOAK_REWRITE_EVERY must be numbers of seconds"
fi
[[ -z "${SOAK_QPS:-}" ]] || { is_uint "$SOAK_QPS" && ((SOAK_QPS > 0)); } || die "SOAK_QPS must be a positive integer"

command -v dnsperf >/dev/null 2>&1 || die "dnsperf not found (apt-get install dnsperf)"
command -v dig >/dev/null 2>&1 || die "dig not found (apt-get install bind9-dnsutils)"
PY=
for p in "${PYTHON:-}" python3 /usr/bin/python3; do
  if [[ -n "$p" ]] && command -v "$p" >/dev/null 2>&1 && "$p" -c 'import dns.message' 2>/dev/null; then PY=$(command -v "$p"); break; fi
done
if [[ -z "$PY" ]]; then
  log "dnspython missing: pip install dnspython"
  timeout 300 python3 -m pip install --quiet dnspython >&2 || true
  python3 -c 'import dns.message' 2>/dev/null && PY=$(command -v python3)
fi
[[ -n "$PY" ]] || die "python3 with dnspython is needed (pip install dnspython)"

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
release_binary

out=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$PORT" soak.test SOA 2>/dev/null || true)
[[ -z "$out" || "$out" == *";;"* ]] || die "something already answers DNS on 127.0.0.1:$PORT; set SOAK_PORT"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/georoute-soak.XXXXXX")
PIDS=()
cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ "${SOAK_KEEP:-0}" == 1 ]]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------------------------------
# Configuration.
CFG=$WORK/config
mkdir -p "$CFG/zones" "$CFG/probes" "$CFG/geoip"
cp "$REPO"/geoip/regions.yaml "$CFG/geoip/"
for f in "$REPO"/geoip/*.mmdb "$REPO"/geoip/*.csv; do [[ -f "$f" ]] && cp "$f" "$CFG/geoip/"; done
{
  [[ -f "$CFG/geoip/demo-city.mmdb" ]] && echo "database: demo-city.mmdb"
  cat <<'Y'
ecs: true
subnet_prefix: {ipv4: 24, ipv6: 56}
locations:
  - {clients: 100.64.1.0/24, region: eastus}
  - {clients: 100.64.2.0/24, region: eastus2}
  - {clients: 100.64.3.0/24, region: westeurope}
  - {clients: 100.64.4.0/24, region: northeurope}
  - {clients: 100.64.5.0/24, region: southeastasia}
  - {clients: 100.64.6.0/24, region: australiaeast}
  - {clients: 198.51.100.0/24, region: westeurope}
  - {clients: 203.0.113.0/24, latitude: 35.68, longitude: 139.69}
Y
} >"$CFG/geoip/geoip.yaml"
cat >"$CFG/probes/default.yaml" <<'Y'
policies:
  soak:
    kind: http
    scheme: http
    port: 80                       # each replica's probe_address gives the stand-in's port
    path: /v2/
    interval: 1s
    timeout: 500ms
    fall: 2
    rise: 2
    healthy_status: ["100-499"]
    flap: {limit: 1000000, window: 10m, hold_down: 1s}   # damping off: the flaps are the test
Y
echo 'regions: {}' >"$CFG/probes/regions.yaml"

# The driver: stand-ins, zone writer, flapper, sampler, RSS; and the zone file's first version.
cat >"$WORK/driver.py" <<'PY'
"""Soak driver (see bench/soak.sh). Commands: standins | zone | run | evaluate."""
import json, os, random, select, socket, struct, sys, threading, time
import http.server

import dns.message
import dns.rcode
import dns.rdatatype

REGIONS = ["eastus", "eastus2", "westeurope", "northeurope", "southeastasia", "australiaeast"]
# (period s, down s, offset s): the stand-in is down while (t + offset) mod period < down.
FLAPS = {"eastus": (10, 4, 6), "eastus2": (13, 5, 2), "westeurope": (17, 6, 9),
         "northeurope": (11, 4, 4), "southeastasia": (19, 7, 13), "australiaeast": (23, 8, 17)}
WEIGHT_REGION, ROUTING_REGION, ROUTING_EVERY = "eastus2", "northeurope", 5
ZONE, REG = "soak.test", "reg"


def zone_text(version, sport):
    weight_phase, routing_phase = version % 2, (version // ROUTING_EVERY) % 2
    lines = [
        "# written by bench/soak.sh, version %d" % version,
        "zone: %s" % ZONE,
        "soa: {mname: ns1.%s., rname: hostmaster.%s., refresh: 14400, retry: 3600, expire: 604800, minimum: 300, serial: %d}"
        % (ZONE, ZONE, version + 1),
        "nameservers:",
        "  - {name: ns1.%s., addresses: [192.0.2.1]}" % ZONE,
        "  - {name: ns2.%s., addresses: [192.0.2.2]}" % ZONE,
        "registries:",
        "  - name: %s" % REG,
        "    home_region: eastus",
        "    default_regions: [eastus, eastus2]",
        "    probe: soak",
        "    replicas:",
    ]
    for i, r in enumerate(REGIONS):
        routing = "false" if (r == ROUTING_REGION and routing_phase) else "true"
        weight = 50 if (r == WEIGHT_REGION and weight_phase) else 100
        lines += [
            "      - region: %s" % r,
            "        global_endpoint_routing: %s" % routing,
            "        weight: %d" % weight,
            "        addresses: [198.18.0.%d, \"2001:db8:18::%d\"]" % (i + 1, i + 1),
            "        data_addresses: [198.18.1.%d]" % (i + 1),
            "        probe_address: 127.0.0.1:%d" % (sport + i),
        ]
    return "\n".join(lines) + "\n", {r: not (r == ROUTING_REGION and routing_phase) for r in REGIONS}


def write_zone(work, version, sport):
    text, routing = zone_text(version, sport)
    path = os.path.join(work, "config", "zones", ZONE + ".yaml")
    tmp = path + ".tmp"  # not *.yaml: the server only reads *.yaml / *.yml
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)
    return routing


def set_status(work, region, code):
    p = os.path.join(work, "status", region)
    with open(p + ".tmp", "w") as f:
        f.write(str(code))
    os.rename(p + ".tmp", p)


def standins(work, sport):
    """One process, one HTTP server per replica; the status code comes from work/status/<region>."""
    class H(http.server.BaseHTTPRequestHandler):
        region = None
        def do_GET(self):
            try:
                code = int(open(os.path.join(work, "status", self.region)).read().strip())
            except (OSError, ValueError):
                code = 401
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()
        def log_message(self, *a):
            pass
    servers = []
    for i, r in enumerate(REGIONS):
        h = type("H_" + r, (H,), {"region": r})
        s = http.server.ThreadingHTTPServer(("127.0.0.1", sport + i), h)
        s.daemon_threads = True
        servers.append(s)
        threading.Thread(target=s.serve_forever, daemon=True).start()
    open(os.path.join(work, "standins.ready"), "w").close()
    while True:
        time.sleep(3600)


def subnets():
    """ECS sources: (family, source prefix, address bytes, label)."""
    out = []
    for i in range(1, 7):
        out.append((1, 24, bytes([100, 64, i]), "100.64.%d.0/24" % i))
    for s in ("192.0.2", "198.51.100", "203.0.113", "81.2.69", "216.160.83"):
        out.append((1, 24, bytes(int(x) for x in s.split(".")), s + ".0/24"))
    rnd = random.Random(7)
    for _ in range(40):
        b = bytes([100, 64 + rnd.randrange(0, 63), rnd.randrange(256)])
        out.append((1, 24, b, "%d.%d.%d.0/24" % tuple(b)))
        v6 = bytes([0x20, 0x01, 0x0d, 0xb8, rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)])
        out.append((2, 56, v6, "2001:db8:%02x%02x:%02x00::/56" % (v6[4], v6[5], v6[6])))
    return out


def name_wire(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def query(qid, name, qtype, ecs):
    q = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1) + name_wire(name) + struct.pack("!HH", qtype, 1)
    opt = b""
    if ecs is not None:
        fam, src, addr, _ = ecs
        data = struct.pack("!HBB", fam, src, 0) + addr
        opt = struct.pack("!HH", 8, len(data)) + data
    return q + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(opt)) + opt


def write_queries(path, n=20000, seed=1):
    """A dnsperf -B file: 2-byte length + packet; RD clear, per-query ECS."""
    rnd = random.Random(seed)
    subs = subnets()
    with open(path, "wb") as f:
        for _ in range(n):
            r = rnd.random()
            region = rnd.choice(REGIONS)
            if r < 0.55:
                name, qtype = "%s.%s" % (REG, ZONE), 1
            elif r < 0.75:
                name, qtype = "%s.%s" % (REG, ZONE), 28
            elif r < 0.87:
                name, qtype = "%s.%s.geo.%s" % (REG, region, ZONE), rnd.choice((1, 28))
            elif r < 0.95:
                name, qtype = "%s.%s.data.%s" % (REG, region, ZONE), 1
            else:
                name, qtype = ZONE, rnd.choice((6, 2))
            ecs = None if rnd.random() < 0.1 else rnd.choice(subs)
            p = query(0, name, qtype, ecs)
            f.write(struct.pack("!H", len(p)) + p)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def run(work, sport, pid, qps):
    """From the start file to the stop file: flap, rewrite, sample, measure RSS; then save."""
    t0 = time.monotonic()
    t0_wall = time.time()
    rewrite_every = float(os.environ.get("SOAK_REWRITE_EVERY", "1"))
    events = []          # (t, kind, region, value): kind "health" (True = up) or "routing"
    samples = []         # (t_send, t_recv, subnet label, region or None, error or None)
    rss = []             # (t, kB)
    stop = threading.Event()
    lock = threading.Lock()

    def ev(kind, region, value):
        with lock:
            events.append((time.monotonic() - t0, kind, region, value))

    def flapper():
        state = {r: True for r in REGIONS}
        while not stop.is_set():
            t = time.monotonic() - t0
            for r, (period, down, offset) in FLAPS.items():
                up = not ((t + offset) % period < down)
                if up != state[r]:
                    set_status(work, r, 401 if up else 503)
                    ev("health", r, up)
                    state[r] = up
            stop.wait(0.02)
        for r in REGIONS:
            set_status(work, r, 401)

    def zone_writer():
        version, routing_now = 0, {r: True for r in REGIONS}
        while not stop.wait(rewrite_every):
            version += 1
            routing = write_zone(work, version, sport)
            for r in REGIONS:
                if routing[r] != routing_now[r]:
                    ev("routing", r, routing[r])
            routing_now = routing
        write_zone(work, 0, sport)

    def rss_sampler():
        while True:
            try:
                v = rss_kb(pid)
            except OSError:
                v = None
            if v is not None:
                rss.append((time.monotonic() - t0, v))
            if stop.wait(10.0):
                break

    def sampler():
        subs = subnets()
        rnd = random.Random(3)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        port = int(os.environ["SOAK_PORT"])
        pending = {}
        qid = 0
        interval = 1.0 / qps
        next_send = time.monotonic()
        name = "%s.%s" % (REG, ZONE)
        last_expire = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_send:
                qid = (qid + 1) & 0xFFFF or 1
                ecs = rnd.choice(subs)
                try:
                    s.sendto(query(qid, name, 1, ecs), ("127.0.0.1", port))
                    pending[qid] = (now - t0, ecs[3])
                except BlockingIOError:
                    pass
                next_send += interval
                if now - next_send > 1.0:
                    next_send = now
            wait = max(0.0, min(0.05, next_send - time.monotonic()))
            r, _, _ = select.select([s], [], [], wait)
            if r:
                while True:
                    try:
                        data = s.recv(65535)
                    except BlockingIOError:
                        break
                    t_recv = time.monotonic() - t0
                    if len(data) < 12:
                        continue
                    (rid,) = struct.unpack("!H", data[:2])
                    if rid not in pending:
                        continue
                    t_send, label = pending.pop(rid)
                    region, err = None, None
                    try:
                        m = dns.message.from_wire(data)
                        rc = m.rcode()
                        cname = [rr for rr in m.answer if rr.rdtype == dns.rdatatype.CNAME]
                        if rc != 0:
                            err = "rcode %s" % dns.rcode.to_text(rc)
                        elif not cname:
                            err = "no CNAME in the answer (%d records)" % sum(len(x) for x in m.answer)
                        else:
                            target = cname[0][0].target.to_text()
                            labels = target.split(".")
                            if len(labels) >= 3 and labels[0] == REG and labels[2] == "geo":
                                region = labels[1]
                            else:
                                err = "unexpected CNAME target %s" % target
                    except Exception as e:  # a malformed response is a finding too
                        err = "malformed response: %s" % e
                    samples.append((t_send, t_recv, label, region, err))
            now = time.monotonic() - t0
            if now - last_expire > 0.1:
                last_expire = now
                for k in [k for k, (ts, _) in pending.items() if now - ts > 2.0]:
                    t_send, label = pending.pop(k)
                    samples.append((t_send, None, label, None, "timeout"))

    threads = [threading.Thread(target=f, daemon=True) for f in (flapper, zone_writer, rss_sampler, sampler)]
    for t in threads:
        t.start()
    stop_file = os.path.join(work, "stop")
    while not os.path.exists(stop_file):
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(10)
    try:
        rss.append((time.monotonic() - t0, rss_kb(pid)))
    except OSError:
        pass
    with open(os.path.join(work, "soak.json"), "w") as f:
        json.dump({"events": events, "samples": samples, "rss": rss, "t0_wall": t0_wall,
                   "duration": time.monotonic() - t0}, f)


def evaluate(work, grace, rgrace):
    d = json.load(open(os.path.join(work, "soak.json")))
    hist = {("health", r): [(-1e9, True)] for r in REGIONS}
    hist.update({("routing", r): [(-1e9, True)] for r in REGIONS})
    for t, kind, r, v in d["events"]:
        hist[(kind, r)].append((t, v))

    def values(kind, r, a, b):
        """Every value the state had in [a, b]."""
        h = hist[(kind, r)]
        vals = set()
        last = h[0][1]
        for t, v in h:
            if t <= a:
                last = v
            elif t <= b:
                vals.add(v)
        vals.add(last)
        return vals

    checked = violations = timeouts = errors = failopen = 0
    listed = []
    by_region = {}
    for t_send, t_recv, label, region, err in d["samples"]:
        if err == "timeout":
            timeouts += 1
            continue
        end = t_recv if t_recv is not None else t_send
        elig, routed = {}, {}
        for r in REGIONS:
            rv = values("routing", r, t_send - rgrace, end)
            hv = values("health", r, t_send - grace, end)
            routed[r] = "yes" if rv == {True} else ("no" if rv == {False} else "maybe")
            if routed[r] == "no" or hv == {False}:
                elig[r] = "no"
            elif routed[r] == "yes" and hv == {True}:
                elig[r] = "yes"
            else:
                elig[r] = "maybe"
        if any(v == "yes" for v in elig.values()):
            allowed = {r for r, v in elig.items() if v != "no"}
            mode = "eligible"
        else:
            allowed = {r for r, v in routed.items() if v != "no"}
            mode = "fail-open"
            if all(v == "no" for v in elig.values()):
                failopen += 1
        checked += 1
        if err is None:
            by_region[region] = by_region.get(region, 0) + 1
        if err is not None or region not in allowed:
            violations += 1
            if err is not None:
                errors += 1
            if len(listed) < 30:
                listed.append("t=%.3f..%.3f ECS %s: %s; allowed (%s) %s; eligible %s" % (
                    t_send, end, label, err or ("answered " + region), mode, sorted(allowed),
                    {r: v for r, v in elig.items()}))
    # How long georoute took to follow each stand-in transition (its JSON log).
    import datetime
    seen = {r: [] for r in REGIONS}   # (t, up) of georoute's transitions, driver time
    for line in open(os.path.join(work, "server.log"), errors="replace"):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        f = j.get("fields", {})
        if f.get("message") != "health transition":
            continue
        probe = str(f.get("probe", ""))
        region = next((r for r in REGIONS if ".%s.geo." % r in probe), None)
        ts = str(j.get("timestamp", "")).replace("Z", "+00:00")
        if "." in ts:  # at most microseconds for fromisoformat
            head, rest = ts.split(".", 1)
            frac = "".join(ch for ch in rest if ch.isdigit())
            ts = head + "." + frac[:6].ljust(6, "0") + rest[len(frac):]
        try:
            t = datetime.datetime.fromisoformat(ts).timestamp() - d["t0_wall"]
        except ValueError:
            continue
        if region is not None and str(f.get("to")) in ("Up", "Down"):
            seen[region].append((t, str(f.get("to")) == "Up"))
    delays = {True: [], False: []}
    missed = 0
    health_events = [e for e in d["events"] if e[1] == "health"]
    for i, (t, _, r, up) in enumerate(health_events):
        nxt = next((e[0] for e in health_events[i + 1:] if e[2] == r), None)
        follow = next((ts for ts, u in seen[r] if ts >= t - 0.05 and u == up and (nxt is None or ts < nxt)), None)
        if follow is None:
            missed += 1
        else:
            delays[up].append(max(0.0, follow - t))

    def stats(v):
        if not v:
            return "none"
        v = sorted(v)
        return "median %.2f s, max %.2f s (%d)" % (v[len(v) // 2], v[-1], len(v))

    rss = [kb for _, kb in d["rss"] if kb]
    # Warm-up: allocator arenas and buffers settle in the first minute; "flat" is judged from
    # the first sample at or after 60 s (not judged in a shorter run).
    warm = [kb for t, kb in d["rss"] if kb and t >= 60]
    health_changes = sum(1 for e in d["events"] if e[1] == "health")
    routing_changes = sum(1 for e in d["events"] if e[1] == "routing")
    out = {
        "checked": checked, "violations": violations, "errors": errors, "timeouts": timeouts,
        "failopen_samples": failopen, "listed": listed, "by_region": by_region,
        "rss_first": rss[0] if rss else 0, "rss_last": rss[-1] if rss else 0,
        "rss_max": max(rss) if rss else 0, "rss_samples": len(rss),
        "rss_warm": warm[0] if warm else 0,
        "health_changes": health_changes, "routing_changes": routing_changes,
        "duration": d["duration"],
        "detect_down": stats(delays[False]), "detect_up": stats(delays[True]),
        "not_followed": missed,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    cmd, work = sys.argv[1], sys.argv[2]
    if cmd == "standins":
        os.makedirs(os.path.join(work, "status"), exist_ok=True)
        for r in REGIONS:
            set_status(work, r, 401)
        standins(work, int(sys.argv[3]))
    elif cmd == "zone":
        write_zone(work, 0, int(sys.argv[3]))
    elif cmd == "queries":
        write_queries(sys.argv[3])
    elif cmd == "run":
        run(work, int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    elif cmd == "evaluate":
        evaluate(work, float(sys.argv[3]), float(sys.argv[4]))
PY

"$PY" "$WORK/driver.py" zone "$WORK" "$SPORT"
"$PY" "$WORK/driver.py" queries "$WORK" "$WORK/queries.bin"

# Rate limiting off (every query comes from 127.0.0.1) when this binary knows the keys:
# responses_per_second: 0 alone leaves the per-network bound (source_responses_per_second) on.
RRL_NOTE=
for setting in '{responses_per_second: 0, source_responses_per_second: 0}' '{responses_per_second: 0}'; do
  echo "rate_limit: $setting" >"$CFG/server.yaml"
  if "$BIN" check --config "$CFG" >"$WORK/check.log" 2>&1; then
    RRL_NOTE="server.yaml rate_limit: $setting"
    break
  fi
done
if [[ -z "$RRL_NOTE" ]]; then
  rm -f "$CFG/server.yaml"
  "$BIN" check --config "$CFG" >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log" >&2; die "georoute check rejects the soak configuration"; }
  RRL_NOTE="this binary does not accept rate_limit in server.yaml: left out"
fi
log "$RRL_NOTE"

# ------------------------------------------------------------------------------------------
# Stand-ins, then the server.
"$PY" "$WORK/driver.py" standins "$WORK" "$SPORT" >"$WORK/standins.log" 2>&1 </dev/null &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do [[ -f "$WORK/standins.ready" ]] && break; sleep 0.1; done
[[ -f "$WORK/standins.ready" ]] || { cat "$WORK/standins.log" >&2; die "the stand-ins did not start within 10 s (ports $SPORT..$((SPORT + 5)) in use?)"; }

"$BIN" serve --config "$CFG" --dns "127.0.0.1:$PORT" --admin "$ADMIN" --log-format json >"$WORK/server.log" 2>&1 </dev/null &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
deadline=$((SECONDS + 10))
up=0
while ((SECONDS < deadline)); do
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$WORK/server.log" >&2; die "the server exited during start-up"; }
  out=$(dig +norec +time=1 +tries=1 @127.0.0.1 -p "$PORT" soak.test SOA 2>/dev/null || true)
  if grep -q 'status: NOERROR' <<<"$out"; then up=1; break; fi
  sleep 0.2
done
((up)) || { tail -n 20 "$WORK/server.log" >&2; die "the server did not answer soak.test SOA within 10 s"; }
log "server up (pid $SERVER_PID) on 127.0.0.1:$PORT, admin $ADMIN; stand-ins on $SPORT..$((SPORT + 5))"

stat() { # FILE KEY: the first number after "KEY:" in dnsperf's output
  awk -v key="$2:" 'p = index($0, key) { v = substr($0, p + length(key)); sub(/^[ \t]+/, "", v); split(v, a, /[ \t(]/); print a[1]; exit }' "$1"
}
perf() { # OUTFILE SECONDS [extra args]: one bounded dnsperf pass
  local outf=$1 secs=$2
  shift 2
  local rc=0
  timeout -k 5 $((secs + 60)) dnsperf -s 127.0.0.1 -p "$PORT" -B -d "$WORK/queries.bin" -l "$secs" -t 2 "$@" >"$outf" 2>&1 || rc=$?
  ((rc == 0)) || { tail -n 20 "$outf" >&2; die "dnsperf failed (exit $rc)"; }
}

if [[ -n "${SOAK_QPS:-}" ]]; then
  MAXQPS=$((SOAK_QPS * 2))
  log "offering SOAK_QPS=$SOAK_QPS (maximum pass skipped)"
else
  log "maximum: unlimited dnsperf pass of ${MAX_SECS} s"
  perf "$WORK/max.out" "$MAX_SECS"
  MAXQPS=$(stat "$WORK/max.out" "Queries per second")
  MAXQPS=${MAXQPS%.*}
  if ! { is_uint "$MAXQPS" && ((MAXQPS > 1)); }; then cat "$WORK/max.out" >&2; die "could not read the maximum rate"; fi
  log "maximum $MAXQPS queries/s (lost $(stat "$WORK/max.out" "Queries lost") of $(stat "$WORK/max.out" "Queries sent"))"
fi
QPS=$((MAXQPS / 2))

RSS0=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status")
log "soak: dnsperf -Q $QPS for $SECS s; zone rewritten every ${SOAK_REWRITE_EVERY:-1} s; stand-ins flapping; sampler $SAMPLE_QPS/s; RSS now ${RSS0} kB"
SOAK_PORT=$PORT SOAK_REWRITE_EVERY=${SOAK_REWRITE_EVERY:-1} "$PY" "$WORK/driver.py" run "$WORK" "$SPORT" "$SERVER_PID" "$SAMPLE_QPS" >"$WORK/driver.log" 2>&1 </dev/null &
DRIVER_PID=$!
PIDS+=("$DRIVER_PID")
perf "$WORK/soak.out" "$SECS" -Q "$QPS"
touch "$WORK/stop"
for ((i = 0; i < 300; i++)); do kill -0 "$DRIVER_PID" 2>/dev/null || break; sleep 0.1; done
wait "$DRIVER_PID" 2>/dev/null || true
[[ -f "$WORK/soak.json" ]] || { cat "$WORK/driver.log" >&2; die "the driver wrote no results"; }

ALIVE=1
kill -0 "$SERVER_PID" 2>/dev/null || ALIVE=0
METRICS=$("$PY" -c 'import sys, urllib.request; print(urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=3).read().decode())' "$ADMIN" 2>/dev/null || true)
metric() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $NF} END {print s + 0}' <<<"$METRICS"; }

RES=$("$PY" "$WORK/driver.py" evaluate "$WORK" "$GRACE" "$RGRACE")
j() { "$PY" -c 'import json, sys; v = json.loads(sys.argv[1])[sys.argv[2]]; print("\n".join(v) if isinstance(v, list) else (json.dumps(v) if isinstance(v, dict) else v))' "$RES" "$1"; }

sent=$(stat "$WORK/soak.out" "Queries sent")
comp=$(stat "$WORK/soak.out" "Queries completed")
lost=$(stat "$WORK/soak.out" "Queries lost")
: "${lost:=0}"
[[ -n "$sent" && -n "$comp" ]] || { cat "$WORK/soak.out" >&2; die "could not parse dnsperf's output"; }
achieved=$(stat "$WORK/soak.out" "Queries per second")
lat=$(stat "$WORK/soak.out" "Average Latency (s)")
rss_first=$(j rss_first) rss_last=$(j rss_last) rss_max=$(j rss_max) rss_warm=$(j rss_warm)

echo
echo "==================== soak summary ===================="
echo "binary: $BIN; $RRL_NOTE"
printf 'dnsperf: %s s at -Q %s (maximum %s/s): queries sent %s, completed %s, lost %s (%s%%); %s queries/s, average latency %s ms\n' \
  "$SECS" "$QPS" "$MAXQPS" "$sent" "$comp" "$lost" "$(awk -v l="$lost" -v s="$sent" 'BEGIN {printf "%.4f", (s > 0 ? 100 * l / s : 0)}')" \
  "${achieved%.*}" "$(awk -v a="${lat:-0}" 'BEGIN {printf "%.3f", a * 1000}')"
echo "sampler: answers checked $(j checked), violations $(j violations) (of which errors $(j errors)), timeouts $(j timeouts), while no replica was eligible (fail open) $(j failopen_samples)"
echo "sampler: answers by region $(j by_region)"
echo "changes: stand-in transitions $(j health_changes), routing-flag changes written $(j routing_changes); grace $GRACE s (health), $RGRACE s (routing)"
echo "health: georoute followed a stand-in going down after $(j detect_down), coming back after $(j detect_up); transitions not followed before the next flap $(j not_followed) (expected at most fall x interval x 1.1 = 2.2 s)"
echo "server: reloads applied $(metric georoute_config_reloads_total), reload failures $(metric georoute_config_reload_failures_total), health transitions $(metric georoute_health_transitions_total), fail-open events $(metric georoute_health_fail_open_events_total), dropped $(metric georoute_dns_dropped_total), truncated $(metric georoute_dns_truncated_total)"
echo "RSS: first $rss_first kB, after warm-up (60 s) $rss_warm kB, last $rss_last kB, max $rss_max kB ($(j rss_samples) samples, every 10 s)"
if (($(j violations) > 0)); then
  echo "violations (first 30):"
  j listed | sed 's/^/  /'
fi

FAILED=0
if ((ALIVE == 0)); then echo "FAIL: the server died"; tail -n 20 "$WORK/server.log"; FAILED=1; fi
if awk -v l="$lost" -v s="$sent" 'BEGIN {exit !(s == 0 || l / s > 0.001)}'; then echo "FAIL: lost $lost of $sent queries (> 0.1 %)"; FAILED=1; fi
if (($(j violations) > 0)); then echo "FAIL: $(j violations) sampled answer(s) outside the eligible set"; FAILED=1; fi
if (($(j checked) == 0)); then echo "FAIL: no sampled answer"; FAILED=1; fi
if ((rss_warm == 0)); then echo "RSS: not judged (the run is shorter than the 60 s warm-up)"
elif awk -v a="$rss_warm" -v b="$rss_last" 'BEGIN {exit !(b > a * 1.1)}'; then echo "FAIL: RSS grew from $rss_warm kB after warm-up to $rss_last kB (> 10 %)"; FAILED=1; fi
if grep -q 'panicked' "$WORK/server.log"; then echo "FAIL: the server log has a panic"; grep -m 3 'panicked' "$WORK/server.log"; FAILED=1; fi
if ((FAILED)); then echo "RESULT: FAIL"; exit 1; fi
echo "RESULT: PASS"
