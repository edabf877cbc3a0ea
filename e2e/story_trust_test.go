package e2e

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"ptoy/auth"
	pb "ptoy/gen/ptoy/v1"
)

// Step 16: an attacker who was once granted access (General Hospital,
// revoked in step 7) tries the back doors: the key-material path with the
// hash of Alice's note, a replayed request with another purpose, and a
// flood of sessions. Each is refused and nothing leaks.
func (s *story) step16(t *testing.T) {
	s.t = t
	alice, bob, gh := s.key("alice"), s.key("bob"), s.key("general-hospital")
	osei, acme := s.key("dr-osei"), s.key("acme-insurance")
	c := s.client(3)

	// A colluding patient names Alice's note as the key bundle of a grant
	// to the hospital. The node refuses it (not key material); sent
	// straight to CometBFT, past the node's API, it commits, and the
	// note's ciphertext is still not served as key material.
	grant := &pb.Body{Msg: &pb.Body_Grant{Grant: &pb.Grant{
		Patient: bob.ID().Bytes(), Grantee: gh.ID().Bytes(), Categories: cats(pb.Category_CATEGORY_NOTES),
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ, KeyBundle: storyRecords.noteBlob[:],
	}}}
	if _, err := c.Send(s.ctx, grant, bob); err == nil {
		t.Fatal("the node took a grant naming a record as its key bundle")
	}
	raw, err := c.Sign(s.ctx, grant, bob)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(s.ctx, http.MethodGet, s.info.Nodes[2].CometRPC+"/broadcast_tx_commit?tx=0x"+hex.EncodeToString(raw), nil)
	if code := s.do(t, 3, req); code != http.StatusOK {
		t.Fatalf("broadcast through CometBFT: %d", code)
	}
	eventually(t, s.ctx, "Bob's grant on node 3", func() bool {
		gs, err := c.As(bob).Grants(s.ctx, bob.ID())
		return err == nil && len(gs) > 0
	})
	s.catchUp(3, 1, 2, 4)
	for i := 1; i <= 4; i++ {
		if b, err := s.client(i).Blob(s.ctx, gh, storyRecords.noteBlob); err == nil || len(b) > 0 {
			t.Fatalf("node %d served the note as key material to the hospital: %d bytes, %v", i, len(b), err)
		}
	}
	// Nor does an organisation that runs no node get it as a replica.
	replica := "/v1/replica/" + storyRecords.noteBlob.String() + "?patient=" + alice.ID().String()
	if code := s.signedGet(t, 1, acme, replica, nil); code != http.StatusForbidden {
		t.Fatalf("Acme's replica request: %d", code)
	}

	// A captured request is not accepted a second time, nor with its
	// purpose changed.
	chainID, err := c.ChainID(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequestWithContext(s.ctx, http.MethodGet, s.nodes[0].url+"/v1/records/"+alice.ID().String()+"/"+hexID(storyRecords.note), nil)
	req.Header.Set(auth.HeaderOrg, gh.ID().String())
	if err := auth.Sign(req, chainID, osei, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := s.do(t, 1, req.Clone(s.ctx)); code != http.StatusNotFound {
		t.Fatalf("the revoked physician's read: %d", code)
	}
	if code := s.do(t, 1, req.Clone(s.ctx)); code != http.StatusUnauthorized {
		t.Fatalf("the same request again: %d", code)
	}
	altered := req.Clone(s.ctx)
	altered.Header.Set(auth.HeaderPurpose, "emergency")
	if code := s.do(t, 1, altered); code != http.StatusUnauthorized {
		t.Fatalf("the request with another purpose: %d", code)
	}

	// A node does not pass a caller's credentials to another organisation's
	// node: a key request for General Hospital at node 3 is answered 421,
	// naming the hospital's node, where the caller asks again.
	var ghNode string
	for _, nd := range s.info.Nodes {
		if nd.Org == "General Hospital" {
			ghNode = nd.API
		}
	}
	if ghNode == "" || ghNode == s.nodes[2].url {
		t.Fatalf("General Hospital's node: %q", ghNode)
	}
	keyPath := fmt.Sprintf("/v1/keys/%s/%d/1", alice.ID(), pb.Category_CATEGORY_NOTES)
	req, _ = http.NewRequestWithContext(s.ctx, http.MethodGet, s.nodes[2].url+keyPath, nil)
	req.Header.Set(auth.HeaderOrg, gh.ID().String())
	if err := auth.Sign(req, chainID, osei, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := s.nodes[2].hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("X-Ptoy-Node") != ghNode {
		t.Fatalf("a key request for another organisation's node: %s, %q", resp.Status, resp.Header.Get("X-Ptoy-Node"))
	}

	// A flood of sessions by one signer does not lock out another.
	tok, err := s.client(1).Session(s.ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 * auth.SessionsPerAccount {
		if _, err := s.client(1).Session(s.ctx, osei); err != nil {
			t.Fatal(err)
		}
	}
	req, _ = http.NewRequestWithContext(s.ctx, http.MethodGet, s.nodes[0].url+"/v1/records/"+alice.ID().String()+"/"+hexID(storyRecords.note), nil)
	req.Header.Set("Authorization", auth.SessionScheme+" "+tok)
	if code := s.do(t, 1, req); code != http.StatusOK {
		t.Fatalf("Alice's session after the flood: %d", code)
	}
	if err := s.client(1).Logout(s.ctx, tok); err != nil {
		t.Fatal(err)
	}
}

// signedGet sends a GET signed by k to node i and returns the status.
func (s *story) signedGet(t *testing.T, i int, k auth.Signer, path string, hdr map[string]string) int {
	t.Helper()
	chainID, err := s.client(i).ChainID(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(s.ctx, http.MethodGet, s.nodes[i-1].url+path, nil)
	for h, v := range hdr {
		req.Header.Set(h, v)
	}
	if err := auth.Sign(req, chainID, k, time.Now()); err != nil {
		t.Fatal(err)
	}
	return s.do(t, i, req)
}

func (s *story) do(t *testing.T, i int, req *http.Request) int {
	t.Helper()
	resp, err := s.nodes[i-1].hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func hexID(b []byte) string { return hex.EncodeToString(b) }
