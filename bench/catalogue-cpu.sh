#!/usr/bin/env bash
# Server CPU per answer of a zone of N registries against the shipped one-registry example, at
# a fixed rate, interleaved (the method of bench/compare.sh).
#
# Generates the zone of bench/catalogue.py (3-replica registries over 1,000 part files) with
# the example's GeoIP (geoip/geoip.yaml, the demo database), starts both servers pinned to
# CPU 1 (taskset -c 1, one UDP thread, --no-probes), and offers each in turn, A-B then B-A,
# a fixed rate from dnsperf pinned to CPU 0, every query with ECS 192.0.2.0/24, in two mixes:
#   handler   100,000 queries in random letter case (so no two share their bytes and the
#             per-thread response reuse, dns/reuse.rs, never answers: every answer is the
#             handler's): the example's `myregistry.azurecr.io A`, and for the catalogue
#             `r<k>.bench.test A` of 100,000 registries drawn at random (every lookup lands
#             somewhere else in the million-registry tables);
#   reuse     one name asked again and again (`myregistry.azurecr.io`, `r0.bench.test`): the
#             response reuse answers nearly all, whatever the zone's size.
# Server CPU per answer = change of utime+stime over /proc/PID/task/*/stat during the pass,
# divided by the answers dnsperf counted. Prints each pass, the medians and their ratio.
# Loopback only; everything started is stopped on exit; raw outputs in bench/out/.
#
# Environment (all optional):
#   CPU_REGISTRIES  registries in the generated zone                 (default 1000000)
#   CPU_REPS        rounds; each round runs both once                (default 4)
#   CPU_SECONDS     length of each pass (dnsperf -l)                 (default 10)
#   CPU_QPS         offered rate (dnsperf -Q)                        (default 50000)
#   CPU_PORT        base port: example +0, catalogue +1              (default 5395)
#
#   bench/catalogue-cpu.sh                     # ~2 min of passes, after the zone's start
#   CPU_REGISTRIES=100000 CPU_REPS=2 bench/catalogue-cpu.sh
set -euo pipefail

die() { echo "catalogue-cpu.sh: error: $*" >&2; exit 1; }
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

