package devnet

import (
	"testing"
	"time"

	"ptoy/agent"
	"ptoy/audit"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

// TestLedgerEventsCopiedAfterAStop: a block's audit events that a node
// could not copy into its audit log before it stopped (here the log is
// closed under it, as a crash just after the commit would leave it) are
// copied when the node starts again, each once, with the block's time;
// what was copied before is not copied twice.
func TestLedgerEventsCopiedAfterAStop(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{Validators: 1})
	alice, gh := mustKey(t, n, "alice"), mustKey(t, n, "general-hospital")
	if err := agent.New(n.Client(0), alice).Grant(ctx, gh.ID(), agent.GrantOptions{Categories: consent.Clinical,
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ}); err != nil {
		t.Fatal(err)
	}
	trail := func() (map[string]int, []audit.Event) {
		evs, err := n.Nodes[0].Audit().ForPatient(ctx, alice.ID(), time.Time{}, time.Time{})
		if err != nil {
			return nil, nil
		}
		got := map[string]int{}
		for _, e := range evs {
			got[e.Action]++
		}
		return got, evs
	}
	waitFor(t, ctx, "the grant in node 1's audit trail", func() bool { got, _ := trail(); return got["grant"] == 1 })

	// The audit log goes away; the revoke is committed, not copied.
	n.Nodes[0].Audit().Close()
	acct, err := n.Nodes[0].Ledger().Account(alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tx.Sign(n.Nodes[0].ChainID(), &pb.Body{Sequence: acct.Sequence + 1,
		Msg: &pb.Body_Revoke{Revoke: &pb.Revoke{Grantee: gh.ID().Bytes()}}}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := n.Nodes[0].Submit(ctx, raw, true); err != nil || r.Code != 0 {
		t.Fatalf("revoke: %v %v", r, err)
	}
	revoked, _ := n.Nodes[0].Ledger().Height()
	n.StopNode(0)
	if err := n.StartNode(0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the revoke in node 1's audit trail", func() bool { got, _ := trail(); return got["revoke"] == 1 })
	got, evs := trail()
	if got["grant"] != 1 || got["revoke"] != 1 {
		t.Fatalf("audit trail actions %v, want one grant and one revoke", got)
	}
	for _, e := range evs {
		if e.Action == "revoke" && (e.Decision != audit.Allow || e.Time.After(time.Now()) || time.Since(e.Time) > time.Minute) {
			t.Fatalf("the revoke's event %+v", e)
		}
	}
	// The ledger forgets what was copied just after the copy.
	waitFor(t, ctx, "no events kept after the copy", func() bool {
		kept, err := n.Nodes[0].Ledger().KeptEvents(0, 10)
		return err == nil && len(kept) == 0
	})
	if n.Nodes[0].Audit().LedgerHeight() < revoked {
		t.Fatalf("the audit log holds ledger events to height %d, the revoke is at %d or before", n.Nodes[0].Audit().LedgerHeight(), revoked)
	}
}
