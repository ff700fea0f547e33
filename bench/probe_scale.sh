#!/usr/bin/env bash
# Probe scale test of the real binary: 1,000 registries x 10 replicas = 10,000 HTTP probes every
# 10 s (1,000 probes/s) against loopback stand-ins, and what that probing costs DNS.
#
# What it does (all traffic on 127.0.0.0/8):
#   1. writes a configuration folder in a temp dir: geoip/ (regions.yaml, geoip.yaml,
#      demo-city.mmdb) and server.yaml copied from the repo; zone scale.test with registries
#      reg0..reg<N-1>, replica p of registry r in region (r+p) mod 62 (the order of
#      geoip/regions.yaml), each with probe_address 127.0.0.<2 + k mod S>:18080 (k = r*M + p);
#      probes/scale.yaml: scale: {scheme: http, port: 80, interval: 10s, timeout: 2s, fall: 3,
#      rise: 3}; `probe: scale` on every registry. Checked with `georoute check --config DIR`.
#   2. stand-ins: Python asyncio servers (S listeners on 127.0.0.2.. port 18080, spread over
#      PROBE_STANDIN_PROCS processes, pinned to CPU 0) answer any request `HTTP/1.1 401`,
#      content-length 0, connection close; per connection they keep in memory the open, request
#      and close times (monotonic) and the Host header, and the most connections open at once;
#      written to bench/out/.../standin-*.tsv on exit.
#   3. probe phase: `taskset -c 1 georoute serve --config DIR --udp-threads 1 --dns .. --admin ..`
#      for PROBE_SECONDS after the first probe round (readiness); every 10 s: open fds
#      (/proc/PID/fd), RSS, CPU ticks (per thread), TIME_WAIT sockets, /metrics. Reported: the
#      lateness histogram (bucket-derived p50/p99 upper bounds, mean = sum/count, also per 10 s),
#      probe successes/failures, probe latency; from the stand-ins: per Host the gaps between
#      consecutive probes (p50/p99/max, gaps > 1.1 x interval + 1 s), lateness by the gap method
#      max(0, gap - 1.1 x interval), probes/s (mean and per-second spread), most connections open
#      at once; georoute's fds (max), RSS, CPU over the run (% of a core) and over the last 15 s
#      (the probing alone: DNS idle).
#   4. DNS cost: dnsperf pinned to CPU 0, `-Q PROBE_QPS -l PROBE_PASS_SECONDS -S 1` of
#      `reg1.scale.test A`, against the probing server (A) and the same configuration served
#      with --no-probes (B), interleaved A B A B .. PROBE_REPS each. Server CPU per answer =
#      delta utime+stime summed over /proc/PID/task/*/stat (fields 14+15) over the pass /
#      responses dnsperf counted. The first A pass follows the probe phase (its probing baseline
#      is the phase's last 15 s); later A passes restart the server, wait until every target has
#      turned up (the start-up transitions; at most PROBE_SETTLE_MAX s), probe PROBE_WARMUP s
#      more, measure a 15 s DNS-idle baseline, then run the pass. Reported: medians of A, of B,
#      A - B, and A with the probing baseline (CPU/s x pass length) subtracted; per pass the
#      busy time of CPU 0 and the CPU 1 time not georoute's (other load), and for A1/B1 per
#      second: dnsperf's answers, probes at the stand-ins, CPU by georoute thread kind. The
#      cost of one /metrics render (~1 MB at 10,000 replicas) is measured on the first B server.
#   5. exits 1 when the gap-method lateness p99 (probe phase) is 1 s or more, or any probe failed
#      (the stand-ins always answer 401, healthy), or no probe reached a stand-in; 2 on a set-up
#      error.
#
# Raw outputs (marks, samples, /metrics snapshots, dnsperf output, server logs, stand-in logs,
# summary.json) go to bench/out/probe_scale-<UTC time>/ (bench/out/probe_scale-latest links it).
#
# Usage:
#   bench/probe_scale.sh                          # defaults: ~9 minutes (plus a quiet-machine wait)
#   PROBE_SECONDS=30 PROBE_REPS=2 bench/probe_scale.sh
#   bench/probe_scale.sh --help
#   bench/probe_scale.sh --analyze bench/out/probe_scale-latest   # re-print a finished run
#
# Environment (all optional):
#   PROBE_REGISTRIES      registries in the zone                           (default 1000)
#   PROBE_REPLICAS        replicas per registry (at most 62)               (default 10)
#   PROBE_INTERVAL        probe interval, a duration as in probes/*.yaml   (default 10s)
#   PROBE_TIMEOUT         probe timeout                                    (default 2s)
#   PROBE_SECONDS         probe phase after the first round, seconds       (default 120)
#   PROBE_QPS             dnsperf -Q of each DNS pass                      (default 50000)
#   PROBE_PASS_SECONDS    dnsperf -l of each DNS pass                      (default 15)
#   PROBE_REPS            DNS passes per side (A with probes, B without)   (default 4)
#   PROBE_WARMUP          probing before the idle baseline of A passes 2.., counted from when
#                         every target has turned up (start-up settled)    (default 15)
#   PROBE_SETTLE_MAX      at most this long for that, seconds              (default 300)
#   PROBE_STANDINS        stand-in addresses 127.0.0.2 .. (at most 200)    (default 16)
#   PROBE_STANDIN_PROCS   stand-in processes (the addresses spread over them) (default 4)
#   PROBE_STANDIN_PORT    stand-in port                                    (default 18080)
#   PROBE_DNS_PORT        georoute DNS port on 127.0.0.1                   (default 5397)
#   PROBE_ADMIN_PORT      georoute admin port on 127.0.0.1                 (default 9157)
#   PROBE_QUIET_WAIT      before measuring, wait at most this many seconds until no dnsperf,
#                         gdnsd or cargo process runs (polled every 15 s; 0: do not wait)
#                                                                          (default 1500)
#   PROBE_OUT             output directory             (default bench/out/probe_scale-<time>)
#   PROBE_KEEP=1          keep the temp configuration folder
#   GEOROUTE_BIN          the binary (default target/release/georoute, built with
#                         `cargo build --release --locked` when missing or older than src/)
# Needs: python3 (3.8+), dnsperf, dig, curl, taskset, ss; 2 CPUs for the pinning (with one CPU
# nothing is pinned and the figures mean less).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd -P)

