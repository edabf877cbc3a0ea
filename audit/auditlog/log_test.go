package auditlog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ptoy"
	"ptoy/audit"
	"ptoy/store"
)

const testNode = "node-a"

func id(n byte) ptoy.ID {
	var x ptoy.ID
	x[0], x[19] = n, n
	return x
}

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)

func event(patient, actor ptoy.ID, action, decision string, at time.Time) audit.Event {
	return audit.Event{
		Time:     at,
		Actor:    actor,
		Patient:  patient,
		Action:   action,
		Record:   "3f2a9c01d4",
		Purpose:  "treatment",
		Decision: decision,
		Reason:   "granted by the patient until 2027-01-31 for treatment",
	}
}

func openLog(t testing.TB, dir string) *Log {
	t.Helper()
	l, err := Open(Options{Dir: dir, Node: testNode})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendN(t testing.TB, l *Log, n int) []audit.Event {
	t.Helper()
	var out []audit.Event
	for i := range n {
		e, err := l.Append(context.Background(), event(id(1), id(2), audit.ActionRead, audit.Allow, t0.Add(time.Duration(i)*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func wantKind(t *testing.T, err error, k ptoy.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", k)
	}
	if ptoy.KindOf(err) != k {
		t.Fatalf("got %v (kind %v), want kind %v", err, ptoy.KindOf(err), k)
	}
}

func TestAppendConcurrent(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	const callers, each = 64, 40
	seqs := make([][]uint64, callers)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				e := event(id(byte(g%5+1)), id(byte(g+10)), audit.ActionRead, audit.Allow, t0.Add(time.Duration(i)*time.Millisecond))
				e.Reason = fmt.Sprintf("caller %d event %d", g, i)
				got, err := l.Append(context.Background(), e)
				if err != nil {
					t.Error(err)
					return
				}
				if got.Node != testNode || got.Reason != e.Reason {
					t.Errorf("returned event %+v", got)
				}
				seqs[g] = append(seqs[g], got.Seq)
			}
		})
	}
	wg.Wait()
	var all []uint64
	for g, s := range seqs {
		// One caller's appends are sequential, so their commits are ordered.
		if !slices.IsSorted(s) {
			t.Errorf("caller %d: seqs out of order %v", g, s)
		}
		all = append(all, s...)
	}
	slices.Sort(all)
	for i, s := range all {
		if s != uint64(i+1) {
			t.Fatalf("seqs are not 1..%d without gaps: position %d holds %d", callers*each, i, s)
		}
	}
	if l.Last() != callers*each {
		t.Fatalf("Last = %d", l.Last())
	}
	t.Logf("%d appends in %d synced commits", callers*each, l.commits.Load())
	// Each stored event carries its own seq and the caller's reason.
	for g := range callers {
		for i, s := range seqs[g] {
			v, err := l.db.Get(eventKey(s))
			if err != nil {
				t.Fatal(err)
			}
			e, err := audit.DecodeEvent(v)
			if err != nil || e.Seq != s || e.Reason != fmt.Sprintf("caller %d event %d", g, i) {
				t.Fatalf("stored event %d: %+v %v", s, e, err)
			}
		}
	}
}

func TestAppendInvalid(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	ok := event(id(1), id(2), audit.ActionRead, audit.Allow, t0)
	for name, mut := range map[string]func(*audit.Event){
		"no time":       func(e *audit.Event) { e.Time = time.Time{} },
		"far future":    func(e *audit.Event) { e.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) },
		"other node":    func(e *audit.Event) { e.Node = "node-b" },
		"no patient":    func(e *audit.Event) { e.Patient = ptoy.ID{} },
		"no action":     func(e *audit.Event) { e.Action = "" },
		"action case":   func(e *audit.Event) { e.Action = "Read" },
		"decision":      func(e *audit.Event) { e.Decision = "maybe" },
		"newline":       func(e *audit.Event) { e.Reason = "line\nbreak" },
		"bad utf8":      func(e *audit.Event) { e.Purpose = "\xff" },
		"long record":   func(e *audit.Event) { e.Record = strings.Repeat("a", audit.MaxFieldLen+1) },
		"long node pad": func(e *audit.Event) { e.Node = strings.Repeat("n", audit.MaxFieldLen+1) },
	} {
		e := ok
		mut(&e)
		if _, err := l.Append(context.Background(), e); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("%s: got %v, want Invalid", name, err)
		}
	}
	// A local time with a monotonic reading comes back as UTC.
	e := ok
	e.Time = time.Now().In(time.FixedZone("X", 3600))
	got, err := l.Append(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 1 || got.Time.Location() != time.UTC || !got.Time.Equal(e.Time) {
		t.Fatalf("got %+v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, ok); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("cancelled: got %v", err)
	}
}

func TestDurability(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	first := appendN(t, l, 10)
	if _, err := l.Cut(context.Background(), 6); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), first[0]); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("append after close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := Open(Options{Dir: dir, Node: "node-b"}); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("reopen as another node: %v", err)
	}

	l = openLog(t, dir)
	defer l.Close()
	if l.Last() != 10 {
		t.Fatalf("Last after reopen = %d", l.Last())
	}
	more := appendN(t, l, 5)
	for i, e := range more {
		if e.Seq != uint64(11+i) {
			t.Fatalf("seq after reopen %d, want %d", e.Seq, 11+i)
		}
	}
	b, err := l.Cut(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != 2 || b.First != 7 || b.Last != 15 || b.Count != 9 {
		t.Fatalf("batch after reopen %+v", b)
	}
	evs, err := l.ForPatient(context.Background(), id(1), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 15 {
		t.Fatalf("%d events after reopen", len(evs))
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if evs[0] != first[0] {
		t.Fatalf("stored %+v, appended %+v", evs[0], first[0])
	}
}

func TestCutAndBatches(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir())
	defer l.Close()
	if _, err := l.Cut(ctx, 0); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("cut of empty log: %v", err)
	}
	appendN(t, l, 10)
	var got []audit.Batch
	for _, max := range []int{4, 4, 0} {
		b, err := l.Cut(ctx, max)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
	}
	want := [][3]uint64{{1, 1, 4}, {2, 5, 8}, {3, 9, 10}}
	for i, b := range got {
		if [3]uint64{b.ID, b.First, b.Last} != want[i] || uint64(b.Count) != b.Last-b.First+1 || b.Anchored != 0 {
			t.Fatalf("batch %d: %+v", i, b)
		}
	}
	if _, err := l.Cut(ctx, 0); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("cut with nothing new: %v", err)
	}
	if _, err := l.Cut(ctx, -1); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("negative max: %v", err)
	}
	all, err := l.Batches(ctx, 0)
	if err != nil || !slices.Equal(all, got) {
		t.Fatalf("Batches(0) = %+v, %v", all, err)
	}
	tail, err := l.Batches(ctx, 2)
	if err != nil || !slices.Equal(tail, got[1:]) {
		t.Fatalf("Batches(2) = %+v, %v", tail, err)
	}
	un, err := l.Unanchored(ctx)
	if err != nil || len(un) != 3 {
		t.Fatalf("Unanchored = %+v, %v", un, err)
	}
	if err := l.MarkAnchored(ctx, 2, 1234); err != nil {
		t.Fatal(err)
	}
	wantKind(t, l.MarkAnchored(ctx, 9, 1), ptoy.NotFound)
	wantKind(t, l.MarkAnchored(ctx, 1, 0), ptoy.Invalid)
	un, err = l.Unanchored(ctx)
	if err != nil || len(un) != 2 || un[0].ID != 1 || un[1].ID != 3 {
		t.Fatalf("Unanchored after marking 2 = %+v, %v", un, err)
	}
	all, _ = l.Batches(ctx, 2)
	if all[0].Anchored != 1234 || all[0].Root != got[1].Root {
		t.Fatalf("anchored batch %+v", all[0])
	}
	for _, b := range got {
		if err := l.VerifyBatch(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
	}
	wantKind(t, l.VerifyBatch(ctx, 4), ptoy.NotFound)
}

