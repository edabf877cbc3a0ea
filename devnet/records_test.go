package devnet

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/blob"
	"ptoy/blob/disk"
	"ptoy/client"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/seal"
)

func mustKey(t *testing.T, n *Net, name string) *keys.KeyPair {
	t.Helper()
	k, err := n.Key(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// TestRecords runs the encrypted records on four validators: writes
// through one node, reads through another, revocation and epochs,
// write-only deposits, a placement node down, and repair of a wiped data
// directory and of a corrupted blob.
func TestRecords(t *testing.T) {
	ctx, n := startNet(t, 4*time.Minute, Options{Validators: 4})
	alice := mustKey(t, n, "alice")
	gh := mustKey(t, n, "general-hospital")
	lab := mustKey(t, n, "city-lab")
	osei, lee, park := mustKey(t, n, "dr-osei"), mustKey(t, n, "nurse-lee"), mustKey(t, n, "park")
	ag := agent.New(n.Client(0), alice)

	clinical := consent.Bit(pb.Category_CATEGORY_ENCOUNTERS) | consent.Bit(pb.Category_CATEGORY_CONDITIONS) |
		consent.Bit(pb.Category_CATEGORY_MEDICATIONS) | consent.Bit(pb.Category_CATEGORY_LAB_RESULTS) | consent.Bit(pb.Category_CATEGORY_NOTES)
	if err := ag.Grant(ctx, gh.ID(), agent.GrantOptions{Categories: clinical, Purpose: pb.Purpose_PURPOSE_TREATMENT,
		Permission: pb.Permission_PERMISSION_READ_WRITE, Expires: time.Now().AddDate(1, 0, 0).Unix()}); err != nil {
		t.Fatal(err)
	}
	if err := ag.Grant(ctx, lab.ID(), agent.GrantOptions{Categories: consent.Bit(pb.Category_CATEGORY_LAB_RESULTS),
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_WRITE}); err != nil {
		t.Fatal(err)
	}

	// Alice's own earlier lab result.
	own, err := n.Client(0).PutRecords(ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{
		Category: pb.Category_CATEGORY_LAB_RESULTS, Data: []byte(`{"resourceType":"Observation","code":{"text":"HbA1c"}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	// Nurse Lee writes an encounter note through node 1.
	note := []byte(`{"resourceType":"Encounter","status":"finished"}`)
	wrote, err := n.Client(0).PutRecords(ctx, lee, alice.ID(), gh.ID(), []client.NewRecord{{Category: pb.Category_CATEGORY_NOTES, Data: note}})
	if err != nil {
		t.Fatal(err)
	}
	noteID := wrote[0].Id

	// Dr Osei reads it through node 3 for General Hospital, and decrypts it.
	if err := n.Nodes[2].WaitHeight(ctx, mustHeight(n, 0)); err != nil {
		t.Fatal(err)
	}
	got, st, err := n.Client(2).GetRecord(ctx, osei, alice.ID(), noteID, client.ReadOptions{Org: gh.ID()})
	if err != nil {
		t.Fatalf("Dr Osei through node 3: %v", err)
	}
	if !bytes.Equal(got, note) || st.Entry.Version != 1 {
		t.Fatalf("read %q v%d", got, st.Entry.Version)
	}
	// Billing clerk Park cannot read the clinical note.
	if _, _, err := n.Client(2).GetRecord(ctx, park, alice.ID(), noteID, client.ReadOptions{Org: gh.ID()}); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("Park read the note: %v", err)
	}
	// City Lab deposits a result through node 2 and cannot read Alice's earlier results.
	if _, err := n.Client(1).PutRecords(ctx, lab, alice.ID(), ptoy.ID{}, []client.NewRecord{{
		Category: pb.Category_CATEGORY_LAB_RESULTS, Data: []byte(`{"resourceType":"Observation","code":{"text":"cholesterol"}}`)}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Client(1).GetRecord(ctx, lab, alice.ID(), own[0].Id, client.ReadOptions{}); err == nil {
		t.Fatal("the write-only lab read Alice's earlier result")
	}
	// Even given the ciphertext, the lab holds no key for it.
	ct, _, err := n.Client(0).Ciphertext(ctx, alice, alice.ID(), own[0].Id, client.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.OpenBytes(ct, ref(own[0]), func(seal.Category, uint32) (seal.PrivateKey, error) {
		return seal.PrivateKey{}, ptoy.E("", ptoy.PermissionDenied, "the lab holds no category key")
	}); err == nil {
		t.Fatal("opened without a key")
	}

	// A storage node's operator holds ciphertext it cannot decrypt: the
	// blob on node 4's disk is not the plaintext and does not open with
	// the node's organisation key.
	h := blob.Hash(wrote[0].Hash)
	waitFor(t, ctx, "replication to every placement node", func() bool {
		for i := range n.Nodes {
			if !n.holds(i, h) && n.placed(i, h) {
				return false
			}
		}
		return true
	})
	// The placement nodes pulled it, and the key material, in batches
	// (POST /v1/replicas).
	var batched int64
	for _, nd := range n.Nodes {
		b, _ := nd.Gateway().Pulled()
		batched += b
	}
	if batched == 0 {
		t.Fatal("no node pulled a blob in a batch")
	}

	// No node stores the plaintext anywhere: scan every file of every
	// node's home (stores, logs, keys) for the note's bytes.
	for i := range n.Nodes {
		filepath.WalkDir(n.Info.Nodes[i].Home, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err == nil && bytes.Contains(b, note) {
				t.Errorf("node %d stores the plaintext of the note in %s", i+1, p)
			}
			return nil
		})
	}

	// Alice revokes General Hospital: Dr Osei is refused at once, and a
	// note written afterwards is sealed to a new epoch.
	if err := ag.Revoke(ctx, gh.ID()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Client(0).GetRecord(ctx, osei, alice.ID(), noteID, client.ReadOptions{Org: gh.ID()}); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("after the revoke Dr Osei read: %v", err)
	}
	after, err := n.Client(0).PutRecords(ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_NOTES, Data: []byte(`{"resourceType":"Encounter","status":"planned"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	ct2, _, err := n.Client(0).Ciphertext(ctx, alice, alice.ID(), after[0].Id, client.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := seal.ParseHeader(ct2)
	if hdr.Epoch != 2 {
		t.Fatalf("a record written after the revoke is sealed to epoch %d", hdr.Epoch)
	}
	// Everything the hospital holds: its key bundle, opened with its key.
	ghBundle := grantBundle(t, ctx, n, alice.ID(), gh.ID())
	held, err := seal.OpenBundle(alice.ID(), gh.ID(), gh.KEM, ghBundle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.OpenBytes(ct2, ref(after[0]), finder(held)); err == nil {
		t.Fatal("the revoked hospital's keys open a record written after the revoke")
	}
	if plain, err := seal.OpenBytes(ct, ref(own[0]), finder(held)); err != nil || len(plain) == 0 {
		t.Fatalf("the hospital's old keys should still open the old record it could read (what was shared cannot be taken back): %v", err)
	}
	// Alice herself reads both epochs, through node 4 once it has the block.
	if err := n.Nodes[3].WaitHeight(ctx, mustHeight(n, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Client(3).GetRecord(ctx, alice, alice.ID(), after[0].Id, client.ReadOptions{}); err != nil {
		t.Fatal(err)
	}

	// One placement node down: the record is still readable.
	down := -1
	for i := range n.Nodes {
		if i != 0 && n.placed(i, h) {
			down = i
			break
		}
	}
	n.StopNode(down)
	if _, _, err := n.Client(0).GetRecord(ctx, alice, alice.ID(), noteID, client.ReadOptions{}); err != nil {
		t.Fatalf("with node %d down: %v", down+1, err)
	}
	// Its data directory is wiped while it is down: on restart it repairs
	// itself from its peers.
	if err := os.RemoveAll(filepath.Join(n.Info.Nodes[down].Home, "data", "blobs")); err != nil {
		t.Fatal(err)
	}
	if err := n.StartNode(down); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the wiped node to repair", func() bool { return n.holds(down, h) })

	// A corrupted blob is found by the scrub and fetched again.
	victim := -1
	for i := range n.Nodes {
		if n.placed(i, h) {
			victim = i
		}
	}
	n.StopNode(victim)
	corrupt(t, filepath.Join(n.Info.Nodes[victim].Home, "data", "blobs"), h)
	if err := n.StartNode(victim); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the corrupted blob to be repaired", func() bool {
		rc, _, err := n.Nodes[victim].Blobs().Get(ctx, h)
		if err != nil {
			return false
		}
		defer rc.Close()
		var buf bytes.Buffer
		_, err = buf.ReadFrom(rc)
		return err == nil && blob.Sum(buf.Bytes()) == h
	})

	// A blob corrupted while its node runs is fetched again as soon as a
	// read through that node finds it, not only when the scrub reaches
	// its slice.
	d, ok := n.Nodes[victim].Blobs().(*disk.Store)
	if !ok {
		t.Fatalf("node %d's blob store is a %T", victim+1, n.Nodes[victim].Blobs())
	}
	if err := d.CorruptForTest(h); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Client(victim).GetRecord(ctx, alice, alice.ID(), noteID, client.ReadOptions{}); err == nil {
		t.Fatal("a corrupt blob was read back without an error")
	}
	// Well before the scrub would reach it (ScrubCycle).
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	waitFor(t, rctx, "the blob corrupted while its node ran to be repaired", func() bool {
		rc, _, err := n.Nodes[victim].Blobs().Get(ctx, h)
		if err != nil {
			return false
		}
		defer rc.Close()
		var buf bytes.Buffer
		_, err = buf.ReadFrom(rc)
		return err == nil && blob.Sum(buf.Bytes()) == h
	})
}

func mustHeight(n *Net, i int) int64 { h, _ := n.Nodes[i].Ledger().Height(); return h }

func ref(e *pb.RecordEntry) seal.Ref {
	var r seal.Ref
	copy(r.ID[:], e.Id)
	r.Version = e.Version
	return r
}

func finder(held []seal.PrivateKey) seal.KeyFinder {
	return func(c seal.Category, epoch uint32) (seal.PrivateKey, error) {
		for _, k := range held {
			if k.Category == c && k.Epoch == epoch {
				return k, nil
			}
		}
		return seal.PrivateKey{}, ptoy.E("", ptoy.NotFound, "no key")
	}
}

func grantBundle(t *testing.T, ctx context.Context, n *Net, patient, grantee ptoy.ID) []byte {
	t.Helper()
	gs, err := n.Nodes[0].Ledger().Grant(patient, grantee)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Client(0).Blob(ctx, mustKey(t, n, "general-hospital"), blob.Hash(gs.Grant.KeyBundle))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// holds reports whether node i stores blob h.
func (n *Net) holds(i int, h blob.Hash) bool {
	_, err := n.Nodes[i].Blobs().Stat(context.Background(), h)
	return err == nil
}

// placed reports whether blob h is placed on node i.
func (n *Net) placed(i int, h blob.Hash) bool {
	var ids []string
	for _, nd := range n.Nodes {
		ids = append(ids, nd.Org().String())
	}
	p, _ := n.Nodes[0].Ledger().Params()
	for _, id := range blob.Place(h, ids, int(p.Replicas)) {
		if id == n.Nodes[i].Org().String() {
			return true
		}
	}
	return false
}

// corrupt flips a byte of blob h in a stopped node's blob store.
func corrupt(t *testing.T, dir string, h blob.Hash) {
	t.Helper()
	s, err := disk.Open(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CorruptForTest(h); err != nil {
		t.Fatal(err)
	}
}

// TestSessionReads reads through a gateway session: one signed sign-in,
// then bearer requests; an unknown token is refused.
func TestSessionReads(t *testing.T) {
	ctx, n := startNet(t, 2*time.Minute, Options{Validators: 1})
	alice := mustKey(t, n, "alice")
	es, err := n.Client(0).PutRecords(ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_ALLERGIES, Data: []byte("{}")}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := n.Client(0).Session(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	get := func(tok string) int {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/records/%s/%x", n.Nodes[0].URL(), alice.ID(), es[0].Id), nil)
		req.Header.Set("Authorization", "PTOY-Session "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(tok); s != 200 {
		t.Fatalf("session read: %d", s)
	}
	if s := get("not-a-token"); s != 401 {
		t.Fatalf("unknown token: %d", s)
	}
}

// TestUnreferencedUploadsCollected: an upload that no transaction ever
// references is deleted once older than the time-to-live; a record's
// ciphertext and key material stay.
func TestUnreferencedUploadsCollected(t *testing.T) {
	ctx, n := startNet(t, 2*time.Minute, Options{Validators: 1})
	alice := mustKey(t, n, "alice")
	stray, err := n.Client(0).Upload(ctx, alice, []byte("an upload nobody commits"))
	if err != nil {
		t.Fatal(err)
	}
	es, err := n.Client(0).PutRecords(ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_ALLERGIES, Data: []byte("{}")}})
	if err != nil {
		t.Fatal(err)
	}
	gw := n.Nodes[0].Gateway()
	// Not yet older than the cutoff: kept.
	if got, err := gw.CollectUploads(ctx, time.Now().Add(-time.Hour)); err != nil || got != 0 {
		t.Fatalf("collected %d young uploads: %v", got, err)
	}
	got, err := gw.CollectUploads(ctx, time.Now().Add(time.Minute))
	if err != nil || got != 1 {
		t.Fatalf("collected %d uploads, want 1: %v", got, err)
	}
	if n.holds(0, stray) {
		t.Fatal("the stray upload is still there")
	}
	if !n.holds(0, blob.Hash(es[0].Hash)) {
		t.Fatal("a record's ciphertext was collected")
	}
	if _, _, err := n.Client(0).GetRecord(ctx, alice, alice.ID(), es[0].Id, client.ReadOptions{}); err != nil {
		t.Fatalf("after collection: %v", err)
	}
}
