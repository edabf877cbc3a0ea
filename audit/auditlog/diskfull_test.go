package auditlog

import (
	"context"
	"ptoy/internal/faultfs"
	"ptoy/internal/wait"
	"sync/atomic"
	"testing"
	"time"

	"ptoy"
	"ptoy/audit"
)

// TestDiskFull: with the log's disk full, appends (the gateway's reads)
// fail with Unavailable and the process lives on (Pebble's fatal commit
// error used to panic it); when space returns the log reopens itself
// and goes on from the last event stored, with nothing half-written.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	var full atomic.Bool
	dir := t.TempDir()
	var appends, failed atomic.Int64
	observe := func(_ time.Duration, err error) {
		appends.Add(1)
		if err != nil {
			failed.Add(1)
		}
	}
	l, err := Open(Options{Dir: dir, Node: testNode, FS: faultfs.FullDisk(&full), RetryEvery: 5 * time.Millisecond, Observe: observe})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before := appendN(t, l, 5)
	if l.Err() != nil || appends.Load() != 5 || failed.Load() != 0 {
		t.Fatalf("before the disk fills: Err %v, %d appends observed (%d failed), want nil, 5, 0", l.Err(), appends.Load(), failed.Load())
	}
	if _, err := l.Cut(ctx, 0); err != nil {
		t.Fatal(err)
	}

	full.Store(true)
	for i := range 3 {
		_, err := l.Append(ctx, event(id(1), id(2), audit.ActionRead, audit.Allow, t0.Add(time.Hour+time.Duration(i))))
		wantKind(t, err, ptoy.Unavailable)
		t.Logf("append on a full disk: %v", err)
	}
	_, err = l.ForPatient(ctx, id(1), time.Time{}, time.Time{})
	wantKind(t, err, ptoy.Unavailable)
	_, err = l.Cut(ctx, 0)
	wantKind(t, err, ptoy.Unavailable)
	wantKind(t, l.Err(), ptoy.Unavailable) // the node is not ready
	if failed.Load() != 3 {
		t.Fatalf("%d failed appends observed, want 3", failed.Load())
	}
	// Still full a while later: still refused, still alive.
	_, err = l.Append(ctx, event(id(1), id(2), audit.ActionRead, audit.Allow, t0.Add(2*time.Hour)))
	wantKind(t, err, ptoy.Unavailable)

	full.Store(false)
	var after audit.Event
	if !wait.For(30*time.Second, func() bool {
		after, err = l.Append(ctx, event(id(1), id(2), audit.ActionRead, audit.Allow, t0.Add(3*time.Hour)))
		return err == nil || ptoy.KindOf(err) != ptoy.Unavailable
	}) || err != nil {
		t.Fatalf("the log did not recover once the disk had room: %v", err)
	}
	if l.Err() != nil {
		t.Fatalf("the log works again, but Err says %v", l.Err())
	}
	if after.Seq != before[len(before)-1].Seq+1 {
		t.Fatalf("after recovery the next event is %d, want %d: a refused event was stored or a number skipped", after.Seq, before[len(before)-1].Seq+1)
	}
	evs, err := l.ForPatient(ctx, id(1), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(before)+1 {
		t.Fatalf("after recovery %d events are stored, want %d", len(evs), len(before)+1)
	}
	b, err := l.Cut(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{1, b.ID} {
		if err := l.VerifyBatch(ctx, id); err != nil {
			t.Fatalf("batch %d after recovery: %v", id, err)
		}
	}
	// And across a restart.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir)
	if l.Last() != after.Seq {
		t.Fatalf("reopened at %d, want %d", l.Last(), after.Seq)
	}
}
