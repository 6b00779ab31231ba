#!/usr/bin/env bash
# Builds CARGO_TARGET_DIR/debian/wemeet-scheduler_*.deb (target/debian without it): the release
# binary, the systemd unit, the example config (not started until configured), completions for
# bash, zsh and fish, the man pages (the command's and each subcommand's it names), the
# maintainer scripts (packaging/debian), and /etc/wemeet-scheduler/meetings.d owned by the
# package. Prints the package's path last. Needs cargo-deb (`cargo install cargo-deb --locked`)
# and dpkg-deb.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin=${CARGO_TARGET_DIR:-target}/release/wemeet-scheduler
rm -rf target/assets
mkdir -p target/assets/man
"$bin" man --dir target/assets/man
"$bin" completions bash > target/assets/wemeet-scheduler.bash
"$bin" completions zsh > target/assets/_wemeet-scheduler
"$bin" completions fish > target/assets/wemeet-scheduler.fish
# The package installs the binary in /usr/bin (the unit in the repository, for a hand install,
# points at /usr/local/bin).
sed 's|/usr/local/bin/wemeet-scheduler|/usr/bin/wemeet-scheduler|' systemd/wemeet-scheduler.service \
    > target/assets/wemeet-scheduler.service
deb=$(cargo deb --no-build --locked | tail -n 1)
# cargo-deb packages files only; the watch directory is empty, so it is added here, for dpkg
# to know whose it is (and to remove it with the package when nothing was put in it).
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
dpkg-deb --raw-extract "$deb" "$tree/pkg"
install -d -m 0755 "$tree/pkg/etc/wemeet-scheduler/meetings.d"
dpkg-deb --root-owner-group --build "$tree/pkg" "$deb" >/dev/null
echo "$deb"
