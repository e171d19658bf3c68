#!/bin/sh
# Runs every scenario once on this system and packs the traces for `./conform import` on the
# suite's machine. Usage: ./record.sh [NAME]   (NAME: the row's name, default <system>-<machine>)
# Run it as root (sudo) where the system has setuid: scenarios that switch to the test identities
# (uids 61001-61003) are UNSUPPORTED otherwise. AFUNIX_TIMEOUT_SCALE (default 2) stretches the
# harness's deadlines on slow systems.
set -eu
cd "$(dirname "$0")"
program=build/conformance/afunix-scenarios
[ -x "$program" ] || { echo "record.sh: $program is not built: run ./build.sh first" >&2; exit 2; }
system=$(uname -s | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9._-]/-/g')
machine=$(uname -m | sed 's/[^A-Za-z0-9._-]/-/g')
name=${1:-$system-$machine}
out="traces-$name"
rm -rf "$out"
mkdir -p "$out"
# Scenario directories go under /tmp: the test identities must be able to reach them, which a
# private home directory would not let them.
work=$(mktemp -d "${TMPDIR:-/tmp}/afunix-work.XXXXXX")
chmod 755 "$work"
{
  echo "name: $name"
  echo "uname: $(uname -a)"
  echo "suite revision: $(cat SUITE_REVISION)"
  echo "compiler: $(${CXX:-c++} --version 2>/dev/null | head -n 1)"
  echo "cmake: $(cmake --version | head -n 1)"
  echo "recorded: $(date -u +%Y-%m-%dT%H:%M:%SZ) by uid $(id -u)"
} > "$out/system.txt"
AFUNIX_TRACE_DIR="$PWD/$out" AFUNIX_WORKDIR="$work" AFUNIX_BACKEND="$name" \
  AFUNIX_SUITE_REVISION="$(cat SUITE_REVISION)" AFUNIX_TIMEOUT_SCALE="${AFUNIX_TIMEOUT_SCALE:-2}" \
  "$program" > "$out/program.log" 2>&1 || true
rm -rf "$work"
count=$(ls "$out" | grep -c '\.json$' || true)
tar cf - "$out" | gzip -9 > "$out.tar.gz"
echo "recorded $count traces into $out.tar.gz"
echo "on the suite's machine: ./conform import $out.tar.gz"
