package directory

import (
	"context"
	"testing"

	"ptoy"
)

// TestPhoneChange: a patient's new number gets a code; a wrong code, a
// code of another patient's change and a registration's code do not move
// the profile; the right code does, once, and frees the old number.
func TestPhoneChange(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	alice, bob := patientID(1), patientID(2)
	e.register(t, "Alice Example", "+15550100001", alice)
	e.register(t, "Bob Example", "+15550100002", bob)

	if _, _, err := e.d.StartPhoneChange(ctx, alice, "+1 555 010 0001"); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("changing to the same number: %v", err)
	}
	if _, _, err := e.d.StartPhoneChange(ctx, alice, "+15550100002"); ptoy.KindOf(err) != ptoy.Exists {
		t.Fatalf("changing to Bob's number: %v", err)
	}
	if _, _, err := e.d.StartPhoneChange(ctx, patientID(3), "+15550100003"); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("a stranger's change: %v", err)
	}
	change, _, err := e.d.StartPhoneChange(ctx, alice, "+15550100009")
	if err != nil {
		t.Fatal(err)
	}
	code := e.code(t, "+15550100009")
	wrong := "000000"
	if wrong == code {
		wrong = "111111"
	}
	wantKind(t, func() error { _, err := e.d.ChangePhone(ctx, change, wrong, alice); return err }(), ptoy.PermissionDenied, "wrong code", "+15550100009")
	wantKind(t, func() error { _, err := e.d.ChangePhone(ctx, change, code, bob); return err }(), ptoy.NotFound, "no such registration")
	if _, err := e.d.Claim(ctx, change, code, bob); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("claiming a phone change as a registration: %v", err)
	}
	if p, _ := e.d.Profile(ctx, alice); p.Phone != "+15550100001" {
		t.Fatalf("the profile moved before the code: %s", Mask(p.Phone))
	}
	p, err := e.d.ChangePhone(ctx, change, code, alice)
	if err != nil || p.Phone != "+15550100009" || p.FullName != "Alice Example" {
		t.Fatalf("ChangePhone: %v %v", Mask(p.Phone), err)
	}
	if _, err := e.d.ChangePhone(ctx, change, code, alice); ptoy.KindOf(err) != ptoy.PermissionDenied {
		t.Fatalf("a second use of the code: %v", err)
	}
	if id, err := e.d.FindByPhone(ctx, "+15550100009"); err != nil || id != alice {
		t.Fatalf("the new number finds %v (%v)", id, err)
	}
	if _, err := e.d.FindByPhone(ctx, "+15550100001"); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("the old number still finds someone: %v", err)
	}
	// The old number is free for a new registration.
	e.register(t, "Carol Example", "+15550100001", patientID(3))
}
