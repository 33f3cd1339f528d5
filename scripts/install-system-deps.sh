#!/usr/bin/env bash
# Installs the Debian packages qrdr's lab needs: a real Samba AD DC (samba, samba-ad-dc,
# samba-ad-provision; python3-samba comes with them and sets passwords from stdin),
# Kerberos client tools, ldbsearch (the tests' independent view of a DC's database),
# libnss-wrapper (name resolution for a second DC without touching /etc/hosts) and
# iproute2 (loopback addresses, one per DC); chromium (headless: the test that opens a run's
# HTML report in a real browser) with a font to render it in.
# Idempotent: when every package is installed it changes nothing and needs no network;
# otherwise it runs apt-get update once and installs what is missing. Needs root.
set -euo pipefail

packages=(samba samba-ad-dc samba-ad-provision python3-samba krb5-user winbind ldb-tools
          libnss-wrapper iproute2 chromium fonts-dejavu-core)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "system packages: all present (${packages[*]})"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing Debian packages: ${missing[*]}; run this script as root" >&2
    exit 1
fi

echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# krb5-user asks for a default realm: the lab writes its own krb5.conf per domain
apt-get install -y --no-install-recommends "${missing[@]}"
