package devnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/blob"
	"ptoy/client"
	"ptoy/escrow"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
	"ptoy/tx"
)

// TestMembership runs four validators in one process; a fifth
// organisation makes a node home from what node 1 tells it (genesis,
// peers, storage nodes), starts it, and block-syncs to the tip as a
// non-validator that stores nothing. The members admit it with its
// validator key and node URL: the validator set grows to five, its
// validator signs blocks, it fetches the ciphertext written before it
// joined that placement now puts on it, and records written afterwards
// are placed on it. Alice signs in at her home node, which splits her
// emergency escrow afresh among the five. Then the members remove node 4's validator and
// storage node (the new member votes too): the set is back to four, the
// chain goes on, placement leaves node 4 out, Alice's refreshed escrow
// leaves node 4's organisation out, a break-glass is answered by the new
// member's node, and all five nodes end with the same app hash at every
// height.
func TestMembership(t *testing.T) {
	ctx, n := startNet(t, 6*time.Minute, Options{Validators: 4, KeepKeystores: true})
	t0 := time.Now()
	alice := mustKey(t, n, "alice")
	orgs := make([]*keys.KeyPair, len(demoOrgs))
	for i, o := range demoOrgs {
		orgs[i] = mustKey(t, n, o.key)
	}
	c := n.Client(0)
	put := func(i int) *pb.RecordEntry {
		t.Helper()
		data := fmt.Appendf(nil, `{"resourceType":"Observation","code":{"text":"membership %d"}}`, i)
		recs, err := c.PutRecords(ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_LAB_RESULTS, Data: data}})
		if err != nil {
			t.Fatal(err)
		}
		return recs[0]
	}
	var before []*pb.RecordEntry
	for i := range 8 {
		before = append(before, put(i))
	}

	// The new organisation's home, from node 1's description of the
	// network.
	info, err := node.FetchNetwork(ctx, nil, n.Nodes[0].URL())
	if err != nil {
		t.Fatal(err)
	}
	if info.ChainID != n.Nodes[0].ChainID() || len(info.Peers) != 4 || len(info.Storage) != 4 {
		t.Fatalf("network description: chain %q, %d peers, %d storage nodes", info.ChainID, len(info.Peers), len(info.Storage))
	}
	ports, err := node.FreePorts("127.0.0.5", 2)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(t.TempDir(), "imaging")
	joined, err := node.JoinNetwork(node.JoinSpec{
		Home: home, Network: *info, Moniker: "imaging",
		HTTPAddr: net.JoinHostPort("127.0.0.5", strconv.Itoa(ports[0])), P2PAddr: "tcp://" + net.JoinHostPort("127.0.0.5", strconv.Itoa(ports[1])),
		FastBlocks: true, KDF: keys.TestKDF,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.JoinNetwork(node.JoinSpec{Home: home, Network: *info, HTTPAddr: "127.0.0.5:1", P2PAddr: "tcp://127.0.0.5:2"}); ptoy.KindOf(err) != ptoy.Exists {
		t.Fatalf("joining into a home that holds a node: %v, want Exists", err)
	}
	bad := *info
	bad.Peers = []string{"not-a-peer"}
	if _, err := node.JoinNetwork(node.JoinSpec{Home: t.TempDir(), Network: bad, HTTPAddr: "127.0.0.5:1", P2PAddr: "tcp://127.0.0.5:2"}); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("joining with a bad peer: %v, want Invalid", err)
	}
	// Its repair pass is rare: what it fetches after the admission, the
	// membership change makes it fetch.
	n5, err := node.Open(home, node.Options{Logger: n.opt.Logger, Override: func(c *node.Config) { c.RepairInterval = "1h" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n5.Close() })
	if err := n5.Start(); err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(n.Nodes), n5)
	tip, _ := n.Nodes[0].Ledger().Height()
	if err := n5.WaitHeight(ctx, tip); err != nil {
		t.Fatal(err)
	}
	t.Logf("synced to %d at %v", tip, time.Since(t0))
	if st, err := n5.Status(ctx); err != nil || st.Validators != 4 {
		t.Fatalf("before admission the joined node sees %d validators (%v), want 4", st.GetValidators(), err)
	}
	if held := count(ctx, n5, before); held != 0 {
		t.Fatalf("before admission the joined node holds %d blobs, want 0", held)
	}

	// Admission: General Hospital proposes (the candidate co-signs), two
	// more members vote yes: 3 of 4.
	pass := mustRead(t, filepath.Join(home, "keys", "passphrase"))
	candKey, _, err := (keys.Dir{Path: filepath.Join(home, "keys")}).Load("org", pass)
	if err != nil {
		t.Fatal(err)
	}
	candNode, _, err := (keys.Dir{Path: filepath.Join(home, "keys")}).Load("node", pass)
	if err != nil {
		t.Fatal(err)
	}
	req, err := node.ReadJoined(filepath.Join(home, node.JoinRequestFile))
	if err != nil {
		t.Fatal(err)
	}
	po, err := req.ProposeOrg("Imaging Centre", pb.OrgKind_ORG_KIND_CLINIC)
	if err != nil {
		t.Fatal(err)
	}
	if po.NodeUrl != n5.URL() || req.Org != candKey.ID().String() || req.Org != joined.Org {
		t.Fatalf("join request: node URL %s (node serves %s), org %s (key %s)", po.NodeUrl, n5.URL(), req.Org, candKey.ID())
	}
	commit(ctx, t, c, &pb.Body{Msg: &pb.Body_ProposeOrg{ProposeOrg: po}}, orgs[0], candKey, candNode)
	pid := lastProposal(ctx, t, c)
	commit(ctx, t, n.Client(1), &pb.Body{Msg: &pb.Body_Vote{Vote: &pb.Vote{Proposal: pid, Approve: true}}}, orgs[1])
	h := commit(ctx, t, n.Client(2), &pb.Body{Msg: &pb.Body_Vote{Vote: &pb.Vote{Proposal: pid, Approve: true}}}, orgs[2])
	if err := n.Nodes[0].WaitHeight(ctx, h); err != nil {
		t.Fatal(err)
	}
	o, err := orgOf(ctx, c, candKey.ID())
	if err != nil || o.NodeUrl != n5.URL() {
		t.Fatalf("the admitted organisation: %v, %v", o, err)
	}
	waitValidators(ctx, t, all, 5)
	t.Logf("five validators at %v", time.Since(t0))

	// Its validator signs blocks.
	addr := n5.Comet().PrivValidator()
	pub, err := addr.GetPubKey()
	if err != nil {
		t.Fatal(err)
	}
	from, _ := n5.Ledger().Height()
	waitFor(t, ctx, "a block signed by the new validator", func() bool {
		h, _ := n5.Ledger().Height()
		for x := from; x <= h; x++ {
			cm := n5.Comet().BlockStore().LoadBlockCommit(x)
			if cm == nil {
				continue
			}
			for _, s := range cm.Signatures {
				if bytes.Equal(s.ValidatorAddress, pub.Address()) && len(s.Signature) > 0 {
					return true
				}
			}
		}
		return false
	})

	// Placement now counts five storage nodes: the ciphertext written
	// before that placement puts on the new node is fetched by it, and
	// so is a record written afterwards that lands on it.
	five := storageIDs(all)
	onNew := func(e *pb.RecordEntry) bool {
		return slices.Contains(blob.Place(blob.Hash(e.Hash), five, 3), candKey.ID().String())
	}
	var mustHold []*pb.RecordEntry
	for _, e := range before {
		if onNew(e) {
			mustHold = append(mustHold, e)
		}
	}
	var after *pb.RecordEntry
	for i := 100; after == nil; i++ {
		if i > 140 {
			t.Fatal("no record of 40 was placed on the new node")
		}
		if e := put(i); onNew(e) {
			after = e
		}
	}
	mustHold = append(mustHold, after)
	waitFor(t, ctx, "the new node to hold what is placed on it", func() bool { return count(ctx, n5, mustHold) == len(mustHold) })
	t.Logf("new node holds %d blobs placed on it (%d written before it joined) at %v", len(mustHold), len(mustHold)-1, time.Since(t0))
	got, _, err := n.Client(0).GetRecord(ctx, alice, alice.ID(), after.Id, client.ReadOptions{})
	if err != nil || !bytes.Contains(got, []byte("membership")) {
		t.Fatalf("reading the record written after the admission: %v", err)
	}

	// The emergency escrow follows: Alice signs in at her home node, which
	// splits her emergency keys afresh among the five validators.
	// escrowOf reads Alice's escrow as the ledger names it now; nil while
	// the blob it names has not reached node 1 yet.
	escrowOf := func() *escrow.Escrow {
		t.Helper()
		ks, _, err := c.As(alice).KeySet(ctx, alice.ID(), ptoy.ID{})
		if err != nil || len(ks.Escrow) != 32 {
			t.Fatalf("Alice's key set: %v, %v", ks, err)
		}
		raw, err := c.Blob(ctx, alice, blob.Hash(ks.Escrow))
		if err != nil {
			return nil
		}
		e, err := escrow.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	settled := func() *escrow.Escrow {
		t.Helper()
		var e *escrow.Escrow
		waitFor(t, ctx, "Alice's escrow blob at node 1", func() bool { e = escrowOf(); return e != nil })
		return e
	}
	if e := settled(); len(e.Shares) != 4 {
		t.Fatalf("Alice's escrow before she signs in again: %d shares", len(e.Shares))
	}
	if _, _, err := n.Nodes[0].UnsealPatient(ctx, alice.ID(), Passphrase); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "Alice's escrow among five validators", func() bool {
		e := escrowOf()
		if e == nil {
			return false
		}
		_, held := e.Share(candKey.ID())
		return len(e.Shares) == 5 && held && e.K == 4
	})
	t.Logf("escrow among five at %v", time.Since(t0))

	// Removal of node 4's validator and storage node: 5 members, 4 yes,
	// the new member's among them.
	removed := orgs[3].ID()
	commit(ctx, t, c, &pb.Body{Msg: &pb.Body_ProposeRemoval{ProposeRemoval: &pb.ProposeRemoval{Org: removed.Bytes()}}}, orgs[0])
	rid := lastProposal(ctx, t, c)
	commit(ctx, t, n.Client(1), &pb.Body{Msg: &pb.Body_Vote{Vote: &pb.Vote{Proposal: rid, Approve: true}}}, orgs[1])
	h = commit(ctx, t, n.Client(2), &pb.Body{Msg: &pb.Body_Vote{Vote: &pb.Vote{Proposal: rid, Approve: true}}}, orgs[2])
	if err := n.Nodes[0].WaitHeight(ctx, h); err != nil {
		t.Fatal(err)
	}
	if o, err := orgOf(ctx, c, removed); err != nil || o.RemovedHeight != 0 {
		t.Fatalf("3 of 5 removed it already: %v, %v", o, err)
	}
	cl5 := client.New(n5.URL(), nil)
	h = commit(ctx, t, cl5, &pb.Body{Msg: &pb.Body_Vote{Vote: &pb.Vote{Proposal: rid, Approve: true}}}, candKey)
	if err := n.Nodes[0].WaitHeight(ctx, h); err != nil {
		t.Fatal(err)
	}
	if o, err := orgOf(ctx, c, removed); err != nil || o.RemovedHeight == 0 || len(o.ValidatorKey) != 0 {
		t.Fatalf("after 4 of 5: %v, %v", o, err)
	}
	waitValidators(ctx, t, all, 4)
	t.Logf("back to four validators at %v", time.Since(t0))

	// The chain goes on (the removed node follows it), and placement
	// leaves node 4 out.
	four := storageIDs(all)
	if slices.Contains(four, removed.String()) || len(four) != 4 {
		t.Fatalf("storage nodes after the removal: %v", four)
	}
	var last *pb.RecordEntry
	for i := range 3 {
		last = put(200 + i)
	}
	holders := blob.Place(blob.Hash(last.Hash), four, 3)
	waitFor(t, ctx, "the placement nodes to hold the last record", func() bool {
		for i, nd := range all {
			if slices.Contains(holders, nd.Org().String()) && count(ctx, all[i], []*pb.RecordEntry{last}) != 1 {
				return false
			}
		}
		return true
	})
	if count(ctx, n.Nodes[3], []*pb.RecordEntry{last}) != 0 {
		t.Error("the removed storage node holds a record written after its removal")
	}
	// Alice's escrow leaves node 4's organisation out (ptoy keys escrow),
	// and a break-glass is answered by the new member among the holders.
	if changed, err := agent.New(c, alice).RefreshEscrow(ctx); err != nil || !changed {
		t.Fatalf("refreshing the escrow after the removal: %v, %v", changed, err)
	}
	if e := settled(); len(e.Shares) != 4 || e.K != 3 {
		t.Fatalf("Alice's escrow after the removal: %d shares, %d needed", len(e.Shares), e.K)
	} else if _, held := e.Share(removed); held {
		t.Fatal("the removed organisation still holds a share of Alice's escrow")
	}
	if changed, err := agent.New(c, alice).RefreshEscrow(ctx); err != nil || changed {
		t.Fatalf("a second refresh: %v, %v", changed, err)
	}
	novak, riverside := mustKey(t, n, "dr-novak"), orgs[1]
	reason := sha256.Sum256([]byte("membership test break-glass"))
	commit(ctx, t, n.Client(1), &pb.Body{Msg: &pb.Body_BreakGlass{BreakGlass: &pb.BreakGlass{
		Patient: alice.ID().Bytes(), ReasonHash: reason[:], Org: riverside.ID().Bytes()}}}, novak)
	waitFor(t, ctx, "the new member to release its share of the new escrow", func() bool {
		evs, err := n.Nodes[1].Ledger().BreakGlassOf(alice.ID())
		if err != nil || len(evs) != 1 {
			return false
		}
		_, err = n.Nodes[1].Ledger().ReleasedShare(evs[0].Id, candKey.ID())
		return err == nil
	})
	if evs, _ := n.Nodes[1].Ledger().BreakGlassOf(alice.ID()); len(evs) == 1 {
		if _, err := n.Nodes[1].Ledger().ReleasedShare(evs[0].Id, removed); err == nil {
			t.Error("the removed organisation released a share")
		}
	}

	top, _ := n.Nodes[0].Ledger().Height()
	if err := sameAppHashes(ctx, all, top+2); err != nil {
		t.Fatal(err)
	}
	t.Logf("done at %v, height %d", time.Since(t0), top+2)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// commit submits a transaction and fails the test unless it commits with
// success; it returns the height of the block.
func commit(ctx context.Context, t *testing.T, c *client.Client, body *pb.Body, signer *keys.KeyPair, cosigners ...*keys.KeyPair) int64 {
	t.Helper()
	var cs []tx.Signer
	for _, k := range cosigners {
		cs = append(cs, k)
	}
	r, err := c.Send(ctx, body, signer, cs...)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 {
		t.Fatalf("%T: code %d: %s", body.Msg, r.Code, r.Log)
	}
	return r.Height
}

func lastProposal(ctx context.Context, t *testing.T, c *client.Client) uint64 {
	t.Helper()
	ps, err := c.Proposals(ctx)
	if err != nil || len(ps) == 0 {
		t.Fatalf("proposals: %d, %v", len(ps), err)
	}
	return ps[len(ps)-1].Id
}

// waitValidators waits until every node's consensus has want validators.
func waitValidators(ctx context.Context, t *testing.T, nodes []*node.Node, want int64) {
	t.Helper()
	waitFor(t, ctx, fmt.Sprintf("%d validators on every node", want), func() bool {
		for _, nd := range nodes {
			if st, err := nd.Status(ctx); err != nil || st.Validators != want {
				return false
			}
		}
		return true
	})
}

// storageIDs are the storage nodes every node's placement uses (the
// ledger's membership, as node 1 reads it), hex ids sorted.
func storageIDs(nodes []*node.Node) []string {
	var ids []string
	orgs, _ := nodes[0].Ledger().Orgs()
	for _, o := range orgs {
		id, _ := ptoy.IDFromBytes(o.Id)
		if o.RemovedHeight > 0 {
			continue
		}
		if slices.ContainsFunc(nodes, func(nd *node.Node) bool { return nd.Org() == id }) {
			ids = append(ids, id.String())
		}
	}
	slices.Sort(ids)
	return ids
}

// count says how many of the records' blobs nd holds.
func count(ctx context.Context, nd *node.Node, es []*pb.RecordEntry) int {
	c := 0
	for _, e := range es {
		if _, err := nd.Blobs().Stat(ctx, blob.Hash(e.Hash)); err == nil {
			c++
		}
	}
	return c
}

// sameAppHashes checks that the nodes' block headers carry the same app
// hash at every height up to top.
func sameAppHashes(ctx context.Context, nodes []*node.Node, top int64) error {
	for _, nd := range nodes {
		if err := nd.WaitHeight(ctx, top); err != nil {
			return err
		}
	}
	for h := int64(1); h <= top; h++ {
		var first []byte
		for i, nd := range nodes {
			m := nd.Comet().BlockStore().LoadBlockMeta(h)
			if m == nil {
				return ptoy.E("", ptoy.NotFound, fmt.Sprintf("node %d has no block %d", i+1, h))
			}
			if i == 0 {
				first = m.Header.AppHash
			} else if !bytes.Equal(first, m.Header.AppHash) {
				return ptoy.E("", ptoy.Invalid, fmt.Sprintf("height %d: node 1 app hash %X, node %d %X", h, first, i+1, []byte(m.Header.AppHash)))
			}
		}
	}
	return nil
}

// orgOf is organisation id as the node's API lists it.
func orgOf(ctx context.Context, c *client.Client, id ptoy.ID) (*pb.Org, error) {
	orgs, err := c.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	for _, o := range orgs {
		if bytes.Equal(o.Id, id[:]) {
			return o, nil
		}
	}
	return nil, ptoy.E("", ptoy.NotFound, "no organisation "+id.String())
}