func TestProofs(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir())
	defer l.Close()
	for n := 1; n <= 33; n++ {
		evs := appendN(t, l, n)
		b, err := l.Cut(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if int(b.Count) != n {
			t.Fatalf("batch of %d has count %d", n, b.Count)
		}
		var leaves [][32]byte
		for _, e := range evs {
			leaves = append(leaves, e.LeafHash())
		}
		if audit.MerkleRoot(leaves) != b.Root {
			t.Fatalf("size %d: stored root differs from the events' root", n)
		}
		for i, e := range evs {
			p, err := l.Proof(ctx, e.Seq)
			if err != nil {
				t.Fatal(err)
			}
			if p.Event != e || p.Index != uint64(i) || p.Batch != b {
				t.Fatalf("size %d event %d: proof %+v", n, i, p)
			}
			if err := audit.VerifyProof(p, b.Root); err != nil {
				t.Fatalf("size %d event %d: %v", n, i, err)
			}
		}
	}
	// A Prover gives every event the same proof as Proof, across the
	// batches, each read and hashed once.
	pr := l.NewProver()
	for seq := uint64(1); seq <= 33*34/2; seq++ {
		want, err := l.Proof(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pr.Proof(ctx, seq)
		if err != nil || got.Event != want.Event || got.Batch != want.Batch || got.Index != want.Index || !slices.Equal(got.Path, want.Path) {
			t.Fatalf("event %d: the prover's proof %+v (%v), want %+v", seq, got, err, want)
		}
	}
	// Not yet cut, and unknown.
	e := appendN(t, l, 1)[0]
	_, err := l.Proof(ctx, e.Seq)
	wantKind(t, err, ptoy.Unavailable)
	_, err = l.NewProver().Proof(ctx, e.Seq)
	wantKind(t, err, ptoy.Unavailable)
	for _, seq := range []uint64{0, e.Seq + 1} {
		_, err := l.Proof(ctx, seq)
		wantKind(t, err, ptoy.NotFound)
		_, err = l.NewProver().Proof(ctx, seq)
		wantKind(t, err, ptoy.NotFound)
	}
}

func TestVerifyProofRejects(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir())
	defer l.Close()
	appendN(t, l, 13)
	b, err := l.Cut(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	good, err := l.Proof(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyProof(good, b.Root); err != nil {
		t.Fatal(err)
	}
	clone := func() audit.Proof {
		p := good
		p.Path = slices.Clone(good.Path)
		return p
	}
	cases := map[string]func(*audit.Proof, *[32]byte){
		"wrong root":       func(_ *audit.Proof, r *[32]byte) { r[0] ^= 1 },
		"wrong decision":   func(p *audit.Proof, _ *[32]byte) { p.Event.Decision = audit.Deny },
		"wrong reason":     func(p *audit.Proof, _ *[32]byte) { p.Event.Reason += "." },
		"wrong time":       func(p *audit.Proof, _ *[32]byte) { p.Event.Time = p.Event.Time.Add(time.Nanosecond) },
		"wrong seq":        func(p *audit.Proof, _ *[32]byte) { p.Event.Seq++ },
		"wrong index":      func(p *audit.Proof, _ *[32]byte) { p.Index++ },
		"index and first":  func(p *audit.Proof, _ *[32]byte) { p.Index++; p.Batch.First--; p.Batch.Last-- },
		"inconsistent":     func(p *audit.Proof, _ *[32]byte) { p.Batch.Count++ },
		"path element":     func(p *audit.Proof, _ *[32]byte) { p.Path[1][5] ^= 0x80 },
		"short path":       func(p *audit.Proof, _ *[32]byte) { p.Path = p.Path[:len(p.Path)-1] },
		"long path":        func(p *audit.Proof, _ *[32]byte) { p.Path = append(p.Path, [32]byte{}) },
		"no path":          func(p *audit.Proof, _ *[32]byte) { p.Path = nil },
		"swapped siblings": func(p *audit.Proof, _ *[32]byte) { p.Path[0], p.Path[1] = p.Path[1], p.Path[0] },
		"other event": func(p *audit.Proof, _ *[32]byte) {
			other, _ := l.Proof(ctx, 7)
			p.Event = other.Event
		},
	}
	for name, mut := range cases {
		p, root := clone(), b.Root
		mut(&p, &root)
		err := audit.VerifyProof(p, root)
		if ptoy.KindOf(err) != ptoy.Unauthenticated || ptoy.Message(err) != "audit event does not match the anchored batch" {
			t.Errorf("%s: got %v", name, err)
		}
		anchored := b
		anchored.Root = root
		if err := audit.VerifyAnchored(p, anchored); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("%s: audit.VerifyAnchored got %v", name, err)
		}
	}
	if err := audit.VerifyAnchored(good, b); err != nil {
		t.Fatal(err)
	}

	// An overstated size: event 6 sits in the left, full part (leaves
	// 0..7) of the 13-leaf tree, so its path does not depend on the size.
	// The root alone cannot tell; the anchored batch bounds can.
	p := clone()
	p.Batch.Count++
	p.Batch.Last++
	if err := audit.VerifyProof(p, b.Root); err != nil {
		t.Fatalf("overstated count, root only: %v", err)
	}
	wantKind(t, audit.VerifyAnchored(p, b), ptoy.Unauthenticated)
	for name, mut := range map[string]func(*audit.Batch){
		"id":    func(a *audit.Batch) { a.ID++ },
		"first": func(a *audit.Batch) { a.First++ },
		"last":  func(a *audit.Batch) { a.Last++ },
		"count": func(a *audit.Batch) { a.Count-- },
	} {
		anchored := b
		mut(&anchored)
		if err := audit.VerifyAnchored(good, anchored); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("anchored %s differs: got %v", name, err)
		}
	}
}

