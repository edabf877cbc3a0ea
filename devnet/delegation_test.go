package devnet

import (
	"bytes"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/blob"
	"ptoy/client"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/seal"
)

// TestUndelegateNewEpoch: when Alice ends Bob's delegation (he held the
// keys of her notes), her notes get a new key epoch. A note written
// afterwards is sealed to it and Bob's keys do not open it; General
// Hospital, which reads her notes under a grant, receives the new keys
// in the same transaction and opens it; what Bob could open before he
// still can (what was shared cannot be taken back).
func TestUndelegateNewEpoch(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{Validators: 1})
	alice, bob, gh := mustKey(t, n, "alice"), mustKey(t, n, "bob"), mustKey(t, n, "general-hospital")
	c := n.Client(0)
	ag := agent.New(c, alice)
	notes := consent.Bit(pb.Category_CATEGORY_NOTES)
	if err := ag.Grant(ctx, gh.ID(), agent.GrantOptions{Categories: notes, Purpose: pb.Purpose_PURPOSE_TREATMENT,
		Permission: pb.Permission_PERMISSION_READ, Replace: true}); err != nil {
		t.Fatal(err)
	}
	if err := ag.Delegate(ctx, bob.ID(), agent.DelegateOptions{Categories: notes}); err != nil {
		t.Fatal(err)
	}
	write := func(text string) (*pb.RecordEntry, []byte, uint32) {
		t.Helper()
		e, err := c.PutRecords(ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_NOTES,
			Data: []byte(`{"resourceType":"DocumentReference","status":"current","description":"` + text + `"}`)}})
		if err != nil {
			t.Fatal(err)
		}
		ct, _, err := c.Ciphertext(ctx, alice, alice.ID(), e[0].Id, client.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := seal.ParseHeader(ct)
		if err != nil {
			t.Fatal(err)
		}
		return e[0], ct, hdr.Epoch
	}
	before, ctBefore, epoch := write("before")

	// The keys Bob holds as a delegate: his delegation's bundle.
	ds, err := n.Nodes[0].Ledger().Delegations(alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	var bundle []byte
	for _, d := range ds {
		if ptoy.ID(d.Delegation.Delegate) == bob.ID() {
			bundle = d.Delegation.KeyBundle
		}
	}
	if bundle == nil {
		t.Fatal("no delegation to Bob on the ledger")
	}
	raw, err := c.Blob(ctx, bob, blob.Hash(bundle))
	if err != nil {
		t.Fatal(err)
	}
	bobKeys, err := seal.OpenBundle(alice.ID(), bob.ID(), bob.KEM, raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.OpenBytes(ctBefore, ref(before), finder(bobKeys)); err != nil {
		t.Fatalf("Bob's delegation keys do not open her note: %v", err)
	}

	if err := ag.Undelegate(ctx, bob.ID()); err != nil {
		t.Fatal(err)
	}
	if ds, err := n.Nodes[0].Ledger().Delegations(alice.ID()); err != nil || len(ds) != 0 {
		t.Fatalf("delegations after the undelegate: %v, %v", ds, err)
	}
	after, ctAfter, epochAfter := write("after")
	if epochAfter != epoch+1 {
		t.Fatalf("a note written after the delegation ended is sealed to epoch %d, before it %d", epochAfter, epoch)
	}
	if _, err := seal.OpenBytes(ctAfter, ref(after), finder(bobKeys)); err == nil {
		t.Fatal("the former delegate's keys open a note written after the delegation ended")
	}
	if plain, err := seal.OpenBytes(ctBefore, ref(before), finder(bobKeys)); err != nil || !bytes.Contains(plain, []byte("before")) {
		t.Fatalf("Bob's keys should still open the note he could read: %v", err)
	}
	ghKeys, err := seal.OpenBundle(alice.ID(), gh.ID(), gh.KEM, grantBundle(t, ctx, n, alice.ID(), gh.ID()))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := seal.OpenBytes(ctAfter, ref(after), finder(ghKeys)); err != nil || !bytes.Contains(plain, []byte("after")) {
		t.Fatalf("General Hospital's new bundle does not open the note written after: %v", err)
	}
}
