#!/usr/bin/env bash
# Checks that .ci/run fails on a .proto that does not generate and only
# warns when the generators cannot be installed. It works in a scratch
# clone of the committed tree and never runs the test suite: a stub `go`
# answers `go test` and passes everything else to the real go.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git clone -q "$root" "$scratch/repo"
cp "$root/tools/gen.sh" "$scratch/repo/tools/gen.sh"
cp "$root/.ci/run" "$scratch/repo/.ci/run"
realgo=$(command -v go)
mkdir -p "$scratch/stub"
cat >"$scratch/stub/go" <<STUB
#!/bin/sh
if [ "\$1" = test ]; then echo "stub: go test \$*"; exit 0; fi
exec "$realgo" "\$@"
STUB
chmod +x "$scratch/stub/go"
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. A broken .proto fails the run with the generator's message.
cd "$scratch/repo"
echo 'message Broken { string x = ; }' >>proto/ptoy/v1/tx.proto
rc=0
PATH="$scratch/stub:$PATH" .ci/run >"$scratch/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "broken proto: .ci/run exited $rc, want 1"
grep -q "do not generate" "$scratch/out" || fail "broken proto: no message: $(cat "$scratch/out")"
if grep -q "stub: go test" "$scratch/out"; then fail "broken proto: the tests ran anyway"; fi
echo "ok: a broken .proto fails .ci/run"
git checkout -q -- proto

# 2. Without npm (and no buf installed yet) gen.sh exits 3 and the run
# only warns, then tests.
mkdir -p "$scratch/nonpm"
for t in bash sh git cat tail mkdir dirname env grep rm; do ln -s "$(command -v $t)" "$scratch/nonpm/$t"; done
rc=0
PTOY_TOOLS="$scratch/tools" PATH="$scratch/stub:$scratch/nonpm" tools/gen.sh >"$scratch/out" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "no npm: gen.sh exited $rc, want 3: $(cat "$scratch/out")"
rc=0
PTOY_TOOLS="$scratch/tools" PATH="$scratch/stub:$scratch/nonpm" .ci/run >"$scratch/out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "no npm: .ci/run exited $rc, want 0: $(cat "$scratch/out")"
grep -q "could not be installed" "$scratch/out" || fail "no npm: no warning"
grep -q "stub: go test" "$scratch/out" || fail "no npm: the tests did not run"
echo "ok: missing generators only warn"

# 3. The committed tree generates cleanly and gen/ is current.
rc=0
PATH="$scratch/stub:$PATH" .ci/run >"$scratch/out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "clean tree: .ci/run exited $rc: $(cat "$scratch/out")"
echo "ok: the committed tree passes"
