package devnet

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ptoy/blob"
	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/node"
)

// TestTLSReplication runs four validators that serve only TLS: a record
// written through node 1 reaches its placement nodes, which pull it from
// their peers over TLS, each checking the peer's certificate against the
// peer organisation's key on the ledger; plain HTTP is refused; and a
// node whose certificate another member's key issued is refused by its
// peers.
func TestTLSReplication(t *testing.T) {
	ctx, n := startNet(t, 4*time.Minute, Options{Validators: 4, TLS: true})
	for i, nd := range n.Nodes {
		if !strings.HasPrefix(nd.URL(), "https://") {
			t.Fatalf("node %d at %s", i+1, nd.URL())
		}
	}
	alice := mustKey(t, n, "alice")
	wrote, err := n.Client(0).PutRecords(ctx, alice, alice.ID(), [20]byte{}, []client.NewRecord{{
		Category: pb.Category_CATEGORY_LAB_RESULTS, Data: []byte(`{"resourceType":"Observation"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	h := blob.Hash(wrote[0].Hash)
	waitFor(t, ctx, "replication over TLS to every placement node", func() bool {
		for i := range n.Nodes {
			if !n.holds(i, h) && n.placed(i, h) {
				return false
			}
		}
		return true
	})
	if err := n.Nodes[2].WaitHeight(ctx, mustHeight(n, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Client(2).GetRecord(ctx, alice, alice.ID(), wrote[0].Id, client.ReadOptions{}); err != nil {
		t.Fatalf("reading through node 3 over TLS: %v", err)
	}

	// Plain HTTP is refused.
	if resp, err := http.Get("http://" + n.Info.Nodes[1].HTTPAddr + "/healthz"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("node 2 served plain HTTP: %q", b)
		}
	}

	// Node 4 comes back with a certificate that General Hospital's key
	// issued: node 1 refuses it; before, it reached node 4.
	peer := &http.Client{Transport: n.Nodes[0].Transport()}
	url4 := n.Nodes[3].URL()
	resp, err := peer.Get(url4 + "/healthz")
	if err != nil {
		t.Fatalf("node 1 to node 4 with its own certificate: %v", err)
	}
	resp.Body.Close()
	n.StopNode(3)
	gh := mustKey(t, n, "general-hospital")
	home4 := n.Info.Nodes[3].Home
	dir := filepath.Join(home4, "wrong-tls")
	if err := node.MakeCert(dir, "node4", gh, []string{strings.Split(n.Info.Nodes[3].HTTPAddr, ":")[0]}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c, err := node.LoadConfig(home4)
	if err != nil {
		t.Fatal(err)
	}
	c.TLSCert, c.TLSKey = filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")
	if err := node.SaveConfig(home4, c); err != nil {
		t.Fatal(err)
	}
	if err := n.StartNode(3); err != nil {
		t.Fatal(err)
	}
	peer = &http.Client{Transport: n.Nodes[0].Transport()}
	_, err = peer.Get(url4 + "/healthz")
	if err == nil || !strings.Contains(err.Error(), "issued neither by organisation") {
		t.Fatalf("node 1 reached node 4 serving a certificate not issued by its organisation's key: %v", err)
	}
}
