package ledger

import (
	"reflect"
	"testing"
	"time"
)

// TestKeptEvents: with KeepEvents, a commit keeps its block's audit
// events in the ledger's store, in the commit's batch, until
// ForgetEvents; they survive a reopen (a crash before the node copied
// them), are the events a subscriber sees, and are not state (StateSize
// and the app hash ignore them).
func TestKeptEvents(t *testing.T) {
	h := consentWorld(t)
	h.l.KeepEvents()
	var seen [][]Event
	h.l.Subscribe(func(c Committed) {
		if evs := Events(c.Writes); len(evs) > 0 {
			seen = append(seen, evs)
		}
	})
	keys0, size0, err := h.l.StateSize()
	if err != nil {
		t.Fatal(err)
	}
	h.mustBlock("alice grant grantee=hospital cats=lab-results,medications")
	first, _ := h.l.Height()
	h.mustBlock("alice revoke grantee=hospital")
	h.mustBlock("alice grant grantee=clinic cats=lab-results")
	last, _ := h.l.Height()

	h.reopen()
	got, err := h.l.KeptEvents(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Height != first || got[2].Height != last {
		t.Fatalf("kept blocks %+v, want heights %d to %d", got, first, last)
	}
	for i, be := range got {
		if !reflect.DeepEqual(be.Events, seen[i]) {
			t.Fatalf("block %d kept %+v, the subscriber saw %+v", be.Height, be.Events, seen[i])
		}
		if want := genesisTime.Add(time.Duration(be.Height) * blockInterval); !be.Time.Equal(want) {
			t.Fatalf("block %d kept time %v, want the block's %v", be.Height, be.Time, want)
		}
	}
	if got[1].Events[0].Action != "revoke" {
		t.Fatalf("second block's event %+v, want the revoke", got[1].Events[0])
	}
	// After the first block, a page of one.
	page, err := h.l.KeptEvents(first, 1)
	if err != nil || len(page) != 1 || page[0].Height != first+1 {
		t.Fatalf("KeptEvents(%d, 1) = %+v, %v", first, page, err)
	}
	// Not state: StateSize and scanState leave them out.
	keys1, size1, err := h.l.StateSize()
	if err != nil {
		t.Fatal(err)
	}
	if keys1-keys0 != 3 { // the grants and the clinic's patient list; kept events would add three
		t.Fatalf("state grew by %d keys for two grants and a revoke, want 3", keys1-keys0)
	}
	for _, kv := range scanState(t, h.kv, true) {
		if len(kv.k) > 0 && kv.k[0] == 0 && string(kv.k) != string(keyMeta) {
			t.Fatalf("scanState returned a local key %q", kv.k)
		}
	}
	t.Logf("state grew by %d keys, %d bytes", keys1-keys0, size1-size0)

	if err := h.l.ForgetEvents([]int64{first, first + 1}); err != nil {
		t.Fatal(err)
	}
	rest, err := h.l.KeptEvents(0, 100)
	if err != nil || len(rest) != 1 || rest[0].Height != last {
		t.Fatalf("after forgetting through %d: %+v, %v", first+1, rest, err)
	}
}

// TestKeptEventsOff: without KeepEvents nothing is kept.
func TestKeptEventsOff(t *testing.T) {
	h := consentWorld(t)
	h.mustBlock("alice grant grantee=hospital cats=lab-results")
	got, err := h.l.KeptEvents(0, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("kept %+v, %v; want none", got, err)
	}
}

// TestKeptEventsEncoding: decodeKept reverses encodeKept and refuses
// what it did not write.
func TestKeptEventsEncoding(t *testing.T) {
	w := newWorld()
	evs := []Event{
		{Action: "write", Actor: w.id("hospital"), Patient: w.id("alice"), Record: "r1@2", Purpose: "treatment"},
		{Action: "grant", Actor: w.id("alice"), Patient: w.id("alice"), Record: "scope:labs", Reason: "read to x"},
	}
	at := genesisTime.Add(blockInterval)
	v := encodeKept(at, evs)
	be, err := decodeKept(keptEventsKey(7), v)
	if err != nil || be.Height != 7 || !be.Time.Equal(at) || !reflect.DeepEqual(be.Events, evs) {
		t.Fatalf("decoded %+v, %v", be, err)
	}
	for _, bad := range [][]byte{nil, v[:5], v[:len(v)-1], append(v[:8:8], 0xff)} {
		if _, err := decodeKept(keptEventsKey(7), bad); err == nil {
			t.Fatalf("decodeKept(%x) accepted", bad)
		}
	}
}
