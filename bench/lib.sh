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
