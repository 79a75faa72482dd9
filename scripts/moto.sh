#!/usr/bin/env bash
# The local S3/SQS server for tests: moto[server] from PyPI, in a venv this script makes
# (with the other Python tools the tests use: scripts/requirements-test.txt).
#   scripts/moto.sh install        make .venv and install the requirements (idempotent)
#   scripts/moto.sh start PIDFILE  start on a free 127.0.0.1 port; prints http://127.0.0.1:PORT
#   scripts/moto.sh stop PIDFILE   stop it
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
requirements="$here/scripts/requirements-test.txt"

install() {
  # Reinstall whenever the requirements file changes (its hash is kept in the venv).
  local want have
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  have=$(cat "$venv/.requirements.sha256" 2>/dev/null || true)
  if [ ! -x "$venv/bin/moto_server" ] || [ "$want" != "$have" ]; then
    echo "Installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into $venv ..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    echo "$want" >"$venv/.requirements.sha256"
  fi
}

start() {
  local pidfile=$1
  install
  local port
  port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  local log="${pidfile%.pid}.log"
  # moto_server plus ListPublicKeys (scripts/moto_server.py says why).
  "$venv/bin/python" "$here/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  echo $! >"$pidfile"
  # Poll until it answers, with a deadline.
  local deadline=$((SECONDS + 60))
  until "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "moto_server did not start; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    "$venv/bin/python" -c 'import time; time.sleep(0.2)'
  done
  echo "http://127.0.0.1:$port"
}

stop() {
  local pidfile=$1
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?pidfile}" ;;
  stop) stop "${2:?pidfile}" ;;
  *) echo "usage: $0 install | start PIDFILE | stop PIDFILE" >&2; exit 2 ;;
esac
