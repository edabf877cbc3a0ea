package devnet

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/blob"
	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
)

// TestResidency runs four validators whose storage nodes are in DE, DE,
// FR and US. Alice limits her records to DE and writes through the FR
// node: her ciphertext is only ever on the two DE nodes (the FR node
// hands her uploads on), placed on 2 of the 3 replicas as the status
// says, and she reads it through every node's gateway. Bob's records,
// written with no rule, sit on three nodes of four; he narrows his rule
// to DE and they move: the DE nodes pull them, and only then do the
// others delete theirs (at no moment does a blob have fewer than two
// holders). He then limits them to FR, whose one node takes them all;
// when that node's organisation declares it in the US, nothing is
// allowed anywhere: his records stay where they are, and a new upload
// for him is refused at every node, with nothing stored.
func TestResidency(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{Validators: 4, Jurisdictions: []string{"DE", "DE", "FR", "US"}})
	t0 := time.Now()
	alice, bob := mustKey(t, n, "alice"), mustKey(t, n, "bob")
	lab := mustKey(t, n, "city-lab")
	nodes := n.Nodes
	for i, want := range []string{"DE", "DE", "FR", "US"} {
		if o, err := orgOf(ctx, n.Client(0), nodes[i].Org()); err != nil || o.Jurisdiction != want {
			t.Fatalf("node %d's organisation on the ledger: %v, %v; want jurisdiction %s", i+1, o, err, want)
		}
	}
	info, err := node.FetchNetwork(ctx, nil, nodes[0].URL())
	if err != nil || info.Jurisdictions[nodes[2].Org().String()] != "FR" {
		t.Fatalf("GET /v1/network: %+v, %v", info, err)
	}
	put := func(c *client.Client, who *keys.KeyPair, i int) *pb.RecordEntry {
		t.Helper()
		data := fmt.Appendf(nil, `{"resourceType":"Observation","code":{"text":"residency %d"}}`, i)
		recs, err := c.PutRecords(ctx, who, who.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_LAB_RESULTS, Data: data}})
		if err != nil {
			t.Fatal(err)
		}
		return recs[0]
	}
	// holders says which nodes hold e's ciphertext (1-based node numbers).
	holders := func(e *pb.RecordEntry) []int {
		var out []int
		for i, nd := range nodes {
			if count(ctx, nd, []*pb.RecordEntry{e}) == 1 {
				out = append(out, i+1)
			}
		}
		return out
	}
	// send commits a transaction and waits until every node has the
	// block, so that the signer's next transaction, through any node,
	// takes the next sequence number.
	send := func(c *client.Client, body *pb.Body, signer *keys.KeyPair) {
		t.Helper()
		h := commit(ctx, t, c, body, signer)
		for _, nd := range nodes {
			if err := nd.WaitHeight(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
	}
	onlyOn := func(es []*pb.RecordEntry, want ...int) func() bool {
		return func() bool {
			for _, e := range es {
				if !slices.Equal(holders(e), want) {
					return false
				}
			}
			return true
		}
	}

	// Alice: DE only, written through the FR node.
	send(n.Client(0), &pb.Body{Msg: &pb.Body_SetResidency{SetResidency: &pb.SetResidency{Jurisdictions: []string{"DE"}}}}, alice)
	var hers []*pb.RecordEntry
	for i := range 4 {
		hers = append(hers, put(n.Client(2), alice, i))
	}
	waitFor(t, ctx, "Alice's ciphertext on both DE nodes", onlyOn(hers, 1, 2))
	// Held there, and nowhere else, a while later: repair passes and
	// replication do not bring it back to FR or US.
	h, _ := nodes[0].Ledger().Height()
	if err := nodes[0].WaitHeight(ctx, h+5); err != nil {
		t.Fatal(err)
	}
	for _, e := range hers {
		if got := holders(e); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("Alice's record %x is held by nodes %v, want the DE nodes 1 and 2", e.Id, got)
		}
	}
	for i := range nodes {
		got, _, err := n.Client(i).GetRecord(ctx, alice, alice.ID(), hers[0].Id, client.ReadOptions{})
		if err != nil || !bytes.Contains(got, []byte("residency 0")) {
			t.Fatalf("reading Alice's record through node %d: %q, %v", i+1, got, err)
		}
	}
	st, err := n.Client(3).RecordStatus(ctx, alice, alice.ID(), hers[0].Id, 0, ptoy.ID{}, pb.Purpose_PURPOSE_TREATMENT)
	if err != nil || !strings.Contains(st, "residency DE: placed on 2 of 3 replicas") || strings.Count(st, " held\n") != 2 {
		t.Fatalf("status through the US node: %q, %v", st, err)
	}
	t.Logf("Alice's records on the DE nodes only, readable everywhere, at %v", time.Since(t0))

	// Bob: no rule (his placement nodes, three of four, and the node he
	// uploaded through hold each record), then DE. No blob ever has
	// fewer than two holders.
	var his []*pb.RecordEntry
	for i := range 6 {
		his = append(his, put(n.Client(0), bob, 10+i))
	}
	all := storageIDs(nodes)
	waitFor(t, ctx, "Bob's ciphertext on its placement nodes", func() bool {
		for _, e := range his {
			held := holders(e)
			for _, p := range blob.Place(blob.Hash(e.Hash), all, 3) {
				if !slices.ContainsFunc(held, func(i int) bool { return nodes[i-1].Org().String() == p }) {
					return false
				}
			}
		}
		return true
	})
	outside := 0
	for _, e := range his {
		if slices.ContainsFunc(holders(e), func(i int) bool { return i > 2 }) {
			outside++
		}
	}
	if outside == 0 {
		t.Fatal("none of Bob's records is on the FR or US node: nothing to move")
	}
	h, _ = nodes[0].Ledger().Height()
	for _, nd := range nodes {
		if err := nd.WaitHeight(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	send(n.Client(1), &pb.Body{Msg: &pb.Body_SetResidency{SetResidency: &pb.SetResidency{Jurisdictions: []string{"DE"}}}}, bob)
	fewest := len(nodes)
	waitFor(t, ctx, "Bob's ciphertext to move to the DE nodes", func() bool {
		for _, e := range his {
			fewest = min(fewest, len(holders(e)))
		}
		return onlyOn(his, 1, 2)()
	})
	if fewest < 2 {
		t.Fatalf("while Bob's records moved, one had %d holder(s): a copy was deleted before its new holders had it", fewest)
	}
	t.Logf("%d of Bob's records moved off FR/US at %v", outside, time.Since(t0))

	// FR only: City Lab's node takes everything.
	send(n.Client(2), &pb.Body{Msg: &pb.Body_SetResidency{SetResidency: &pb.SetResidency{Jurisdictions: []string{"FR"}}}}, bob)
	waitFor(t, ctx, "Bob's ciphertext on the FR node alone", onlyOn(his, 3))

	// City Lab declares its node in the US: Bob's rule allows no node.
	// His ciphertext has nowhere to go and stays; an upload for him is
	// refused, and stored nowhere.
	send(n.Client(2), &pb.Body{Msg: &pb.Body_SetJurisdiction{SetJurisdiction: &pb.SetJurisdiction{Jurisdiction: "US"}}}, lab)
	h, _ = nodes[0].Ledger().Height()
	for _, nd := range nodes {
		if err := nd.WaitHeight(ctx, h+5); err != nil {
			t.Fatal(err)
		}
	}
	if !onlyOn(his, 3)() {
		t.Fatal("Bob's records left the only node that held them though no node may take them")
	}
	data := []byte("PTOYREC residency refused")
	for i, nd := range nodes {
		_, err := n.Client(i).UploadFor(ctx, bob, bob.ID(), data)
		if ptoy.KindOf(err) != ptoy.Invalid || !strings.Contains(ptoy.Message(err), "nothing was stored") {
			t.Fatalf("upload for Bob through node %d: %v, want a refusal", i+1, err)
		}
		if _, err := nd.Blobs().Stat(ctx, blob.Sum(data)); err == nil {
			t.Fatalf("node %d stored a refused upload", i+1)
		}
	}
	t.Logf("done at %v", time.Since(t0))
}
