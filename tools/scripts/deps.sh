#!/usr/bin/env bash
# Installs what tunstack needs from Debian's archive, only when something is missing.
# Usage: tools/scripts/deps.sh [build|test|run]   (default: test, which is a superset)
set -euo pipefail
what=${1:-test}

build_pkgs=(meson ninja-build g++ pkg-config liburing-dev libmimalloc-dev libgtest-dev
  libbenchmark-dev libfmt-dev libspdlog-dev libcli11-dev libtomlplusplus-dev libpcap-dev)
# Real peers for the namespace tests and the sandbox: the kernel's own tools and Debian's programs.
run_pkgs=(iproute2 iputils-ping iperf3 curl python3 procps)
test_pkgs=(clang libclang-rt-14-dev microsocks sockperf coturn nftables python3-matplotlib)

pkgs=("${build_pkgs[@]}" "${run_pkgs[@]}")
[ "$what" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# coturn would start a TURN server at install time; tests start their own peers only.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
