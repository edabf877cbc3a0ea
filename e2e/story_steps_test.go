package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/blob"
	"ptoy/client"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/ledger"
	"ptoy/seal"
)

// Records shared between the steps.
var storyRecords struct {
	note, cholesterol, earlier []byte
	noteBlob                   blob.Hash
}

func cats(cs ...pb.Category) uint32 {
	var b uint32
	for _, c := range cs {
		b |= consent.Bit(c)
	}
	return b
}

// Step 3: Alice grants General Hospital read and write for encounters,
// conditions, medications and lab results, for treatment, until the end
// of next year; and City Lab write-only for lab results. General
// Hospital's patient list shows Alice, and no one there can edit it.
func (s *story) step3(t *testing.T) {
	s.t = t
	alice := s.key("alice")
	ag := agent.New(s.client(1), alice)
	// Alice's earlier lab result, before any grant.
	es, err := s.client(1).PutRecords(s.ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{
		Category: pb.Category_CATEGORY_LAB_RESULTS, Data: []byte(`{"resourceType":"Observation","code":{"text":"HbA1c"},"valueQuantity":{"value":5.4}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	storyRecords.earlier = es[0].Id
	endOfNextYear := time.Date(time.Now().Year()+2, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	gh, lab := s.key("general-hospital").ID(), s.key("city-lab").ID()
	if err := ag.Grant(s.ctx, gh, agent.GrantOptions{
		Categories: cats(pb.Category_CATEGORY_ENCOUNTERS, pb.Category_CATEGORY_CONDITIONS, pb.Category_CATEGORY_MEDICATIONS,
			pb.Category_CATEGORY_LAB_RESULTS, pb.Category_CATEGORY_NOTES),
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE, Expires: endOfNextYear,
	}); err != nil {
		t.Fatal(err)
	}
	if err := ag.Grant(s.ctx, lab, agent.GrantOptions{Categories: cats(pb.Category_CATEGORY_LAB_RESULTS),
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_WRITE}); err != nil {
		t.Fatal(err)
	}
	list, err := s.client(1).As(s.key("nurse-lee")).Patients(s.ctx, gh)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || ptoy.ID(list[0].Patient) != alice.ID() {
		t.Fatalf("General Hospital's patient list: %v", list)
	}
	// Nobody at the hospital can edit the list: only Alice's grants make it.
	_, err = s.client(1).Send(s.ctx, &pb.Body{Msg: &pb.Body_Revoke{Revoke: &pb.Revoke{Patient: alice.ID().Bytes(), Grantee: gh.Bytes()}}}, s.key("gh-admin"))
	if ptoy.KindOf(err) != ptoy.PermissionDenied {
		t.Fatalf("the hospital's admin edited Alice's grant: %v", err)
	}
}

// Step 4: Nurse Lee writes an encounter note for Alice through node 1;
// City Lab deposits a cholesterol result through node 2 and cannot read
// Alice's earlier results.
func (s *story) step4(t *testing.T) {
	s.t = t
	alice, gh, lab := s.key("alice").ID(), s.key("general-hospital").ID(), s.key("city-lab")
	es, err := s.client(1).PutRecords(s.ctx, s.key("nurse-lee"), alice, gh, []client.NewRecord{{
		Category: pb.Category_CATEGORY_NOTES, Labels: cats(pb.Category_CATEGORY_ENCOUNTERS),
		Data: []byte(`{"resourceType":"DocumentReference","description":"encounter note"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	storyRecords.note, storyRecords.noteBlob = es[0].Id, blob.Hash(es[0].Hash)
	es, err = s.client(2).PutRecords(s.ctx, lab, alice, ptoy.ID{}, []client.NewRecord{{
		Category: pb.Category_CATEGORY_LAB_RESULTS, Data: []byte(`{"resourceType":"Observation","code":{"text":"cholesterol"}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	storyRecords.cholesterol = es[0].Id
	if _, _, err := s.client(2).GetRecord(s.ctx, lab, alice, storyRecords.earlier, client.ReadOptions{}); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("City Lab read Alice's earlier result: %v", err)
	}
}

// Step 5: Dr Osei reads Alice's chart through node 3 and decrypts it;
// billing clerk Park cannot read the clinical note; a storage node
// operator holding the ciphertext cannot decrypt it.
func (s *story) step5(t *testing.T) {
	s.t = t
	alice, gh := s.key("alice").ID(), s.key("general-hospital").ID()
	s.waitRecord(3, alice, storyRecords.cholesterol)
	for _, id := range [][]byte{storyRecords.note, storyRecords.cholesterol, storyRecords.earlier} {
		plain, _, err := s.client(3).GetRecord(s.ctx, s.key("dr-osei"), alice, id, client.ReadOptions{Org: gh})
		if err != nil || !bytes.Contains(plain, []byte("resourceType")) {
			t.Fatalf("Dr Osei reading %x through node 3: %v", id, err)
		}
	}
	if _, _, err := s.client(3).GetRecord(s.ctx, s.key("park"), alice, storyRecords.note, client.ReadOptions{Org: gh}); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("Park read the note: %v", err)
	}
	// Node 4's operator (Acme Insurance, no grant) fetches the ciphertext
	// node to node, as storage nodes do, and holds no key that opens it.
	ct, err := s.client(4).Blob(s.ctx, s.key("acme-insurance"), storyRecords.noteBlob)
	if err == nil {
		t.Fatal("key-material route served record ciphertext")
	}
	acme := s.key("acme-insurance")
	ct, _, err = s.client(1).Ciphertext(s.ctx, s.key("dr-osei"), alice, storyRecords.note, client.ReadOptions{Org: gh})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("encounter note")) {
		t.Fatal("the ciphertext holds the plaintext")
	}
	_, _, err = s.client(4).GetRecord(s.ctx, acme, alice, storyRecords.note, client.ReadOptions{Org: acme.ID()})
	if err == nil {
		t.Fatal("Acme Insurance read the note")
	}
}

// catchUp waits until each of the nodes has every block node from has now.
func (s *story) catchUp(from int, nodes ...int) {
	s.t.Helper()
	st, err := s.client(from).Status(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, i := range nodes {
		eventually(s.t, s.ctx, fmt.Sprintf("node %d to reach height %d", i, st.Height), func() bool {
			cur, err := s.client(i).Status(s.ctx)
			return err == nil && cur.Height >= st.Height
		})
	}
}

func (s *story) waitRecord(i int, patient ptoy.ID, id []byte) {
	s.t.Helper()
	eventually(s.t, s.ctx, fmt.Sprintf("record %x on node %d", id, i), func() bool {
		_, err := s.client(i).As(s.key("alice")).Record(s.ctx, patient, id, 0)
		return err == nil
	})
}

// Step 6: Alice asks "why can Park not read my note?" and gets an
// answer in plain words.
func (s *story) step6(t *testing.T) {
	s.t = t
	r, err := s.client(1).As(s.key("alice")).Explain(s.ctx, &pb.ExplainRequest{Reader: s.key("park").ID().Bytes(), Patient: s.key("alice").ID().Bytes(),
		Categories: cats(pb.Category_CATEGORY_NOTES), Org: s.key("general-hospital").ID().Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Allow || !strings.Contains(strings.ToLower(r.Reason), "billing") {
		t.Fatalf("explain Park: %+v", r)
	}
	t.Logf("why can Park not read the note? %s", r.Reason)
}

// Step 7: Alice revokes General Hospital; Dr Osei is refused at once, and
// a note written afterwards is never readable with what the hospital holds.
func (s *story) step7(t *testing.T) {
	s.t = t
	alice, gh := s.key("alice"), s.key("general-hospital")
	if err := agent.New(s.client(1), alice).Revoke(s.ctx, gh.ID()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.client(1).GetRecord(s.ctx, s.key("dr-osei"), alice.ID(), storyRecords.note, client.ReadOptions{Org: gh.ID()}); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("after the revoke: %v", err)
	}
	es, err := s.client(1).PutRecords(s.ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_NOTES, Data: []byte(`{"resourceType":"DocumentReference","description":"later note"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	ct, _, err := s.client(1).Ciphertext(s.ctx, alice, alice.ID(), es[0].Id, client.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := s.client(1).As(alice).Grants(s.ctx, alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if ptoy.ID(g.Grant.Grantee) != gh.ID() {
			continue
		}
		bundle, err := s.client(1).Blob(s.ctx, gh, blob.Hash(g.Grant.KeyBundle))
		if err != nil {
			t.Fatal(err)
		}
		held, err := seal.OpenBundle(alice.ID(), gh.ID(), gh.KEM, bundle)
		if err != nil {
			t.Fatal(err)
		}
		var ref seal.Ref
		copy(ref.ID[:], es[0].Id)
		ref.Version = es[0].Version
		_, err = seal.OpenBytes(ct, ref, func(c seal.Category, e uint32) (seal.PrivateKey, error) {
			for _, k := range held {
				if k.Category == c && k.Epoch == e {
					return k, nil
				}
			}
			return seal.PrivateKey{}, ptoy.E("", ptoy.NotFound, "no key")
		})
		if err == nil {
			t.Fatal("the hospital's keys open a note written after the revoke")
		}
	}
}

// Step 8: Dr Novak at Riverside breaks the glass for Alice with a reason:
// he reads her allergies and medications for four hours, decrypting them
// with keys recovered from her emergency escrow, Alice is notified, and
// the access waits in the review queue.
func (s *story) step8(t *testing.T) {
	s.t = t
	alice, riverside := s.key("alice"), s.key("riverside-clinic")
	es, err := s.client(1).PutRecords(s.ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{
		Category: pb.Category_CATEGORY_ALLERGIES, Data: []byte(`{"resourceType":"AllergyIntolerance","code":{"text":"penicillin"}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	reason := sha256.Sum256([]byte("unconscious in the emergency department"))
	if _, err := s.client(2).Send(s.ctx, &pb.Body{Msg: &pb.Body_BreakGlass{BreakGlass: &pb.BreakGlass{
		Patient: alice.ID().Bytes(), ReasonHash: reason[:], Org: riverside.ID().Bytes()}}}, s.key("dr-novak")); err != nil {
		t.Fatal(err)
	}
	// He decrypts it once enough validators released their shares of
	// Alice's emergency key to Riverside's node.
	var plain []byte
	eventually(t, s.ctx, "Alice's emergency key shares", func() bool {
		plain, _, err = s.client(2).GetRecord(s.ctx, s.key("dr-novak"), alice.ID(), es[0].Id,
			client.ReadOptions{Org: riverside.ID(), Purpose: pb.Purpose_PURPOSE_EMERGENCY})
		waiting := ptoy.KindOf(err) == ptoy.Unavailable && strings.Contains(ptoy.Message(err), "waiting for emergency key shares")
		if waiting {
			t.Logf("Dr Novak waits: %v", ptoy.Message(err))
		}
		return !waiting
	})
	if err != nil || !bytes.Contains(plain, []byte("penicillin")) {
		t.Fatalf("Dr Novak's break-glass read: %q %v", plain, err)
	}
	if _, _, err := s.client(2).Ciphertext(s.ctx, s.key("dr-novak"), alice.ID(), storyRecords.note,
		client.ReadOptions{Org: riverside.ID(), Purpose: pb.Purpose_PURPOSE_EMERGENCY}); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("break-glass reached a clinical note: %v", err)
	}
	s.catchUp(2, 1, 3)
	ns, err := s.client(1).As(alice).Notifications(s.ctx, alice.ID())
	if err != nil || len(ns) == 0 {
		t.Fatalf("Alice was not notified: %v %v", ns, err)
	}
	q, err := s.client(3).As(s.key("riverside-admin")).BreakGlassQueue(s.ctx, riverside.ID())
	if err != nil || len(q) != 1 || ptoy.ID(q[0].Practitioner) != s.key("dr-novak").ID() {
		t.Fatalf("review queue: %v %v", q, err)
	}
	if d := time.Unix(q[0].Closes, 0).Sub(time.Unix(q[0].Opened, 0)); d != 4*time.Hour {
		t.Fatalf("break-glass window %v", d)
	}
	t.Logf("Alice's notification: %s", ns[len(ns)-1].Text)
}

// Step 9: Alice lists every access to her records, from any node, and
// each entry's proof checks.
func (s *story) step9(t *testing.T) {
	s.t = t
	alice := s.key("alice")
	total := 0
	for i := 1; i <= 4; i++ {
		var trail *client.AuditTrail
		// Anchoring runs every second: wait until nothing is pending.
		eventually(t, s.ctx, fmt.Sprintf("node %d's audit batches to be anchored", i), func() bool {
			var err error
			// The anchors are read through the next node.
			trail, err = s.client(i).AuditEventsVia(s.ctx, s.client(i%4+1), alice, alice.ID(), time.Time{}, time.Time{})
			if err != nil {
				t.Fatalf("node %d: %v", i, err)
			}
			return len(trail.Pending) == 0
		})
		if len(trail.Verified) > 0 && !trail.Complete {
			t.Fatalf("node %d: the trail's completeness was not checked", i)
		}
		for _, e := range trail.Verified {
			if e.Patient != alice.ID() {
				t.Fatalf("node %d listed another patient's event", i)
			}
		}
		total += len(trail.Verified)
		t.Logf("node %d: %d events verified against anchored batches", i, len(trail.Verified))
	}
	if total < 5 {
		t.Fatalf("only %d events", total)
	}
}

// Step 10: Alice fills her free 10 MB; the next write is refused with how
// much is used, how much it needs and how to get more; she buys a plan
// with PTOY and the write goes through; she sends Bob 5 PTOY.
func (s *story) step10(t *testing.T) {
	s.t = t
	alice, bob := s.key("alice"), s.key("bob")
	c := s.client(1)
	big := make([]byte, 900_000)
	for {
		_, err := c.PutRecords(s.ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_IMAGING, Data: big}})
		if err == nil {
			continue
		}
		msg := ptoy.Message(err)
		if ptoy.KindOf(err) != ptoy.PermissionDenied || !strings.Contains(msg, "of 10 MB used") || !strings.Contains(msg, "needs") ||
			!strings.Contains(msg, "ptoy storage buy") {
			t.Fatalf("over quota: %v", err)
		}
		t.Logf("over quota: %s", msg)
		break
	}
	if _, err := c.Send(s.ctx, &pb.Body{Msg: &pb.Body_Faucet{Faucet: &pb.Faucet{Amount: 20 * ledger.MicroPTOY}}}, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(s.ctx, &pb.Body{Msg: &pb.Body_BuyPlan{BuyPlan: &pb.BuyPlan{Plan: 1}}}, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRecords(s.ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_IMAGING, Data: big}}); err != nil {
		t.Fatalf("after buying a plan: %v", err)
	}
	before, err := s.nodeBalance(bob)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Transfer(s.ctx, alice, bob.ID(), 5*ledger.MicroPTOY, "thanks"); err != nil {
		t.Fatal(err)
	}
	after, err := s.nodeBalance(bob)
	if err != nil {
		t.Fatal(err)
	}
	if after-before != 5*ledger.MicroPTOY {
		t.Fatalf("Bob's balance went from %d to %d", before, after)
	}
}

// nodeBalance reads an account's balance from node 1, as the account.
func (s *story) nodeBalance(k *keys.KeyPair) (uint64, error) {
	b, err := s.client(1).As(k).Balance(s.ctx, k.ID())
	if err != nil {
		return 0, err
	}
	return b.Balance, nil
}
