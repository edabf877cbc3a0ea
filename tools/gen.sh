#!/usr/bin/env bash
# Regenerates gen/ from proto/ with pinned tools (buf from npm, the Go
# plugins from the module proxy), in a scratch directory.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=${PTOY_TOOLS:-${TMPDIR:-/tmp}/ptoy-tools}
mkdir -p "$tmp/bin"
GOBIN="$tmp/bin" go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN="$tmp/bin" go install connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1
if [ ! -x "$tmp/npm/node_modules/.bin/buf" ]; then
  mkdir -p "$tmp/npm"
  (cd "$tmp/npm" && npm install --silent --no-audit --no-fund @bufbuild/buf@1.75.0 >/dev/null)
fi
PATH="$tmp/bin:$tmp/npm/node_modules/.bin:$PATH" buf generate
