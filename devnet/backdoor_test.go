package devnet

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/audit"
	"ptoy/auth"
	"ptoy/blob"
	"ptoy/client"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// TestBackDoors tries, over real HTTP, the back doors an attacker who
// was once granted access would try: key material that is a record,
// replicas without a node, replayed and altered signed requests, and a
// flood of sessions. Each is refused and serves no ciphertext.
func TestBackDoors(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{Validators: 1})
	c := n.Client(0)
	alice, bob := mustKey(t, n, "alice"), mustKey(t, n, "bob")
	gh, acme := mustKey(t, n, "general-hospital"), mustKey(t, n, "acme-insurance")
	lee, osei := mustKey(t, n, "nurse-lee"), mustKey(t, n, "dr-osei")
	notes := consent.Bit(pb.Category_CATEGORY_NOTES)
	if err := agent.New(c, alice).Grant(ctx, gh.ID(), agent.GrantOptions{Categories: notes, Purpose: pb.Purpose_PURPOSE_TREATMENT,
		Permission: pb.Permission_PERMISSION_READ_WRITE}); err != nil {
		t.Fatal(err)
	}
	wrote, err := c.PutRecords(ctx, lee, alice.ID(), gh.ID(), []client.NewRecord{{Category: pb.Category_CATEGORY_NOTES, Data: []byte(`{"resourceType":"DocumentReference"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	noteHash := blob.Hash(wrote[0].Hash)
	if err := agent.New(c, alice).Revoke(ctx, gh.ID()); err != nil {
		t.Fatal(err)
	}

	// 1. Bob names the hash of Alice's note as the key bundle of a grant to
	// General Hospital. The node he submits through refuses it: that blob
	// is not key material.
	grant := &pb.Body{Msg: &pb.Body_Grant{Grant: &pb.Grant{
		Patient: bob.ID().Bytes(), Grantee: gh.ID().Bytes(), Categories: notes, Purpose: pb.Purpose_PURPOSE_TREATMENT,
		Permission: pb.Permission_PERMISSION_READ, KeyBundle: noteHash[:],
	}}}
	if _, err := c.Send(ctx, grant, bob); ptoy.KindOf(err) != ptoy.Invalid || !strings.Contains(ptoy.Message(err), "not key material") {
		t.Fatalf("a grant naming a record as its key bundle: %v", err)
	}
	// A member that bypasses its own API (straight to CometBFT) gets it
	// committed; the gateways still serve the blob as nothing but key
	// material, which it is not.
	raw, err := c.Sign(ctx, grant, bob)
	if err != nil {
		t.Fatal(err)
	}
	resp := send(t, mustRequest(t, ctx, n.Info.Nodes[0].CometRPC+"/broadcast_tx_commit?tx=0x"+hexs(raw)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("broadcast through CometBFT: %s", resp.Status)
	}
	waitFor(t, ctx, "Bob's grant to commit", func() bool {
		gs, err := n.Nodes[0].Ledger().Grant(bob.ID(), gh.ID())
		return err == nil && gs != nil
	})
	for _, who := range []*keys.KeyPair{gh, osei, bob} {
		if b, err := c.Blob(ctx, who, noteHash); err == nil || len(b) > 0 {
			t.Fatalf("the key-material path served a record's ciphertext (%d bytes): %v", len(b), err)
		}
	}
	// Real key material still reaches its holder, and not others.
	ks, _, err := c.As(alice).KeySet(ctx, alice.ID(), ptoy.ID{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Blob(ctx, alice, blob.Hash(ks.OwnBundle)); err != nil {
		t.Fatalf("Alice's own bundle: %v", err)
	}
	if _, err := c.Blob(ctx, bob, blob.Hash(ks.OwnBundle)); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("Bob read Alice's own bundle: %v", err)
	}
	if _, err := c.Blob(ctx, bob, blob.Hash(ks.KeySet)); err != nil {
		t.Fatalf("a writer reads Alice's public keys: %v", err)
	}

	// 8. Acme runs no node: it gets no replica, and the refusal is audited.
	base := n.Info.Nodes[0].API
	chainID, _ := c.ChainID(ctx)
	do := func(k auth.Signer, method, path string, hdr map[string]string) (*http.Request, *http.Response) {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
		for h, v := range hdr {
			req.Header.Set(h, v)
		}
		if err := auth.Sign(req, chainID, k, time.Now()); err != nil {
			t.Fatal(err)
		}
		return req, send(t, req)
	}
	replica := "/v1/replica/" + noteHash.String() + "?patient=" + alice.ID().String() + "&record=" + hexs(wrote[0].Id) + "&version=1"
	if _, resp := do(acme, "GET", replica, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Acme's replica request: %s", resp.Status)
	}
	if _, resp := do(alice, "GET", replica, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a patient's replica request: %s", resp.Status)
	}
	// Nor in a batch: each blob asked for is refused on its own, and
	// recorded; a malformed batch is refused whole.
	batch := func(k auth.Signer, body string) (*http.Response, []byte) {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/replicas", strings.NewReader(body))
		if err := auth.Sign(req, chainID, k, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	item := fmt.Sprintf(`{"hash":%q,"patient":%q,"record":%q,"version":1}`, noteHash.String(), alice.ID().String(), hexs(wrote[0].Id))
	for _, k := range []*keys.KeyPair{acme, alice} {
		resp, b := batch(k, `{"blobs":[`+item+`,`+item+`]}`)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, []byte{2, 2}) {
			t.Fatalf("a batch of replicas asked by a non-node: %s %x", resp.Status, b)
		}
	}
	for _, body := range []string{`{"blobs":[]}`, `{"blobs":[{"hash":"00"}]}`, `{"blob":[` + item + `]}`, `[`} {
		if resp, b := batch(acme, body); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("batch %s: %s %s", body, resp.Status, b)
		}
	}
	evs, err := n.Nodes[0].Audit().ForPatient(ctx, alice.ID(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	refusedReplicas := 0
	for _, ev := range evs {
		if ev.Action == "replica" && ev.Decision == audit.Deny {
			refusedReplicas++
		}
	}
	if refusedReplicas != 2+4 {
		t.Fatalf("%d refused replica requests recorded, want 6 (2 single, 4 in batches)", refusedReplicas)
	}

	// 12. A captured signed request is not served twice, nor with another
	// purpose, nor at another host.
	path := "/v1/records/" + alice.ID().String() + "/" + hexs(wrote[0].Id)
	req, resp := do(lee, "GET", path, map[string]string{auth.HeaderOrg: gh.ID().String()})
	if resp.StatusCode != http.StatusNotFound { // revoked: refused, and recorded
		t.Fatalf("the revoked nurse: %s", resp.Status)
	}
	again := req.Clone(ctx)
	if resp := send(t, again); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a replayed request: %s", resp.Status)
	}
	_, resp = do(lee, "GET", path, map[string]string{auth.HeaderPurpose: "treatment"})
	altered := resp.Request.Clone(ctx)
	altered.Header.Set(auth.HeaderPurpose, "research")
	if resp := send(t, altered); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a request with its purpose changed: %s", resp.Status)
	}

	// 7. A flood of sessions by one signer leaves another's session working.
	tok, err := c.Session(ctx, osei)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 * auth.SessionsPerAccount {
		if _, err := c.Session(ctx, lee); err != nil {
			t.Fatal(err)
		}
	}
	status := func(tok string) int {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/blobs/"+blob.Hash(ks.KeySet).String(), nil)
		req.Header.Set("Authorization", auth.SessionScheme+" "+tok)
		return send(t, req).StatusCode
	}
	if s := status(tok); s != http.StatusOK {
		t.Fatalf("Dr Osei's session after the flood: %d", s)
	}
	if err := c.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if s := status(tok); s != http.StatusUnauthorized {
		t.Fatalf("a logged-out session: %d", s)
	}
}

func send(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func hexs(b []byte) string { return hex.EncodeToString(b) }

func mustRequest(t *testing.T, ctx context.Context, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
