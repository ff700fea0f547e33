#!/usr/bin/env python3
"""A zone at the scale of a registry service: start, memory, toggle and bad-edit times.

Generates a configuration of N registries (3 replicas each, compact flow-style YAML) spread over
F files of `zones/bench.test.d/`, with probes off, and runs `target/release/georoute serve` on
it (loopback only). Measures:
  start       from exec to the first answer of a registry's global name;
  rss         VmRSS once started, and VmHWM (the peak) after the toggles (a reload builds the new
              snapshot beside the old one);
  toggle      10 toggles, each in a different file: one replica's `global_endpoint_routing`
              flipped to false for a registry whose answer (for a fixed ECS subnet) is that
              replica; the time from the file's rename into place to the first answer naming
              another replica (polled over UDP every 5 ms);
  bad edit    a broken file among the many: the time until /status counts the failed reload,
              and whether answers kept coming from the old configuration meanwhile.

Usage: bench/catalogue.py [--sizes 10000,100000] [--files 1000] [--port 5391]
Prints one table row per size; raw outputs go to bench/out/catalogue-<UTC>/.
"""

import argparse
import calendar
import json
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BINARY = os.path.join(ROOT, "target", "release", "georoute")
REGIONS = ["eastus", "westeurope", "southeastasia", "australiaeast", "northeurope", "eastus2",
           "japaneast", "brazilsouth", "centralindia", "uksouth"]
ZONE = "bench.test"


def registry_line(n):
    reps = []
    for i in range(3):
        region = REGIONS[(n + i * 3) % len(REGIONS)]
        reps.append("{region: %s, addresses: [10.%d.%d.%d]}" % (
            region, i, (n >> 8) & 255, n & 255))
    return "  - {name: r%d, home_region: %s, replicas: [%s]}\n" % (
        n, REGIONS[n % len(REGIONS)], ", ".join(reps))


def generate(dir, n, files):
    os.makedirs(os.path.join(dir, "zones", ZONE + ".d"))
    os.makedirs(os.path.join(dir, "probes"))
    os.makedirs(os.path.join(dir, "geoip"))
    shutil.copy(os.path.join(ROOT, "geoip", "regions.yaml"), os.path.join(dir, "geoip"))
    with open(os.path.join(dir, "probes", "default.yaml"), "w") as f:
        f.write("policies:\n  default: {kind: none}\n")
    with open(os.path.join(dir, "server.yaml"), "w") as f:
        f.write("rate_limit: {responses_per_second: 0}\n")
    with open(os.path.join(dir, "zones", ZONE + ".yaml"), "w") as f:
        f.write("zone: %s\nsoa: {mname: ns1.%s., rname: h.%s., refresh: 3600, retry: 600, "
                "expire: 604800, minimum: 30}\nnameservers: [{name: ns1.%s., addresses: "
                "[192.0.2.1]}]\n" % (ZONE, ZONE, ZONE, ZONE))
    per = (n + files - 1) // files
    paths = []
    for f in range(files):
        path = os.path.join(dir, "zones", ZONE + ".d", "%04d.yaml" % f)
        with open(path, "w") as out:
            out.write("registries:\n")
            for r in range(f * per, min(n, (f + 1) * per)):
                out.write(registry_line(r))
        paths.append(path)
    return paths, per


