#!/bin/sh
# Builds the scenario program from this kit: needs a C++17 compiler, make (or ninja) and CMake 3.18+.
# Usage: ./build.sh            (then ./record.sh)
# Extra CMake arguments pass through, e.g. ./build.sh -DCMAKE_CXX_COMPILER=clang++
set -eu
cd "$(dirname "$0")"
generator=""
if command -v ninja >/dev/null 2>&1; then generator="-G Ninja"; fi
# shellcheck disable=SC2086
cmake -S . -B build $generator -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAFUNIX_RECORDER_ONLY=ON \
  -DAFUNIX_GTEST_FROM_SOURCE=ON -DAFUNIX_GTEST_SOURCE_DIR="$PWD/third_party/googletest" "$@"
cmake --build build --target afunix-scenarios
echo "built: build/conformance/afunix-scenarios; now run ./record.sh (as root for the identity scenarios)"
