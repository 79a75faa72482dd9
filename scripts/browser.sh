#!/usr/bin/env bash
# The real browser the console's tests drive: Debian's Chromium and ChromeDriver
# (packages chromium and chromium-driver), installed once with apt-get.
#   scripts/browser.sh install    install them when missing (idempotent); prints chromedriver's path
set -euo pipefail
install() {
  if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
    echo "Installing Debian's chromium and chromium-driver (once) ..." >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
  fi
  command -v chromedriver
}
case "${1:-}" in
  install) install ;;
  *) echo "usage: $0 install" >&2; exit 2 ;;
esac
