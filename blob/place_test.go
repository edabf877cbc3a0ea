package blob_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"testing"

	"ptoy/blob"
)

func nodeIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("node-%d", i)
	}
	return ids
}

func hashN(i int) blob.Hash {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return blob.Sum(b[:])
}

func TestPlaceDeterministic(t *testing.T) {
	nodes := nodeIDs(7)
	for i := range 200 {
		h := hashN(i)
		want := blob.Place(h, nodes, 3)
		shuffled := slices.Clone(nodes)
		slices.Reverse(shuffled)
		shuffled[1], shuffled[4] = shuffled[4], shuffled[1]
		if got := blob.Place(h, shuffled, 3); !slices.Equal(got, want) {
			t.Fatalf("Place depends on node order: %v vs %v", got, want)
		}
		if got := blob.Place(h, append(slices.Clone(nodes), nodes[2], nodes[0]), 3); !slices.Equal(got, want) {
			t.Fatalf("Place with duplicate ids: %v, want %v", got, want)
		}
		if got := blob.Place(h, nodes, 3); !slices.Equal(got, want) {
			t.Fatalf("Place is not deterministic: %v vs %v", got, want)
		}
		if len(want) != 3 {
			t.Fatalf("Place returned %d nodes, want 3", len(want))
		}
		seen := make(map[string]bool)
		for _, n := range want {
			if seen[n] || !slices.Contains(nodes, n) {
				t.Fatalf("Place returned %v: not 3 distinct given nodes", want)
			}
			seen[n] = true
		}
		// A larger r extends a smaller one: the order is by weight.
		if all := blob.Place(h, nodes, len(nodes)); !slices.Equal(all[:3], want) {
			t.Fatalf("Place(r=3) = %v is not a prefix of Place(r=all) = %v", want, all)
		}
	}
	if !slices.Equal(nodes, nodeIDs(7)) {
		t.Fatal("Place modified its input")
	}
}

func TestPlaceKnown(t *testing.T) {
	// Pins the weight function: SHA-256(id || h), big-endian uint64.
	h := blob.Sum([]byte("x"))
	got := blob.Place(h, []string{"a", "b", "c"}, 3)
	weight := func(id string) uint64 {
		s := blob.Sum(append([]byte(id), h[:]...))
		return binary.BigEndian.Uint64(s[:8])
	}
	want := []string{"a", "b", "c"}
	slices.SortFunc(want, func(x, y string) int {
		wx, wy := weight(x), weight(y)
		switch {
		case wx > wy:
			return -1
		case wx < wy:
			return 1
		}
		return 0
	})
	if !slices.Equal(got, want) {
		t.Fatalf("Place = %v, want %v by weight", got, want)
	}
}

func TestPlaceClamp(t *testing.T) {
	h := hashN(1)
	nodes := nodeIDs(3)
	if got := blob.Place(h, nodes, 10); len(got) != 3 {
		t.Fatalf("r=10 of 3 nodes: %v", got)
	}
	if got := blob.Place(h, []string{"a", "a", "b"}, 3); len(got) != 2 {
		t.Fatalf("r=3 of 2 distinct nodes: %v", got)
	}
	for _, r := range []int{0, -1} {
		if got := blob.Place(h, nodes, r); len(got) != 0 {
			t.Fatalf("r=%d: %v", r, got)
		}
	}
	if got := blob.Place(h, nil, 3); len(got) != 0 {
		t.Fatalf("no nodes: %v", got)
	}
}

func TestPlaceBalance(t *testing.T) {
	const blobs, r = 10000, 3
	nodes := nodeIDs(5)
	count := make(map[string]int)
	for i := range blobs {
		for _, n := range blob.Place(hashN(i), nodes, r) {
			count[n]++
		}
	}
	want := float64(r) / float64(len(nodes))
	for _, n := range nodes {
		share := float64(count[n]) / blobs
		if math.Abs(share-want) > 0.1*want {
			t.Errorf("node %s holds %.3f of the blobs, want %.3f ± 10%%", n, share, want)
		}
	}
}

func TestPlaceMinimalMovement(t *testing.T) {
	const blobs, r = 10000, 3
	nodes := nodeIDs(5)
	grown := append(slices.Clone(nodes), "node-new")
	moved := 0
	for i := range blobs {
		h := hashN(i)
		before, after := blob.Place(h, nodes, r), blob.Place(h, grown, r)
		if !slices.Contains(after, "node-new") {
			if !sameSet(before, after) {
				t.Fatalf("blob %d moved from %v to %v without the new node", i, before, after)
			}
			continue
		}
		moved++
		// Exactly one member was replaced by the new node.
		kept := 0
		for _, n := range after {
			if slices.Contains(before, n) {
				kept++
			}
		}
		if kept != r-1 {
			t.Fatalf("blob %d: %v became %v, want one member replaced by the new node", i, before, after)
		}
		// Removing the node again restores the old placement.
		if back := blob.Place(h, nodes, r); !sameSet(back, before) {
			t.Fatalf("blob %d: removing the new node gives %v, want %v", i, back, before)
		}
	}
	// The new node should gain about r/6 of the blobs.
	if want := blobs * r / len(grown); math.Abs(float64(moved-want)) > 0.1*float64(want) {
		t.Errorf("%d blobs moved to the new node, want about %d", moved, want)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func BenchmarkPlace(b *testing.B) {
	nodes := nodeIDs(20)
	for i := 0; b.Loop(); i++ {
		blob.Place(hashN(i), nodes, 3)
	}
}
