package ledger

import (
	"go/build"
	"strings"
	"testing"
)

// deps returns the packages pkg imports, directly or not (tests aside).
func deps(t *testing.T, pkg string) map[string]bool {
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

// TestLedgerIsPure: the state machine imports no storage engine and no
// keystore; it sees its state through the KV interface.
func TestLedgerIsPure(t *testing.T) {
	for d := range deps(t, "ptoy/ledger") {
		for _, banned := range []string{"github.com/cockroachdb/pebble", "ptoy/store", "ptoy/keys", "golang.org/x/crypto/argon2", "net/http", "github.com/cometbft"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("the ledger imports %s", d)
			}
		}
	}
}
