#!/usr/bin/env bash
# Installs Loom's dependencies, builds it, and runs the whole test suite under ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure --timeout 300
# The libFuzzer targets, ~30 s each over their seed corpus (skipped without clang; LOOM_FUZZ=0 skips).
if [ "${LOOM_FUZZ:-1}" != 0 ]; then "$root/scripts/fuzz.sh"; fi
