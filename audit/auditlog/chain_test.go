package auditlog

import (
	"context"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/audit"
	"ptoy/store"
)

// verifyTrail checks patient's events as a client would: each proven in
// its batch, and the list complete up to the last of those batches.
func verifyTrail(ctx context.Context, t *testing.T, l *Log, patient ptoy.ID) (int, error) {
	t.Helper()
	evs, err := l.ForPatient(ctx, patient, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for _, e := range evs {
		p, err := l.Proof(ctx, e.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyProof(p, p.Batch.Root); err != nil {
			return 0, err
		}
		last = max(last, p.Batch.ID)
	}
	b, err := l.batch("test", last)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.ChainProof(ctx, patient, last)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs), audit.VerifyChain(evs, cp, b.Patients)
}

// TestChainOmission: deleting a patient's index entries in the node's
// store leaves every listed event with a good proof, but the list no
// longer matches the patient's anchored chain: the omission is caught.
func TestChainOmission(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLog(t, dir)
	alice, bob := id(1), id(3)
	for i := range 32 {
		p := alice
		if i%3 == 0 {
			p = bob
		}
		if _, err := l.Append(ctx, event(p, id(2), audit.ActionRead, audit.Allow, t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
		if i == 12 || i == 31 {
			if _, err := l.Cut(ctx, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := verifyTrail(ctx, t, l, alice)
	if err != nil || n != 21 {
		t.Fatalf("the full trail: %d events, %v", n, err)
	}
	if _, err := verifyTrail(ctx, t, l, bob); err != nil {
		t.Fatal(err)
	}
	evs, _ := l.ForPatient(ctx, alice, time.Time{}, time.Time{})
	l.Close()

	// Two of Alice's index entries go, one in each batch.
	rewrite(t, dir, func(db *store.Pebble) {
		err := db.Commit([]store.Write{{Key: patientKey(alice, evs[2].Seq)}, {Key: patientKey(alice, evs[15].Seq)}}, true)
		if err != nil {
			t.Fatal(err)
		}
	})
	l = openLog(t, dir)
	defer l.Close()
	n, err = verifyTrail(ctx, t, l, alice)
	wantKind(t, err, ptoy.Unauthenticated)
	if n != 19 || !strings.Contains(err.Error(), "19 of the patient's events were listed up to audit batch 2, but the node anchored 21: events are missing") {
		t.Fatalf("%d events: %v", n, err)
	}
	// Bob's trail is untouched.
	if _, err := verifyTrail(ctx, t, l, bob); err != nil {
		t.Fatal(err)
	}
}
