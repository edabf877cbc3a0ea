package disk_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"ptoy"
	"ptoy/blob"
	"ptoy/blob/blobtest"
	"ptoy/blob/disk"
)

// A checkpoint holds the inline and file blobs stored before it, opens as
// a store, and passes Scrub; blobs stored after it are not in it.
func TestCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openDisk(t, filepath.Join(dir, "live"), disk.Options{InlineMax: 100})
	defer d.Close()
	smallData, largeData := blobtest.Content(1, 50), blobtest.Content(2, 5000)
	small := blobtest.Put(t, d, smallData)
	large := blobtest.Put(t, d, largeData)
	cp := filepath.Join(dir, "cp")
	if err := d.Checkpoint(ctx, cp); err != nil {
		t.Fatal(err)
	}
	later := blobtest.Put(t, d, blobtest.Content(3, 5000))
	if err := d.Checkpoint(ctx, cp); ptoy.KindOf(err) != ptoy.Exists {
		t.Fatalf("checkpoint into an existing directory: %v, want Exists", err)
	}
	c := openDisk(t, cp, disk.Options{InlineMax: 100})
	defer c.Close()
	for _, b := range []struct {
		name string
		h    blob.Hash
		data []byte
	}{{"inline", small.Hash, smallData}, {"file", large.Hash, largeData}} {
		if got, _ := blobtest.Get(t, c, b.h); !bytes.Equal(got, b.data) {
			t.Errorf("%s blob differs in the checkpoint", b.name)
		}
	}
	if _, err := c.Stat(ctx, later.Hash); ptoy.KindOf(err) != ptoy.NotFound {
		t.Errorf("a blob stored after the checkpoint: %v, want NotFound", err)
	}
	n, err := c.Scrub(ctx, blob.Slice{}, func(h blob.Hash, err error) { t.Errorf("scrub: %v", err) })
	if err != nil || n != 2 {
		t.Fatalf("scrub: %d blobs, %v; want 2", n, err)
	}
}
