#!/usr/bin/env bash
# Installs the Debian packages Outpost builds and tests with, if any is missing.
set -euo pipefail
pkgs=(g++ cmake ninja-build pkg-config git python3 python3-prometheus-client
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
      librocksdb-dev libuv1-dev libtomlplusplus-dev catch2
      libssl-dev libcrypt-dev openssl
      etcd-server etcd-client iproute2 clang-format curl clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
