#!/usr/bin/env bash
# Runs every test: installs and starts the local S3/SQS server (moto), runs the whole
# workspace's tests against it, stops it. Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
pidfile="$PWD/target/moto-test.pid"
endpoint=$(scripts/moto.sh start "$pidfile")
trap 'scripts/moto.sh stop "$pidfile"' EXIT
echo "Local S3/SQS server at $endpoint" >&2
export TRAILHOUSE_TEST_ENDPOINT="$endpoint"
# The independent readers (Python deltalake, DuckDB) the query tests compare against.
export TRAILHOUSE_TEST_PYTHON="$PWD/.venv/bin/python"
# Fake credentials for the local server only; the SDK's chain needs something.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
cargo test --workspace --all-targets "$@"
# A bounded fuzzing run of the decoder and the SQS message parser (TRAILHOUSE_FUZZ_SECS=0
# skips it; a crash fails the run and leaves the input under fuzz/artifacts/).
if [ "$#" -eq 0 ] && [ "${TRAILHOUSE_FUZZ_SECS:-60}" != 0 ]; then
  scripts/fuzz.sh "${TRAILHOUSE_FUZZ_SECS:-60}"
fi
