package node

import (
	"context"
	"testing"
	"time"

	"ptoy"
	"ptoy/audit"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/tx"
)

// TestNodeSignsWithItsOwnAccount: the node's account is on its
// organisation's employee list with the node role from genesis, and the
// node anchors its audit log with it, so that a person signing with the
// organisation key at the same time, counting sequence numbers on their
// own, never finds a number taken.
func TestNodeSignsWithItsOwnAccount(t *testing.T) {
	n, org := startNode(t, nil, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	acct, err := n.ledger.Account(n.nodeKey.ID())
	if err != nil {
		t.Fatal(err)
	}
	if acct.Kind != pb.AccountKind_ACCOUNT_KIND_NODE || ptoy.ID(acct.Org) != org.ID() {
		t.Fatalf("the node's account: %v of %x", acct.Kind, acct.Org)
	}
	emps, err := n.ledger.Employees(org.ID())
	if err != nil || len(emps) != 1 || emps[0].Role != pb.Role_ROLE_NODE {
		t.Fatalf("employees at genesis: %v %v", emps, err)
	}

	seq := uint64(0) // the organisation's sequence, counted here only
	for i := range 3 {
		// An audit event, anchored before the next transaction.
		e, err := n.audit.Append(ctx, audit.Event{Time: time.Now(), Node: n.cfg.Moniker, Actor: org.ID(),
			Patient: org.ID(), Action: "read", Record: "test", Decision: audit.Allow, Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the audit event to be anchored", func() bool {
			as, _ := n.ledger.AuditAnchors(org.ID())
			return len(as) > 0 && as[len(as)-1].Last >= e.Seq
		})
		emp, err := keys.Generate(keys.KEMX25519)
		if err != nil {
			t.Fatal(err)
		}
		seq++
		raw, err := tx.Sign(n.ChainID(), &pb.Body{Sequence: seq, Msg: &pb.Body_AddEmployee{AddEmployee: &pb.AddEmployee{
			SigningKey: emp.SigningPublic(), Kem: &pb.KemKey{Alg: uint32(emp.KEMAlg()), Key: emp.KEMPublic()}, Role: pb.Role_ROLE_NURSE,
		}}}, org, emp)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := n.Submit(ctx, raw, true)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code != 0 {
			t.Fatalf("the organisation's transaction %d: %s", i+1, resp.Log)
		}
	}
	acct, err = n.ledger.Account(n.nodeKey.ID())
	if err != nil || acct.Sequence < 3 {
		t.Fatalf("the node's account signed %d transactions (%v), want the anchors", acct.GetSequence(), err)
	}
}
