package devnet

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"ptoy"
	"ptoy/blob"
	"ptoy/client"
	"ptoy/escrow"
	pb "ptoy/gen/ptoy/v1"
)

// TestEmergencyEscrow runs the emergency escrow on four validators:
// Alice's agent escrowed her emergency keys across them (3 of 4); Dr
// Novak of Riverside Clinic breaks the glass; each validator's node
// releases its share, sealed to Riverside, as an audited event; Riverside's
// node recovers the emergency keys and Dr Novak decrypts Alice's allergy
// record, not her clinical note. Two shares open nothing.
func TestEmergencyEscrow(t *testing.T) {
	ctx, n := startNet(t, 4*time.Minute, Options{Validators: 4})
	alice, novak := mustKey(t, n, "alice"), mustKey(t, n, "dr-novak")
	riverside, gh := mustKey(t, n, "riverside-clinic"), mustKey(t, n, "general-hospital")
	if n.Nodes[1].Org() != riverside.ID() {
		t.Fatal("node 2 is not Riverside Clinic's")
	}

	// Registration published Alice's escrow: four shares, three needed.
	ks, _, err := n.Client(0).As(alice).KeySet(ctx, alice.ID(), ptoy.ID{})
	if err != nil || len(ks.Escrow) != 32 {
		t.Fatalf("Alice's key set has no escrow: %v %v", ks, err)
	}
	escBlob, err := n.Client(2).Blob(ctx, alice, blob.Hash(ks.Escrow))
	if err != nil {
		t.Fatal(err)
	}
	esc, err := escrow.Parse(escBlob)
	if err != nil {
		t.Fatal(err)
	}
	if len(esc.Shares) != 4 || esc.K != 3 || esc.Patient != alice.ID() {
		t.Fatalf("escrow: %d shares, %d needed, patient %s", len(esc.Shares), esc.K, esc.Patient)
	}

	allergy := []byte(`{"resourceType":"AllergyIntolerance","code":{"text":"penicillin"}}`)
	es, err := n.Client(0).PutRecords(ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{
		{Category: pb.Category_CATEGORY_ALLERGIES, Data: allergy},
		{Category: pb.Category_CATEGORY_NOTES, Data: []byte(`{"resourceType":"Encounter","status":"finished"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	allergyID, noteID := es[0].Id, es[1].Id
	read := func(id []byte) ([]byte, error) {
		b, _, err := n.Client(1).GetRecord(ctx, novak, alice.ID(), id, client.ReadOptions{Org: riverside.ID(), Purpose: pb.Purpose_PURPOSE_EMERGENCY})
		return b, err
	}
	n.Nodes[1].WaitHeight(ctx, mustHeight(n, 0))
	if _, err := read(allergyID); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("Dr Novak read before breaking the glass: %v", err)
	}

	reason := sha256.Sum256([]byte("unconscious in the emergency department"))
	if _, err := n.Client(1).Send(ctx, &pb.Body{Msg: &pb.Body_BreakGlass{BreakGlass: &pb.BreakGlass{
		Patient: alice.ID().Bytes(), ReasonHash: reason[:], Org: riverside.ID().Bytes()}}}, novak); err != nil {
		t.Fatal(err)
	}
	var ev *pb.BreakGlassEvent
	waitFor(t, ctx, "three validators to release their shares", func() bool {
		evs, err := n.Nodes[1].Ledger().BreakGlassOf(alice.ID())
		if err != nil || len(evs) != 1 {
			return false
		}
		ev = evs[0]
		return len(ev.Shares) >= esc.K
	})

	// Dr Novak decrypts the allergy record through Riverside's node.
	var got []byte
	waitFor(t, ctx, "the emergency key", func() bool {
		got, err = read(allergyID)
		if ptoy.KindOf(err) == ptoy.Unavailable {
			t.Logf("while the shares come: %v", err)
			return false
		}
		return true
	})
	if err != nil || !bytes.Equal(got, allergy) {
		t.Fatalf("Dr Novak's emergency read: %q %v", got, err)
	}
	// A clinical note is outside the emergency set.
	if _, err := read(noteID); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("break-glass reached a clinical note: %v", err)
	}
	// Read through another node, the key request goes to Riverside's.
	if err := n.Nodes[3].WaitHeight(ctx, mustHeight(n, 1)); err != nil {
		t.Fatal(err)
	}
	if b, _, err := n.Client(3).GetRecord(ctx, novak, alice.ID(), allergyID, client.ReadOptions{Org: riverside.ID(), Purpose: pb.Purpose_PURPOSE_EMERGENCY}); err != nil || !bytes.Equal(b, allergy) {
		t.Fatalf("through node 4: %v", err)
	}

	// Every share on the ledger is attributed to one validator and is
	// sealed to Riverside: fewer than three open nothing, three do, and
	// they open nothing for General Hospital.
	waitFor(t, ctx, "all four shares", func() bool {
		e, err := n.Nodes[1].Ledger().BreakGlassEvent(ev.Id)
		ev = e
		return err == nil && len(e.Shares) == 4
	})
	var released [][]byte
	for _, h := range ev.Shares {
		b, err := n.Client(0).Blob(ctx, alice, blob.Hash(h))
		if err != nil {
			t.Fatal(err)
		}
		released = append(released, b)
	}
	for i, nd := range n.Nodes {
		if _, err := nd.Ledger().ReleasedShare(ev.Id, nd.Org()); err != nil {
			t.Errorf("node %d's organisation released no share: %v", i+1, err)
		}
	}
	if _, err := escrow.Recover(escBlob, alice.ID(), riverside.ID(), released[:2], riverside.KEM); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("two shares: %v", err)
	}
	emergency, err := escrow.Recover(escBlob, alice.ID(), riverside.ID(), released[1:], riverside.KEM)
	if err != nil {
		t.Fatalf("three shares: %v", err)
	}
	for _, k := range emergency {
		if !escrow.IsEmergency(k.Category) {
			t.Errorf("the escrow holds category %d", k.Category)
		}
	}
	if _, err := escrow.Recover(escBlob, alice.ID(), gh.ID(), released, gh.KEM); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("General Hospital with Riverside's shares: %v", err)
	}

	// Each node audited its release, with Dr Novak as the actor.
	for i, nd := range n.Nodes {
		evs, err := nd.Audit().ForPatient(ctx, alice.ID(), time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs {
			if e.Action == "escrow-release" && e.Actor == novak.ID() && e.Reason == "break-glass 1 by Riverside Clinic" {
				found = true
			}
		}
		if !found {
			t.Errorf("node %d did not audit its release", i+1)
		}
	}
}
