#!/usr/bin/env bash
# Builds target/debian/wemeet-scheduler_*.deb: the release binary, the systemd unit, the
# example config (not started until configured), completions for bash, zsh and fish, and the
# man pages. Needs cargo-deb (`cargo install cargo-deb --locked`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin=${CARGO_TARGET_DIR:-target}/release/wemeet-scheduler
rm -rf target/assets
mkdir -p target/assets/man
# The page, and the one of each subcommand it names (wemeet-scheduler-status.1, ...).
"$bin" man --dir target/assets/man
"$bin" completions bash > target/assets/wemeet-scheduler.bash
"$bin" completions zsh > target/assets/_wemeet-scheduler
"$bin" completions fish > target/assets/wemeet-scheduler.fish
# The package installs the binary in /usr/bin (the unit in the repository, for a hand install,
# points at /usr/local/bin).
sed 's|/usr/local/bin/wemeet-scheduler|/usr/bin/wemeet-scheduler|' systemd/wemeet-scheduler.service \
    > target/assets/wemeet-scheduler.service
cargo deb --no-build --locked
