#!/usr/bin/env bash
# Debian packages the tests need: tshark is the independent oracle the decoder is
# checked against; chromium renders the HTML report. Installs only what is missing;
# needs root (or sudo) to install.
set -euo pipefail
need=()
command -v tshark >/dev/null 2>&1 || need+=(tshark)
# headless Chromium opens the HTML report in a test: it must render and run no script
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# the lab (samples/lab/run.py) runs only as root: namespaces, kube-proxy's nft DNAT, an
# NFQUEUE fault program, dnsmasq as the DNS server, a musl client, a Go client (built
# with CGO_ENABLED=0: Go's own resolver), tcpdump
if [ "$(id -u)" -eq 0 ]; then
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v nft >/dev/null 2>&1 || need+=(nftables)
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
  command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
  command -v dnsmasq >/dev/null 2>&1 || need+=(dnsmasq-base)
  command -v musl-gcc >/dev/null 2>&1 || need+=(musl-tools)
  command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
  command -v go >/dev/null 2>&1 || need+=(golang-go)
  [ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ] || need+=(libnetfilter-queue-dev)
fi
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
