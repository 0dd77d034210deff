#!/usr/bin/env bash
# Installs the Debian packages QuickVibe needs, only those missing.
#   install-deps.sh run   what the server needs
#   install-deps.sh test  what the tests need too
set -euo pipefail

want=()
need() { # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || want+=("$2")
}

need bwrap bubblewrap
if [ "${1:-run}" = test ]; then
  [ -x /usr/lib/postgresql/15/bin/initdb ] || [ -n "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ] || want+=(postgresql)
fi

[ ${#want[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "QuickVibe needs these Debian packages: ${want[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${want[*]}" >&2
  exit 1
fi
echo "installing ${want[*]} …"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
