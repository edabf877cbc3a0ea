package devnet

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// TestFourValidators runs four validators in one process: transactions
// sent through every node commit, and every node holds the same app hash
// at every height.
func TestFourValidators(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	n, err := Start(ctx, Options{Home: t.TempDir(), Validators: 4, KDF: keys.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	t.Logf("started at %v", time.Since(t0))

	// Each node's organisation adds employees through its own node.
	for i := range n.Nodes {
		org, err := n.Key(demoOrgs[i].key)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 2 {
			k, err := keys.Generate(keys.KEMX25519)
			if err != nil {
				t.Fatal(err)
			}
			_, err = n.Client(i).Send(ctx, &pb.Body{Msg: &pb.Body_AddEmployee{AddEmployee: &pb.AddEmployee{
				Org: org.ID().Bytes(), SigningKey: k.SigningPublic(), Kem: &pb.KemKey{Alg: uint32(k.KEMAlg()), Key: k.KEMPublic()}, Role: pb.Role_ROLE_NURSE,
			}}}, org, k)
			if err != nil {
				t.Fatalf("node %d employee %d: %v", i+1, j, err)
			}
		}
	}
	t.Logf("employees added at %v", time.Since(t0))
	// What node 1 committed is visible on node 4 once it reaches that height.
	top, _ := n.Nodes[0].Ledger().Height()
	if err := n.Nodes[3].WaitHeight(ctx, top); err != nil {
		t.Fatal(err)
	}
	for i := range n.Nodes {
		org, _ := n.Key(demoOrgs[i].key)
		es, err := n.Client(3).Employees(ctx, org.ID())
		if err != nil {
			t.Fatal(err)
		}
		// Each runs a node, whose account is on its list from genesis.
		if want := 2 + staffOf(demoOrgs[i].key) + 1; len(es) != want {
			t.Errorf("node 4 sees %d employees of %s, want %d", len(es), demoOrgs[i].name, want)
		}
	}
	if err := SameAppHashes(ctx, n, top); err != nil {
		t.Fatal(err)
	}
}

func staffOf(org string) int {
	c := 0
	for _, s := range demoStaff {
		if s.org == org {
			c++
		}
	}
	return c
}

// SameAppHashes checks that every node's block headers carry the same app
// hash for every height up to top.
func SameAppHashes(ctx context.Context, n *Net, top int64) error {
	for _, nd := range n.Nodes {
		if err := nd.WaitHeight(ctx, top+1); err != nil {
			return err
		}
	}
	for h := int64(1); h <= top+1; h++ {
		var first []byte
		for i, nd := range n.Nodes {
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
