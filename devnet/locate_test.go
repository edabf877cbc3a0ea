package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	"ptoy/match"
)

// findAt runs the record locator for a patient and returns the proposals
// of the node of org.
func findAt(t *testing.T, ctx context.Context, a *agent.Agent, org ptoy.ID, p ...match.Person) (client.LocatorNode, []client.Proposal, int) {
	t.Helper()
	found, err := a.FindRecords(ctx, p[0], p[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	var node client.LocatorNode
	var ps []client.Proposal
	others := 0
	for _, f := range found {
		if f.Err != nil {
			t.Fatalf("the locator at %s: %v", f.Node.URL, f.Err)
		}
		if f.Node.Org == org {
			node, ps = f.Node, f.Proposals
		} else {
			others += len(f.Proposals)
		}
	}
	if node.URL == "" {
		t.Fatalf("no locator node for %s among %d", org, len(found))
	}
	return node, ps, others
}

// TestRecordLocator is the record locator on four validators: General
// Hospital's EHR holds Alice as "Alicia" at an old address; her
// demographics find that record and only it, Bob's find nothing; she
// confirms, the hospital re-seals the records to her keys, and she
// decrypts them.
func TestRecordLocator(t *testing.T) {
	ctx, n := startNet(t, 6*time.Minute, Options{Validators: 4, DemoEHR: true})
	gh, alice, bob := mustKey(t, n, "general-hospital"), mustKey(t, n, "alice"), mustKey(t, n, "bob")
	_, alicia, err := DemoEHR(DemoEHRPatients)
	if err != nil {
		t.Fatal(err)
	}
	h := n.Nodes[0].Holdings()
	if s := h.Summary(); s.Patients != DemoEHRPatients+4 || s.Records < (DemoEHRPatients+4)*5 {
		t.Fatalf("the demo EHR: %+v", s)
	}
	held, err := n.Client(0).Holdings(ctx, gh, DemoEHRSource)
	if err != nil || len(held.Records) != h.Summary().Records {
		t.Fatalf("the holdings listed to the hospital: %v", err)
	}
	if _, err := n.Client(0).Holdings(ctx, alice, ""); ptoy.KindOf(err) != ptoy.PermissionDenied {
		t.Fatalf("a patient listing the hospital's holdings: %v", err)
	}

	// Bob, born the year another patient was, is proposed nothing.
	if _, ps, others := findAt(t, ctx, agent.New(n.Client(1), bob), gh.ID(), BobDemographics); len(ps)+others != 0 {
		t.Fatalf("Bob is proposed %v (+%d elsewhere)", ps, others)
	}
	// Alice is proposed Alicia's records, and not Alison's.
	aa := agent.New(n.Client(1), alice)
	// With her address now alone, the hospital is not sure enough to
	// propose anything to her (the match waits in its review queue);
	// with the address she had before, it is.
	if _, ps, others := findAt(t, ctx, aa, gh.ID(), AliceDemographics); len(ps)+others != 0 {
		t.Fatalf("Alice with her current address alone: %+v (+%d elsewhere)", ps, others)
	}
	ghAdmin := mustKey(t, n, "gh-admin")
	q, err := n.Client(0).Review(ctx, ghAdmin)
	if err != nil || len(q) != 1 || q[0].Patient != alice.ID() {
		t.Fatalf("the review queue: %+v %v", q, err)
	}
	if _, err := n.Client(0).Review(ctx, mustKey(t, n, "nurse-lee")); ptoy.KindOf(err) != ptoy.PermissionDenied {
		t.Fatalf("a nurse reading the review queue: %v", err)
	}
	// The hospital's staff judge it her: it becomes a proposal to her.
	if err := n.Client(0).Approve(ctx, ghAdmin, alice.ID(), q[0].Proposal); err != nil {
		t.Fatal(err)
	}
	if _, ps, _ := findAt(t, ctx, aa, gh.ID(), AliceDemographics); len(ps) != 1 || ps[0].ID != q[0].Proposal {
		t.Fatalf("after the review: %+v", ps)
	}
	node, ps, others := findAt(t, ctx, aa, gh.ID(), AliceDemographics, AliceBefore)
	if len(ps) != 1 || others != 0 {
		t.Fatalf("Alice's proposals: %+v (+%d elsewhere)", ps, others)
	}
	p := ps[0]
	if p.Records != alicia || p.Status != "proposed" || p.From == 0 || p.To < p.From || len(p.Categories) < 3 {
		t.Fatalf("the proposal: %+v (Alicia has %d resources)", p, alicia)
	}
	// Asking again proposes the same, once.
	if _, again, _ := findAt(t, ctx, aa, gh.ID(), AliceDemographics, AliceBefore); len(again) != 1 || again[0].ID != p.ID {
		t.Fatalf("asking again: %+v", again)
	}
	// Someone else cannot confirm Alice's proposal.
	if _, err := client.AnswerProposal(ctx, nil, bob, node.URL, p.ID, true); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("Bob confirming Alice's proposal: %v", err)
	}
	before, err := n.Client(0).As(alice).Records(ctx, alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	linked, err := aa.Confirm(ctx, node, p)
	if err != nil || linked != alicia {
		t.Fatalf("confirming: %d, %v", linked, err)
	}
	after, err := n.Client(0).As(alice).Records(ctx, alice.ID())
	if err != nil || len(after) != len(before)+alicia {
		t.Fatalf("Alice's records: %d before, %d after (%v)", len(before), len(after), err)
	}
	// She decrypts them, through another node than the hospital's, once
	// it has committed the block node 1 answered from.
	top, _ := n.Nodes[0].Ledger().Height()
	waitFor(t, ctx, "node 3 at node 1's height", func() bool { h, _ := n.Nodes[2].Ledger().Height(); return h >= top })
	opened := 0
	for _, st := range after {
		if !bytes.Equal(st.Org, gh.ID().Bytes()) {
			continue
		}
		plain, _, err := n.Client(2).GetRecord(ctx, alice, alice.ID(), st.Entry.Id, client.ReadOptions{})
		if err != nil {
			t.Fatalf("Alice reading a linked record: %v", err)
		}
		if bytes.Contains(plain, []byte(`"family":"Example"`)) && bytes.Contains(plain, []byte(`"Alicia"`)) {
			opened++
		}
	}
	if opened != 1 {
		t.Fatalf("Alice decrypted %d Patient records of Alicia, want 1", opened)
	}
	// A later sync brings a new result for Alicia: the hospital files it
	// for Alice too (the link's grant lets it), and she reads it.
	ehr, _, _ := DemoEHR(DemoEHRPatients)
	var aliciaID string
	for _, r := range ehr {
		var m struct {
			ResourceType, ID string
			Name             []struct{ Given []string }
		}
		json.Unmarshal(r, &m)
		if m.ResourceType == "Patient" && len(m.Name) > 0 && len(m.Name[0].Given) > 0 && m.Name[0].Given[0] == "Alicia" {
			aliciaID = m.ID
		}
	}
	newLab := []byte(`{"resourceType":"Observation","id":"later-ldl-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"18262-6","display":"LDL Cholesterol"}]},"subject":{"reference":"Patient/` + aliciaID + `"},"effectiveDateTime":"2026-11-01","valueQuantity":{"value":97,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`)
	res, err := h.Import(ctx, DemoEHRSource, [][]byte{newLab})
	if err != nil || res.Created != 1 || res.Forwarded != 1 {
		t.Fatalf("a later result for a linked patient: %+v %v", res, err)
	}
	if later, err := n.Client(0).As(alice).Records(ctx, alice.ID()); err != nil || len(later) != len(after)+1 {
		t.Fatalf("Alice's records after the later sync: %d, want %d (%v)", len(later), len(after)+1, err)
	}
	// Confirmed, the proposal is not made again to anyone; confirming
	// twice links nothing twice.
	if again, err := aa.Confirm(ctx, node, p); err != nil || again != alicia {
		t.Fatalf("confirming again: %d, %v", again, err)
	}
	if s := h.Summary(); s.Linked != 1 {
		t.Fatalf("after the link: %+v", s)
	}
	if err := aa.Reject(ctx, node, client.Proposal{ID: "00"}); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("rejecting an unknown proposal: %v", err)
	}
	if err := aa.Reject(ctx, node, p); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("rejecting a confirmed proposal: %v", err)
	}
	// Bob says he is Robert Sample: the hospital proposes both of its
	// records of Robert; he rejects them, and they are not made again.
	ba := agent.New(n.Client(0), bob)
	_, rp, _ := findAt(t, ctx, ba, gh.ID(), RobertDemographics)
	if len(rp) != 2 {
		t.Fatalf("Bob as Robert: %+v", rp)
	}
	for _, x := range rp {
		if err := ba.Reject(ctx, node, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, again, _ := findAt(t, ctx, ba, gh.ID(), RobertDemographics); len(again) != 0 {
		t.Fatalf("after rejecting: %+v", again)
	}
	// The same matcher finds the man the hospital registered twice.
	ds, err := n.Client(0).Duplicates(ctx, ghAdmin, DemoEHRSource)
	if err != nil || len(ds) != 1 || ds[0].Band != "link" {
		t.Fatalf("duplicates within the hospital's EHR: %+v %v", ds, err)
	}
	// Nothing of the EHR's demographics, or of what the patients gave
	// the locator, is on any node's disk in clear: not in the ledger, the
	// blocks, the blob stores or the holdings' own store.
	for i := range n.Nodes {
		n.StopNode(i)
	}
	for i := range n.Nodes {
		filepath.WalkDir(n.Info.Nodes[i].Home, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(path)
			for _, clear := range []string{"Alicia", "Elm Road", "Exampel", "Dock Road", "Harbour Street", "1985-03-14"} {
				if bytes.Contains(b, []byte(clear)) {
					t.Errorf("%s holds %q in clear", path, clear)
				}
			}
			return nil
		})
	}
}
