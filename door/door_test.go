package door_test

import (
	"context"
	"maps"
	"ptoy/internal/faultfs"
	"ptoy/internal/wait"
	"sync/atomic"
	"testing"
	"time"

	"ptoy"
	"ptoy/audit"
	"ptoy/audit/auditlog"
	"ptoy/consent"
	"ptoy/door"
	pb "ptoy/gen/ptoy/v1"
)

var now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func id(n byte) ptoy.ID {
	var x ptoy.ID
	x[0], x[19] = n, n
	return x
}

// world is a patient who granted a reader her notes, and a stranger.
func world() (x *consent.Index, patient, reader, stranger ptoy.ID) {
	patient, reader, stranger = id(1), id(2), id(3)
	x = consent.NewIndex()
	x.SetAccount(&pb.Account{Id: patient.Bytes(), Kind: pb.AccountKind_ACCOUNT_KIND_PATIENT})
	for _, p := range []ptoy.ID{reader, stranger} {
		x.SetAccount(&pb.Account{Id: p.Bytes(), Kind: pb.AccountKind_ACCOUNT_KIND_PRACTITIONER})
	}
	x.SetGrant(&pb.GrantState{
		Grant: &pb.Grant{Patient: patient.Bytes(), Grantee: reader.Bytes(), Categories: consent.Bit(pb.Category_CATEGORY_NOTES),
			Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ, KeyBundle: make([]byte, 32)},
		Status: pb.GrantStatus_GRANT_STATUS_ACTIVE, CreatedTime: now.Add(-time.Hour).Unix(), GrantedBy: patient.Bytes(),
	})
	return x, patient, reader, stranger
}

func open(t *testing.T, full *atomic.Bool) (*door.Door, *auditlog.Log, ptoy.ID, ptoy.ID, ptoy.ID) {
	t.Helper()
	x, patient, reader, stranger := world()
	l, err := auditlog.Open(auditlog.Options{Dir: t.TempDir(), Node: "node1", FS: faultfs.FullDisk(full), RetryEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	d := door.New(door.Config{Node: "node1", Consent: x, BlockTime: func() time.Time { return now }, Audit: l})
	return d, l, patient, reader, stranger
}

func notes() *consent.Request {
	return &consent.Request{Categories: consent.Bit(pb.Category_CATEGORY_NOTES)}
}

// TestEnterDecidesAndRecords: an allowed read passes and a refused one
// does not, each with its event in the patient's audit trail, allow or
// deny, with the decision's reason.
func TestEnterDecidesAndRecords(t *testing.T) {
	ctx := context.Background()
	var full atomic.Bool
	d, l, patient, reader, stranger := open(t, &full)
	if _, err := d.Enter(ctx, door.Access{Reader: reader, Patient: patient, Action: "read", Object: "note@1",
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Consent: notes()}); err != nil {
		t.Fatalf("the grantee: %v", err)
	}
	_, err := d.Enter(ctx, door.Access{Reader: stranger, Patient: patient, Action: "read", Object: "note@1",
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Consent: notes()})
	if ptoy.KindOf(err) != ptoy.PermissionDenied {
		t.Fatalf("a stranger: %v", err)
	}
	_, err = d.Enter(ctx, door.Access{Reader: reader, Patient: patient, Action: "key-material", Object: "bundle",
		Rule: func() (bool, string) { return false, "not its holder" }})
	if ptoy.KindOf(err) != ptoy.PermissionDenied || ptoy.Message(err) != "not its holder" {
		t.Fatalf("a rule's refusal: %v", err)
	}
	_, err = d.Enter(ctx, door.Access{Reader: reader, Patient: patient, Action: "read", Object: "gone", Unknown: "no such record"})
	if ptoy.KindOf(err) != ptoy.PermissionDenied {
		t.Fatalf("an unknown record: %v", err)
	}
	if _, err := d.Enter(ctx, door.Access{Reader: reader, Patient: patient, Action: "read"}); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("an access with neither consent nor rule: %v", err)
	}
	evs, err := l.ForPatient(ctx, patient, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{audit.Allow, audit.Deny, audit.Deny, audit.Deny}
	if len(evs) != len(want) {
		t.Fatalf("%d events recorded, want %d: %+v", len(evs), len(want), evs)
	}
	for i, ev := range evs {
		if ev.Decision != want[i] || ev.Reason == "" {
			t.Errorf("event %d: %s %q", i, ev.Decision, ev.Reason)
		}
	}
	if evs[1].Actor != stranger || evs[2].Reason != "not its holder" || evs[3].Reason != "no such record" {
		t.Errorf("the refusals recorded: %+v", evs[1:])
	}
}

// TestNothingPassesUnrecorded: while the audit log cannot write (a full
// disk), nothing passes, allowed or not, and the door says so; once the
// disk has room again, reads pass and are recorded.
func TestNothingPassesUnrecorded(t *testing.T) {
	ctx := context.Background()
	var full atomic.Bool
	d, l, patient, reader, _ := open(t, &full)
	full.Store(true)
	read := door.Access{Reader: reader, Patient: patient, Action: "read", Object: "note@1", Purpose: pb.Purpose_PURPOSE_TREATMENT, Consent: notes()}
	for range 3 {
		if _, err := d.Enter(ctx, read); ptoy.KindOf(err) != ptoy.Unavailable {
			t.Fatalf("a read with the audit disk full: %v", err)
		}
	}
	full.Store(false)
	var err error
	if !wait.For(30*time.Second, func() bool {
		_, err = d.Enter(ctx, read)
		return err == nil || ptoy.KindOf(err) != ptoy.Unavailable
	}) || err != nil {
		t.Fatalf("after space returned: %v", err)
	}
	evs, err := l.ForPatient(ctx, patient, time.Time{}, time.Time{})
	if err != nil || len(evs) != 1 || evs[0].Decision != audit.Allow {
		t.Fatalf("recorded: %+v %v", evs, err)
	}
}

// TestEnterAll: accesses entered together are decided one by one, each
// with its own event, and a malformed one is refused without an event;
// with the audit disk full, nothing of the batch passes.
func TestEnterAll(t *testing.T) {
	ctx := context.Background()
	var full atomic.Bool
	d, l, patient, reader, stranger := open(t, &full)
	allow := func() (bool, string) { return true, "replica for its node" }
	as := []door.Access{
		{Reader: reader, Patient: patient, Action: "replica", Object: "blob-1", Rule: allow},
		{Reader: stranger, Patient: patient, Action: "replica", Object: "blob-2", Rule: func() (bool, string) { return false, "not a storage node" }},
		{Reader: reader, Patient: patient, Action: "replica"},
		{Reader: reader, Patient: patient, Action: "read", Object: "note@1", Purpose: pb.Purpose_PURPOSE_TREATMENT, Consent: notes()},
	}
	errs, err := d.EnterAll(ctx, as)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || ptoy.KindOf(errs[1]) != ptoy.PermissionDenied || ptoy.Message(errs[1]) != "not a storage node" ||
		ptoy.KindOf(errs[2]) != ptoy.Invalid || errs[3] != nil {
		t.Fatalf("per-access answers: %v", errs)
	}
	evs, err := l.ForPatient(ctx, patient, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ev := range evs {
		got[ev.Record] = ev.Decision
	}
	want := map[string]string{"blob-1": audit.Allow, "blob-2": audit.Deny, "note@1": audit.Allow}
	if len(evs) != len(want) || !maps.Equal(got, want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
	full.Store(true)
	if _, err := d.EnterAll(ctx, as[:1]); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("with the audit disk full: %v", err)
	}
}
