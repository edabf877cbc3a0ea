package ledger

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

// escrowWorld is a ledger whose hospital and clinic run validators and
// whose lab does not; Dr Novak of the clinic broke the glass for Alice
// (break-glass 1). The hospital and the lab have node accounts.
func escrowWorld(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, newWorld())
	if _, err := h.genesis([]genesisOrg{
		{actor: "hospital", kind: "hospital", name: "General Hospital", validator: "hospital-val", node: "hospital-node"},
		{actor: "clinic", kind: "clinic", name: "Riverside Clinic", validator: "clinic-val"},
		{actor: "lab", kind: "lab", name: "City Lab", node: "lab-node"},
	}); err != nil {
		t.Fatal(err)
	}
	h.mustBlock(
		"alice register registrar=hospital cosign=hospital",
		"clinic add-employee who=novak role=emergency-physician cosign=novak",
	)
	h.mustBlock("novak break-glass patient=alice org=clinic")
	return h
}

// release is one ReleaseShare to put in a block.
type release struct {
	signer string
	id     uint64
	share  []byte
}

func shareHash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// releaseBlock applies the releases as one block and commits it.
func (h *harness) releaseBlock(rs ...release) []outcome {
	h.t.Helper()
	b := h.begin()
	var out []outcome
	for _, r := range rs {
		k := h.w.key(r.signer)
		raw, err := tx.Sign(h.chainID, &pb.Body{Sequence: nextSeq(b, k.SigningPublic()), Msg: &pb.Body_ReleaseShare{
			ReleaseShare: &pb.ReleaseShare{BreakGlass: r.id, Share: r.share}}}, k)
		if err != nil {
			h.t.Fatal(err)
		}
		o := deliver(b, h.chainID, raw)
		if o.leaked {
			h.t.Errorf("a failed ReleaseShare by %s changed the block", r.signer)
		}
		out = append(out, o)
	}
	b.Finish()
	if err := h.l.Commit(b); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// TestReleaseShare: each validator organisation releases one share per
// open break-glass; the hashes join the event (as key material); others
// are refused with the reason.
func TestReleaseShare(t *testing.T) {
	h := escrowWorld(t)
	open, err := h.l.OpenBreakGlass()
	if err != nil || len(open) != 1 || open[0].Id != 1 {
		t.Fatalf("open break-glass: %v %v", open, err)
	}
	h1, h2 := shareHash("hospital's share"), shareHash("clinic's share")
	out := h.releaseBlock(
		release{"hospital", 1, h1},
		release{"hospital", 1, shareHash("again")}, // one share per organisation
		release{"clinic", 1, h2},
		release{"lab", 1, shareHash("lab")},     // no validator
		release{"novak", 1, shareHash("novak")}, // not an organisation's key
		release{"alice", 1, shareHash("alice")},
		release{"clinic", 2, shareHash("x")}, // no such break-glass
		release{"clinic", 1, h1[:31]},
		release{"clinic", 1, nil},
	)
	want := []ptoy.Kind{ptoy.Other, ptoy.Exists, ptoy.Other, ptoy.PermissionDenied, ptoy.PermissionDenied, ptoy.PermissionDenied,
		ptoy.NotFound, ptoy.Invalid, ptoy.Invalid}
	for i, o := range out {
		got := ptoy.Other
		if o.Code != 0 {
			got = ptoy.KindOf(o.Err)
		}
		if got != want[i] {
			t.Errorf("release %d: code %d %q, want %v", i, o.Code, o.Log, want[i])
		}
	}
	if msg := out[1].Log; msg != "General Hospital already released its share for break-glass 1" {
		t.Errorf("second release: %q", msg)
	}
	if msg := out[3].Log; msg != "City Lab runs no validator: it holds no escrow share" {
		t.Errorf("the lab's release: %q", msg)
	}
	ev, err := h.l.BreakGlassEvent(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Shares) != 2 || !bytes.Equal(ev.Shares[0], h1) || !bytes.Equal(ev.Shares[1], h2) {
		t.Fatalf("the event's shares: %x", ev.Shares)
	}
	if got, err := h.l.ReleasedShare(1, h.w.id("clinic")); err != nil || !bytes.Equal(got, h2) {
		t.Fatalf("the clinic's released share: %x %v", got, err)
	}
	if _, err := h.l.ReleasedShare(1, h.w.id("lab")); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("the lab's released share: %v", err)
	}
	// The hashes are key material: every gateway keeps and serves them.
	var km [][]byte
	if err := h.l.AllKeyMaterial(func(r KeyRef) { km = append(km, r.Hash) }); err != nil {
		t.Fatal(err)
	}
	for _, s := range [][]byte{h1, h2} {
		found := false
		for _, k := range km {
			found = found || bytes.Equal(k, s)
		}
		if !found {
			t.Errorf("share %x is not key material", s[:4])
		}
	}

	// Once the window is closed (the patient turned break-glass off),
	// no share is released.
	h.mustBlock("alice break-glass-policy off")
	if open, _ := h.l.OpenBreakGlass(); len(open) != 0 {
		t.Fatalf("still open: %v", open)
	}
	out = h.releaseBlock(release{"clinic", 1, shareHash("late")})
	if out[0].Code == 0 || ptoy.KindOf(out[0].Err) != ptoy.PermissionDenied {
		t.Fatalf("a release after the window closed: %d %q", out[0].Code, out[0].Log)
	}
}

