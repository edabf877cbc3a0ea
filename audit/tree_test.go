package audit

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
)

// TestTreeIsAuditPath: the memoised tree gives every leaf's AuditPath and
// the MerkleRoot, for sizes 1 to 70.
func TestTreeIsAuditPath(t *testing.T) {
	for n := 1; n <= 70; n++ {
		leaves := make([][32]byte, n)
		for i := range leaves {
			leaves[i] = sha256.Sum256(fmt.Appendf(nil, "leaf %d", i))
		}
		tr := NewTree(leaves)
		if tr.Root() != MerkleRoot(leaves) {
			t.Fatalf("n=%d: the root differs", n)
		}
		for m := range n {
			if got, want := tr.Path(m), AuditPath(m, leaves); !slices.Equal(got, want) {
				t.Fatalf("n=%d m=%d: path %x, want %x", n, m, got, want)
			}
		}
	}
}
