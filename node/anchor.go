package node

import (
	"context"
	"time"

	"ptoy"
	"ptoy/audit"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

// anchorLoop cuts the audit log into batches and commits each batch's
// Merkle root and patients' root to the ledger, signed by the node's
// account for its organisation, so that the node cannot later drop or
// alter an event unnoticed.
func (n *Node) anchorLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.anchorOnce(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("audit anchoring", "err", err)
		}
	}
}

// anchorOnce cuts what is new and submits every batch not yet anchored,
// oldest first.
func (n *Node) anchorOnce(ctx context.Context) error {
	if _, err := n.audit.Cut(ctx, 4096); err != nil && ptoy.KindOf(err) != ptoy.NotFound {
		return err
	}
	batches, err := n.audit.Unanchored(ctx)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if a, err := n.ledger.AuditAnchor(n.Org(), b.ID); err == nil {
			// Committed before a crash that came ahead of MarkAnchored.
			if err := n.audit.MarkAnchored(ctx, b.ID, a.Height); err != nil {
				return err
			}
			continue
		}
		h, err := n.anchor(ctx, b)
		if err != nil {
			return err
		}
		if err := n.audit.MarkAnchored(ctx, b.ID, h); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) anchor(ctx context.Context, b audit.Batch) (int64, error) {
	resp, err := n.submitAsNode(ctx, &pb.Body{Msg: &pb.Body_AnchorAudit{AnchorAudit: &pb.AnchorAudit{
		Batch: b.ID, First: b.First, Last: b.Last, Root: b.Root[:], Patients: b.Patients[:],
	}}})
	if err != nil {
		return 0, err
	}
	return resp.Height, tx.Err("node.anchor", resp.Code, resp.Log)
}
