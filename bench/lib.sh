# shellcheck shell=bash
# Shared by the bench scripts (sourced, with the repository root as the current folder and
# `log`/`die` defined).

# The georoute binary to measure: $GEOROUTE_BIN, or target/release/georoute, built with
# `cargo build --release --locked` when it is missing or older than the sources. Sets BIN.
release_binary() {
  BIN=${GEOROUTE_BIN:-}
  if [[ -z "$BIN" ]]; then
    BIN=$REPO/target/release/georoute
    if [[ ! -x "$BIN" ]] || [[ -n "$(find src Cargo.toml Cargo.lock -newer "$BIN" -print -quit 2>/dev/null)" ]]; then
      log "cargo build --release --locked"
      cargo build --release --locked >&2 || die "cargo build failed"
    fi
  fi
  [[ -x "$BIN" ]] || die "binary $BIN not found"
}

# Sum of utime+stime (clock ticks) over every thread of PID: /proc/PID/task/*/stat fields 14, 15.
# The comm field may contain spaces: split after the last ') '.
task_ticks() {
  local pid=$1 sum=0 f stat rest a n=0
  for f in /proc/"$pid"/task/*/stat; do
    { stat=$(<"$f"); } 2>/dev/null || continue
    rest=${stat##*) }
    read -r -a a <<<"$rest"
    sum=$((sum + a[11] + a[12]))
    n=$((n + 1))
  done
  ((n > 0)) || return 1
  echo "$sum"
}

# dnsperf_stat FILE KEY -> the first number after "KEY:" in dnsperf's output.
dnsperf_stat() {
  awk -v key="$2:" 'p = index($0, key) {
    v = substr($0, p + length(key)); sub(/^[ \t]+/, "", v); split(v, a, /[ \t(]/); print a[1]; exit
  }' "$1"
}

# Processes that make measurements noisy: command lines matching cargo or fuzz, except this
# script's own ancestors. ".cargo/bin:" inside a PATH list (an environment passed as an
# argument) is not a cargo process, so such entries are ignored.
ANCESTORS=" "
_lib_p=$$
while [[ -n "$_lib_p" && "$_lib_p" != 0 && "$_lib_p" != 1 ]]; do
  ANCESTORS+="$_lib_p "
  _lib_p=$(awk '{sub(/.*\) /, ""); print $2}' "/proc/$_lib_p/stat" 2>/dev/null || true)
done
unset _lib_p
busy_procs() {
  local pid cmd out=""
  for pid in $(pgrep -f 'cargo|fuzz' 2>/dev/null || true); do
    [[ "$ANCESTORS" == *" $pid "* ]] && continue
    cmd=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)
    cmd=${cmd//.cargo\/bin:/}
    [[ "$cmd" =~ cargo|fuzz ]] || continue
    out+="$pid:$(cut -c1-40 <<<"${cmd%% -*}" | tr ' ' '_') "
  done
  echo "${out% }"
}

stop_pid() { # pid: TERM, up to 3 s, then KILL; reap
  local p=$1 i
  [[ -n "$p" ]] || return 0
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
}

# wait_idle: before a pass, wait while cargo/fuzz processes run, polling every 20 s. The caller
# sets IDLE_LEFT (seconds of waiting allowed for the whole run) and IDLE_WAITED=0; once the
# budget is spent, passes run regardless.
wait_idle() {
  local busy t0
  busy=$(busy_procs)
  [[ -n "$busy" ]] || return 0
  ((IDLE_LEFT > 0)) || return 0
  log "waiting for cargo/fuzz processes to finish (at most ${IDLE_LEFT}s more): $busy"
  t0=$SECONDS
  while [[ -n "$busy" ]] && ((SECONDS - t0 < IDLE_LEFT)); do
    sleep 20
    busy=$(busy_procs)
  done
  IDLE_LEFT=$((IDLE_LEFT - (SECONDS - t0)))
  ((IDLE_LEFT > 0)) || IDLE_LEFT=0
  IDLE_WAITED=$((IDLE_WAITED + SECONDS - t0))
  if [[ -n "$busy" ]]; then log "still busy, idle-wait budget spent: measuring anyway"; else log "idle again"; fi
}
