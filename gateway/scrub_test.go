package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"ptoy"
	"ptoy/blob"
)

// TestScrubReadsOneSlicePerPass: the first repair pass re-reads every
// blob; each later pass re-reads only its slice, so that N passes read
// each blob once, and a corrupted blob is found (deleted and queued for
// fetching again) on the pass whose slice holds it.
func TestScrubReadsOneSlicePerPass(t *testing.T) {
	ctx := context.Background()
	f := &blob.Faulty{Store: blob.NewMemory()}
	const blobs = 60
	var all []blob.Hash
	for i := range blobs {
		in, err := f.Put(ctx, bytes.NewReader(fmt.Appendf(nil, "ciphertext %d", i)), 1<<10, nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, in.Hash)
	}
	g := &Gateway{cfg: Config{Blobs: f, Log: slog.New(slog.DiscardHandler)}, want: map[blob.Hash]owner{}}
	g.scrubSlices = ScrubSlices(30 * time.Second)
	if g.scrubSlices != 20 {
		t.Fatalf("ScrubSlices(30s) = %d, want 20", g.scrubSlices)
	}
	g.scrubSlices = 4 // enough blobs in each slice for the test

	if sl, n := g.scrub(ctx, nil); n != blobs || sl != (blob.Slice{}) {
		t.Fatalf("first pass checked %d blobs of slice %+v; want all %d", n, sl, blobs)
	}
	victim := all[7]
	f.Corrupt(victim, true)
	referenced := map[blob.Hash]owner{victim: {patient: ptoy.ID{1}}}
	total, found := 0, false
	for pass := range g.scrubSlices {
		sl, n := g.scrub(ctx, referenced)
		want := 0
		for _, h := range all {
			if sl.Has(h) {
				want++
			}
		}
		if sl.I != pass || want == blobs || n != want {
			t.Fatalf("pass %d: slice %+v checked %d blobs; want slice %d of %d checking its %d", pass+1, sl, n, pass, g.scrubSlices, want)
		}
		g.mu.Lock()
		_, queued := g.want[victim]
		g.mu.Unlock()
		if sl.Has(victim) && !queued {
			t.Fatalf("pass %d: the corrupt blob was not found by the slice that holds it", pass+1)
		}
		if !sl.Has(victim) && queued != found {
			t.Fatalf("pass %d: the corrupt blob was queued by a slice that does not hold it", pass+1)
		}
		found = queued
		total += n
	}
	if total != blobs || !found {
		t.Fatalf("%d passes checked %d blobs (corrupt one found: %v); want each of %d once", g.scrubSlices, total, found, blobs)
	}
}
