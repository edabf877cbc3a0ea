package auditlog

import (
	"context"
	"path/filepath"
	"testing"

	"ptoy"
)

// A checkpoint of a log opens as a log with the events and batches made
// before it, whose batches verify, and goes on from its last event.
func TestCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLog(t, filepath.Join(dir, "live"))
	defer l.Close()
	appendN(t, l, 10)
	b, err := l.Cut(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3)
	cp := filepath.Join(dir, "cp")
	if err := l.Checkpoint(ctx, cp); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 5)
	wantKind(t, l.Checkpoint(ctx, cp), ptoy.Exists)

	c := openLog(t, cp)
	defer c.Close()
	if c.Last() != 13 {
		t.Fatalf("checkpoint's last event is %d, want 13", c.Last())
	}
	if err := c.VerifyBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	e := appendN(t, c, 1)
	if e[0].Seq != 14 {
		t.Fatalf("the next event in the checkpoint has Seq %d, want 14", e[0].Seq)
	}
	l.Close()
	wantKind(t, l.Checkpoint(ctx, filepath.Join(dir, "cp2")), ptoy.Unavailable)
}
