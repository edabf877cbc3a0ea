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
			for _, e := range evs {
				_, err := n.audit.Append(ctx, audit.Event{
					Time: n.ledger.BlockTime(), Node: n.cfg.Moniker, Actor: e.Actor, Patient: e.Patient,
					Action: e.Action, Record: e.Record, Purpose: e.Purpose, Decision: audit.Allow, Reason: e.Reason,
				})
				if err != nil && ctx.Err() == nil {
					n.log.Warn("audit: recording a ledger event", "action", e.Action, "err", err)
				}
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
