#!/usr/bin/env bash
# Installs the Debian 12 packages Loom builds against. Idempotent; needs root or sudo.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libsqlite3-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev
  libopenmpi-dev openmpi-bin libopenblas-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-httplib-dev hyperfine prometheus chromium fonts-dejavu-core
  libssl-dev openssl        # TLS certificates, token hashes, job credentials
  clang libclang-rt-14-dev  # libFuzzer for scripts/fuzz.sh
  python3-torch             # torchrun and a gloo DDP step in tests/integration/launcher_test.cc
)
# The dashboard is built with npm (web/package-lock.json): Debian's, unless a Node.js brought one.
command -v npm >/dev/null || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
