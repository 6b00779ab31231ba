#!/usr/bin/env bash
# Builds the Debian package (installing cargo-deb from crates.io when missing) and checks that
# it holds what a server needs: the binary, the unit (pointing at it), the example config as a
# conffile, the completions and the man page.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked
fi
packaging/build-deb.sh
deb=$(ls target/debian/wemeet-scheduler_*.deb | tail -n 1)
contents=$(dpkg-deb -c "$deb")
for path in \
    ./usr/bin/wemeet-scheduler \
    ./lib/systemd/system/wemeet-scheduler.service \
    ./etc/wemeet-scheduler/config.toml \
    ./usr/share/man/man1/wemeet-scheduler.1.gz \
    ./usr/share/bash-completion/completions/wemeet-scheduler \
    ./usr/share/zsh/vendor-completions/_wemeet-scheduler \
    ./usr/share/fish/vendor_completions.d/wemeet-scheduler.fish \
    ./usr/share/doc/wemeet-scheduler/examples/meetings/team/standup.toml; do
    grep -q " $path\$" <<<"$contents" || { echo "the package lacks $path" >&2; exit 1; }
done
# Read whole before grepping: `grep -q` stops early, and under pipefail tar's SIGPIPE would
# read as a failure.
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
grep -qx /etc/wemeet-scheduler/config.toml <<<"$conffiles" \
    || { echo "the config is not a conffile" >&2; exit 1; }
unit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/wemeet-scheduler.service)
grep -q '^ExecStart=/usr/bin/wemeet-scheduler run' <<<"$unit" \
    || { echo "the unit does not run /usr/bin/wemeet-scheduler" >&2; exit 1; }
echo "package ok: $deb ($(du -h "$deb" | cut -f1))"
