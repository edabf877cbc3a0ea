package devnet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/audit"
	"ptoy/client"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/store"
)

// TestGrantEnforcedEverywhere: on four validators, a grant made through
// node 1 is enforced by node 4 as soon as node 4 has the block; then an
// audit event edited in node 4's store fails the patient's verification,
// and so does an event left out of the listing (its index entry deleted
// from node 4's store). The anchors are read through node 1.
func TestGrantEnforcedEverywhere(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{Validators: 4})
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
		trail, err = n.Client(3).AuditEventsVia(ctx, n.Client(0), alice, alice.ID(), time.Time{}, time.Time{})
		return err == nil && len(trail.Pending) == 0 && len(trail.Verified) > 1
	})
	if !trail.Complete {
		t.Fatal("the audit trail's completeness was not checked")
	}
	// Node 4's operator edits one of her events in its store.
	n.StopNode(3)
	db, err := store.Open(n.Info.Nodes[3].Home + "/data/audit")
	if err != nil {
		t.Fatal(err)
	}
	var edits, originals []store.Write
	db.Scan(nil, nil, func(k, v []byte) error {
		e, err := audit.DecodeEvent(v)
		if err == nil && e.Patient == alice.ID() && len(edits) == 0 {
			originals = append(originals, store.Write{Key: bytes.Clone(k), Value: bytes.Clone(v)})
			e.Reason = "nothing happened here"
			edits = append(edits, store.Write{Key: bytes.Clone(k), Value: e.Encode()})
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
	_, err = n.Client(3).AuditEventsVia(ctx, n.Client(0), alice, alice.ID(), time.Time{}, time.Time{})
	if ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("a tampered audit event verified: %v", err)
	}
	t.Logf("tampered trail: %v", err)

	// The operator puts the event back, and deletes the index entry of
	// another of her events instead: every event it lists still has a
	// good proof, but the list is one short of the anchored chain.
	n.StopNode(3)
	if db, err = store.Open(n.Info.Nodes[3].Home + "/data/audit"); err != nil {
		t.Fatal(err)
	}
	index := append([]byte{'p'}, alice.ID().Bytes()...)
	var deleted int
	db.Scan(index, store.PrefixEnd(index), func(k, _ []byte) error {
		if deleted == 0 {
			originals = append(originals, store.Write{Key: bytes.Clone(k)}) // a deletion
			deleted++
		}
		return nil
	})
	if err := db.Commit(originals, true); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := n.StartNode(3); err != nil {
		t.Fatal(err)
	}
	_, err = n.Client(3).AuditEventsVia(ctx, n.Client(0), alice, alice.ID(), time.Time{}, time.Time{})
	if ptoy.KindOf(err) != ptoy.Unauthenticated || !strings.Contains(err.Error(), "events are missing") {
		t.Fatalf("a trail missing an event verified: %v", err)
	}
	t.Logf("trail with an event left out: %v", err)
}

// TestAuditTrailSince: a reader who checked Alice's trail up to a
// checkpoint fetches and checks only what came after it, and gets the
// same trail as a full listing; an event left out after the checkpoint
// breaks the chain, and the reader is given no checkpoint to go on from.
func TestAuditTrailSince(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{})
	alice := mustKey(t, n, "alice")
	c := n.Client(0)
	es, err := c.PutRecords(ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_CONDITIONS, Data: []byte(`{"resourceType":"Condition"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	read := func(times int) {
		for range times {
			if _, _, err := c.GetRecord(ctx, alice, alice.ID(), es[0].Id, client.ReadOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// since lists from cp once every event of hers is anchored.
	since := func(cp *client.TrailCheckpoint, want int) (*client.AuditTrail, *client.TrailCheckpoint) {
		var trail *client.AuditTrail
		var next *client.TrailCheckpoint
		waitFor(t, ctx, "Alice's events to be anchored", func() bool {
			trail, next, err = c.AuditEventsSince(ctx, c, alice, alice.ID(), cp)
			return err == nil && len(trail.Pending) == 0 && len(trail.Verified) >= want
		})
		return trail, next
	}
	seqs := func(evs []audit.Event) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	read(3)
	first, cp := since(nil, 3)
	if !first.Complete || cp == nil || cp.Seq != first.Verified[len(first.Verified)-1].Seq {
		t.Fatalf("a complete trail gave checkpoint %+v (complete %v)", cp, first.Complete)
	}
	read(4)
	second, cp2 := since(cp, len(first.Verified)+4)
	full, err := c.AuditEventsChecked(ctx, c, alice, alice.ID(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Complete || cp2 == nil || cp2.Seq <= cp.Seq || fmt.Sprint(seqs(second.Verified)) != fmt.Sprint(seqs(full.Verified)) {
		t.Fatalf("from the checkpoint: complete %v, events %v; the full listing: %v", second.Complete, seqs(second.Verified), seqs(full.Verified))
	}
	// Nothing new: the checkpoint stands.
	if same, cp3, err := c.AuditEventsSince(ctx, c, alice, alice.ID(), cp2); err != nil || !same.Complete || cp3 != cp2 || len(same.Verified) != len(second.Verified) {
		t.Fatalf("with nothing new: %v, complete %v, checkpoint kept %v", err, same != nil && same.Complete, cp3 == cp2)
	}

	// The operator deletes the index entry of one of her events after
	// the checkpoint: the rest checks, the chain does not.
	read(2)
	since(cp2, len(second.Verified)+2)
	n.StopNode(0)
	db, err := store.Open(n.Info.Nodes[0].Home + "/data/audit")
	if err != nil {
		t.Fatal(err)
	}
	index := append([]byte{'p'}, alice.ID().Bytes()...)
	var gone []store.Write
	db.Scan(index, store.PrefixEnd(index), func(k, _ []byte) error {
		if seq := binary.BigEndian.Uint64(k[len(index):]); seq > cp2.Seq && len(gone) == 0 {
			gone = append(gone, store.Write{Key: bytes.Clone(k)})
		}
		return nil
	})
	if len(gone) != 1 {
		t.Fatal("no event of Alice's after the checkpoint in the node's store")
	}
	if err := db.Commit(gone, true); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := n.StartNode(0); err != nil {
		t.Fatal(err)
	}
	c = n.Client(0)
	trail, next, err := c.AuditEventsSince(ctx, c, alice, alice.ID(), cp2)
	if err != nil {
		t.Fatal(err)
	}
	if trail.Complete || trail.ChainErr == nil || next != nil {
		t.Fatalf("a trail missing an event after the checkpoint: complete %v, chain error %v, checkpoint %v", trail.Complete, trail.ChainErr, next)
	}
	t.Logf("left out after the checkpoint: %v", trail.ChainErr)
}
