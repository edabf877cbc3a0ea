package consent

import (
	"math/rand/v2"
	"testing"

	"ptoy"
)

// TestTable checks the open-addressing table against a Go map through
// random puts and deletes, at sizes that make it grow, with keys that
// crowd a few homes (a tiny table at first) so that deletion has to
// shift entries back across wrapped runs.
func TestTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tb := newTable[uint32]()
	ref := map[pair]uint32{}
	keys := make([]pair, 3000)
	for i := range keys {
		var a, b ptoy.ID
		for j := range a {
			a[j], b[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		keys[i] = pairOf(a, b)
	}
	check := func(step int) {
		if tb.len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, tb.len(), len(ref))
		}
		for _, k := range keys {
			v, ok := tb.get(&k)
			w, wok := ref[k]
			if ok != wok || v != w {
				t.Fatalf("step %d: get = %d, %v; want %d, %v", step, v, ok, w, wok)
			}
		}
	}
	for step := range 20000 {
		k := keys[r.IntN(len(keys))]
		if r.IntN(3) == 0 {
			tb.del(&k)
			delete(ref, k)
		} else {
			v := r.Uint32()
			tb.put(&k, v)
			ref[k] = v
		}
		if step%997 == 0 {
			check(step)
		}
	}
	check(-1)
	for _, k := range keys {
		tb.del(&k)
	}
	if tb.len() != 0 {
		t.Fatalf("%d entries left after deleting every key", tb.len())
	}
	var zero pair
	tb.put(&zero, 1)
	if _, ok := tb.get(&zero); ok || tb.len() != 0 {
		t.Fatal("the zero pair (the empty slot's mark) was stored")
	}
}
