#!/usr/bin/env bash
# Install the Debian packages Astara and its test suite need, only those missing.
#
# Why a script rather than a line in the Makefile: it must be idempotent and
# quick when nothing is missing (make calls it on every dependency refresh),
# and it must explain itself when it cannot run (not root, no apt-get).
set -euo pipefail

PACKAGES=(
  # building and running the Python service
  python3 python3-venv python3-dev gcc make git
  # the data plane: namespaces, bridges, filtering and the appliance services
  iproute2 nftables dnsmasq-base keepalived conntrack conntrackd bird2 haproxy
  iputils-ping tcpdump busybox sudo procps
  # astara-ctl ssh (the client only: appliances run the server)
  openssh-client
  # the real services the integration tests talk to
  mariadb-server postgresql redis-server rabbitmq-server
  # ZooKeeper for the clustering tests (they start a private server of their own)
  zookeeper
  # TCP forwarders from the tests' private network world to services on the host's loopback
  socat
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "install-system-deps: apt-get not found; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps Debian from starting services during install on machines without
# systemd as PID 1; ensure-services.sh starts what the tests need afterwards.
apt-get install -y -qq --no-install-recommends "${missing[@]}"
