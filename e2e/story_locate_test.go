package e2e

import (
	"bytes"
	"testing"

	"ptoy/agent"
	"ptoy/client"
	"ptoy/devnet"
)

// step13: Alice asks "find my records". General Hospital's node, whose
// EHR (synced by ptoy dev) holds her as "Alicia" at her old address,
// proposes the link: how many records, which years, nothing more; the
// man born the year she was, and the woman with a name like hers, are
// not proposed. She confirms, and the records decrypt for her.
func (s *story) step13(t *testing.T) {
	alice, gh := s.key("alice"), s.key("general-hospital")
	a := agent.New(s.client(2), alice)
	found, err := a.FindRecords(s.ctx, devnet.AliceDemographics, devnet.AliceBefore)
	if err != nil {
		t.Fatal(err)
	}
	var node client.LocatorNode
	var ps []client.Proposal
	for _, f := range found {
		if f.Err != nil {
			t.Fatalf("the locator at %s: %v", f.Node.URL, f.Err)
		}
		if f.Node.Org == gh.ID() {
			node, ps = f.Node, f.Proposals
		} else if len(f.Proposals) > 0 {
			t.Fatalf("%s proposes %+v", f.Node.URL, f.Proposals)
		}
	}
	if len(ps) != 1 || ps[0].Records == 0 || ps[0].From == 0 {
		t.Fatalf("General Hospital's proposals: %+v", ps)
	}
	t.Logf("General Hospital proposes %d records of %d–%d: %v", ps[0].Records, ps[0].From, ps[0].To, ps[0].Categories)
	n, err := a.Confirm(s.ctx, node, ps[0])
	if err != nil || n != ps[0].Records {
		t.Fatalf("confirming: %d, %v", n, err)
	}
	recs, err := s.client(3).As(alice).Records(s.ctx, alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	for _, st := range recs {
		if !bytes.Equal(st.Org, gh.ID().Bytes()) {
			continue
		}
		plain, _, err := s.client(3).GetRecord(s.ctx, alice, alice.ID(), st.Entry.Id, client.ReadOptions{})
		if err == nil && bytes.Contains(plain, []byte(`"Alicia"`)) {
			opened++
		}
	}
	if opened != 1 {
		t.Fatalf("Alice opened %d Patient records of Alicia through node 3", opened)
	}
}
