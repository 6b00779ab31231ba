#!/usr/bin/env bash
# Installs wrk (the load tool that measures the fake API's raw capacity) when it is missing,
# then runs the API benchmark. Prints one table.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    echo "install wrk to measure the fake's raw capacity" >&2
  fi
fi
cargo bench --bench api -- "$@"