// rewrite opens the store of a closed log, as an attacker with the disk
// would, and applies fn.
func rewrite(t *testing.T, dir string, fn func(db *store.Pebble)) {
	t.Helper()
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTamperEdit(t *testing.T) {
	for _, rewriteRoot := range []bool{false, true} {
		t.Run(fmt.Sprintf("rewriteRoot=%v", rewriteRoot), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			l := openLog(t, dir)
			evs := appendN(t, l, 8)
			// A denied read that the node would like to hide as allowed.
			denied, err := l.Append(ctx, event(id(1), id(3), audit.ActionRead, audit.Deny, t0.Add(time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			b, err := l.Cut(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			anchored := b.Root // what the ledger holds
			for seq := b.First; seq <= b.Last; seq++ {
				p, err := l.Proof(ctx, seq)
				if err != nil || audit.VerifyProof(p, anchored) != nil {
					t.Fatalf("before tampering, proof of %d: %v", seq, err)
				}
			}
			l.Close()

			rewrite(t, dir, func(db *store.Pebble) {
				v, err := db.Get(eventKey(denied.Seq))
				if err != nil {
					t.Fatal(err)
				}
				e, err := audit.DecodeEvent(v)
				if err != nil {
					t.Fatal(err)
				}
				e.Decision = audit.Allow
				writes := []store.Write{{Key: eventKey(e.Seq), Value: e.Encode()}}
				if rewriteRoot {
					// A thorough attacker recomputes and stores the root too.
					var leaves [][32]byte
					for _, x := range evs {
						leaves = append(leaves, x.LeafHash())
					}
					leaves = append(leaves, e.LeafHash())
					nb := b
					nb.Root = audit.MerkleRoot(leaves)
					writes = append(writes, store.Write{Key: batchKey(b.ID), Value: encodeBatch(nb)})
				}
				if err := db.Commit(writes, true); err != nil {
					t.Fatal(err)
				}
			})

			l = openLog(t, dir)
			defer l.Close()
			p, err := l.Proof(ctx, denied.Seq)
			if err != nil {
				t.Fatal(err)
			}
			if p.Event.Decision != audit.Allow {
				t.Fatal("tampering did not take")
			}
			wantKind(t, audit.VerifyProof(p, anchored), ptoy.Unauthenticated)
			// Every other event's proof of that batch fails too: the
			// altered leaf is under one of their path's siblings.
			for _, e := range evs {
				p, err := l.Proof(ctx, e.Seq)
				if err != nil {
					t.Fatal(err)
				}
				wantKind(t, audit.VerifyProof(p, anchored), ptoy.Unauthenticated)
			}
			err = l.VerifyBatch(ctx, b.ID)
			if rewriteRoot {
				// The local check is fooled; only the anchor catches it.
				if err != nil {
					t.Fatal(err)
				}
			} else {
				wantKind(t, err, ptoy.Unauthenticated)
			}
		})
	}
}

func TestTamperDelete(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLog(t, dir)
	appendN(t, l, 10)
	b, err := l.Cut(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3) // 11..13, not yet cut
	l.Close()

	rewrite(t, dir, func(db *store.Pebble) {
		if err := db.Commit([]store.Write{{Key: eventKey(4)}, {Key: eventKey(12)}}, true); err != nil {
			t.Fatal(err)
		}
	})

	l = openLog(t, dir)
	defer l.Close()
	_, err = l.Proof(ctx, 4)
	wantKind(t, err, ptoy.NotFound)
	for _, seq := range []uint64{2, 9} {
		p, err := l.Proof(ctx, seq)
		if err == nil {
			err = audit.VerifyProof(p, b.Root)
		}
		if err == nil {
			t.Fatalf("proof of %d in a batch missing event 4 succeeded", seq)
		}
	}
	err = l.VerifyBatch(ctx, b.ID)
	wantKind(t, err, ptoy.Unauthenticated)
	if !strings.Contains(err.Error(), "event 4 is missing") {
		t.Fatalf("VerifyBatch: %v", err)
	}
	if _, err := l.ForPatient(ctx, id(1), time.Time{}, time.Time{}); err == nil {
		t.Fatal("ForPatient did not notice the missing event")
	}
	// The gap in the uncut tail stops the next batch.
	if _, err := l.Cut(ctx, 0); err == nil || ptoy.KindOf(err) == ptoy.NotFound {
		t.Fatalf("Cut over a gap: %v", err)
	}
	// Deleting the last event of a batch is caught too.
	l.Close()
	rewrite(t, dir, func(db *store.Pebble) {
		if err := db.Commit([]store.Write{{Key: eventKey(4), Value: mustGet(t, db, 5)}, {Key: eventKey(10)}}, true); err != nil {
			t.Fatal(err)
		}
	})
	l = openLog(t, dir)
	defer l.Close()
	// audit.Event 5's bytes stored under 4: out of place.
	wantKind(t, l.VerifyBatch(ctx, b.ID), ptoy.Unauthenticated)
}

func mustGet(t *testing.T, db *store.Pebble, seq uint64) []byte {
	v, err := db.Get(eventKey(seq))
	if err != nil || v == nil {
		t.Fatalf("get %d: %v", seq, err)
	}
	return v
}

func TestForPatient(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir())
	defer l.Close()
	a, bp := id(1), id(2)
	for i := range 10 {
		p := a
		if i%2 == 1 {
			p = bp
		}
		if _, err := l.Append(ctx, event(p, id(9), audit.ActionRead, audit.Allow, t0.Add(time.Duration(i)*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	seqs := func(from, to time.Time) []uint64 {
		evs, err := l.ForPatient(ctx, a, from, to)
		if err != nil {
			t.Fatal(err)
		}
		var s []uint64
		for _, e := range evs {
			if e.Patient != a {
				t.Fatalf("event of another patient %+v", e)
			}
			s = append(s, e.Seq)
		}
		return s
	}
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	for _, c := range []struct {
		from, to time.Time
		want     []uint64
	}{
		{time.Time{}, time.Time{}, []uint64{1, 3, 5, 7, 9}},
		{h(2), time.Time{}, []uint64{3, 5, 7, 9}},
		{time.Time{}, h(4), []uint64{1, 3}},                        // to is exclusive
		{h(2), h(6).Add(time.Nanosecond), []uint64{3, 5, 7}},       // from is inclusive
		{h(2).Add(time.Nanosecond), h(6), []uint64{5}},             // nanosecond precision
		{h(20), time.Time{}, nil},                                  // none
		{h(6).In(time.FixedZone("Y", -5*3600)), h(8), []uint64{7}}, // any zone
	} {
		if got := seqs(c.from, c.to); !slices.Equal(got, c.want) {
			t.Errorf("[%v, %v): got %v, want %v", c.from, c.to, got, c.want)
		}
	}
	if evs, err := l.ForPatient(ctx, id(7), time.Time{}, time.Time{}); err != nil || len(evs) != 0 {
		t.Fatalf("unknown patient: %v %v", evs, err)
	}
}

// TestAccountingNames: where the ledger knows who an account is, the
// accounting of disclosures says so rather than printing its id.

// TestAppendAll: a block's events appended together are all stored, in
// order, an invalid one refused without keeping the others out; a
// cancelled context stores nothing.
func TestAppendAll(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir())
	defer l.Close()
	var evs []audit.Event
	for i := range 3000 {
		e := event(id(1), id(2), audit.ActionWrite, audit.Allow, t0.Add(time.Duration(i)*time.Millisecond))
		e.Record = fmt.Sprintf("rec-%d", i)
		evs = append(evs, e)
	}
	bad := evs[10]
	bad.Action = ""
	withBad := append(slices.Clone(evs[:10]), bad)
	withBad = append(withBad, evs[10:]...)
	if err := l.AppendAll(ctx, withBad); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("AppendAll with an invalid event: %v, want Invalid", err)
	}
	got, err := l.ForPatient(ctx, id(1), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) || l.Last() != uint64(len(evs)) {
		t.Fatalf("%d events stored (last seq %d), want %d", len(got), l.Last(), len(evs))
	}
	for i, e := range got {
		if e.Record != evs[i].Record || e.Seq != uint64(i+1) {
			t.Fatalf("event %d: %s at seq %d, want %s at %d", i, e.Record, e.Seq, evs[i].Record, i+1)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.AppendAll(cancelled, evs[:5]); ptoy.KindOf(err) != ptoy.Unavailable || l.Last() != uint64(len(evs)) {
		t.Fatalf("a cancelled AppendAll: %v, last seq %d", err, l.Last())
	}
}

// TestAppendLedger: a ledger block's events are stored together with
// its height; a block at or below the stored height is not stored again,
// after a reopen too (a node that crashed between its audit copy and
// forgetting the ledger's kept events copies them again); an invalid
// event fails the whole block and stores nothing; actors' limits do not
// apply.
func TestAppendLedger(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLog(t, dir)
	block := func(h int64, n int) []audit.Event {
		var evs []audit.Event
		for i := range n {
			e := event(id(1), id(2), audit.ActionWrite, audit.Allow, t0.Add(time.Duration(h)*time.Second))
			e.Record = fmt.Sprintf("rec-%d-%d", h, i)
			evs = append(evs, e)
		}
		return evs
	}
	if err := l.AppendLedger(ctx, 0, block(0, 1)); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("height 0: %v, want Invalid", err)
	}
	// More events from one actor than its limit lets through.
	if err := l.AppendLedger(ctx, 5, block(5, 2000)); err != nil {
		t.Fatal(err)
	}
	if l.LedgerHeight() != 5 || l.Last() != 2000 {
		t.Fatalf("height %d, last seq %d; want 5 and 2000", l.LedgerHeight(), l.Last())
	}
	for _, h := range []int64{5, 4} {
		if err := l.AppendLedger(ctx, h, block(h, 3)); err != nil || l.Last() != 2000 {
			t.Fatalf("block %d again: %v, last seq %d", h, err, l.Last())
		}
	}
	bad := block(6, 3)
	bad[1].Action = "Not An Action"
	if err := l.AppendLedger(ctx, 6, bad); ptoy.KindOf(err) != ptoy.Invalid || l.Last() != 2000 || l.LedgerHeight() != 5 {
		t.Fatalf("a block with an invalid event: %v, last seq %d, height %d", err, l.Last(), l.LedgerHeight())
	}
	// Blocks sent at once, some twice, are each stored once.
	var wg sync.WaitGroup
	for _, h := range []int64{6, 7, 6, 8, 7} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.AppendLedger(ctx, h, block(h, 10)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir)
	defer l.Close()
	if l.LedgerHeight() != 8 {
		t.Fatalf("height after reopening %d, want 8", l.LedgerHeight())
	}
	if err := l.AppendLedger(ctx, 8, block(8, 10)); err != nil {
		t.Fatal(err)
	}
	got, err := l.ForPatient(ctx, id(1), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range got {
		seen[e.Record]++
	}
	for r, n := range seen {
		if n != 1 {
			t.Fatalf("%s stored %d times", r, n)
		}
	}
	// Blocks sent at once may arrive in any order; a lower one that
	// arrives after a higher one is not stored: heights 6 and 7 may be
	// missing only if 8 came first, which the node never does (it copies
	// in order). Whatever arrived is whole.
	for _, h := range []int64{6, 7, 8} {
		n := 0
		for i := range 10 {
			n += seen[fmt.Sprintf("rec-%d-%d", h, i)]
		}
		if n != 0 && n != 10 {
			t.Fatalf("block %d: %d of its 10 events stored", h, n)
		}
	}
	if seen["rec-8-0"] != 1 || len(got) < 2010 {
		t.Fatalf("%d events; block 8 stored %d times", len(got), seen["rec-8-0"])
	}
}
