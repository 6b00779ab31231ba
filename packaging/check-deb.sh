#!/usr/bin/env bash
# Builds the Debian package (installing cargo-deb from crates.io when missing) and checks it:
# 1. what it holds: the binary, the unit (pointing at it), the example config as a conffile,
#    the watch directory, the completions, the man pages (every one a page names), and the
#    maintainer scripts;
# 2. what the maintainer scripts ask of systemd, with stand-ins for systemctl and
#    deb-systemd-helper/-invoke, in a mount namespace where systemd seems to run: nothing
#    started on install, try-restart on upgrade, stop on remove and not on upgrade;
# 3. the package's life in a throwaway root (dpkg --root, scripts run chrootless with
#    DPKG_ROOT set, as debhelper's scripts allow): install, reinstall, upgrade to a newer
#    version, remove, install again, purge; what is on disk after each.
# 2 and 3 need root (sudo is used when there); under CI=true, not being able to run them is a
# failure, elsewhere they are skipped with a notice. Takes seconds past the build.
set -euo pipefail
cd "$(dirname "$0")/.."

unit=wemeet-scheduler.service

# --- 2 and 3, as root: `check-deb.sh --as-root DEB`.
as_root() {
    local deb=$1
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    fail() { echo "check-deb: $*" >&2; exit 1; }

    mkdir -p "$work/scripts"
    for s in postinst prerm postrm; do
        dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$s" > "$work/scripts/$s"
    done

    # 2. The systemd calls. Stand-ins log their arguments; deb-systemd-helper answers "yes"
    # to debian-installed and was-enabled when ENABLED=1 (an upgrade of an enabled unit).
    mkdir -p "$work/bin"
    for tool in systemctl deb-systemd-invoke deb-systemd-helper; do
        cat > "$work/bin/$tool" <<STUB
#!/bin/sh
echo "$tool \$*" >> "$work/calls"
case "\$*" in *debian-installed* | *was-enabled*) [ "\${ENABLED:-0}" = 1 ] ;; esac
STUB
        chmod +x "$work/bin/$tool"
    done
    calls() { # ENABLED SCRIPT ARGS...: the calls SCRIPT makes, systemd seeming to run
        local enabled=$1
        shift
        : > "$work/calls"
        unshare --mount sh -c 'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec "$@"' \
            - env -u DPKG_ROOT ENABLED="$enabled" PATH="$work/bin:$PATH" sh "$work/scripts/$@" >/dev/null
        cat "$work/calls"
    }
    expect_calls() { # WHAT EXPECTED ENABLED SCRIPT ARGS...
        local what=$1 expected=$2 got
        shift 2
        got=$(calls "$@")
        [ "$got" = "$expected" ] || fail "$what: the scripts called
$got
where this was expected:
$expected"
    }
    systemd_calls() {
        expect_calls "a first install" "deb-systemd-helper debian-installed $unit
deb-systemd-helper update-state $unit
systemctl --system daemon-reload" 0 postinst configure
        expect_calls "an upgrade of an enabled unit" "deb-systemd-helper debian-installed $unit
deb-systemd-helper unmask $unit
deb-systemd-helper --quiet was-enabled $unit
deb-systemd-helper enable $unit
deb-systemd-helper update-state $unit
systemctl --system daemon-reload
deb-systemd-invoke try-restart $unit" 1 postinst configure 0.1.0-1
        expect_calls "the old prerm in an upgrade" "" 1 prerm upgrade 0.1.0-2
        expect_calls "a removal (prerm)" "deb-systemd-invoke stop $unit" 1 prerm remove
        expect_calls "a removal (postrm)" "systemctl --system daemon-reload
deb-systemd-helper mask $unit" 1 postrm remove
        echo "maintainer scripts ok: nothing started on install, try-restart on upgrade, stop on remove"
    }
    if unshare --mount true 2>/dev/null; then
        systemd_calls
    elif [ "${CI:-}" = true ]; then
        fail "unshare --mount is refused here: the scripts' systemd calls cannot be checked"
    else
        echo "check-deb: NOT checked: the scripts' systemd calls (unshare --mount is refused here)"
    fi
    # The purge is checked in the throwaway root below: its removals would reach this host.

    # 3. The throwaway root. dpkg knows nothing in it, so dependencies are not checked.
    local root=$work/root
    mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
    touch "$root/var/lib/dpkg/status"
    # dpkg's output (the dependencies it does not find, a directory it could not remove) is
    # shown only when it fails.
    in_root() {
        dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null "$@" \
            >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "$step: dpkg $* failed"; }
    }
    present() { local p; for p; do [ -e "$root$p" ] || [ -L "$root$p" ] || fail "$step: $p is missing"; done; }
    absent() { local p; for p; do [ ! -e "$root$p" ] && [ ! -L "$root$p" ] || fail "$step: $p is still there"; done; }
    installed() { # VERSION, or "" for not installed
        local got
        got=$(dpkg-query --root="$root" -W -f='${db:Status-Abbrev}${Version}' wemeet-scheduler 2>/dev/null || true)
        [ "$got" = "$1" ] || fail "$step: dpkg says '$got', not '$1'"
    }
    local version enabled=/etc/systemd/system/multi-user.target.wants/$unit
    local mask=/etc/systemd/system/$unit dsh=/var/lib/systemd/deb-systemd-helper-enabled
    local config=/etc/wemeet-scheduler/config.toml watch=/etc/wemeet-scheduler/meetings.d
    version=$(dpkg-deb -f "$deb" Version)

    step="install"
    in_root -i "$deb"
    installed "ii $version"
    present /usr/bin/wemeet-scheduler /lib/systemd/system/$unit "$config" "$watch" "$dsh/$unit.dsh-also"
    absent "$enabled" "$mask" /var/lib/wemeet-scheduler
    [ "$(dpkg-query --root="$root" -S "$watch")" = "wemeet-scheduler: $watch" ] \
        || fail "$step: $watch belongs to no package"
    "$root/usr/bin/wemeet-scheduler" --version >/dev/null || fail "$step: the binary does not run"

    # What an operator adds: an edited config, a key, a definition, `systemctl enable`, and
    # the state systemd's StateDirectory= makes under DynamicUser=yes.
    echo "# edited" >> "$root$config"
    echo "secret" > "$root/etc/wemeet-scheduler/secret-key"
    echo 'subject = "x"' > "$root$watch/standup.toml"
    mkdir -p "$root$(dirname "$enabled")" "$root/var/lib/private/wemeet-scheduler"
    ln -s /lib/systemd/system/$unit "$root$enabled"
    echo state > "$root/var/lib/private/wemeet-scheduler/state.db"
    ln -s private/wemeet-scheduler "$root/var/lib/wemeet-scheduler"
    kept() {
        present "$enabled" "$watch/standup.toml" /etc/wemeet-scheduler/secret-key \
            /var/lib/wemeet-scheduler/state.db
        grep -qx "# edited" "$root$config" || fail "$step: the edited config was replaced"
    }

    step="reinstall of the same version"
    in_root -i "$deb"
    installed "ii $version"
    kept

    step="upgrade to a newer version"
    dpkg-deb --raw-extract "$deb" "$work/newer"
    sed -i "s/^Version: .*/Version: $version+check1/" "$work/newer/DEBIAN/control"
    dpkg-deb --root-owner-group --build "$work/newer" "$work/newer.deb" >/dev/null
    in_root -i "$work/newer.deb"
    installed "ii $version+check1"
    present /usr/bin/wemeet-scheduler
    kept

    step="remove"
    in_root -r wemeet-scheduler
    installed "rc $version+check1"
    absent /usr/bin/wemeet-scheduler /lib/systemd/system/$unit
    present "$mask" "$dsh/$unit.dsh-also"
    kept

    step="install after a remove"
    in_root -i "$deb"
    installed "ii $version"
    absent "$mask"
    kept

    step="purge"
    in_root -P wemeet-scheduler
    installed ""
    absent /usr/bin/wemeet-scheduler "$config" "$enabled" "$mask" "$dsh/$unit.dsh-also" \
        /var/lib/wemeet-scheduler /var/lib/private/wemeet-scheduler
    # What the operator put in /etc stays (dpkg says the directory is not empty).
    present "$watch/standup.toml" /etc/wemeet-scheduler/secret-key

    step="purge of a package nothing was added to"
    rm -rf "${root:?}/etc/wemeet-scheduler"
    in_root -i "$deb"
    in_root -P wemeet-scheduler
    installed ""
    absent /etc/wemeet-scheduler /usr/bin/wemeet-scheduler

    echo "package life ok: install, reinstall, upgrade, remove, install, purge"
}

