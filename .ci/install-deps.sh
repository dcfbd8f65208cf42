#!/usr/bin/env bash
# Installs what building and testing tsjail needs from Debian's packages when it
# is missing: a C compiler and make (native/), python3, netcat and iproute2 (tests),
# nftables (traffic_rule), passt (user_net runs pasta), curl and openssl (the
# --net_allow tests), apache2 (nsjail's apache.cfg is run by the tests; its
# service is never started) and golang-go (the Go module confinement tests
# build their Go programs).
set -euo pipefail
need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v nc >/dev/null 2>&1 || need+=(netcat-openbsd)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v newuidmap >/dev/null 2>&1 || need+=(uidmap)
[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)
[ -x /usr/sbin/nft ] || [ -x /sbin/nft ] || need+=(nftables)
command -v pasta >/dev/null 2>&1 || need+=(passt)
[ -x /usr/sbin/apache2 ] || need+=(apache2)
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -x /usr/bin/curl ] || need+=(curl)
[ -x /usr/bin/openssl ] || need+=(openssl)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "tsjail: please install: ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# No package may start a service on this machine (apache2 would listen on port 80).
guard=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=1
fi
apt-get install -y -qq --no-install-recommends "${need[@]}"
[ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
