#!/usr/bin/env bash
# Debian packages the tests need: tshark is the independent oracle the decoder is
# checked against; chromium renders the HTML report. Installs only what is missing;
# needs root (or sudo) to install.
set -euo pipefail
need=()
command -v tshark >/dev/null 2>&1 || need+=(tshark)
# headless Chromium opens the HTML report in a test: it must render and run no script
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# tshark's package asks whether non-root users may capture; answer no, without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
