package blob

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// Place returns the r nodes, of the given node ids, that hold blob h. It
// uses rendezvous (highest random weight) hashing: each node's weight for
// h is SHA-256(node id || h) read as a big-endian uint64 (its first eight
// bytes), and the r heaviest nodes hold the blob, ties broken by the
// smaller node id. The result is in that order, heaviest first, so its
// first element can serve as the blob's primary.
//
// Place is deterministic and does not depend on the order of nodes;
// duplicate ids count once, and r is clamped to the number of distinct
// nodes (r <= 0 gives none). Adding or removing one node moves only the
// blobs that node gains or loses: every other blob keeps its nodes.
func Place(h Hash, nodes []string, r int) []string {
	if r <= 0 || len(nodes) == 0 {
		return nil
	}
	type cand struct {
		id string
		w  uint64
	}
	cs := make([]cand, len(nodes))
	for i, n := range nodes {
		cs[i] = cand{n, weight(n, h)}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if c := cmp.Compare(b.w, a.w); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	// Duplicates have equal weights and ids, so they are adjacent.
	cs = slices.CompactFunc(cs, func(a, b cand) bool { return a.id == b.id })
	out := make([]string, min(r, len(cs)))
	for i := range out {
		out[i] = cs[i].id
	}
	return out
}

// weight is the rendezvous weight of node for h.
func weight(node string, h Hash) uint64 {
	s := sha256.New()
	s.Write([]byte(node))
	s.Write(h[:])
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(s.Sum(sum[:0]))
}