if [ "${1:-}" = --as-root ]; then
    as_root "$2"
    exit 0
fi

# --- 1. Build, and what the package holds.
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked
fi
deb=$(packaging/build-deb.sh | tail -n 1)
contents=$(dpkg-deb -c "$deb")
for path in \
    ./usr/bin/wemeet-scheduler \
    ./lib/systemd/system/$unit \
    ./etc/wemeet-scheduler/config.toml \
    ./etc/wemeet-scheduler/meetings.d/ \
    ./usr/share/man/man1/wemeet-scheduler.1.gz \
    ./usr/share/man/man1/wemeet-scheduler-status.1.gz \
    ./usr/share/bash-completion/completions/wemeet-scheduler \
    ./usr/share/zsh/vendor-completions/_wemeet-scheduler \
    ./usr/share/fish/vendor_completions.d/wemeet-scheduler.fish \
    ./usr/share/doc/wemeet-scheduler/examples/meetings/team/standup.toml; do
    grep -q " $path\$" <<<"$contents" || { echo "the package lacks $path" >&2; exit 1; }
done
# Every page a shipped page names (`wemeet\-scheduler\-status(1)`) is shipped too.
for page in $(grep -o '\./usr/share/man/man1/.*\.1\.gz$' <<<"$contents"); do
    for named in $(dpkg-deb --fsys-tarfile "$deb" | tar -xO "$page" | gzip -dc \
        | sed -n 's/\\-/-/g; s/^\(wemeet-scheduler[a-z-]*\)(1)$/\1/p'); do
        grep -q " ./usr/share/man/man1/$named.1.gz\$" <<<"$contents" \
            || { echo "$page names $named(1), which the package lacks" >&2; exit 1; }
    done
done
# Read whole before grepping: `grep -q` stops early, and under pipefail tar's SIGPIPE would
# read as a failure.
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
grep -qx /etc/wemeet-scheduler/config.toml <<<"$conffiles" \
    || { echo "the config is not a conffile" >&2; exit 1; }
unit_text=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/$unit)
grep -q '^ExecStart=/usr/bin/wemeet-scheduler run' <<<"$unit_text" \
    || { echo "the unit does not run /usr/bin/wemeet-scheduler" >&2; exit 1; }
for s in postinst prerm postrm; do
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$s" | sh -n \
        || { echo "the package's $s is not a valid sh script" >&2; exit 1; }
done
echo "package ok: $deb ($(du -h "$deb" | cut -f1))"

# --- 2 and 3.
if [ "$(id -u)" = 0 ]; then
    "$0" --as-root "$deb"
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo "$0" --as-root "$deb"
elif [ "${CI:-}" = true ]; then
    echo "check-deb: the package's life in a throwaway root needs root (or sudo without a password)" >&2
    exit 1
else
    echo "check-deb: NOT checked: the maintainer scripts and the package's life in a throwaway root (they need root or sudo)"
fi
