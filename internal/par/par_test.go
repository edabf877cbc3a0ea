package par

import (
	"sync/atomic"
	"testing"
)

// TestEach: every index is run once, on no more goroutines than asked.
func TestEach(t *testing.T) {
	for _, c := range []struct{ n, workers int }{{0, 4}, {1, 4}, {100, 3}, {1000, 0}} {
		seen := make([]atomic.Int32, c.n)
		var running, most atomic.Int32
		Each(c.n, c.workers, func(i int) {
			r := running.Add(1)
			for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
			}
			seen[i].Add(1)
			running.Add(-1)
		})
		for i := range seen {
			if seen[i].Load() != 1 {
				t.Fatalf("n=%d: index %d ran %d times", c.n, i, seen[i].Load())
			}
		}
		if c.workers > 0 && int(most.Load()) > c.workers {
			t.Errorf("n=%d: %d at once, asked for at most %d", c.n, most.Load(), c.workers)
		}
	}
}
