#!/bin/sh
# Writes the DEBIAN/ control files for `make deb`: debian-control.sh VERSION ARCH ROOT
set -eu
version=$1 arch=$2 root=$3
size=$(du -sk "$root" | cut -f1)
mkdir -p "$root/DEBIAN"
# The binary carries SQLite and libstdc++ (the Makefile's STATIC_FLAGS): Debian records such
# copies by source package and version, so a security update shows which builds need redoing.
built_using=$(dpkg-query -W -f='${source:Package} (= ${source:Version}), ' libsqlite3-dev libstdc++-12-dev | sed 's/, $//')

cat > "$root/DEBIAN/control" <<CONTROL
Package: warden
Version: $version
Architecture: $arch
Maintainer: Warden maintainers <warden@localhost>
Installed-Size: $size
Depends: libc6, libgcc-s1, libsystemd0, zlib1g
Built-Using: $built_using
Recommends: monitoring-plugins-basic, python3
Section: admin
Priority: optional
Description: systemd-native monitoring and auto-remediation daemon
 Warden runs diagnostic plugins on a schedule, keeps every result in SQLite,
 and when failure rules match runs remediation plugins with budgets,
 cooldowns, flap detection and a verification that proves the fix.
CONTROL

# The config is the administrator's: dpkg asks before replacing a changed one.
echo /etc/warden/warden.yaml > "$root/DEBIAN/conffiles"

cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    # Restart on upgrade if it was running; a fresh install is left for the operator to enable.
    if systemctl is-active --quiet warden.service; then systemctl try-restart warden.service || true; fi
fi
POSTINST

cat > "$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop warden.service || true
fi
PRERM

cat > "$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
if [ "$1" = purge ]; then rm -rf /var/lib/warden; fi
POSTRM

chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
