#!/usr/bin/env bash
# Set this Linux host up for `orbnode board-emu` (make board-emu runs it first):
#   - Debian's qemu-user-static and debootstrap, installed with apt-get if missing;
#   - QEMU's aarch64 binfmt_misc entry (with the F flag, so the emulator needs no copy
#     inside the root), registered from the package's own /usr/lib/binfmt.d file where
#     no init system did it (containers, CI machines without systemd).
# Idempotent. Needs root; says so in one line (exit 2) otherwise.
set -euo pipefail

die() { echo "board-emu-host: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root (it installs packages and registers the emulator)"

missing=()
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "no apt-get: install ${missing[*]} yourself"
    echo "board-emu-host: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
fi

BINFMT=/proc/sys/fs/binfmt_misc
CONF=/usr/lib/binfmt.d/qemu-aarch64.conf
if [ ! -e "$BINFMT/register" ]; then
    mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
        || die "cannot mount binfmt_misc on $BINFMT (a container needs --privileged)"
fi
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
    [ -r "$CONF" ] || die "$CONF not found (qemu-user-static installs it)"
    cat "$CONF" > "$BINFMT/register" || die "cannot register qemu-aarch64 with binfmt_misc"
fi
grep -q '^enabled' "$BINFMT/qemu-aarch64" || echo 1 > "$BINFMT/qemu-aarch64"
grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" \
    || die "qemu-aarch64 is registered without the F flag; remove it (echo -1 > $BINFMT/qemu-aarch64) and run again"
echo "board-emu-host: $(qemu-aarch64-static --version | head -1), binfmt_misc qemu-aarch64 enabled" >&2
