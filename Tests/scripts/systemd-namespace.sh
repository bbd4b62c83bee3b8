#!/bin/bash
# A real systemd as PID 1 of a private pid+mount+uts namespace, with a minimal unit set,
# for Warden's unit tests. Never boots Debian's full unit set (its tmpfiles rules would
# wipe /tmp).
#
#   systemd-namespace.sh start WORKDIR UNITFILE...   prints the namespace's PID 1 (host pid)
#   systemd-namespace.sh exec PID CMD...             runs CMD inside
#   systemd-namespace.sh stop PID                    kills it and removes the cgroups it left
set -euo pipefail

start() {
    local work=$1; shift
    local units=$work/units
    mkdir -p "$units"
    for stub in sysinit basic sockets local-fs timers paths slices network network-online multi-user shutdown umount swap; do
        printf '[Unit]\nDescription=stub %s\n' "$stub" > "$units/$stub.target"
    done
    printf '[Unit]\nDescription=Warden test target\nWants=systemd-journald.socket dbus.socket\n' > "$units/warden-test.target"
    cp /lib/systemd/system/dbus.socket /lib/systemd/system/dbus.service "$units/"
    # The journal without the dev-log socket (it would symlink the host's /dev/log).
    cat > "$units/systemd-journald.socket" <<'UNIT'
[Unit]
Description=Journal Socket
DefaultDependencies=no
[Socket]
ListenDatagram=/run/systemd/journal/socket
ListenStream=/run/systemd/journal/stdout
PassCredentials=yes
SocketMode=0666
Service=systemd-journald.service
UNIT
    cat > "$units/systemd-journald.service" <<'UNIT'
[Unit]
Description=Journal Service
DefaultDependencies=no
Requires=systemd-journald.socket
After=systemd-journald.socket
[Service]
ExecStart=/lib/systemd/systemd-journald
Type=notify
Sockets=systemd-journald.socket
RuntimeDirectory=systemd/journal
RuntimeDirectoryPreserve=yes
StandardOutput=null
UNIT
    for unit in "$@"; do cp "$unit" "$units/"; done

    local boot="mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /tmp && (mount -o remount,ro,bind /sys /sys 2>/dev/null || mount -o remount,ro /sys);"
    boot+=" exec env -i container=warden-test SYSTEMD_UNIT_PATH=$units:/run/systemd/transient:/run/systemd/system"
    boot+=" /lib/systemd/systemd --unit=warden-test.target --log-target=null"
    # The namespace outlives this script: it must not hold any descriptor the caller waits on.
    for fd in /proc/$$/fd/*; do
        fd=${fd##*/}
        [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
    done
    setsid unshare --pid --fork --mount --uts --propagation private --mount-proc /bin/sh -c "$boot" </dev/null >"$work/systemd.out" 2>&1 &
    local launcher=$!
    # PID 1 of the namespace is the child of unshare.
    local pid=""
    for _ in $(seq 100); do
        pid=$(pgrep -P "$launcher" -x systemd || true)
        [ -n "$pid" ] && break
        pid=$(pgrep -P "$(pgrep -P "$launcher" | head -1)" -x systemd 2>/dev/null || true)
        [ -n "$pid" ] && break
        sleep 0.05
    done
    [ -n "$pid" ] || { echo "systemd did not start: $(cat "$work/systemd.out")" >&2; exit 1; }
    # Wait until it answers.
    for _ in $(seq 200); do
        nsenter -t "$pid" -m -p -u -- systemctl is-system-running >/dev/null 2>&1 && break
        state=$(nsenter -t "$pid" -m -p -u -- systemctl is-system-running 2>/dev/null || true)
        case "$state" in running|degraded) break ;; esac
        sleep 0.05
    done
    echo "$pid"
}

run_inside() {
    local pid=$1; shift
    exec nsenter -t "$pid" -m -p -u -- "$@"
}

stop() {
    local pid=$1
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    # Empty cgroups the namespace's systemd created (deepest first); busy ones stay.
    find /sys/fs/cgroup -depth -type d \( -path '*/init.scope*' -o -path '*/system.slice*' \) -exec rmdir {} \; 2>/dev/null || true
}

command=$1; shift
case "$command" in
    start) start "$@" ;;
    exec) run_inside "$@" ;;
    stop) stop "$@" ;;
    *) echo "usage: $0 start|exec|stop ..." >&2; exit 2 ;;
esac
