#!/usr/bin/env bash
# Installs the Debian packages k1s needs to build, run and test:
#   build:  protobuf-compiler (containerd-client compiles containerd's protobufs)
#   run:    containerd, runc, containernetworking-plugins (bridge, host-local,
#           loopback, portmap), iptables, iproute2
#   tests:  busybox-static and python3 (test images are built from them),
#           docker-registry (registry pulls against 127.0.0.1), tmux (kubectl exec -it),
#           dnsmasq-base (an upstream resolver on a loopback address for the cluster DNS;
#           the -base package starts no system service on port 53)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(protobuf-compiler ca-certificates containerd runc containernetworking-plugins iptables iproute2
  busybox-static python3-minimal libpython3.11-stdlib docker-registry tmux dnsmasq-base curl)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
if ! command -v kubectl >/dev/null; then
  echo "install-deps.sh: kubectl is not installed; k1s needs the real kubectl (v1.32) for 'k1s kubectl' and the e2e tests" >&2
  exit 1
fi
