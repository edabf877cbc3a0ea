package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ptoy"
	"ptoy/store"
)

const testNode = "node-a"

func id(n byte) ptoy.ID {
	var x ptoy.ID
	x[0], x[19] = n, n
	return x
}

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)

func event(patient, actor ptoy.ID, action, decision string, at time.Time) Event {
	return Event{
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

func appendN(t testing.TB, l *Log, n int) []Event {
	t.Helper()
	var out []Event
	for i := range n {
		e, err := l.Append(context.Background(), event(id(1), id(2), ActionRead, Allow, t0.Add(time.Duration(i)*time.Second)))
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

func TestEncodeDecode(t *testing.T) {
	e := event(id(1), id(2), ActionRead, Deny, t0)
	e.Seq = 42
	e.Node = testNode
	b := e.Encode()
	if b[0] != EncodingVersion {
		t.Fatalf("version byte %d", b[0])
	}
	got, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != e {
		t.Fatalf("decoded %+v, want %+v", got, e)
	}
	if !bytes.Equal(got.Encode(), b) {
		t.Fatal("re-encoding differs")
	}
	if got.LeafHash() != sha256.Sum256(append([]byte{0}, b...)) {
		t.Fatal("leaf hash is not SHA-256(0x00 || Encode())")
	}
	// Negative times and the extremes survive.
	for _, ns := range []int64{-1, 0, 1<<63 - 1, -1 << 63} {
		e.Time = time.Unix(0, ns).UTC()
		if got, err := DecodeEvent(e.Encode()); err != nil || got != e {
			t.Fatalf("time %d: %v %+v", ns, err, got)
		}
	}

	bad := map[string][]byte{
		"empty":     nil,
		"short":     b[:fixedLen-1],
		"version":   append([]byte{2}, b[1:]...),
		"trailing":  append(bytes.Clone(b), 0),
		"truncated": b[:len(b)-1],
	}
	long := bytes.Clone(b)
	long[1+8+8+3]++ // node length one more than there is
	bad["length"] = long
	for name, in := range bad {
		if _, err := DecodeEvent(in); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("%s: got %v, want Invalid", name, err)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	e := event(id(1), id(2), ActionRead, Allow, t0)
	e.Seq, e.Node = 7, testNode
	f.Add(e.Encode())
	f.Add(Event{}.Encode())
	e.Reason, e.Record = "", "categories:conditions,medications"
	f.Add(e.Encode())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvent(b)
		if err != nil {
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("error kind %v", ptoy.KindOf(err))
			}
			return
		}
		if got := e.Encode(); !bytes.Equal(got, b) {
			t.Fatalf("decode→encode changed the bytes:\n in %x\nout %x", b, got)
		}
	})
}

func hx(s string) [32]byte {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic(s)
	}
	copy(h[:], b)
	return h
}

// TestMerkleVectors checks the tree against the certificate-transparency
// reference vectors (RFC 6962).
func TestMerkleVectors(t *testing.T) {
	inputs := []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	roots := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	var leaves [][32]byte
	for _, in := range inputs {
		b, _ := hex.DecodeString(in)
		leaves = append(leaves, leafHash(b))
	}
	for n := 1; n <= len(leaves); n++ {
		if got := merkleRoot(leaves[:n]); got != hx(roots[n-1]) {
			t.Errorf("size %d: root %x", n, got)
		}
	}
	for _, c := range []struct {
		index int
		path  []string
	}{
		{0, []string{"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{5, []string{"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	} {
		var want [][32]byte
		for _, p := range c.path {
			want = append(want, hx(p))
		}
		if got := auditPath(c.index, leaves); !slices.Equal(got, want) {
			t.Errorf("path of %d in 8: %x", c.index, got)
		}
		if r, ok := rootFromPath(leaves[c.index], uint64(c.index), 8, want); !ok || r != hx(roots[7]) {
			t.Errorf("root from path of %d: %x %v", c.index, r, ok)
		}
	}
}

// naiveRoot builds the tree bottom-up, carrying an odd last node up
// unchanged, which gives the same tree as RFC 6962's split.
func naiveRoot(leaves [][32]byte) [32]byte {
	level := slices.Clone(leaves)
	for len(level) > 1 {
		var next [][32]byte
		for i := 0; i < len(level); i += 2 {
			if i+1 < len(level) {
				next = append(next, nodeHash(level[i], level[i+1]))
			} else {
				next = append(next, level[i])
			}
		}
		level = next
	}
	return level[0]
}

func TestMerkleSizes(t *testing.T) {
	var leaves [][32]byte
	for n := 1; n <= 70; n++ {
		leaves = append(leaves, leafHash([]byte{byte(n)}))
		root := merkleRoot(leaves)
		if root != naiveRoot(leaves) {
			t.Fatalf("size %d: roots differ", n)
		}
		for m := range leaves {
			p := auditPath(m, leaves)
			if r, ok := rootFromPath(leaves[m], uint64(m), uint64(n), p); !ok || r != root {
				t.Fatalf("size %d leaf %d: path does not lead to the root", n, m)
			}
			if n > 1 {
				if r, ok := rootFromPath(leaves[m], uint64(m), uint64(n), p[:len(p)-1]); ok && r == root {
					t.Fatalf("size %d leaf %d: short path verifies", n, m)
				}
			}
			if _, ok := rootFromPath(leaves[m], uint64(m), uint64(n), append(slices.Clone(p), root)); ok {
				t.Fatalf("size %d leaf %d: long path accepted", n, m)
			}
		}
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
				e := event(id(byte(g%5+1)), id(byte(g+10)), ActionRead, Allow, t0.Add(time.Duration(i)*time.Millisecond))
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
			e, err := DecodeEvent(v)
			if err != nil || e.Seq != s || e.Reason != fmt.Sprintf("caller %d event %d", g, i) {
				t.Fatalf("stored event %d: %+v %v", s, e, err)
			}
		}
	}
}

func TestAppendInvalid(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	ok := event(id(1), id(2), ActionRead, Allow, t0)
	for name, mut := range map[string]func(*Event){
		"no time":       func(e *Event) { e.Time = time.Time{} },
		"far future":    func(e *Event) { e.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) },
		"other node":    func(e *Event) { e.Node = "node-b" },
		"no patient":    func(e *Event) { e.Patient = ptoy.ID{} },
		"no action":     func(e *Event) { e.Action = "" },
		"action case":   func(e *Event) { e.Action = "Read" },
		"decision":      func(e *Event) { e.Decision = "maybe" },
		"newline":       func(e *Event) { e.Reason = "line\nbreak" },
		"bad utf8":      func(e *Event) { e.Purpose = "\xff" },
		"long record":   func(e *Event) { e.Record = strings.Repeat("a", MaxFieldLen+1) },
		"long node pad": func(e *Event) { e.Node = strings.Repeat("n", MaxFieldLen+1) },
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
	var got []Batch
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
		if naiveRoot(leaves) != b.Root {
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
			if err := VerifyProof(p, b.Root); err != nil {
				t.Fatalf("size %d event %d: %v", n, i, err)
			}
		}
	}
	// Not yet cut, and unknown.
	e := appendN(t, l, 1)[0]
	_, err := l.Proof(ctx, e.Seq)
	wantKind(t, err, ptoy.Unavailable)
	for _, seq := range []uint64{0, e.Seq + 1} {
		_, err := l.Proof(ctx, seq)
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
	if err := VerifyProof(good, b.Root); err != nil {
		t.Fatal(err)
	}
	clone := func() Proof {
		p := good
		p.Path = slices.Clone(good.Path)
		return p
	}
	cases := map[string]func(*Proof, *[32]byte){
		"wrong root":       func(_ *Proof, r *[32]byte) { r[0] ^= 1 },
		"wrong decision":   func(p *Proof, _ *[32]byte) { p.Event.Decision = Deny },
		"wrong reason":     func(p *Proof, _ *[32]byte) { p.Event.Reason += "." },
		"wrong time":       func(p *Proof, _ *[32]byte) { p.Event.Time = p.Event.Time.Add(time.Nanosecond) },
		"wrong seq":        func(p *Proof, _ *[32]byte) { p.Event.Seq++ },
		"wrong index":      func(p *Proof, _ *[32]byte) { p.Index++ },
		"index and first":  func(p *Proof, _ *[32]byte) { p.Index++; p.Batch.First--; p.Batch.Last-- },
		"inconsistent":     func(p *Proof, _ *[32]byte) { p.Batch.Count++ },
		"path element":     func(p *Proof, _ *[32]byte) { p.Path[1][5] ^= 0x80 },
		"short path":       func(p *Proof, _ *[32]byte) { p.Path = p.Path[:len(p.Path)-1] },
		"long path":        func(p *Proof, _ *[32]byte) { p.Path = append(p.Path, [32]byte{}) },
		"no path":          func(p *Proof, _ *[32]byte) { p.Path = nil },
		"swapped siblings": func(p *Proof, _ *[32]byte) { p.Path[0], p.Path[1] = p.Path[1], p.Path[0] },
		"other event": func(p *Proof, _ *[32]byte) {
			other, _ := l.Proof(ctx, 7)
			p.Event = other.Event
		},
	}
	for name, mut := range cases {
		p, root := clone(), b.Root
		mut(&p, &root)
		err := VerifyProof(p, root)
		if ptoy.KindOf(err) != ptoy.Unauthenticated || ptoy.Message(err) != "audit event does not match the anchored batch" {
			t.Errorf("%s: got %v", name, err)
		}
		anchored := b
		anchored.Root = root
		if err := VerifyAnchored(p, anchored); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("%s: VerifyAnchored got %v", name, err)
		}
	}
	if err := VerifyAnchored(good, b); err != nil {
		t.Fatal(err)
	}

	// An overstated size: event 6 sits in the left, full part (leaves
	// 0..7) of the 13-leaf tree, so its path does not depend on the size.
	// The root alone cannot tell; the anchored batch bounds can.
	p := clone()
	p.Batch.Count++
	p.Batch.Last++
	if err := VerifyProof(p, b.Root); err != nil {
		t.Fatalf("overstated count, root only: %v", err)
	}
	wantKind(t, VerifyAnchored(p, b), ptoy.Unauthenticated)
	for name, mut := range map[string]func(*Batch){
		"id":    func(a *Batch) { a.ID++ },
		"first": func(a *Batch) { a.First++ },
		"last":  func(a *Batch) { a.Last++ },
		"count": func(a *Batch) { a.Count-- },
	} {
		anchored := b
		mut(&anchored)
		if err := VerifyAnchored(good, anchored); ptoy.KindOf(err) != ptoy.Unauthenticated {
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
			denied, err := l.Append(ctx, event(id(1), id(3), ActionRead, Deny, t0.Add(time.Hour)))
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
				if err != nil || VerifyProof(p, anchored) != nil {
					t.Fatalf("before tampering, proof of %d: %v", seq, err)
				}
			}
			l.Close()

			rewrite(t, dir, func(db *store.Pebble) {
				v, err := db.Get(eventKey(denied.Seq))
				if err != nil {
					t.Fatal(err)
				}
				e, err := DecodeEvent(v)
				if err != nil {
					t.Fatal(err)
				}
				e.Decision = Allow
				writes := []store.Write{{Key: eventKey(e.Seq), Value: e.Encode()}}
				if rewriteRoot {
					// A thorough attacker recomputes and stores the root too.
					var leaves [][32]byte
					for _, x := range evs {
						leaves = append(leaves, x.LeafHash())
					}
					leaves = append(leaves, e.LeafHash())
					nb := b
					nb.Root = merkleRoot(leaves)
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
			if p.Event.Decision != Allow {
				t.Fatal("tampering did not take")
			}
			wantKind(t, VerifyProof(p, anchored), ptoy.Unauthenticated)
			// Every other event's proof of that batch fails too: the
			// altered leaf is under one of their path's siblings.
			for _, e := range evs {
				p, err := l.Proof(ctx, e.Seq)
				if err != nil {
					t.Fatal(err)
				}
				wantKind(t, VerifyProof(p, anchored), ptoy.Unauthenticated)
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
			err = VerifyProof(p, b.Root)
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
	// Event 5's bytes stored under 4: out of place.
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
		if _, err := l.Append(ctx, event(p, id(9), ActionRead, Allow, t0.Add(time.Duration(i)*time.Hour))); err != nil {
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

func TestFHIRAuditEvent(t *testing.T) {
	pat, doc := id(1), id(2)
	type coding struct{ System, Code, Display string }
	type ref struct {
		Reference  string
		Identifier struct{ System, Value string }
		Display    string
	}
	type resource struct {
		ResourceType   string
		ID             string
		Type           coding
		Subtype        []coding
		Action         string
		Recorded       string
		Outcome        string
		OutcomeDesc    string
		PurposeOfEvent []struct {
			Coding []coding
			Text   string
		}
		Agent []struct {
			Who       ref
			Requestor *bool
		}
		Source struct {
			Observer ref
		}
		Entity []struct {
			What ref
			Role coding
		}
	}
	render := func(e Event) (resource, []byte) {
		t.Helper()
		b, err := FHIRAuditEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Fatalf("invalid JSON %s", b)
		}
		var r resource
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r, b
	}

	e := event(pat, doc, ActionRead, Allow, t0)
	e.Seq, e.Node = 17, testNode
	r, raw := render(e)
	if r.ResourceType != "AuditEvent" || r.ID != "node-a-17" {
		t.Fatalf("resource %s", raw)
	}
	if r.Type.Code != "110110" || r.Type.Display != "Patient Record" || r.Type.System != systemDICOM {
		t.Errorf("type %+v", r.Type)
	}
	if r.Action != "R" || r.Outcome != "0" || r.OutcomeDesc != e.Reason {
		t.Errorf("action %q outcome %q %q", r.Action, r.Outcome, r.OutcomeDesc)
	}
	if r.Recorded != "2026-03-01T09:30:00.123456789Z" {
		t.Errorf("recorded %q", r.Recorded)
	}
	if len(r.PurposeOfEvent) != 1 || r.PurposeOfEvent[0].Coding[0].Code != "TREAT" || r.PurposeOfEvent[0].Coding[0].System != systemActReason {
		t.Errorf("purpose %+v", r.PurposeOfEvent)
	}
	if len(r.Agent) != 1 || r.Agent[0].Who.Reference != "Practitioner/"+doc.String() || r.Agent[0].Requestor == nil {
		t.Errorf("agent %+v", r.Agent)
	}
	if r.Source.Observer.Identifier.Value != testNode {
		t.Errorf("source %+v", r.Source)
	}
	if len(r.Entity) != 2 || r.Entity[0].What.Reference != "Patient/"+pat.String() ||
		r.Entity[1].What.Identifier.Value != e.Record || r.Entity[1].What.Identifier.System != systemRecord {
		t.Errorf("entity %+v", r.Entity)
	}
	// Stable: same event, same bytes; fields in the specification's order.
	if _, again := render(e); !bytes.Equal(raw, again) {
		t.Error("rendering is not stable")
	}
	order := []string{`"resourceType"`, `"id"`, `"type"`, `"subtype"`, `"action"`, `"recorded"`, `"outcome"`, `"outcomeDesc"`, `"purposeOfEvent"`, `"agent"`, `"source"`, `"entity"`}
	last := -1
	for _, k := range order {
		i := bytes.Index(raw, []byte(k))
		if i <= last {
			t.Fatalf("field %s out of order in %s", k, raw)
		}
		last = i
	}

	for _, c := range []struct {
		action, decision, purpose string
		actor                     ptoy.ID
		typ, act, outcome, pou    string
		who                       string
	}{
		{ActionRead, Deny, "payment", doc, "110110", "R", "4", "HPAYMT", "Practitioner/"},
		{ActionWrite, Allow, "operations", doc, "110110", "C", "0", "HOPERAT", "Practitioner/"},
		{ActionBreakGlass, Allow, "treatment", doc, "110110", "R", "0", "ETREAT", "Practitioner/"},
		{ActionGrant, Allow, "research", pat, "rest", "E", "0", "HRESCH", "Patient/"},
		{ActionRevoke, Allow, "treatment", pat, "rest", "E", "0", "TREAT", "Patient/"},
		{ActionErase, Allow, "", pat, "110110", "D", "0", "", "Patient/"},
		{ActionExpire, Allow, "treatment", ptoy.ID{}, "rest", "E", "0", "TREAT", ""},
	} {
		e := event(pat, c.actor, c.action, c.decision, t0)
		e.Purpose, e.Node, e.Seq = c.purpose, testNode, 3
		if c.action == ActionGrant {
			e.Record = "categories:conditions,medications"
		}
		r, raw := render(e)
		pou := ""
		if len(r.PurposeOfEvent) > 0 && len(r.PurposeOfEvent[0].Coding) > 0 {
			pou = r.PurposeOfEvent[0].Coding[0].Code
		}
		if r.Type.Code != c.typ || r.Action != c.act || r.Outcome != c.outcome || pou != c.pou ||
			!strings.HasPrefix(r.Agent[0].Who.Reference, c.who) || r.Subtype[0].Code != c.action {
			t.Errorf("%s/%s: %s", c.action, c.decision, raw)
		}
		if c.who == "" && r.Agent[0].Who.Identifier.Value != testNode {
			t.Errorf("%s: agent should be the node: %s", c.action, raw)
		}
		if c.action == ActionGrant && (r.Entity[1].What.Identifier.System != systemConsentScop || r.Entity[1].Role.Code != "13") {
			t.Errorf("grant scope entity: %s", raw)
		}
	}
	if _, err := FHIRAuditEvent(Event{}); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("empty event: %v", err)
	}
	if got := fhirID(strings.Repeat("x", 100)+"_", 12345); len(got) != 64 || !strings.HasSuffix(got, "-12345") {
		t.Errorf("long id %q", got)
	}
	if got := fhirID("n ode/1", 2); got != "n-ode-1-2" {
		t.Errorf("sanitised id %q", got)
	}
}

func TestAccountingOfDisclosures(t *testing.T) {
	pat, doc, insurer := id(1), id(2), id(3)
	day := func(d int) time.Time { return time.Date(2026, 1, d, 10, 0, 0, 0, time.UTC) }
	mk := func(seq uint64, actor, patient ptoy.ID, action, decision, purpose, record string, at time.Time) Event {
		return Event{Seq: seq, Time: at, Node: testNode, Actor: actor, Patient: patient, Action: action,
			Record: record, Purpose: purpose, Decision: decision, Reason: "reason " + fmt.Sprint(seq)}
	}
	events := []Event{
		mk(1, pat, pat, ActionGrant, Allow, "treatment", "categories:conditions", day(1)), // not a disclosure
		mk(2, doc, pat, ActionRead, Allow, "treatment", "aa11", day(3)),
		mk(3, insurer, pat, ActionRead, Deny, "payment", "", day(5)),
		mk(4, pat, pat, ActionRead, Allow, "treatment", "aa11", day(6)),   // the patient's own read
		mk(5, doc, id(4), ActionRead, Allow, "treatment", "bb22", day(7)), // another patient
		mk(6, doc, pat, ActionBreakGlass, Allow, "treatment", "cc33", day(8)),
		mk(7, doc, pat, ActionRead, Allow, "treatment", "dd44", day(20)), // after the range
		mk(8, doc, pat, ActionWrite, Allow, "treatment", "ee55", day(9)), // a write, not a disclosure
	}
	var buf bytes.Buffer
	if err := AccountingOfDisclosures(&buf, pat, events, day(2), day(15), nil); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Logf("\n%s", out)
	for _, want := range []string{
		"Accounting of disclosures",
		"Patient: " + pat.String(),
		"Period: 2026-01-02 10:00:00 to 2026-01-15 10:00:00 (UTC)",
		"Disclosures: 3 (2 allowed, 1 denied)",
		"DATE (UTC)", "RECIPIENT", "PURPOSE", "WHAT", "DECISION",
		"reason 2", "reason 3", "reason 6",
		"treatment (emergency access)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	rows := map[string][]string{
		"reason 2": {"2026-01-03 10:00:00", doc.String(), "treatment", "record aa11", "allowed"},
		"reason 3": {"2026-01-05 10:00:00", insurer.String(), "payment", "all records", "denied"},
		"reason 6": {"2026-01-08 10:00:00", doc.String(), "record cc33", "allowed"},
	}
	lines := strings.Split(out, "\n")
	var order []string
	for _, line := range lines {
		for reason, cells := range rows {
			if strings.HasSuffix(line, reason) {
				order = append(order, reason)
				for _, c := range cells {
					if !strings.Contains(line, c) {
						t.Errorf("row %q lacks %q", line, c)
					}
				}
			}
		}
	}
	if !slices.Equal(order, []string{"reason 2", "reason 3", "reason 6"}) {
		t.Errorf("rows %v", order)
	}
	for _, no := range []string{"reason 1", "reason 4", "reason 5", "reason 7", "reason 8"} {
		if strings.Contains(out, no+"\n") {
			t.Errorf("report has %q", no)
		}
	}

	buf.Reset()
	if err := AccountingOfDisclosures(&buf, pat, nil, time.Time{}, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No disclosures in this period.") || !strings.Contains(buf.String(), "the beginning of the log") {
		t.Errorf("empty report:\n%s", buf.String())
	}
	if err := AccountingOfDisclosures(failWriter{}, pat, events, time.Time{}, time.Time{}, nil); err == nil {
		t.Error("write error not reported")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

// TestAccountingNames: where the ledger knows who an account is, the
// accounting of disclosures says so rather than printing its id.
func TestAccountingNames(t *testing.T) {
	pat, doc, insurer := id(1), id(2), id(3)
	at := time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC)
	events := []Event{
		{Seq: 1, Time: at, Node: testNode, Actor: doc, Patient: pat, Action: ActionRead, Purpose: "treatment", Decision: Allow, Reason: "granted"},
		{Seq: 2, Time: at, Node: testNode, Actor: insurer, Patient: pat, Action: ActionRead, Purpose: "payment", Decision: Deny, Reason: "no grant"},
	}
	names := map[ptoy.ID]string{pat: "alice", doc: "dr-osei, physician at General Hospital"}
	var buf bytes.Buffer
	if err := AccountingOfDisclosures(&buf, pat, events, time.Time{}, time.Time{}, func(id ptoy.ID) string { return names[id] }); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"Patient: alice (" + pat.String() + ")", " dr-osei, physician at General Hospital ", " " + insurer.String() + " "} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, doc.String()) {
		t.Errorf("report names the physician by id:\n%s", out)
	}
}
