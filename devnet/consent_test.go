package devnet

import (
	"context"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/audit"
	"ptoy/client"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/store"
)

// TestGrantEnforcedEverywhere: on four validators, a grant made through
// node 1 is enforced by node 4 as soon as node 4 has the block; then an
// audit event edited in node 4's store fails the patient's verification.
func TestGrantEnforcedEverywhere(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n, err := Start(ctx, Options{Home: t.TempDir(), Validators: 4, KDF: keys.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	alice, gh, osei := mustKey(t, n, "alice"), mustKey(t, n, "general-hospital"), mustKey(t, n, "dr-osei")
	es, err := n.Client(0).PutRecords(ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_CONDITIONS, Data: []byte(`{"resourceType":"Condition"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	req := consent.Request{Reader: osei.ID(), Patient: alice.ID(), Categories: consent.Bit(pb.Category_CATEGORY_CONDITIONS),
		Action: consent.Read, Purpose: pb.Purpose_PURPOSE_TREATMENT, Org: gh.ID()}
	if err := n.Nodes[3].WaitHeight(ctx, mustHeight(n, 0)); err != nil {
		t.Fatal(err)
	}
	if d := n.Nodes[3].Ledger().Decide(req); d.Allow {
		t.Fatalf("node 4 allowed before the grant: %s", d.Reason())
	}
	if err := agent.New(n.Client(0), alice).Grant(ctx, gh.ID(), agent.GrantOptions{Categories: consent.Clinical,
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ}); err != nil {
		t.Fatal(err)
	}
	granted := mustHeight(n, 0) // the block that holds the grant, or later
	if err := n.Nodes[3].WaitHeight(ctx, granted); err != nil {
		t.Fatal(err)
	}
	if d := n.Nodes[3].Ledger().Decide(req); !d.Allow {
		t.Fatalf("node 4 at height %d does not enforce the grant: %s", granted, d.Reason())
	}
	if _, _, err := n.Client(3).GetRecord(ctx, osei, alice.ID(), es[0].Id, client.ReadOptions{Org: gh.ID()}); err != nil {
		t.Fatalf("Dr Osei through node 4: %v", err)
	}

	// Alice's audit trail on node 4 checks once anchored.
	var trail *client.AuditTrail
	waitFor(t, ctx, "node 4's audit batch to be anchored", func() bool {
		trail, err = n.Client(3).AuditEvents(ctx, alice, alice.ID(), time.Time{}, time.Time{})
		return err == nil && len(trail.Pending) == 0 && len(trail.Verified) > 0
	})
	// Node 4's operator edits one of her events in its store.
	n.StopNode(3)
	db, err := store.Open(n.Info.Nodes[3].Home + "/data/audit")
	if err != nil {
		t.Fatal(err)
	}
	var edits []store.Write
	db.Scan(nil, nil, func(k, v []byte) error {
		e, err := audit.DecodeEvent(v)
		if err == nil && e.Patient == alice.ID() && len(edits) == 0 {
			e.Reason = "nothing happened here"
			edits = append(edits, store.Write{Key: append([]byte(nil), k...), Value: e.Encode()})
		}
		return nil
	})
	if len(edits) != 1 {
		t.Fatal("no event of Alice's in node 4's store")
	}
	if err := db.Commit(edits, true); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := n.StartNode(3); err != nil {
		t.Fatal(err)
	}
	_, err = n.Client(3).AuditEvents(ctx, alice, alice.ID(), time.Time{}, time.Time{})
	if ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("a tampered audit event verified: %v", err)
	}
	t.Logf("tampered trail: %v", err)
}
