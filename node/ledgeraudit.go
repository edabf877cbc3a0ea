package node

import (
	"context"
	"time"

	"ptoy/audit"
	"ptoy/ledger"
)

// auditLedger copies every grant, revoke, record write, erasure and
// break-glass the node sees committed into its audit log, beside the
// gateway's decisions, so that a patient's audit trail tells the whole
// story. The ledger holds these facts already; the copy is made off the
// commit path, from the events the ledger keeps with each commit
// (ledger.KeepEvents) until they are copied: a node stopped or crashed
// between a commit and its copy, or fallen behind, copies them when it
// can, each block once (auditlog.Log.AppendLedger). A failed copy (a full
// disk under the audit log) is retried every retry.
func (n *Node) auditLedger(ctx context.Context, wake <-chan struct{}, retry time.Duration) {
	var from int64 // the first pass also forgets blocks copied before a crash
	for {
		var err error
		from, err = n.copyLedgerEvents(ctx, from)
		if err != nil && ctx.Err() == nil {
			n.log.Warn("audit: copying the ledger's events into the audit log; retrying", "err", err)
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
	}
}

// copyLedgerEvents copies the kept events of the blocks after height
// from into the audit log, in order, lets the ledger forget them, and
// returns the last height copied.
func (n *Node) copyLedgerEvents(ctx context.Context, from int64) (int64, error) {
	const page = 16 // blocks; one may hold thousands of events
	for {
		blocks, err := n.ledger.KeptEvents(from, page)
		if err != nil || len(blocks) == 0 {
			return from, err
		}
		heights := make([]int64, 0, len(blocks))
		for _, b := range blocks {
			// A block's events together: they share the log's synced
			// write (a block of 5,000 record writes is one).
			out := make([]audit.Event, len(b.Events))
			for i, e := range b.Events {
				out[i] = audit.Event{
					Time: b.Time, Node: n.cfg.Moniker, Actor: e.Actor, Patient: e.Patient,
					Action: e.Action, Record: e.Record, Purpose: e.Purpose, Decision: audit.Allow, Reason: e.Reason,
				}
			}
			if err := n.audit.AppendLedger(ctx, b.Height, out); err != nil {
				return from, err
			}
			heights = append(heights, b.Height)
		}
		if err := n.ledger.ForgetEvents(heights); err != nil {
			return from, err
		}
		from = blocks[len(blocks)-1].Height
		if len(blocks) < page {
			return from, nil
		}
	}
}

// ledgerWake returns a channel that receives after each commit (at most
// one waiting).
func (n *Node) ledgerWake() <-chan struct{} {
	ch := make(chan struct{}, 1)
	n.ledger.Subscribe(func(ledger.Committed) {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	return ch
}