// TestReleaseShareByNode: a validator organisation's node account
// releases the organisation's share; it counts as the organisation's one
// share. A node account of an organisation without a validator, or one
// removed from the employee list, releases nothing.
func TestReleaseShareByNode(t *testing.T) {
	h := escrowWorld(t)
	h1 := shareHash("hospital's share")
	out := h.releaseBlock(
		release{"hospital-node", 1, h1},
		release{"hospital", 1, shareHash("again")},
		release{"lab-node", 1, shareHash("lab")},
	)
	want := []ptoy.Kind{ptoy.Other, ptoy.Exists, ptoy.PermissionDenied}
	for i, o := range out {
		got := ptoy.Other
		if o.Code != 0 {
			got = ptoy.KindOf(o.Err)
		}
		if got != want[i] {
			t.Errorf("release %d: code %d %q, want %v", i, o.Code, o.Log, want[i])
		}
	}
	if got, err := h.l.ReleasedShare(1, h.w.id("hospital")); err != nil || !bytes.Equal(got, h1) {
		t.Fatalf("the hospital's released share: %x %v", got, err)
	}
	h.mustBlock("novak break-glass patient=alice org=clinic")
	h.mustBlock("hospital remove-employee who=hospital-node")
	out = h.releaseBlock(release{"hospital-node", 2, shareHash("after removal")})
	if out[0].Code == 0 || ptoy.KindOf(out[0].Err) != ptoy.PermissionDenied {
		t.Fatalf("a release by a removed node account: %d %q", out[0].Code, out[0].Log)
	}
}

// TestReleaseShareOpenList: OpenBreakGlass lists every open window, not
// the closed ones, across patients.
func TestReleaseShareOpenList(t *testing.T) {
	h := escrowWorld(t)
	h.mustBlock("bob register registrar=hospital cosign=hospital")
	h.mustBlock("novak break-glass patient=bob org=clinic")
	open, err := h.l.OpenBreakGlass()
	if err != nil || len(open) != 2 {
		t.Fatalf("open: %v %v", open, err)
	}
	h.mustBlock("bob break-glass-policy off")
	open, err = h.l.OpenBreakGlass()
	if err != nil || len(open) != 1 || ptoy.ID(open[0].Patient) != h.w.id("alice") {
		t.Fatalf("open after bob's policy: %v %v", open, err)
	}
}

// TestBreakGlassAuditedOnce: a break-glass is one audit event, however
// often its record is written again afterwards (shares released, the
// patient's policy closing it); it used to appear once per write.
func TestBreakGlassAuditedOnce(t *testing.T) {
	h := newHarness(t, newWorld())
	if _, err := h.genesis([]genesisOrg{
		{actor: "hospital", kind: "hospital", name: "General Hospital", validator: "hospital-val"},
		{actor: "clinic", kind: "clinic", name: "Riverside Clinic", validator: "clinic-val"},
	}); err != nil {
		t.Fatal(err)
	}
	h.mustBlock(
		"alice register registrar=hospital cosign=hospital",
		"clinic add-employee who=novak role=emergency-physician cosign=novak",
	)
	var glass []Event
	h.l.Subscribe(func(c Committed) {
		for _, e := range Events(c.Writes) {
			if e.Action == "break-glass" {
				glass = append(glass, e)
			}
		}
	})
	h.mustBlock("novak break-glass patient=alice org=clinic")
	h.releaseBlock(release{"hospital", 1, shareHash("hospital's share")})
	h.releaseBlock(release{"clinic", 1, shareHash("clinic's share")})
	h.mustBlock("alice break-glass-policy off")
	if len(glass) != 1 || glass[0].Patient != h.w.id("alice") || glass[0].Actor != h.w.id("novak") {
		t.Fatalf("break-glass audit events: %+v, want one, by novak on alice", glass)
	}
}
