package auditlog

import (
	"context"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/audit"
)

// TestDeniedLimit: one account's denied requests cannot fill the disk.
// Past its burst each is refused, the first refusal of a minute is
// stored saying so, and the rest are not; its allowed reads, and other
// accounts, are untouched; the bucket refills with time.
func TestDeniedLimit(t *testing.T) {
	ctx := context.Background()
	l, err := Open(Options{Dir: t.TempDir(), Node: testNode, Denied: Limit{Rate: 1, Burst: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	prober, other := id(7), id(8)
	at := t0
	deny := func(actor ptoy.ID) error {
		_, err := l.Append(ctx, event(id(1), actor, audit.ActionRead, audit.Deny, at))
		return err
	}
	for i := range 5 {
		if err := deny(prober); err != nil {
			t.Fatalf("denied read %d within the burst: %v", i+1, err)
		}
	}
	for range 1000 {
		wantKind(t, deny(prober), ptoy.Unavailable)
	}
	if l.Last() != 6 {
		t.Fatalf("%d events stored after 1005 denied reads, want 6 (the burst and one refusal)", l.Last())
	}
	evs, err := l.ForPatient(ctx, id(1), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if r := evs[5].Reason; evs[5].Decision != audit.Deny || !strings.HasPrefix(r, "refused: too many requests from this account; further refusals until 2026-03-01 09:31:00 UTC") {
		t.Fatalf("the refusal is stored as %q", r)
	}
	if err := deny(other); err != nil {
		t.Fatalf("another account: %v", err)
	}
	if _, err := l.Append(ctx, event(id(1), prober, audit.ActionRead, audit.Allow, at)); err != nil {
		t.Fatalf("an allowed read of the same account: %v", err)
	}
	// Two seconds on: two more denied reads are stored; a refusal within
	// the minute is not.
	at = at.Add(2 * time.Second)
	for range 2 {
		if err := deny(prober); err != nil {
			t.Fatal(err)
		}
	}
	wantKind(t, deny(prober), ptoy.Unavailable)
	if l.Last() != 10 {
		t.Fatalf("%d events stored, want 10", l.Last())
	}
	// A minute on, the next refusal is stored again.
	at = at.Add(time.Minute)
	for range 5 {
		if err := deny(prober); err != nil {
			t.Fatal(err)
		}
	}
	wantKind(t, deny(prober), ptoy.Unavailable)
	if l.Last() != 16 {
		t.Fatalf("%d events stored, want 16", l.Last())
	}
}
