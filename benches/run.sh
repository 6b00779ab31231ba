#!/usr/bin/env bash
# Every benchmark, one table each: validation, the API client and fake API (installs wrk for
# the fake's raw capacity when missing), and the daemon (startup, backlog, idle, latency).
# Takes about three minutes on a 2-core machine. docs/performance.md quotes it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench validate 2>/dev/null | sed -n '/^validate benchmark/,$p'
echo
benches/run-api.sh 2>/dev/null | sed -n '/^API benchmark/,$p'
echo
cargo bench --bench daemon 2>/dev/null | sed -n '/^daemon benchmark/,$p'
