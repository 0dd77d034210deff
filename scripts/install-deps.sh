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
need git git # project versions (internal/version): plumbing, archive, bundle, push
if [ "${1:-run}" = test ]; then
  # Browser tests (chromedp) and preview thumbnails drive headless Chromium.
  need chromium chromium
  # Emoji in the UI's screenshots (project types) need a color emoji font.
  [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || want+=(fonts-noto-color-emoji)
  # The sandbox escape suite runs these inside sandboxes.
  need curl curl; need python3 python3; need strace strace; need node nodejs
  need mkfs.ext4 e2fsprogs # workspace size limit (QV_SANDBOX_DISK)
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
