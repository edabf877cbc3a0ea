// Package deps checks, in tests, what a package links: the layering that
// keeps the ledger pure and the client free of the server.
package deps

import (
	"go/build"
	"strings"
	"testing"
)

// Of returns the packages pkg imports, directly or not (tests aside).
func Of(t testing.TB, pkg string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	var walk func(path, dir string)
	walk = func(path, dir string) {
		if seen[path] || path == "C" {
			return
		}
		seen[path] = true
		p, err := build.Import(path, dir, 0)
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		for _, imp := range p.Imports {
			walk(imp, p.Dir)
		}
	}
	walk(pkg, ".")
	return seen
}

// Forbid fails t if pkg links any of banned or a package under one.
func Forbid(t testing.TB, pkg string, banned ...string) {
	t.Helper()
	for d := range Of(t, pkg) {
		for _, b := range banned {
			if d == b || strings.HasPrefix(d, b+"/") {
				t.Errorf("%s links %s", pkg, d)
			}
		}
	}
}
