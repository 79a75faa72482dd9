# Sourced by the SQS benchmarks: checks the corpus `benches/e2e.sh $which` generates, sets
# $bin (benches/release-bin.sh), starts the local S3/SQS server ($endpoint, stopped on exit)
# and exports fake credentials for it.
corpus="target/bench-corpus/$which"
[ -f "$corpus/planted.tsv" ] || { echo "run benches/e2e.sh $which first (it generates the corpus)" >&2; exit 2; }
source benches/release-bin.sh
pidfile="$PWD/target/moto-bench.pid"
endpoint=$(scripts/moto.sh start "$pidfile")
trap 'scripts/moto.sh stop "$pidfile"' EXIT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
per_message=${KEYS_PER_MESSAGE:-10}
