#!/bin/sh
# private_mounts.sh DIR COMMAND...: runs COMMAND (vigild) with vigil's default
# paths taken over by DIR, in the private mount namespace `unshare -m
# --propagation private` gives it. A supervisord config names none of
# vigil's paths, so vigild uses /run/vigil (control socket) and
# /var/lib/vigil (state): here they are DIR and DIR/state, so the test's
# vigild shares nothing with the host or other tests. When DIR/log.sock is a
# socket, /dev/log is that socket: syslog(3) from vigild lands in the test.
# Nothing outside the namespace changes.
set -eu
dir=$1
shift
mkdir -p "$dir/state"

# Shows directory $2 at path $1; when $1 does not exist, a tmpfs over its
# parent (private to this namespace) makes room for it.
show_at() {
    if [ ! -d "$1" ]; then
        mount -t tmpfs vigil-test "$(dirname "$1")"
        mkdir -p "$1"
    fi
    mount --bind "$2" "$1"
}
show_at /run/vigil "$dir"
show_at /var/lib/vigil "$dir/state"

if [ -S "$dir/log.sock" ]; then
    # /dev is the host's devtmpfs: an overlay makes /dev/log ours alone.
    mkdir -p "$dir/dev-upper" "$dir/dev-work"
    mount -t overlay vigil-test -o "lowerdir=/dev,upperdir=$dir/dev-upper,workdir=$dir/dev-work" /dev
    rm -f /dev/log
    touch /dev/log
    mount --bind "$dir/log.sock" /dev/log
fi
exec "$@"
