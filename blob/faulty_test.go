package blob_test

import (
	"bytes"
	"context"
	"testing"

	"ptoy"
	"ptoy/blob"
	"ptoy/blob/blobtest"
)

// TestFaultyPassThrough checks that a Faulty with no switch set is a
// conforming Store.
func TestFaultyPassThrough(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return &blob.Faulty{Store: blob.NewMemory()} })
}

func TestFaultyCorrupt(t *testing.T) {
	ctx := context.Background()
	f := &blob.Faulty{Store: blob.NewMemory()}
	defer f.Close()
	data := blobtest.Content(1, 5000)
	h := blobtest.Put(t, f, data).Hash
	empty := blobtest.Put(t, f, nil).Hash
	good := blobtest.Put(t, f, blobtest.Content(2, 10)).Hash
	f.Corrupt(h, true)
	f.Corrupt(empty, true)
	for _, c := range []blob.Hash{h, empty} {
		got, err := blobtest.Read(f, c)
		if err != nil {
			t.Fatalf("Get of a corrupted blob fails (%v); it should serve bad bytes silently", err)
		}
		if blob.Sum(got) == c {
			t.Fatal("Get of a corrupted blob served the right content")
		}
	}
	if _, err := blobtest.Read(f, good); err != nil {
		t.Fatal(err)
	}
	bad := map[blob.Hash]bool{}
	n, err := f.Scrub(ctx, blob.Slice{}, func(b blob.Hash, err error) { bad[b] = true })
	if err != nil || n != 3 || len(bad) != 2 || !bad[h] || !bad[empty] {
		t.Fatalf("Scrub = %d, %v, bad %v; want 3 checked, %s and %s bad", n, err, bad, h, empty)
	}
	f.Corrupt(empty, false)
	if got, err := blobtest.Read(f, empty); err != nil || len(got) != 0 {
		t.Fatalf("after Corrupt(false): %q, %v", got, err)
	}
	// Repair: Delete clears the fault, Put stores good content.
	if err := f.Delete(ctx, h); err != nil {
		t.Fatal(err)
	}
	blobtest.Put(t, f, data)
	if got, err := blobtest.Read(f, h); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after repair: %v", err)
	}
}

func TestFaultyDown(t *testing.T) {
	ctx := context.Background()
	f := &blob.Faulty{Store: blob.NewMemory()}
	defer f.Close()
	h := blobtest.Put(t, f, []byte("x")).Hash
	f.SetDown(true)
	_, err := f.Put(ctx, bytes.NewReader([]byte("y")), 10, nil)
	errs := []error{err}
	_, _, err = f.Get(ctx, h)
	errs = append(errs, err)
	_, err = f.Stat(ctx, h)
	errs = append(errs, err)
	errs = append(errs, f.Delete(ctx, h))
	errs = append(errs, f.List(ctx, func(blob.Info) error { return nil }))
	_, err = f.Scrub(ctx, blob.Slice{}, func(blob.Hash, error) {})
	errs = append(errs, err)
	for i, err := range errs {
		if ptoy.KindOf(err) != ptoy.Unavailable || err == nil {
			t.Errorf("call %d on a down node: %v, want ptoy.Unavailable", i, err)
		}
	}
	f.SetDown(false)
	if got, err := blobtest.Read(f, h); err != nil || string(got) != "x" {
		t.Fatalf("after revival: %q, %v", got, err)
	}
}
