#!/usr/bin/env bash
# Regenerates gen/ from proto/ with pinned tools (buf from npm, the Go
# plugins from the module proxy), in a scratch directory.
#
# Exit status: 0 done; 3 the tools could not be had (download or install
# failed: offline, no npm); anything else a generator or lint error, which
# CI must not pass over.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=${PTOY_TOOLS:-${TMPDIR:-/tmp}/ptoy-tools}

notools() {
  echo "gen.sh: $*: the code generators could not be installed" >&2
  exit 3
}

mkdir -p "$tmp/bin" || notools "cannot create $tmp"
GOBIN="$tmp/bin" go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12 ||
  notools "go install protoc-gen-go"
GOBIN="$tmp/bin" go install connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1 ||
  notools "go install protoc-gen-connect-go"
if [ ! -x "$tmp/npm/node_modules/.bin/buf" ]; then
  command -v npm >/dev/null || notools "npm is not installed"
  mkdir -p "$tmp/npm" || notools "cannot create $tmp/npm"
  (cd "$tmp/npm" && npm install --silent --no-audit --no-fund @bufbuild/buf@1.75.0 >/dev/null) ||
    notools "npm install @bufbuild/buf"
  [ -x "$tmp/npm/node_modules/.bin/buf" ] || notools "npm installed no buf"
fi
PATH="$tmp/bin:$tmp/npm/node_modules/.bin:$PATH" buf generate