def query(name, port, timeout=1.0):
    """The first CNAME/A target of `name` A (no ECS; unknown location: the home region)."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
    except OSError:
        return None
    finally:
        s.close()
    if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    ancount = struct.unpack(">H", data[6:8])[0]
    if ancount == 0:
        return ""
    # Skip the question, then read the first answer's RDATA.
    i = 12
    while data[i] != 0:
        i += 1 + data[i]
    i += 5
    if data[i] & 0xC0 == 0xC0:
        i += 2
    else:
        while data[i] != 0:
            i += 1 + data[i]
        i += 1
    rtype, _, _, rdlen = struct.unpack(">HHIH", data[i:i + 10])
    rdata = data[i + 10:i + 10 + rdlen]
    if rtype == 5:  # CNAME: its first label after the registry's is the region
        labels, j = [], 0
        while j < len(rdata) and rdata[j] != 0 and rdata[j] & 0xC0 != 0xC0:
            labels.append(rdata[j + 1:j + 1 + rdata[j]].decode())
            j += 1 + rdata[j]
        return ".".join(labels)
    return rdata.hex()


def status(admin):
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % admin, timeout=120) as r:
        return json.load(r)


def mem(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) // 1024
    return out


def measure(n, files, port, out_dir):
    if query("r0.%s" % ZONE, port, 0.2) is not None:
        raise SystemExit("something already answers on 127.0.0.1:%d: stop it first" % port)
    work = tempfile.mkdtemp(prefix="georoute-catalogue-")
    proc = None
    try:
        t0 = time.time()
        paths, per = generate(work, n, files)
        gen_s = time.time() - t0
        size = sum(os.path.getsize(p) for p in paths)
        admin = port + 1
        log = open(os.path.join(out_dir, "serve-%d.log" % n), "w")
        start = time.time()
        proc = subprocess.Popen([BINARY, "serve", "--config", work, "--dns", "127.0.0.1:%d" % port,
                                 "--admin", "127.0.0.1:%d" % admin, "--no-probes",
                                 "--udp-threads", "1"], stdout=log, stderr=log)
        first = None
        deadline = start + 600
        time.sleep(0.05)
        if proc.poll() is not None:
            raise SystemExit("georoute exited at once (%s): is the port taken?" % log.name)
        while time.time() < deadline:
            if proc.poll() is not None:
                raise SystemExit("georoute exited during start (%s)" % log.name)
            if query("r0.%s" % ZONE, port, 0.2):
                first = time.time() - start
                break
            time.sleep(0.05)
        if first is None:
            raise SystemExit("no answer within 600 s")
        started_mem = mem(proc.pid)
        toggles = []
        for k in range(10):
            f = (k * 97) % len(paths)
            reg = f * per + (k % per)
            name = "r%d.%s" % (reg, ZONE)
            before = query(name, port)
            home = REGIONS[reg % len(REGIONS)]
            with open(paths[f]) as fh:
                text = fh.read()
            old = registry_line(reg)
            new = old.replace("{region: %s, addresses" % home,
                              "{region: %s, global_endpoint_routing: false, addresses" % home, 1)
            tmp = paths[f] + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(text.replace(old, new))
            t = time.time()
            os.rename(tmp, paths[f])
            while time.time() - t < 60:
                a = query(name, port, 0.5)
                if a and a != before:
                    break
                time.sleep(0.005)
            toggles.append(time.time() - t)
        hwm = mem(proc.pid)["VmHWM"]
        # A bad edit among the many: timed by the server's own log line (its UTC timestamp),
        # so /status, slow to render at this size, is asked only once at the end.
        bad = paths[len(paths) // 2]
        with open(bad, "a") as fh:
            fh.write("  - {name: broken, colour: blue}\n")
        t = time.time()
        served = True
        rejected = None
        while time.time() - t < 120 and rejected is None:
            served &= bool(query("r0.%s" % ZONE, port, 0.5))
            log.flush()
            with open(log.name) as fh:
                for line in fh:
                    if "configuration reload failed" in line:
                        stamp = line.split()[0].rstrip("Z")
                        at = calendar.timegm(time.strptime(stamp.split(".")[0], "%Y-%m-%dT%H:%M:%S"))
                        at += float("0." + stamp.split(".")[1])
                        if at >= t - 1:
                            rejected = at
                            break
            time.sleep(0.02)
        bad_s = (rejected - t) if rejected else float("nan")
        doc = status(admin)
        error = (doc.get("last_reload_error") or "").splitlines()[:1]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        return {
            "registries": n, "files": files, "bytes": size, "generate_s": round(gen_s, 1),
            "start_s": round(first, 2), "rss_mib": started_mem["VmRSS"], "peak_mib": hwm,
            "toggle_median_s": round(statistics.median(toggles), 3),
            "toggle_max_s": round(max(toggles), 3), "bad_edit_s": round(bad_s, 3),
            "served_meanwhile": served, "bad_edit_error": error[0] if error else "",
        }
    finally:
        # Never leave a server behind on the port (a later run would measure it instead).
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--port", type=int, default=5391)
    args = ap.parse_args()
    if not os.path.exists(BINARY):
        raise SystemExit("build it first: cargo build --release --locked")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out_dir = os.path.join(ROOT, "bench", "out", "catalogue-" + stamp)
    os.makedirs(out_dir)
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        files = min(args.files, n)
        r = measure(n, files, args.port, out_dir)
        rows.append(r)
        print(json.dumps(r), flush=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print("\n| registries | files | zone bytes | start s | RSS MiB | peak MiB | toggle median s | max s | bad edit s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %d | %d | %d | %.2f | %d | %d | %.3f | %.3f | %.3f |" % (
            r["registries"], r["files"], r["bytes"], r["start_s"], r["rss_mib"], r["peak_mib"],
            r["toggle_median_s"], r["toggle_max_s"], r["bad_edit_s"]))
    print("raw outputs: " + out_dir)


if __name__ == "__main__":
    sys.exit(main())
