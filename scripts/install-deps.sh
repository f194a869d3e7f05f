#!/usr/bin/env bash
# Installs the Debian packages k1s needs to build, run and test.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(protobuf-compiler ca-certificates)
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