N=${CPU_REGISTRIES:-1000000}
REPS=${CPU_REPS:-4}
SECS=${CPU_SECONDS:-10}
QPS=${CPU_QPS:-50000}
BASE=${CPU_PORT:-5395}
for v in N REPS SECS QPS BASE; do [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number"; done
for t in dnsperf taskset python3 getconf timeout dig; do
  command -v "$t" >/dev/null || die "$t is needed (apt-get install dnsperf bind9-dnsutils util-linux)"
done
BIN=$ROOT/target/release/georoute
[[ -x "$BIN" ]] || die "build it first: cargo build --release --locked"

OUT=$ROOT/bench/out/catalogue-cpu-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/georoute-catalogue-cpu-XXXXXX)
declare -A PID PORT
PORT[example]=$BASE
PORT[catalogue]=$((BASE + 1))
cleanup() {
  for s in "${!PID[@]}"; do stop_pid "${PID[$s]}"; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> generating $N registries" >&2
python3 - "$WORK/cfg" "$N" <<'EOF'
import os, shutil, sys
sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
import catalogue
work, n = sys.argv[1], int(sys.argv[2])
catalogue.generate(work, n, 1000)
for f in ("geoip.yaml", "demo-city.mmdb"):
    shutil.copy(os.path.join("geoip", f), os.path.join(work, "geoip", f))
EOF
python3 - "$WORK" "$N" <<'EOF'
import random, sys
random.seed(7)
work, n = sys.argv[1], int(sys.argv[2])
case = lambda s: "".join(c.upper() if random.random() < 0.5 else c for c in s)
with open(work + "/catalogue-handler.txt", "w") as f:
    for _ in range(100000):
        f.write(case("r%d.bench.test" % random.randrange(n)) + " A\n")
with open(work + "/example-handler.txt", "w") as f:
    for _ in range(100000):
        f.write(case("myregistry.azurecr.io") + " A\n")
open(work + "/catalogue-reuse.txt", "w").write("r0.bench.test A\n")
open(work + "/example-reuse.txt", "w").write("myregistry.azurecr.io A\n")
EOF

wait_answer() { # server name
  local s=$1 name=$2 i
  for ((i = 0; i < 1200; i++)); do
    kill -0 "${PID[$s]}" 2>/dev/null || die "$s exited (see $OUT/$s.log)"
    if dig +short +tries=1 +time=1 @127.0.0.1 -p "${PORT[$s]}" "$name" A 2>/dev/null | grep -q .; then
      return 0
    fi
    sleep 0.5
  done
  die "$s: no answer within 600 s"
}
for s in example catalogue; do
  dig +short +tries=1 +time=1 @127.0.0.1 -p "${PORT[$s]}" myregistry.azurecr.io A 2>/dev/null | grep -q . &&
    die "something already answers on 127.0.0.1:${PORT[$s]}"
done
taskset -c 1 "$BIN" serve --no-probes --udp-threads 1 --dns "127.0.0.1:${PORT[example]}" --admin 127.0.0.1:0 \
  >"$OUT/example.log" 2>&1 </dev/null &
PID[example]=$!
taskset -c 1 "$BIN" serve --config "$WORK/cfg" --no-probes --udp-threads 1 --dns "127.0.0.1:${PORT[catalogue]}" \
  --admin 127.0.0.1:0 >"$OUT/catalogue.log" 2>&1 </dev/null &
PID[catalogue]=$!
wait_answer example myregistry.azurecr.io
wait_answer catalogue r0.bench.test
rss=$(awk '/VmRSS/ {print int($2 / 1024)}' /proc/"${PID[catalogue]}"/status)
echo "==> both answer; the catalogue server holds $rss MiB" >&2

HZ=$(getconf CLK_TCK)
printf 'round\tmix\tserver\tsent\tcompleted\tlost\tticks\tus_per_answer\n' >"$OUT/runs.tsv"
for ((r = 1; r <= REPS; r++)); do
  if ((r % 2)); then order=(example catalogue); else order=(catalogue example); fi
  for mix in handler reuse; do
    for s in "${order[@]}"; do
      t0=$(task_ticks "${PID[$s]}") || die "$s is gone"
      res=$OUT/run-$r-$mix-$s.txt
      timeout -k 5 $((SECS + 30)) taskset -c 0 dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$WORK/$s-$mix.txt" \
        -E 8:00011800c00002 -t 2 -b 2048 -Q "$QPS" -l "$SECS" -q 1000 >"$res" 2>&1 ||
        die "dnsperf failed against $s (see $res)"
      t1=$(task_ticks "${PID[$s]}") || die "$s died"
      sent=$(dnsperf_stat "$res" "Queries sent")
      done_=$(dnsperf_stat "$res" "Queries completed")
      lost=$(dnsperf_stat "$res" "Queries lost")
      grep -q "NOERROR" "$res" || die "$s answered no NOERROR in $res"
      awk -v r="$r" -v m="$mix" -v s="$s" -v se="$sent" -v c="$done_" -v lo="${lost:-0}" -v t=$((t1 - t0)) \
        -v hz="$HZ" -v tsv="$OUT/runs.tsv" 'BEGIN {
          us = c > 0 ? t / hz * 1e6 / c : -1
          printf "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%.3f\n", r, m, s, se, c, lo, t, us >> tsv
          printf "round %d %-7s %-9s sent %8d completed %8d lost %6d  %.3f us/answer\n", r, m, s, se, c, lo, us
        }'
    done
  done
done
awk -F'\t' 'NR > 1 { v[$2 "/" $3] = v[$2 "/" $3] " " $8 }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    for (m = 1; m <= 2; m++) {
      mix = m == 1 ? "handler" : "reuse"
      e = median(v[mix "/example"]); c = median(v[mix "/catalogue"])
      printf "%-7s median us/answer: example %.3f, catalogue %.3f; catalogue/example %.3f\n", mix, e, c, c / e
    }
  }' "$OUT/runs.tsv" | tee "$OUT/summary.txt"
echo "raw outputs: $OUT"
