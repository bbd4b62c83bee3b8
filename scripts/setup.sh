#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test Warden.
# Idempotent and quiet when everything is already there.
set -euo pipefail

packages=(
  pkg-config          # SwiftPM's systemLibrary targets resolve flags through it
  libsystemd-dev      # CSystemd: sd_notify, sd-journal, sd-bus
  libsqlite3-dev      # GRDB links SQLite: the debug build the shared library, the release build its archive
  libstdc++-12-dev    # the release build links libstdc++'s archive (the Swift runtime needs it)
  monitoring-plugins-basic  # the `nagios` plugin's tests run Debian's checks
  python3             # the example custom plugin in etc/warden/examples
  procps              # ps/pgrep for process checks
  systemd             # the unit tests: systemd as PID 1 of a test namespace, journald, systemd-analyze
  dbus                # the test namespace's system bus
  util-linux          # unshare/nsenter for that namespace; losetup/mount for the storage-fault tests
  e2fsprogs           # storage-fault tests: mkfs.ext4 for a small loop filesystem, chattr +i for a read-only database
  dpkg-dev            # `make deb` (dpkg-deb, dpkg --print-architecture)
  prometheus          # prom.query tests run a real Prometheus on loopback
  prometheus-alertmanager  # notification tests: a real Alertmanager on loopback receives and resolves alerts
  python3-aiosmtpd    # notification tests: a real SMTP server on loopback
  curl                # the email notifier sends through curl's SMTP client
  chromium            # the status page test renders it in headless Chromium and takes a screenshot
  openssl             # tls_cert tests make a certificate and serve it with s_server
  postgresql          # Database plugin tests: throwaway clusters (initdb, pg_ctl, pg_basebackup, psql; pg_stat_statements)
  monit               # `make bench`: the peer Warden is measured against
  nginx-light         # `make bench`: the loopback HTTP target both tools check
  valgrind            # `bench/bench.py --callgrind`: instructions per check
  sqlite3             # `make bench`: the history query alone, next to `warden history`
  time                # `make bench`: peak RSS of a whole CLI process (GNU time)
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "setup: need root to install: apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
  echo "setup: the Swift 6 toolchain is not on PATH (expected /opt/swift/usr/bin)" >&2
  exit 1
fi
