package node

import (
	"context"

	"ptoy/audit"
	"ptoy/ledger"
)

// auditLedger copies every grant, revoke, record write, erasure and
// break-glass the node sees committed into its audit log, beside the
// gateway's decisions, so that a patient's audit trail tells the whole
// story. The ledger holds these facts already; the copy is appended off
// the commit path.
func (n *Node) auditLedger(ctx context.Context, events <-chan []ledger.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case evs := <-events:
			// A block's events together: they share the log's synced
			// writes (a block of 5,000 record writes is a few).
			out := make([]audit.Event, len(evs))
			for i, e := range evs {
				out[i] = audit.Event{
					Time: n.ledger.BlockTime(), Node: n.cfg.Moniker, Actor: e.Actor, Patient: e.Patient,
					Action: e.Action, Record: e.Record, Purpose: e.Purpose, Decision: audit.Allow, Reason: e.Reason,
				}
			}
			if err := n.audit.AppendAll(ctx, out); err != nil && ctx.Err() == nil {
				n.log.Warn("audit: recording a block's ledger events", "events", len(out), "err", err)
			}
		}
	}
}

// ledgerEvents subscribes to commits and passes their audit events on.
func (n *Node) ledgerEvents() <-chan []ledger.Event {
	ch := make(chan []ledger.Event, 1024)
	n.ledger.Subscribe(func(c ledger.Committed) {
		if evs := ledger.Events(c.Writes); len(evs) > 0 {
			select {
			case ch <- evs:
			default:
				n.log.Warn("audit: ledger events dropped (the log is behind)", "events", len(evs))
			}
		}
	})
	return ch
}
