#!/usr/bin/env bash
# The one test command (README): installs what the tests need on a fresh
# machine, then runs formatting, lint, CRD drift and every test.
# Under CI=true a missing piece is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

ci() { [ "${CI:-}" = "true" ]; }
have() { command -v "$1" >/dev/null 2>&1; }

# apt_install PKG...: install Debian packages when we may (root), once.
apt_updated=""
apt_install() {
  if [ "$(id -u)" != 0 ] || ! have apt-get; then return 1; fi
  if [ -z "$apt_updated" ]; then apt-get update -qq >/dev/null && apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# require CMD WHAT [PKG]: make CMD available, installing PKG if given.
# Missing after that: a failure under CI, a warning locally.
require() {
  local cmd=$1 what=$2 pkg=${3:-}
  if ! have "$cmd" && [ -n "$pkg" ]; then
    echo "== installing $pkg ($what)"
    apt_install "$pkg" || true
  fi
  if ! have "$cmd"; then
    if ci; then echo "missing required tool: $cmd ($what)" >&2; exit 1; fi
    echo "warning: $cmd missing ($what); tests needing it will say so" >&2
  fi
}

require cargo "the Rust toolchain"
have rustup && rustup component add rustfmt clippy >/dev/null 2>&1 || true
require cargo-fmt "rustfmt, for the format check"
# `kubectl kustomize deploy/` renders the install manifests offline.
require kubectl "kubectl kustomize, for deploy/" kubernetes-client
# deploy/argocd/health.lua runs under Argo CD's Lua dialect, 5.1.
require lua5.1 "the Argo CD health check tests" lua5.1
# promtool checks and unit-tests deploy/monitoring's alert rules.
require promtool "the Prometheus alert rule tests" prometheus
# The example CI workflow renders the plan table with jq.
require jq "the example CI workflow's plan rendering" jq

# A clean build needs no incremental cache; it only costs disk.
if ci; then export CARGO_INCREMENTAL=0; fi

# The tests run on the system allocator: the controller's jemalloc
# (`--features jemalloc`, on by default for builds that ship) is a C build
# of about two minutes that no test needs and that the whole build waits
# for. Release builds and the benches keep it (src/main.rs, a dozen
# lines behind the feature).
features=(--no-default-features)

echo "== cargo fmt --check"
cargo fmt --all -- --check

# Clippy lints the workspace's crates while they are built for the tests,
# as their compiler (what `cargo clippy` does, without its separate check
# build of every dependency: that pass alone was a third of a clean run).
# A lint fails the build, so no test runs on code that does not pass it.
clippy_driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)
if [ -z "$clippy_driver" ]; then
  if ci; then echo "missing required tool: clippy-driver (the lint)" >&2; exit 1; fi
  echo "warning: clippy-driver missing; building the tests without the lint" >&2
else
  export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
  # cargo-clippy's way of handing `-D warnings` to the driver.
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
fi

echo "== cargo test, linted by clippy -D warnings (includes the CRD drift check and the ignored-test compile)"
# Every binary runs (no fail-fast), and its "test result:" line is summed
# into the last line printed.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets --locked --no-fail-fast "${features[@]}" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "%d passed, %d failed, %d ignored\n", p, f, i }' "$log"
exit "$status"
