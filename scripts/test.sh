#!/usr/bin/env bash
# Runs every check: formatting (cargo fmt), then installs and starts the local S3/SQS
# server (moto), installs the headless browser the console's tests drive, builds the whole
# workspace's tests with clippy's lints (warnings are errors) and runs them, stops the
# server, and fuzzes for a bounded time.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
# A cold build of the workspace's tests takes ~6 GiB under target/ (and the fuzz targets
# ~0.7 GiB under fuzz/); on a full disk rustc dies half way with "No space left on device".
# Say so up front instead.
target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p "$target_dir"
free_gb=$(df -Pk "$target_dir" | awk 'NR == 2 { print int($4 / 1048576) }')
if [ "$free_gb" -lt 8 ]; then
  echo "warning: only ${free_gb} GiB free under $target_dir; a cold build needs ~7 GiB" \
    "(measured 2026-11-24). If rustc fails with 'No space left on device', free disk" \
    "(e.g. cargo clean) and run again." >&2
fi
# Style first: it takes seconds and fails fast. `rustup component add rustfmt clippy` if
# either is missing.
cargo fmt --all --check
# Lints (clippy, warnings are errors) in the same build as the tests: cargo compiles the
# workspace's own crates, every target, with clippy-driver (what `cargo clippy` runs; it
# lints, then compiles as rustc does) and the dependencies with plain rustc. A separate
# `cargo clippy --workspace --all-targets -- -D warnings` would compile every dependency
# a second time, in check mode (11.5 minutes of a cold run on 2 cores; the whole cold CI
# run was 3207 s that way, 3467, 3136 and 2844 s this way: within this machine's noise, 2026-12-02).
# CLIPPY_ARGS is how `cargo clippy` hands clippy-driver its flags.
clippy_driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
pidfile="$PWD/target/moto-test.pid"
endpoint=$(scripts/moto.sh start "$pidfile")
trap 'scripts/moto.sh stop "$pidfile"' EXIT
echo "Local S3/SQS server at $endpoint" >&2
export TRAILHOUSE_TEST_ENDPOINT="$endpoint"
# The independent readers (Python deltalake, DuckDB) the query tests compare against.
export TRAILHOUSE_TEST_PYTHON="$PWD/.venv/bin/python"
# The real browser the console's page tests drive (Debian's chromium and chromium-driver).
TRAILHOUSE_TEST_CHROMEDRIVER=$(scripts/browser.sh install)
export TRAILHOUSE_TEST_CHROMEDRIVER
# Fake credentials for the local server only; the SDK's chain needs something.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
# The output is kept for scripts/count-tests.sh, which fails a run where a test binary ran
# nothing or fewer tests passed than tests/test-count records. It checks whole runs only:
# extra arguments that select tests (a name, `--test it cli::`) skip it, and the doc tests.
log="$target_dir/test-output.log"
whole=true
for a in "$@"; do
  case "$a" in --no-fail-fast | --release | --locked | --offline | -q | --quiet) ;; *) whole=false ;; esac
done
# (The workspace-hack crate holds no code, only dependency features: nothing to test.)
cargo test --workspace --exclude workspace-hack --all-targets "$@" 2>&1 | tee "$log"
if $whole; then
  # The examples in the crates' docs (`--all-targets` leaves doc tests out): each compiles,
  # and those not marked `no_run` run.
  cargo test --workspace --exclude workspace-hack --doc "$@" 2>&1 | tee -a "$log"
  scripts/count-tests.sh "$log"
fi
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
# A bounded fuzzing run of the decoder and the SQS message parser (TRAILHOUSE_FUZZ_SECS=0
# skips it; a crash fails the run and leaves the input under fuzz/artifacts/).
if [ "$#" -eq 0 ] && [ "${TRAILHOUSE_FUZZ_SECS:-60}" != 0 ]; then
  scripts/fuzz.sh "${TRAILHOUSE_FUZZ_SECS:-60}"
fi
