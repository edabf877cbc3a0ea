package node

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"ptoy"
	"ptoy/audit"
	"ptoy/blob"
	"ptoy/escrow"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
	"ptoy/tx"
)

// escrowRetry is how often the release loop looks again at the open
// break-glass windows without being woken by a commit: a share whose
// escrow was not yet replicated here, or whose release failed, is tried
// again.
const escrowRetry = 5 * time.Second

// escrowLoop releases this organisation's escrow shares: for each open
// break-glass on a patient whose escrow holds a share for this
// organisation, which it has not released yet, it opens the share with
// the organisation key, seals it to the organisation of the emergency
// physician, keeps the sealed share in the node's blob store (gateways
// replicate it as key material), writes the audit event, and commits a
// ReleaseShare signed by the node's account for the organisation. It runs after every commit
// that touches a break-glass, and every escrowRetry.
func (n *Node) escrowLoop(ctx context.Context) {
	wake := make(chan struct{}, 1)
	n.ledger.Subscribe(func(c ledger.Committed) {
		for _, w := range c.Writes {
			if ledger.IsBreakGlassKey(w.Key) {
				select {
				case wake <- struct{}{}:
				default:
				}
				return
			}
		}
	})
	t := time.NewTicker(escrowRetry)
	defer t.Stop()
	audited := map[uint64]bool{} // break-glass ids whose release is in the audit log
	for {
		n.releaseShares(ctx, audited)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// releaseShares releases the shares due now; failures are logged and
// tried again on the next round.
func (n *Node) releaseShares(ctx context.Context, audited map[uint64]bool) {
	org, err := n.ledger.Org(n.Org())
	if err != nil || len(org.ValidatorKey) == 0 {
		return // not a validator's organisation: it holds no shares
	}
	open, err := n.ledger.OpenBreakGlass()
	if err != nil {
		n.log.Warn("escrow: listing break-glass windows", "err", err)
		return
	}
	still := map[uint64]bool{}
	for _, ev := range open {
		still[ev.Id] = true
	}
	for id := range audited {
		if !still[id] {
			delete(audited, id) // closed: no release will be tried again
		}
	}
	for _, ev := range open {
		if ctx.Err() != nil {
			return
		}
		if _, err := n.ledger.ReleasedShare(ev.Id, n.Org()); err == nil {
			continue
		}
		if err := n.releaseShare(ctx, ev, audited); err != nil && ctx.Err() == nil {
			n.log.Warn("escrow: releasing a share", "break_glass", ev.Id, "err", err)
		}
	}
}

// releaseShare releases this organisation's share for break-glass ev, if
// the patient's escrow holds one for it.
func (n *Node) releaseShare(ctx context.Context, ev *pb.BreakGlassEvent, audited map[uint64]bool) error {
	const op = "node.releaseShare"
	patient, requester := ptoy.ID(ev.Patient), ptoy.ID(ev.Org)
	ks, err := n.ledger.KeySet(patient)
	if err != nil || len(ks.Escrow) != 32 {
		return nil // the patient has no escrow: nothing to release
	}
	raw, err := n.gw.KeyMaterial(ctx, patient, blob.Hash(ks.Escrow))
	if err != nil {
		return err
	}
	e, err := escrow.Parse(raw)
	if err != nil {
		return err
	}
	if e.Patient != patient {
		return ptoy.E(op, ptoy.Invalid, "the patient's escrow names another patient")
	}
	if _, ok := e.Share(n.Org()); !ok {
		return nil // escrowed before this organisation became a validator
	}
	to, err := n.ledger.Account(requester)
	if err != nil {
		return err
	}
	if to.Kem == nil {
		return ptoy.E(op, ptoy.Invalid, "the requesting organisation has no encryption key")
	}
	share, err := escrow.OpenShare(raw, n.Org(), n.orgKey.KEM)
	if err != nil {
		return err
	}
	sealed, err := escrow.SealShareTo(share, patient, requester, uint16(to.Kem.Alg), to.Kem.Key)
	clear(share.Y)
	if err != nil {
		return err
	}
	h := blob.Sum(sealed)
	if _, err := n.blobs.Put(ctx, bytes.NewReader(sealed), int64(len(sealed)), &h); err != nil {
		return err
	}
	// The release is audited before it is made.
	if !audited[ev.Id] {
		name := requester.String()
		if o, err := n.ledger.Org(requester); err == nil {
			name = o.Name
		}
		if _, err := n.audit.Append(ctx, audit.Event{
			Time: time.Now(), Node: n.cfg.Moniker, Actor: ptoy.ID(ev.Practitioner), Patient: patient,
			Action: "escrow-release", Record: fmt.Sprintf("break-glass:%d", ev.Id), Purpose: "emergency",
			Decision: audit.Allow, Reason: fmt.Sprintf("break-glass %d by %s", ev.Id, name),
		}); err != nil {
			return ptoy.E(op, ptoy.Unavailable, "the release could not be recorded; nothing was released", err)
		}
		audited[ev.Id] = true
	}
	resp, err := n.submitAsNode(ctx, &pb.Body{Msg: &pb.Body_ReleaseShare{ReleaseShare: &pb.ReleaseShare{BreakGlass: ev.Id, Share: h[:]}}})
	if err != nil {
		return err
	}
	if err := tx.Err(op, resp.Code, resp.Log); err != nil && ptoy.KindOf(err) != ptoy.Exists {
		return err
	}
	n.log.Info("escrow share released", "break_glass", ev.Id, "to", requester)
	return nil
}