die() { echo "probe_scale.sh: error: $*" >&2; exit 2; }
log() { echo "==> $*" >&2; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

PY=
for p in "${PYTHON:-}" python3 /usr/bin/python3; do
  if [[ -n "$p" ]] && command -v "$p" >/dev/null 2>&1; then
    # The interpreter itself, not a shim (pyenv shims cost ~100 ms a call).
    PY=$("$p" -c 'import sys; print(sys.executable)' 2>/dev/null) && [[ -x "$PY" ]] && break
    PY=
  fi
done
[[ -n "$PY" ]] || die "python3 not found"

write_py() { # the helper: zone | standin | analyze
  cat >"$1" <<'PY'
"""Helper of bench/probe_scale.sh: zone | standin | analyze."""
import asyncio, gc, gzip, json, math, os, re, signal, sys, time


def opn(path):
    """Opens PATH, or PATH.gz when the run's files were compressed."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        return gzip.open(path + ".gz", "rt", errors="replace")
    return open(path, errors="replace")

# ---------------------------------------------------------------------------------------------
def regions_of(path):
    out, inside = [], False
    for line in open(path):
        if line.startswith("regions:"):
            inside = True
            continue
        if inside:
            m = re.match(r"^  ([a-z0-9]+):", line)
            if m:
                out.append(m.group(1))
            elif line.strip() and not line.startswith(" ") and not line.startswith("#"):
                break
    return out


def zone(cfg, nreg, nrep, nstand, sport):
    regions = regions_of(os.path.join(cfg, "geoip", "regions.yaml"))
    if nrep > len(regions):
        sys.exit("PROBE_REPLICAS %d > %d regions" % (nrep, len(regions)))
    lines = [
        "# written by bench/probe_scale.sh: %d registries x %d replicas" % (nreg, nrep),
        "zone: scale.test",
        "soa: {mname: ns1.scale.test., rname: hostmaster.scale.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}",
        "nameservers:",
        "  - {name: ns1.scale.test., addresses: [192.0.2.53]}",
        "registries:",
    ]
    for r in range(nreg):
        regs = [regions[(r + p) % len(regions)] for p in range(nrep)]
        lines += ["  - name: reg%d" % r, "    home_region: %s" % regs[0], "    probe: scale",
                  "    replicas:"]
        for p in range(nrep):
            k = r * nrep + p
            a = k + 1
            lines.append('      - {region: %s, addresses: [198.%d.%d.%d], probe_address: "127.0.0.%d:%d"}'
                         % (regs[p], 18 + (a >> 16), (a >> 8) & 255, a & 255, 2 + k % nstand, sport))
    with open(os.path.join(cfg, "zones", "scale.test.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("%d registries, %d replicas, %d regions used of %d" % (
        nreg, nreg * nrep, min(len(regions), nreg + nrep - 1), len(regions)))


# ---------------------------------------------------------------------------------------------
RESP = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def standin(out, ready, port, addrs):
    """One process, one listener per address; every request answered 401 and closed."""
    mono = time.monotonic
    log = []                     # (t_open, t_request or 0, t_close, host or "-")
    st = {"open": 0, "max": 0, "max_at": 0.0, "requests": 0}

    class P(asyncio.Protocol):
        __slots__ = ("t", "buf", "tr", "host", "treq")

        def connection_made(self, tr):
            self.t = mono()
            self.buf, self.tr, self.host, self.treq = b"", tr, None, 0.0
            st["open"] += 1
            if st["open"] > st["max"]:
                st["max"], st["max_at"] = st["open"], self.t

        def data_received(self, data):
            if self.host is not None:
                return
            self.buf += data
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                if len(self.buf) > 65536:
                    self.tr.abort()
                return
            self.treq = mono()
            host = b"-"
            for line in self.buf[:i].split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"host":
                    host = v.strip()
                    break
            self.host = host.decode("latin-1")
            self.buf = b""
            st["requests"] += 1
            self.tr.write(RESP)
            self.tr.close()

        def connection_lost(self, exc):
            st["open"] -= 1
            log.append((self.t, self.treq, mono(), self.host or "-"))
            self.tr = None

    async def main():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        servers = [await loop.create_server(P, a, port, backlog=4096, reuse_address=True) for a in addrs]
        with open(ready, "w") as f:
            f.write("%d %s\n" % (os.getpid(), " ".join(addrs)))
        await stop.wait()
        for s in servers:
            s.close()

    gc.set_threshold(200000, 50, 100)
    asyncio.run(main())
    with open(out + ".tmp", "w") as f:
        f.write("# t_open\tt_request\tt_close\thost (monotonic s; t_request 0: no request)\n")
        f.write("# max_open %d at %.6f, requests %d, addresses %s\n" % (st["max"], st["max_at"], st["requests"], " ".join(addrs)))
        f.writelines("%.6f\t%.6f\t%.6f\t%s\n" % e for e in log)
    os.rename(out + ".tmp", out)


# ---------------------------------------------------------------------------------------------
def q(v, p):
    """Nearest-rank quantile of a sorted list."""
    if not v:
        return float("nan")
    return v[min(len(v) - 1, max(0, math.ceil(p * len(v)) - 1))]


def metrics(path):
    out = {}
    try:
        text = opn(path).read()
    except OSError:
        return None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        k, _, v = line.rpartition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out or None


def hist(m, name):
    """[(le, cumulative)], sum, count of a histogram in a parsed /metrics."""
    if m is None:
        return None
    b = []
    for k, v in m.items():
        mm = re.match(r'^%s_bucket\{le="([^"]+)"\}$' % re.escape(name), k)
        if mm:
            le = float("inf") if mm.group(1) == "+Inf" else float(mm.group(1))
            b.append((le, v))
    b.sort()
    return {"buckets": b, "sum": m.get(name + "_sum", 0.0), "count": m.get(name + "_count", 0.0)}


def hdelta(a, b):
    """Histogram b minus histogram a (a may be None: from zero)."""
    if b is None:
        return None
    if a is None:
        return b
    da = dict(a["buckets"])
    return {"buckets": [(le, c - da.get(le, 0.0)) for le, c in b["buckets"]],
            "sum": b["sum"] - a["sum"], "count": b["count"] - a["count"]}


def hq(h, p):
    """Upper bound of the bucket holding the p-quantile (inf: beyond the last bucket)."""
    if not h or h["count"] <= 0:
        return None
    need = p * h["count"]
    for le, c in h["buckets"]:
        if c >= need - 1e-9:
            return le
    return float("inf")


def hfmt(h):
    if not h or h["count"] <= 0:
        return "no observations"
    f = lambda x: "> %g s" % h["buckets"][-2][0] if x == float("inf") else "<= %g s" % x
    over = [(le, h["count"] - c) for le, c in h["buckets"] if le != float("inf")]
    return "n %d, p50 %s, p99 %s, mean %.4f s, over 1 s: %d, over 5 s: %d" % (
        h["count"], f(hq(h, 0.5)), f(hq(h, 0.99)), h["sum"] / h["count"],
        dict(over).get(1.0, 0), dict(over).get(5.0, 0))


def counter(m, key):
    return 0.0 if m is None else m.get(key, 0.0)


def analyze(out):
    env = json.load(open(os.path.join(out, "env.json")))
    hz = float(env["hz"])
    interval = float(env["interval_s"])
    marks = {}
    for line in open(os.path.join(out, "marks.tsv")):
        k, v = line.split()
        marks[k] = float(v)
    samples = []
    for line in open(os.path.join(out, "samples.tsv")):
        if line.startswith("tag"):
            hdr = line.split()
            continue
        samples.append(dict(zip(hdr, line.split())))
    for s in samples:
        for k in s:
            if k != "tag":
                s[k] = float(s[k])
    passes = []
    for line in open(os.path.join(out, "passes.tsv")):
        if line.startswith("tag"):
            phdr = line.rstrip("\n").split("\t")
            continue
        passes.append(dict(zip(phdr, line.rstrip("\n").split("\t"))))

    # Stand-in logs.
    conns = []      # (t_open, t_req, t_close, host)
    max_open_proc = []
    for fn in sorted(os.listdir(out)):
        if fn.startswith("standin-") and (fn.endswith(".tsv") or fn.endswith(".tsv.gz")):
            for line in opn(os.path.join(out, fn[:-3] if fn.endswith(".gz") else fn)):
                if line.startswith("#"):
                    m = re.match(r"# max_open (\d+)", line)
                    if m:
                        max_open_proc.append(int(m.group(1)))
                    continue
                a, b, c, h = line.rstrip("\n").split("\t")
                conns.append((float(a), float(b), float(c), h))
    arrivals = {}
    norequest = []
    for a, b, c, h in conns:
        if b > 0:
            if h.endswith(".geo.scale.test"):    # not the script's own check request
                arrivals.setdefault(h, []).append(b)
        else:
            norequest.append(a)
    for v in arrivals.values():
        v.sort()
    all_arr = sorted(t for v in arrivals.values() for t in v)
    import bisect
    events = sorted([(a, 1) for a, _, _, _ in conns] + [(c, -1) for _, _, c, _ in conns])
    open_at = []    # (t, open after the event)
    n = 0
    for t, d in events:
        n += d
        open_at.append((t, n))

    def max_open(a, b):
        return max([o for t, o in open_at if a <= t <= b], default=0)

    def gaps(a, b, ready, steady=None):
        """Gaps whose later probe arrived in [a, b] and earlier one after `ready`; the rates over
        [steady, b] (default a)."""
        g, hosts_seen = [], 0
        for h, v in arrivals.items():
            for i in range(1, len(v)):
                if a <= v[i] <= b and v[i - 1] >= ready:
                    g.append(v[i] - v[i - 1])
            if any(a <= t <= b for t in v):
                hosts_seen += 1
        g.sort()
        late = sorted(max(0.0, x - 1.1 * interval) for x in g)
        n_arr = sum(1 for v in arrivals.values() for t in v if a <= t <= b)
        s0 = a if steady is None else steady
        n_steady = sum(1 for v in arrivals.values() for t in v if s0 <= t <= b)
        per_sec = [0] * max(1, int(b - s0))
        for v in arrivals.values():
            for t in v:
                if s0 <= t < s0 + len(per_sec):
                    per_sec[int(t - s0)] += 1
        ps = sorted(per_sec)
        return {
            "gaps": len(g), "gap_p50": q(g, 0.5), "gap_p99": q(g, 0.99), "gap_max": g[-1] if g else float("nan"),
            "gap_min": g[0] if g else float("nan"),
            "gaps_over": sum(1 for x in g if x > 1.1 * interval + 1.0),
            "late_p50": q(late, 0.5), "late_p99": q(late, 0.99), "late_max": late[-1] if late else float("nan"),
            "arrivals": n_arr, "seconds": b - a, "rate": n_arr / (b - a) if b > a else float("nan"),
            "steady_from": s0 - a, "rate_steady": n_steady / (b - s0) if b > s0 else float("nan"),
            "rate_per_s_min": ps[0], "rate_per_s_p50": q(ps, 0.5), "rate_per_s_p99": q(ps, 0.99), "rate_per_s_max": ps[-1],
            "hosts_probed": hosts_seen,
            "max_open": max_open(a, b),
            "norequest": sum(1 for t in norequest if a <= t <= b),
        }

    def mfile(tag):
        return metrics(os.path.join(out, "metrics-%s.txt" % tag))

    S = {"env": env}
    expected = env["registries"] * env["replicas"]
    # ---- probe phase -------------------------------------------------------------------------
    p_start, p_ready, p_end = marks["p1_start"], marks["p1_ready"], marks["p1_end"]
    m_end = mfile("p1-end")
    lat = hist(m_end, "georoute_probe_lateness_seconds")
    dur = hist(m_end, "georoute_probe_latency_seconds")
    ok = counter(m_end, 'georoute_probe_results_total{result="success"}')
    bad = counter(m_end, 'georoute_probe_results_total{result="failure"}')
    g = gaps(p_ready, p_end, p_ready, p_ready + 1.1 * interval)
    ps = [s for s in samples if s["tag"].startswith("p1-")]
    by = {s["tag"]: s for s in ps}
    end = by["p1-end"]
    idle0 = by.get("p1-idle")
    win_cpu = None
    if idle0:
        win_cpu = {
            "seconds": end["mono"] - idle0["mono"],
            "task_pct": 100 * (end["task_ticks"] - idle0["task_ticks"]) / hz / (end["mono"] - idle0["mono"]),
            "proc_pct": 100 * (end["proc_ticks"] - idle0["proc_ticks"]) / hz / (end["mono"] - idle0["mono"]),
            "standin_pct": 100 * (end["standin_ticks"] - idle0["standin_ticks"]) / hz / (end["mono"] - idle0["mono"]),
        }
    ready_s = by.get("p1-ready")
    settled = next((s for s in ps if s.get("transitions_up", 0) >= expected), None)
    render = marks.get("metrics_render_ticks_x10")
    render_s = render / 10 / hz if render is not None else None
    if win_cpu is not None and render_s is not None:
        n_in = sum(1 for s in ps if idle0["mono"] <= s["mono"] < end["mono"])
        win_cpu["renders"] = n_in
        win_cpu["task_pct_no_renders"] = win_cpu["task_pct"] - 100 * n_in * render_s / win_cpu["seconds"]
    S["probe"] = {
        "startup_s": p_ready - p_start, "phase_s": p_end - p_ready,
        "lateness_hist": lat, "latency_hist": dur, "success": ok, "failure": bad,
        "gap": g,
        "fds_max": max(s["fds"] for s in ps), "fds_first": ps[0]["fds"], "fds_last": end["fds"],
        "rss_kb_max": max(s["rss_kb"] for s in ps), "rss_kb_end": end["rss_kb"], "hwm_kb_end": end["hwm_kb"],
        "timewait_max": max(s["timewait"] for s in ps), "estab_max": max(s["estab"] for s in ps),
        "tw_standin_max": max(s["tw_standin"] for s in ps),
        "cpu_run_pct": 100 * end["proc_ticks"] / hz / (end["mono"] - p_start),
        "cpu_startup_s": ready_s["proc_ticks"] / hz if ready_s else None,
        "cpu_steady_pct": 100 * (end["proc_ticks"] - ready_s["proc_ticks"]) / hz / (end["mono"] - ready_s["mono"]) if ready_s else None,
        "cpu_window": win_cpu,
        "standin_cpu_pct": 100 * (end["standin_ticks"] - ready_s["standin_ticks"]) / hz / (end["mono"] - ready_s["mono"]) if ready_s else None,
        "transitions_up": counter(m_end, 'georoute_health_transitions_total{to="up"}'),
        "render_ms": None if render_s is None else 1000 * render_s,
        "settled_s": None if settled is None else settled["mono"] - p_ready,
        "settled_tag": None if settled is None else settled["tag"],
        "transitions_down": counter(m_end, 'georoute_health_transitions_total{to="down"}'),
    }
    # Per 10 s: lateness and probes from consecutive /metrics snapshots.
    series = []
    prev = None
    for s in ps:
        m = mfile(s["tag"])
        h = hist(m, "georoute_probe_lateness_seconds")
        d = hist(m, "georoute_probe_latency_seconds")
        f = counter(m, 'georoute_probe_results_total{result="failure"}')
        if prev is not None and h is not None and prev[1] is not None:
            dh, dd = hdelta(prev[1], h), hdelta(prev[2], d)
            series.append({
                "t": s["mono"] - p_ready, "probes": dh["count"],
                "rate": dh["count"] / (s["mono"] - prev[0]["mono"]),
                "late_mean": dh["sum"] / dh["count"] if dh["count"] else None,
                "late_p99": hq(dh, 0.99), "latency_mean": dd["sum"] / dd["count"] if dd["count"] else None,
                "failures": f - prev[3], "fds": s["fds"], "rss_kb": s["rss_kb"], "timewait": s["timewait"],
                "cpu_pct": 100 * (s["proc_ticks"] - prev[0]["proc_ticks"]) / hz / (s["mono"] - prev[0]["mono"]),
                "cpu1_other_pct": 100 * ((s["cpu1_busy"] - prev[0]["cpu1_busy"]) - (s["proc_ticks"] - prev[0]["proc_ticks"])) / hz / (s["mono"] - prev[0]["mono"]),
                "transitions_up": s["transitions_up"],
            })
        prev = (s, h, d, f)
    S["probe"]["series"] = series
    if settled is not None and settled["tag"] != "p1-end":
        S["probe"]["steady_lateness"] = hdelta(hist(mfile(settled["tag"]), "georoute_probe_lateness_seconds"), lat)
        S["probe"]["steady_latency"] = hdelta(hist(mfile(settled["tag"]), "georoute_probe_latency_seconds"), dur)
        S["probe"]["steady_gap"] = gaps(settled["mono"], p_end, settled["mono"])
        S["probe"]["steady_cpu_pct"] = 100 * (end["proc_ticks"] - settled["proc_ticks"]) / hz / (end["mono"] - settled["mono"])
    # Other load on CPU 1 during the probe phase (its busy ticks minus the server's).
    if ready_s:
        S["probe"]["cpu1_other_pct"] = 100 * ((end["cpu1_busy"] - ready_s["cpu1_busy"]) - (end["proc_ticks"] - ready_s["proc_ticks"])) / hz / (end["mono"] - ready_s["mono"])
        S["probe"]["cpu0_busy_pct"] = 100 * (end["cpu0_busy"] - ready_s["cpu0_busy"]) / hz / (end["mono"] - ready_s["mono"])
    try:
        S["probe"]["threads"] = open(os.path.join(out, "threads-p1-end.txt")).read()
    except OSError:
        S["probe"]["threads"] = ""
    try:
        S["probe"]["status"] = json.load(open(os.path.join(out, "status-summary.json")))
    except (OSError, ValueError):
        S["probe"]["status"] = None

    # ---- DNS passes --------------------------------------------------------------------------
    rows = []
    for p in passes:
        r = {k: p[k] for k in ("tag", "side", "rep", "foreign")}
        for k in ("m0", "m1", "task0", "task1", "proc0", "proc1", "bm0", "bm1", "btask0", "btask1", "ready", "w0", "busy0", "busy1"):
            r[k] = float(p[k]) if p.get(k) not in (None, "", "-") else None
        txt = open(os.path.join(out, "dnsperf-%s.txt" % p["tag"])).read()

        def stat(key):
            m = re.search(re.escape(key) + r":\s*([0-9.eE+-]+)", txt)
            return float(m.group(1)) if m else None
        r["sent"], r["completed"], r["lost"] = stat("Queries sent"), stat("Queries completed"), stat("Queries lost")
        r["qps"], r["avg_lat"] = stat("Queries per second"), stat("Average Latency (s)")
        m = re.search(r"Average Latency \(s\):.*max ([0-9.eE+-]+)", txt)
        r["max_lat"] = float(m.group(1)) if m else None
        wall = r["m1"] - r["m0"]
        dt, dp = (r["task1"] - r["task0"]) / hz, (r["proc1"] - r["proc0"]) / hz
        r["wall"] = wall
        r["us_per_answer"] = dt * 1e6 / r["completed"] if r["completed"] else None
        r["us_per_answer_proc"] = dp * 1e6 / r["completed"] if r["completed"] else None
        r["cpu_pct"] = 100 * dt / wall
        r["cpu0_pct"] = 100 * r["busy0"] / hz / wall
        r["cpu1_other_pct"] = 100 * (r["busy1"] / hz - dp) / wall
        # Per second: dnsperf's answers (-S 1, wall clock), probes at the stand-ins, CPU by kind.
        off = r["w0"] - r["m0"]            # wall - monotonic
        qps_s = [(float(a), float(b)) for a, b in re.findall(r"^([0-9]{9,}\.[0-9]+): ([0-9.]+)$", txt, re.M)]
        per = []
        try:
            raw = [list(map(float, l.split())) for l in open(os.path.join(out, "persec-%s.txt" % p["tag"])) if l.strip()]
        except OSError:
            raw = []
        for x, y in zip(raw, raw[1:]):
            dtw = y[0] - x[0]
            t_a, t_b = x[0] - off, y[0] - off    # monotonic
            probes = bisect.bisect_left(all_arr, t_b) - bisect.bisect_left(all_arr, t_a) if r["side"] == "A" else 0
            q_s = next((qv for tw, qv in qps_s if x[0] < tw <= y[0] + 0.05), None)
            per.append({"t": x[0] - r["w0"], "cpu0": 100 * (y[1] - x[1]) / hz / dtw, "cpu1": 100 * (y[2] - x[2]) / hz / dtw,
                        "worker": 100 * (y[3] - x[3]) / hz / dtw, "udp": 100 * (y[4] - x[4]) / hz / dtw,
                        "other": 100 * (y[5] - x[5]) / hz / dtw, "probes": probes, "qps": q_s})
        r["per_second"] = per
        qv = sorted(x for _, x in qps_s)
        r["qps_s_min"] = qv[0] if qv else None
        r["qps_s_p50"] = q(qv, 0.5) if qv else None
        if r["bm0"] is not None:
            base = (r["btask1"] - r["btask0"]) / hz / (r["bm1"] - r["bm0"])     # CPU s per s, DNS idle
            r["base_pct"] = 100 * base
            r["us_per_answer_sub"] = (dt - base * wall) * 1e6 / r["completed"] if r["completed"] else None
        else:
            r["base_pct"] = r["us_per_answer_sub"] = None
        mt0, mt1 = mfile(p["tag"] + "-before"), mfile(p["tag"] + "-after")
        if r["side"] == "A" and mt0 and mt1:
            r["lateness"] = hdelta(hist(mt0, "georoute_probe_lateness_seconds"), hist(mt1, "georoute_probe_lateness_seconds"))
            r["failures"] = counter(mt1, 'georoute_probe_results_total{result="failure"}') - counter(mt0, 'georoute_probe_results_total{result="failure"}')
            r["gap"] = gaps(r["m0"], r["m1"], r["ready"])
        rows.append(r)
    S["passes"] = rows

    def med(v):
        v = sorted(x for x in v if x is not None)
        if not v:
            return None
        n = len(v)
        return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    A = [r for r in rows if r["side"] == "A"]
    B = [r for r in rows if r["side"] == "B"]
    S["dns"] = {
        "A_us": med([r["us_per_answer"] for r in A]), "B_us": med([r["us_per_answer"] for r in B]),
        "A_sub_us": med([r["us_per_answer_sub"] for r in A]),
        "A_base_pct": med([r["base_pct"] for r in A]), "B_base_pct": med([r["base_pct"] for r in B]),
        "A_lat": med([r["avg_lat"] for r in A]), "B_lat": med([r["avg_lat"] for r in B]),
        "A_lost": sum(r["lost"] or 0 for r in A), "B_lost": sum(r["lost"] or 0 for r in B),
    }
    # Failures over every probing run (each run's last /metrics before it was stopped).
    run_fail = {}
    for fn in os.listdir(out):
        mm = re.match(r"metrics-(P\d+)-stop\.txt(\.gz)?$", fn)
        if mm:
            run_fail[mm.group(1)] = counter(metrics(os.path.join(out, "metrics-%s-stop.txt" % mm.group(1))), 'georoute_probe_results_total{result="failure"}')
    S["failures_by_run"] = run_fail
    S["failures_total"] = sum(run_fail.values())
    logs = {}
    for fn in sorted(os.listdir(out)):
        if fn.startswith("server-") and (fn.endswith(".log") or fn.endswith(".log.gz")):
            fn = fn[:-3] if fn.endswith(".gz") else fn
            t = opn(os.path.join(out, fn)).read()
            logs[fn] = {"transitions": t.count("health transition"), "warn": len(re.findall(r"\bWARN\b", t)),
                        "error": len(re.findall(r"\bERROR\b", t)), "panic": t.count("panicked")}
    S["logs"] = logs
    S["standin"] = {"max_open_per_process": max_open_proc, "connections": len(conns),
                    "norequest": len(norequest), "hosts": len(arrivals),
                    "max_open_all": max([o for _, o in open_at], default=0)}
    service = sorted(c - a for a, b, c, h in conns if b > 0)
    S["standin"]["service_p50_ms"] = 1000 * q(service, 0.5)
    S["standin"]["service_p99_ms"] = 1000 * q(service, 0.99)
    S["standin"]["service_max_ms"] = 1000 * service[-1] if service else None

    # ---- verdict -----------------------------------------------------------------------------
    fails = []
    if g["arrivals"] == 0:
        fails.append("no probe reached a stand-in during the probe phase")
    if not (g["late_p99"] < 1.0):
        fails.append("gap-method lateness p99 %.3f s >= 1 s" % g["late_p99"])
    if S["failures_total"] > 0 or bad > 0:
        fails.append("%d probe(s) failed against stand-ins that always answer 401" % max(S["failures_total"], bad))
    S["fails"] = fails
    json.dump(S, open(os.path.join(out, "summary.json"), "w"), indent=1, default=str)
    report(S, expected, interval)
    return 1 if fails else 0


def report(S, expected, interval):
    P, g, e = S["probe"], S["probe"]["gap"], S["env"]
    f3 = lambda x: "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.3f" % x
    f2 = lambda x: "n/a" if x is None else "%.2f" % x
    print()
    print("==================== probe scale summary ====================")
    print("config: %d registries x %d replicas = %d probes, interval %s, timeout %s; stand-ins %d addresses in %d processes; binary %s" % (
        e["registries"], e["replicas"], expected, e["interval"], e["timeout"], e["standins"], e["standin_procs"], e["bin"]))
    print("machine: %s; quiet wait: %s" % (e.get("cpus"), e.get("quiet", "")))
    print("start: first round + listeners %.2f s (CPU %s s); probe phase %.1f s after readiness" % (
        P["startup_s"], f2(P["cpu_startup_s"]), P["phase_s"]))
    print("probes/s (stand-ins): %.1f from %.1f s after readiness to the end (expect %.1f), %.1f over the whole phase (the first scheduled probes come 0.9-1.1 x interval after the first round); per second from %.1f s: min %d, p50 %d, p99 %d, max %d; %d arrivals, %d of %d hosts probed" % (
        g["rate_steady"], g["steady_from"], expected / interval, g["rate"], g["steady_from"], g["rate_per_s_min"], g["rate_per_s_p50"],
        g["rate_per_s_p99"], g["rate_per_s_max"], g["arrivals"], g["hosts_probed"], expected))
    print("lateness (histogram, georoute_probe_lateness_seconds): %s" % hfmt(P["lateness_hist"]))
    print("lateness (gap method, max(0, gap - %.1f s)): p50 %s s, p99 %s s, max %s s" % (
        1.1 * interval, f3(g["late_p50"]), f3(g["late_p99"]), f3(g["late_max"])))
    print("gaps between probes of one Host: %d gaps, min %s, p50 %s, p99 %s, max %s s; over 1.1 x interval + 1 s = %.1f s: %d" % (
        g["gaps"], f3(g["gap_min"]), f3(g["gap_p50"]), f3(g["gap_p99"]), f3(g["gap_max"]), 1.1 * interval + 1, g["gaps_over"]))
    print("probe results: success %d, failure %d (probe phase); failures in every probing run: %s" % (
        P["success"], P["failure"], ", ".join("%s %d" % kv for kv in sorted(S["failures_by_run"].items())) or "n/a"))
    print("probe latency (georoute_probe_latency_seconds): %s" % hfmt(P["latency_hist"]))
    if P.get("settled_s") is not None:
        print("start-up: every target up (first transition) %.0f s after readiness (sample %s); from then to the end of the phase:" % (P["settled_s"], P["settled_tag"]))
        if P.get("steady_gap"):
            sg = P["steady_gap"]
            print("  lateness (histogram): %s" % hfmt(P["steady_lateness"]))
            print("  lateness (gap method): p50 %s s, p99 %s s, max %s s; gaps p50 %s, p99 %s, max %s s, over %.1f s: %d of %d; probes/s %.1f; per second p50 %d, p99 %d, max %d" % (
                f3(sg["late_p50"]), f3(sg["late_p99"]), f3(sg["late_max"]), f3(sg["gap_p50"]), f3(sg["gap_p99"]), f3(sg["gap_max"]),
                1.1 * interval + 1, sg["gaps_over"], sg["gaps"], sg["rate"], sg["rate_per_s_p50"], sg["rate_per_s_p99"], sg["rate_per_s_max"]))
            print("  probe latency: %s; georoute CPU %.1f %% of a core" % (hfmt(P["steady_latency"]), P["steady_cpu_pct"]))
    else:
        print("start-up: not every target had turned up by the end of the probe phase")
    print("health transitions: to up %d, to down %d" % (P["transitions_up"], P["transitions_down"]))
    if P["status"]:
        print("/status after the first A pass: %s" % json.dumps(P["status"]))
    print("stand-ins: most connections open at once %d (probe phase), %d (whole run; per process max %s); connections without a request %d (probe phase %d); service time p50 %.2f ms, p99 %.2f ms, max %.1f ms; stand-in CPU %s %% of a core" % (
        g["max_open"], S["standin"]["max_open_all"], S["standin"]["max_open_per_process"],
        S["standin"]["norequest"], g["norequest"], S["standin"]["service_p50_ms"], S["standin"]["service_p99_ms"],
        S["standin"]["service_max_ms"] or 0, f2(P["standin_cpu_pct"])))
    print("georoute fds: first %d, max %d, last %d (sampled every 10 s); TIME_WAIT sockets (host) max %d, of which the stand-ins' side %d; established to the stand-ins max %d" % (
        P["fds_first"], P["fds_max"], P["fds_last"], P["timewait_max"], P["tw_standin_max"], P["estab_max"]))
    print("georoute RSS: max %d kB, at the end %d kB (VmHWM %d kB)" % (P["rss_kb_max"], P["rss_kb_end"], P["hwm_kb_end"]))
    w = P["cpu_window"] or {}
    print("georoute CPU: %.1f %% of a core over the run (start included, %s s of CPU before readiness), %s %% after readiness; probing alone (DNS idle, last %.0f s): %s %% (threads), %s %% (process), %s %% without the %s /metrics renders in that window (%s ms each)" % (
        P["cpu_run_pct"], f2(P["cpu_startup_s"]), f2(P["cpu_steady_pct"]), w.get("seconds", 0), f2(w.get("task_pct")), f2(w.get("proc_pct")),
        f2(w.get("task_pct_no_renders")), w.get("renders", "?"), f2(P.get("render_ms"))))
    print("other load during the probe phase: CPU 1 (server's CPU) busy beyond georoute %s %%, CPU 0 busy %s %%" % (
        f2(P.get("cpu1_other_pct")), f2(P.get("cpu0_busy_pct"))))
    print("per 10 s (probe phase; t after readiness): t, probes/s, lateness mean / p99 bound, latency mean, failures, targets up, fds, RSS kB, TIME_WAIT, georoute CPU %, other CPU 1 %")
    for s in P["series"]:
        print("  %6.1f %7.1f %8s / %-6s %8s %4d %6d %5d %7d %6d %6.1f %6.1f" % (
            s["t"], s["rate"], f3(s["late_mean"]), "n/a" if s["late_p99"] is None else ("inf" if s["late_p99"] == float("inf") else "%g" % s["late_p99"]),
            f3(s["latency_mean"]), s["failures"], s["transitions_up"], s["fds"], s["rss_kb"], s["timewait"], s["cpu_pct"], s["cpu1_other_pct"]))
    print("threads at the end of the probe phase (name: utime+stime ticks):")
    for line in P["threads"].strip().splitlines():
        print("  " + line)
    print()
    print("DNS passes: dnsperf -Q %s -l %s 'reg1.scale.test A', dnsperf on CPU 0, server on CPU 1" % (e["qps"], e["pass_seconds"]))
    print("  %-4s %-4s %9s %9s %6s %9s %8s %8s %9s %9s %8s %9s %6s %6s %6s %s" % (
        "pass", "side", "sent", "answers", "lost", "qps", "avg_us", "max_us", "us/answer", "(process)", "base_%", "us_sub", "srv%", "cpu0%", "oth1%", "foreign/probe notes"))
    for r in S["passes"]:
        note = r["foreign"] if r["foreign"] not in ("", "-") else ""
        if r.get("lateness"):
            note += (" " if note else "") + "lateness during pass: %s; failures %d; gap-method late p99 %s s" % (
                hfmt(r["lateness"]), r["failures"], f3(r["gap"]["late_p99"]))
        print("  %-4s %-4s %9d %9d %6d %9.0f %8.1f %8.1f %9s %9s %8s %9s %6.1f %6.1f %6.1f %s" % (
            r["tag"], r["side"], r["sent"] or 0, r["completed"] or 0, r["lost"] or 0, r["qps"] or 0,
            (r["avg_lat"] or 0) * 1e6, (r["max_lat"] or 0) * 1e6, f3(r["us_per_answer"]), f3(r["us_per_answer_proc"]),
            f2(r["base_pct"]), f3(r["us_per_answer_sub"]), r["cpu_pct"], r["cpu0_pct"], r["cpu1_other_pct"], note))
    print("  srv%: georoute CPU during the pass; cpu0%: CPU 0 busy (dnsperf, stand-ins, anything else); oth1%: CPU 1 busy (/proc/stat) minus georoute's CPU: other processes on the server's CPU (tick accounting differs by several %: around 0 or below means none)")
    for r in S["passes"]:
        if r["tag"] not in ("A1", "B1") or not r["per_second"]:
            continue
        print("  per second of %s: t, dnsperf answers/s, probes at the stand-ins, CPU0 %%, CPU1 %%, georoute tokio worker %%, UDP thread %%, other threads %%" % r["tag"])
        for x in r["per_second"]:
            print("    %5.1f %8s %6d %6.1f %6.1f %6.1f %6.1f %6.1f" % (x["t"], "n/a" if x["qps"] is None else "%.0f" % x["qps"], x["probes"],
                                                         x["cpu0"], x["cpu1"], x["worker"], x["udp"], x["other"]))
    d = S["dns"]
    diff = lambda a, b: "n/a" if a is None or b is None else "%+.3f" % (a - b)
    print("DNS CPU per answer (medians): with probing %s us, without %s us, difference %s us; with probing minus its baseline (%s %% of a core) %s us, difference to without %s us" % (
        f3(d["A_us"]), f3(d["B_us"]), diff(d["A_us"], d["B_us"]), f2(d["A_base_pct"]), f3(d["A_sub_us"]), diff(d["A_sub_us"], d["B_us"])))
    print("DNS latency (median of pass averages): with probing %s us, without %s us; lost with %d, without %d; no-probes server idle CPU %s %%" % (
        f2(None if d["A_lat"] is None else d["A_lat"] * 1e6), f2(None if d["B_lat"] is None else d["B_lat"] * 1e6), d["A_lost"], d["B_lost"], f2(d["B_base_pct"])))
    print("server logs: %s" % json.dumps(S["logs"]))
    if S["fails"]:
        for f in S["fails"]:
            print("FAIL: " + f)
        print("RESULT: FAIL")
    else:
        print("RESULT: PASS")


def status_summary(path, out):
    d = json.load(open(path))
    health, errors, nolast = {}, {}, 0

    def walk(v):
        nonlocal nolast
        if isinstance(v, dict):
            if "consecutive_successes" in v and "health" in v:
                health[v["health"]] = health.get(v["health"], 0) + 1
                lp = v.get("last_probe")
                if lp is None:
                    nolast += 1
                elif lp.get("error"):
                    errors[lp["error"]] = errors.get(lp["error"], 0) + 1
                return
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(d)
    json.dump({"probes_by_health": health, "never_probed": nolast,
               "last_probe_errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5])}, open(out, "w"))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "zone":
        zone(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    elif cmd == "standin":
        standin(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:])
    elif cmd == "status":
        status_summary(sys.argv[2], sys.argv[3])
    elif cmd == "analyze":
        sys.exit(analyze(sys.argv[2]))
PY
}

case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  --analyze)
    [[ -d "${2:-}" ]] || die "--analyze needs an output directory"
    write_py "$2/probe_scale.py"
    exec "$PY" "$2/probe_scale.py" analyze "$2" ;;
  "") ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac

# ------------------------------------------------------------------------------------------
# Settings.
NREG=${PROBE_REGISTRIES:-1000}
NREP=${PROBE_REPLICAS:-10}
INTERVAL=${PROBE_INTERVAL:-10s}
TIMEOUT=${PROBE_TIMEOUT:-2s}
PSECS=${PROBE_SECONDS:-120}
QPS=${PROBE_QPS:-50000}
PASS=${PROBE_PASS_SECONDS:-15}
REPS=${PROBE_REPS:-4}
WARM=${PROBE_WARMUP:-15}
NSTAND=${PROBE_STANDINS:-16}
NPROCS=${PROBE_STANDIN_PROCS:-4}
SPORT=${PROBE_STANDIN_PORT:-18080}
PORT=${PROBE_DNS_PORT:-5397}
APORT=${PROBE_ADMIN_PORT:-9157}
QUIET=${PROBE_QUIET_WAIT:-1500}
SETTLE_MAX=${PROBE_SETTLE_MAX:-300}
for v in NREG NREP PSECS QPS PASS REPS NSTAND NPROCS SPORT PORT APORT SETTLE_MAX; do
  if ! { is_uint "${!v}" && ((10#${!v} > 0)); }; then die "$v must be a positive integer (got '${!v}')"; fi
done
is_uint "$WARM" || die "PROBE_WARMUP must be a non-negative integer"
is_uint "$QUIET" || die "PROBE_QUIET_WAIT must be a non-negative integer"
((NREP <= 62)) || die "PROBE_REPLICAS must be at most 62 (one replica per region)"
((NSTAND <= 200)) || die "PROBE_STANDINS must be at most 200"
((NPROCS <= NSTAND)) || NPROCS=$NSTAND
((PSECS >= 20)) || die "PROBE_SECONDS must be at least 20 (the last 15 s are the idle CPU window)"
dur_s() { # duration text -> seconds
  [[ "$1" =~ ^([0-9]+)(ms|s|m|h)$ ]] || return 1
  case ${BASH_REMATCH[2]} in
    ms) awk -v n="${BASH_REMATCH[1]}" 'BEGIN {print n / 1000}' ;;
    s) echo "${BASH_REMATCH[1]}" ;;
    m) echo $((BASH_REMATCH[1] * 60)) ;;
    h) echo $((BASH_REMATCH[1] * 3600)) ;;
  esac
}
INTERVAL_S=$(dur_s "$INTERVAL") || die "PROBE_INTERVAL must be a duration such as 10s or 500ms"
dur_s "$TIMEOUT" >/dev/null || die "PROBE_TIMEOUT must be a duration such as 2s or 500ms"
HZ=$(getconf CLK_TCK)
EXPECTED=$((NREG * NREP))
for t in dnsperf dig curl taskset ss; do command -v "$t" >/dev/null 2>&1 || die "$t not found"; done

# ------------------------------------------------------------------------------------------
# Quiet machine (before the build and every measurement).
others() { # pid and command of every dnsperf, gdnsd and cargo process (pgrep -x: 15 characters at most)
  local n
  for n in dnsperf gdnsd cargo; do pgrep -a -x "$n" 2>/dev/null || true; done
}
QUIET_NOTE="not waited (PROBE_QUIET_WAIT=0)"
if ((QUIET > 0)); then
  waited=0
  while [[ -n "$(others)" ]]; do
    if ((waited >= QUIET)); then break; fi
    ((waited % 60 == 0)) && log "waiting for a quiet machine: $(others | cut -c1-120 | tr '\n' ';')"
    sleep 15
    waited=$((waited + 15))
  done
  if [[ -n "$(others)" ]]; then
    QUIET_NOTE="still busy after ${waited} s, went ahead: $(others | cut -c1-120 | tr '\n' ';' | tr -d '"\\')"
    log "$QUIET_NOTE"
  else
    QUIET_NOTE="quiet after ${waited} s of waiting"
  fi
fi

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
release_binary

NCPU=$(nproc 2>/dev/null || echo 1)
PIN_SRV=() PIN_CLI=()
if ((NCPU >= 2)); then
  PIN_SRV=(taskset -c 1) PIN_CLI=(taskset -c 0)
  taskset -cp 0 $$ >/dev/null # this script and what it starts (stand-ins, dnsperf, samplers): CPU 0
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${PROBE_OUT:-$REPO/bench/out/probe_scale-$STAMP}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd -P)
[[ -n "${PROBE_OUT:-}" ]] || ln -sfn "$(basename "$OUT")" "$REPO/bench/out/probe_scale-latest"
write_py "$OUT/probe_scale.py"
H() { "$PY" "$OUT/probe_scale.py" "$@"; }
log "output: $OUT"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/georoute-probe-scale.XXXXXX")
CFG=$WORK/config
SERVER_PID=
SAMPLER_PID=
STANDIN_PIDS=()
cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  [[ -z "$SAMPLER_PID" ]] || { kill -TERM "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; }
  for pid in ${SERVER_PID:+"$SERVER_PID"} "${STANDIN_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in ${SERVER_PID:+"$SERVER_PID"} "${STANDIN_PIDS[@]}"; do
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ "${PROBE_KEEP:-0}" == 1 ]]; then echo "configuration kept: $CFG" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------------------------------
# 1. Configuration.
mkdir -p "$CFG/zones" "$CFG/probes" "$CFG/geoip"
cp "$REPO/geoip/regions.yaml" "$REPO/geoip/geoip.yaml" "$REPO/geoip/demo-city.mmdb" "$CFG/geoip/"
cp "$REPO/server.yaml" "$CFG/"
cat >"$CFG/probes/scale.yaml" <<Y
policies:
  scale: {kind: http, scheme: http, port: 80, path: /v2/, interval: $INTERVAL, timeout: $TIMEOUT, fall: 3, rise: 3}
Y
echo 'regions: {}' >"$CFG/probes/regions.yaml"
log "zone scale.test: $(H zone "$CFG" "$NREG" "$NREP" "$NSTAND" "$SPORT")"
"$BIN" check --config "$CFG" >"$OUT/check.txt" 2>&1 || { tail -n 30 "$OUT/check.txt" >&2; die "georoute check rejects the configuration"; }
log "georoute check: ok ($(wc -l <"$OUT/check.txt") lines in check.txt)"
cp -r "$CFG/probes" "$OUT/config-probes"
head -n 20 "$CFG/zones/scale.test.yaml" >"$OUT/config-zone-head.yaml"
REG1=reg1
((NREG > 1)) || REG1=reg0
echo "$REG1.scale.test A" >"$WORK/queries.txt"

# Ports free?
out=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$PORT" scale.test SOA 2>/dev/null || true)
[[ -z "$out" || "$out" == *";;"* ]] || die "something answers DNS on 127.0.0.1:$PORT; set PROBE_DNS_PORT"
! curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$APORT/" 2>/dev/null || die "something listens on 127.0.0.1:$APORT; set PROBE_ADMIN_PORT"

# ------------------------------------------------------------------------------------------
# Helpers.
mono() { "$PY" -S -c 'import time; print("%.6f" % time.monotonic())'; }
mark() { printf '%s\t%s\n' "$1" "$(mono)" >>"$OUT/marks.tsv"; }
ticks() { # /proc/PID/stat fields 14 + 15
  local s rest a=()
  { s=$(<"/proc/$1/stat"); } 2>/dev/null || { echo 0; return; }
  rest=${s##*) }
  read -r -a a <<<"$rest"
  echo $((a[11] + a[12]))
}
task_ticks() { # sum of fields 14 + 15 over /proc/PID/task/*/stat
  local f s rest a=() tot=0
  for f in /proc/"$1"/task/*/stat; do
    { s=$(<"$f"); } 2>/dev/null || continue
    rest=${s##*) }
    read -r -a a <<<"$rest"
    tot=$((tot + a[11] + a[12]))
  done
  echo "$tot"
}
standin_ticks() { local p tot=0; for p in "${STANDIN_PIDS[@]}"; do tot=$((tot + $(ticks "$p"))); done; echo "$tot"; }
threads() { # name: ticks, per thread of PID
  local d s rest a=()
  for d in /proc/"$1"/task/*; do
    { s=$(<"$d/stat"); } 2>/dev/null || continue
    rest=${s##*) }
    read -r -a a <<<"$rest"
    printf '%s\t%s\t%d\n' "${d##*/}" "$(<"$d/comm")" $((a[11] + a[12]))
  done
}
fetch() { curl -s --max-time 5 "http://127.0.0.1:$APORT$1" || true; }
cpu_busy() { # "CPU0 CPU1" busy ticks (user nice system irq softirq steal) from /proc/stat
  awk '$1 == "cpu0" {a = $2 + $3 + $4 + $7 + $8 + $9} $1 == "cpu1" {b = $2 + $3 + $4 + $7 + $8 + $9} END {print a + 0, b + 0}' /proc/stat
}
transitions_up() { awk '$1 == "georoute_health_transitions_total{to=\"up\"}" {v = $2} END {print v + 0}' "$1"; }
sec_sampler() { # OUTFILE PID: every second, until killed: wall time, CPU0/CPU1 busy ticks, the
  # server's ticks by thread kind (tokio workers, UDP threads, the rest)
  local out=$1 pid=$2 d s rest a=() w u o n
  while :; do
    w=0 u=0 o=0
    for d in /proc/"$pid"/task/*; do
      { s=$(<"$d/stat"); } 2>/dev/null || continue
      rest=${s##*) }
      read -r -a a <<<"$rest"
      n=$(<"$d/comm") 2>/dev/null || n=unknown
      case $n in
        tokio-rt-worker*) w=$((w + a[11] + a[12])) ;;
        dns-udp*) u=$((u + a[11] + a[12])) ;;
        *) o=$((o + a[11] + a[12])) ;;
      esac
    done
    printf '%s %s %s %s %s\n' "$EPOCHREALTIME" "$(cpu_busy)" "$w" "$u" "$o" >>"$out"
    sleep 1
  done
}
echo -e "tag\tmono\tfds\trss_kb\thwm_kb\tproc_ticks\ttask_ticks\tstandin_ticks\ttimewait\ttw_standin\testab\tcpu0_busy\tcpu1_busy\ttransitions_up" >"$OUT/samples.tsv"
sample() { # TAG: one sample of the server (ticks first, then the rest), /metrics saved
  local tag=$1 m tt pt st fds rss hwm tw tws es busy tu
  m=$(mono)
  tt=$(task_ticks "$SERVER_PID")
  pt=$(ticks "$SERVER_PID")
  busy=$(cpu_busy)
  st=$(standin_ticks)
  fds=$(ls "/proc/$SERVER_PID/fd" 2>/dev/null | wc -l)
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
  tw=$(ss -Htan state time-wait 2>/dev/null | wc -l)
  tws=$(ss -Htan state time-wait "( sport = :$SPORT )" 2>/dev/null | wc -l)
  es=$(ss -Htan state established "( dport = :$SPORT )" 2>/dev/null | wc -l)
  fetch /metrics >"$OUT/metrics-$tag.txt"
  tu=$(transitions_up "$OUT/metrics-$tag.txt")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tag" "$m" "$fds" "${rss:-0}" "${hwm:-0}" "$pt" "$tt" "$st" "$tw" "$tws" "$es" \
    "${busy% *}" "${busy#* }" "$tu" >>"$OUT/samples.tsv"
}
foreign() { # other measurements running now (dnsperf, gdnsd, cargo)
  local f
  f=$(others | awk '{sub(/.*\//, "", $2); printf "%s%s:%s", (NR > 1 ? " " : ""), $1, $2}')
  if [[ -n "$f" ]]; then echo "foreign pids: $f"; else echo -; fi
}

start_server() { # TAG MODE(probes|noprobes): starts, waits for /readyz and DNS (60 s at most)
  local tag=$1 mode=$2 extra=() i
  [[ "$mode" == noprobes ]] && extra=(--no-probes)
  mark "${tag}_start"
  "${PIN_SRV[@]+"${PIN_SRV[@]}"}" "$BIN" serve --config "$CFG" --udp-threads 1 --dns "127.0.0.1:$PORT" \
    --admin "127.0.0.1:$APORT" "${extra[@]+"${extra[@]}"}" >"$OUT/server-$tag.log" 2>&1 </dev/null &
  SERVER_PID=$!
  for ((i = 0; i < 600; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$OUT/server-$tag.log" >&2; die "the server ($tag) exited during start-up"; }
    if [[ "$(fetch /readyz)" == ready* ]]; then break; fi
    sleep 0.1
  done
  [[ "$(fetch /readyz)" == ready* ]] || die "the server ($tag) was not ready within 60 s"
  mark "${tag}_ready"
  out=$(dig +norec +short +time=2 +tries=2 @127.0.0.1 -p "$PORT" scale.test SOA 2>/dev/null || true)
  [[ -n "$out" && "$out" != *";;"* ]] || die "the server ($tag) does not answer scale.test SOA"
}
stop_server() { # TAG: final /metrics, then SIGTERM (10 s), SIGKILL
  local tag=$1 i
  [[ -n "$SERVER_PID" ]] || return 0
  fetch /metrics >"$OUT/metrics-$tag-stop.txt"
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
sleep_until() { # MONO: sleep until that monotonic time
  local d
  d=$(awk -v t="$1" -v n="$(mono)" 'BEGIN {d = t - n; print (d > 0 ? d : 0)}')
  sleep "$d"
}
echo -e "tag\tside\trep\tready\tbm0\tbm1\tbtask0\tbtask1\tm0\tm1\ttask0\ttask1\tproc0\tproc1\tw0\tbusy0\tbusy1\tforeign" >"$OUT/passes.tsv"
run_pass() { # TAG SIDE REP READY BM0 BM1 BT0 BT1: one dnsperf pass against SERVER_PID
  local tag=$1 side=$2 rep=$3 ready=$4 bm0=$5 bm1=$6 bt0=$7 bt1=$8 m0 m1 t0 t1 p0 p1 rc=0 fr w0 c0 c1
  fr=$(foreign)
  [[ "$side" == A ]] && fetch /metrics >"$OUT/metrics-$tag-before.txt"
  sec_sampler "$OUT/persec-$tag.txt" "$SERVER_PID" &
  SAMPLER_PID=$!
  m0=$(mono); w0=$EPOCHREALTIME; c0=$(cpu_busy); t0=$(task_ticks "$SERVER_PID"); p0=$(ticks "$SERVER_PID")
  timeout -k 5 $((PASS + 30)) "${PIN_CLI[@]+"${PIN_CLI[@]}"}" dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/queries.txt" \
    -Q "$QPS" -l "$PASS" -t 2 -S 1 >"$OUT/dnsperf-$tag.txt" 2>&1 || rc=$?
  t1=$(task_ticks "$SERVER_PID"); p1=$(ticks "$SERVER_PID"); c1=$(cpu_busy); m1=$(mono)
  kill -TERM "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server died during pass $tag"
  ((rc == 0)) || { tail -n 20 "$OUT/dnsperf-$tag.txt" >&2; die "dnsperf failed in pass $tag (exit $rc)"; }
  [[ "$side" == A ]] && fetch /metrics >"$OUT/metrics-$tag-after.txt"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tag" "$side" "$rep" "$ready" "$bm0" "$bm1" "$bt0" "$bt1" \
    "$m0" "$m1" "$t0" "$t1" "$p0" "$p1" "$w0" "$((${c1% *} - ${c0% *}))" "$((${c1#* } - ${c0#* }))" "$fr" >>"$OUT/passes.tsv"
  log "pass $tag ($side): $(awk -F': *' '/Queries completed/ {print "answers " $2} /Queries lost/ {print "lost " $2}' "$OUT/dnsperf-$tag.txt" | tr '\n' ' ')cpu $(((t1 - t0))) ticks"
}
mark_value() { awk -v k="$1" '$1 == k {v = $2} END {print v}' "$OUT/marks.tsv"; }
wait_settled() { # TAG: until every probe target has had its first transition (to up), at most
  # PROBE_SETTLE_MAX s (a restarted server works through one health-table rebuild per target)
  local tag=$1 i tu=0
  for ((i = 0; i < SETTLE_MAX; i += 2)); do
    fetch /metrics >"$WORK/settle.txt"
    tu=$(transitions_up "$WORK/settle.txt")
    ((tu >= EXPECTED)) && break
    sleep 2
  done
  mark "${tag}_settled"
  log "$tag: $tu of $EXPECTED targets up after $(awk -v a="$(mark_value "${tag}_ready")" -v b="$(mark_value "${tag}_settled")" 'BEGIN {printf "%.1f", b - a}') s"
}

cat >"$OUT/env.json" <<J
{"registries": $NREG, "replicas": $NREP, "interval": "$INTERVAL", "interval_s": $INTERVAL_S, "timeout": "$TIMEOUT",
 "probe_seconds": $PSECS, "qps": $QPS, "pass_seconds": $PASS, "reps": $REPS, "warmup": $WARM, "settle_max": $SETTLE_MAX,
 "standins": $NSTAND, "standin_procs": $NPROCS, "standin_port": $SPORT, "dns_port": $PORT, "admin_port": $APORT,
 "hz": $HZ, "bin": "$BIN", "cpus": "$NCPU CPUs, server pinned: ${PIN_SRV[*]:-no}", "quiet": "$QUIET_NOTE",
 "git": "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$REPO" diff --quiet 2>/dev/null || echo +dirty)",
 "started_utc": "$STAMP"}
J

# ------------------------------------------------------------------------------------------
# 2. Stand-ins.
for ((i = 0; i < NPROCS; i++)); do
  addrs=()
  for ((j = i; j < NSTAND; j += NPROCS)); do addrs+=("127.0.0.$((2 + j))"); done
  "$PY" "$OUT/probe_scale.py" standin "$OUT/standin-$i.tsv" "$WORK/standin-$i.ready" "$SPORT" "${addrs[@]}" \
    >"$OUT/standin-$i.log" 2>&1 </dev/null &
  STANDIN_PIDS+=($!)
done
for ((i = 0; i < NPROCS; i++)); do
  for ((k = 0; k < 100; k++)); do [[ -f "$WORK/standin-$i.ready" ]] && break; sleep 0.1; done
  [[ -f "$WORK/standin-$i.ready" ]] || { cat "$OUT/standin-$i.log" >&2; die "stand-in $i did not start within 10 s (port $SPORT in use?)"; }
done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Host: check' "http://127.0.0.2:$SPORT/v2/" || true)
[[ "$code" == 401 ]] || die "the stand-in at 127.0.0.2:$SPORT answered '$code', not 401"
log "stand-ins: $NSTAND addresses (127.0.0.2..127.0.0.$((1 + NSTAND)):$SPORT) in $NPROCS processes (pids ${STANDIN_PIDS[*]})"

# ------------------------------------------------------------------------------------------
# 3. Probe phase (server P1), then the first A pass on the same server.
log "probe phase: $PSECS s after the first round"
start_server P1 probes
sample p1-ready
READY=$(mark_value P1_ready)
printf 'p1_start\t%s\np1_ready\t%s\n' "$(mark_value P1_start)" "$READY" >>"$OUT/marks.tsv"
log "P1 ready after $(awk -v a="$(mark_value P1_start)" -v b="$READY" 'BEGIN {printf "%.2f", b - a}') s (pid $SERVER_PID)"
for ((t = 10; t < PSECS - 15; t += 10)); do
  sleep_until "$(awk -v r="$READY" -v t="$t" 'BEGIN {print r + t}')"
  sample "p1-$(printf '%04d' "$t")"
done
sleep_until "$(awk -v r="$READY" -v t="$((PSECS - 15))" 'BEGIN {print r + t}')"
sample p1-idle
for ((t = (PSECS - 15) / 10 * 10 + 10; t < PSECS; t += 10)); do
  sleep_until "$(awk -v r="$READY" -v t="$t" 'BEGIN {print r + t}')"
  sample "p1-$(printf '%04d' "$t")"
done
sleep_until "$(awk -v r="$READY" -v t="$PSECS" 'BEGIN {print r + t}')"
sample p1-end
mark p1_end
threads "$SERVER_PID" >"$OUT/threads-p1-end.txt"
log "probe phase done: $(awk '/^georoute_probe_results_total/ {printf "%s %s ", $1, $2}' "$OUT/metrics-p1-end.txt")"

# The idle baseline of the first A pass: the probe phase's last 15 s.
B0=$(awk -F'\t' '$1 == "p1-idle" {print $2 "\t" $7}' "$OUT/samples.tsv")
B1=$(awk -F'\t' '$1 == "p1-end" {print $2 "\t" $7}' "$OUT/samples.tsv")
run_pass A1 A 1 "$READY" "${B0%%$'\t'*}" "${B1%%$'\t'*}" "${B0##*$'\t'}" "${B1##*$'\t'}"
fetch /status >"$WORK/status.json"
H status "$WORK/status.json" "$OUT/status-summary.json" || true
stop_server P1

for ((rep = 1; rep <= REPS; rep++)); do
  if ((rep > 1)); then
    start_server "P$rep" probes
    ready=$(mark_value "P${rep}_ready")
    wait_settled "P$rep"
    sleep "$WARM"
    bm0=$(mono); bt0=$(task_ticks "$SERVER_PID")
    sleep 15
    bt1=$(task_ticks "$SERVER_PID"); bm1=$(mono)
    run_pass "A$rep" A "$rep" "$ready" "$bm0" "$bm1" "$bt0" "$bt1"
    stop_server "P$rep"
  fi
  start_server "N$rep" noprobes
  ready=$(mark_value "N${rep}_ready")
  sleep 2
  bm0=$(mono); bt0=$(task_ticks "$SERVER_PID")
  sleep 5
  bt1=$(task_ticks "$SERVER_PID"); bm1=$(mono)
  if ((rep == 1)); then # what one /metrics render costs (the probe phase fetched one every 10 s)
    m0=$(mono); t0=$(task_ticks "$SERVER_PID")
    for ((k = 0; k < 10; k++)); do fetch /metrics >/dev/null; done
    t1=$(task_ticks "$SERVER_PID"); m1=$(mono)
    printf 'metrics_render_ticks_x10\t%s\n' $((t1 - t0)) >>"$OUT/marks.tsv"
  fi
  run_pass "B$rep" B "$rep" "$ready" "$bm0" "$bm1" "$bt0" "$bt1"
  stop_server "N$rep"
done

# ------------------------------------------------------------------------------------------
# Stand-ins write their logs on SIGTERM.
for pid in "${STANDIN_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${STANDIN_PIDS[@]}"; do
  for ((k = 0; k < 600; k++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
STANDIN_PIDS=()
for ((i = 0; i < NPROCS; i++)); do
  [[ -f "$OUT/standin-$i.tsv" ]] || { cat "$OUT/standin-$i.log" >&2; die "stand-in $i wrote no log"; }
done

rc=0
H analyze "$OUT" | tee "$OUT/summary.txt" || rc=${PIPESTATUS[0]}
# The bulky raw files (1 MB per /metrics snapshot at 10,000 replicas): compressed; --analyze reads them.
gzip -f "$OUT"/metrics-*.txt "$OUT"/standin-*.tsv "$OUT"/server-*.log "$OUT"/check.txt 2>/dev/null || true
echo "raw outputs: $OUT"
exit "$rc"
