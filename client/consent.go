package client

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"

	"ptoy"
	"ptoy/audit"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
	"ptoy/wire"
)

// Access lists the patient's grants and delegations, and the patient's
// break-glass policy.
func (c *Client) Access(ctx context.Context, patient ptoy.ID) (*pb.AccessResponse, error) {
	r, err := c.cons.Access(ctx, connect.NewRequest(&pb.AccessRequest{Patient: patient.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.Access", err)
	}
	return r.Msg, nil
}

// Grants lists the patient's grants.
func (c *Client) Grants(ctx context.Context, patient ptoy.ID) ([]*pb.GrantState, error) {
	a, err := c.Access(ctx, patient)
	if err != nil {
		return nil, err
	}
	return a.Grants, nil
}

// Patients is a provider's (read-only) patient list.
func (c *Client) Patients(ctx context.Context, grantee ptoy.ID) ([]*pb.PatientEntry, error) {
	r, err := c.cons.Patients(ctx, connect.NewRequest(&pb.PatientsRequest{Grantee: grantee.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.Patients", err)
	}
	return r.Msg.Patients, nil
}

// Explain asks why reader can or cannot read (or write) the categories
// of the patient's records, reading for org (zero: as itself).
func (c *Client) Explain(ctx context.Context, req *pb.ExplainRequest) (*pb.ExplainResponse, error) {
	r, err := c.cons.Explain(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, fromConnect("client.Explain", err)
	}
	return r.Msg, nil
}

// BreakGlassQueue lists an organisation's break-glass review queue.
func (c *Client) BreakGlassQueue(ctx context.Context, org ptoy.ID) ([]*pb.BreakGlassEvent, error) {
	r, err := c.cons.BreakGlassQueue(ctx, connect.NewRequest(&pb.BreakGlassQueueRequest{Org: org.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.BreakGlassQueue", err)
	}
	return r.Msg.Events, nil
}

// BreakGlassOf lists the break-glass events on a patient's records.
func (c *Client) BreakGlassOf(ctx context.Context, patient ptoy.ID) ([]*pb.BreakGlassEvent, error) {
	r, err := c.cons.BreakGlassQueue(ctx, connect.NewRequest(&pb.BreakGlassQueueRequest{Patient: patient.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.BreakGlassOf", err)
	}
	return r.Msg.Events, nil
}

// Notifications lists what the network told the patient.
func (c *Client) Notifications(ctx context.Context, patient ptoy.ID) ([]*pb.Notification, error) {
	r, err := c.cons.Notifications(ctx, connect.NewRequest(&pb.NotificationsRequest{Patient: patient.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.Notifications", err)
	}
	return r.Msg.Notifications, nil
}

// AuditTrail is a node's record of the accesses to a patient's records.
type AuditTrail struct {
	Node     string
	Org      ptoy.ID
	Verified []audit.Event // each proven included in a batch anchored on the ledger
	Pending  []audit.Event // not yet anchored: recorded, not yet provable
	// Complete is true when the patient's chain checked: no event of the
	// patient recorded by the node up to the last anchored batch listed
	// is left out of Verified. It is false when nothing is anchored yet.
	Complete bool
	// LedgerNode is the base URL of the node through which the anchors
	// were read.
	LedgerNode string
	// Failed are the events whose proof did not check, and ChainErr what
	// did not check of the patient's chain, when the trail was listed with
	// AuditEventsChecked; AuditEventsVia fails instead.
	Failed   []AuditFailure
	ChainErr error
}

// AuditFailure is an event whose proof did not check: the event as the
// node served it (zero if it did not decode) and what failed
// (ptoy.Unauthenticated).
type AuditFailure struct {
	Event audit.Event
	Err   error
}

// AuditEvents is AuditEventsVia with c itself as the ledger node: the
// node whose events are checked also answers for the anchors.
func (c *Client) AuditEvents(ctx context.Context, patient tx.Signer, id ptoy.ID, from, to time.Time) (*AuditTrail, error) {
	return c.AuditEventsVia(ctx, c, patient, id, from, to)
}

// AuditEventsVia lists the patient's audit events recorded by this node
// and checks them against the anchors that the node's organisation
// committed on the ledger, read through ledger, another node (a node
// that rewrote its own ledger state could otherwise vouch for itself):
// each event's proof of inclusion against its batch's root, and the
// patient's hash chain against the last listed batch's patients' root,
// so that an event left out of the list is caught as well as one
// altered. A check that fails is ptoy.Unauthenticated.
//
// The whole list is fetched and checked, and from and to (zero: open)
// bound what is returned.
func (c *Client) AuditEventsVia(ctx context.Context, ledger *Client, patient tx.Signer, id ptoy.ID, from, to time.Time) (*AuditTrail, error) {
	t, _, err := c.auditEvents(ctx, ledger, patient, id, from, to, false, nil)
	return t, err
}

// AuditEventsChecked is AuditEventsVia for a reader who wants every event
// with its own verdict: an event whose proof does not check is kept in
// the trail's Failed with what failed, and a chain that does not check
// in ChainErr (Complete is then false), rather than failing the whole
// list. Errors are those of asking the node.
func (c *Client) AuditEventsChecked(ctx context.Context, ledger *Client, patient tx.Signer, id ptoy.ID, from, to time.Time) (*AuditTrail, error) {
	t, _, err := c.auditEvents(ctx, ledger, patient, id, from, to, true, nil)
	return t, err
}

// TrailCheckpoint is how far a reader has checked a patient's trail at
// one node, complete and with every proof passing: the events up to Seq,
// and the patient's chain count and head at the end of batch Batch.
type TrailCheckpoint struct {
	Node     string
	Org      ptoy.ID
	Seq      uint64
	Batch    uint64
	Chain    audit.ChainEntry
	Verified []audit.Event // in Seq order
}

// AuditEventsSince is AuditEventsChecked over the whole trail for a
// reader who checked it before up to cp (nil: never): only the events
// after cp are fetched and checked, their chain continuing from cp's.
// The trail returned holds cp's events and the new ones; the checkpoint
// returned is where the next call may start (nil when the trail did not
// check complete: the next call lists it all again).
func (c *Client) AuditEventsSince(ctx context.Context, ledger *Client, patient tx.Signer, id ptoy.ID, cp *TrailCheckpoint) (*AuditTrail, *TrailCheckpoint, error) {
	if cp != nil && cp.Chain.Patient != id {
		cp = nil
	}
	t, next, err := c.auditEvents(ctx, ledger, patient, id, time.Time{}, time.Time{}, true, cp)
	if err == nil && cp != nil && (t.Node != cp.Node || t.Org != cp.Org) {
		return c.AuditEventsSince(ctx, ledger, patient, id, nil) // another node answered
	}
	return t, next, err
}

// auditEvents lists and checks the patient's audit trail, after cp if
// not nil; with each it keeps going past a check that fails, noting it
// in the trail.
func (c *Client) auditEvents(ctx context.Context, ledger *Client, patient tx.Signer, id ptoy.ID, from, to time.Time, each bool, cp *TrailCheckpoint) (*AuditTrail, *TrailCheckpoint, error) {
	const op = "client.AuditEvents"
	if ledger == nil {
		ledger = c
	}
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().Unix()
	req := &pb.AuditEventsRequest{Patient: id.Bytes(), Signer: patient.SigningPublic(), Time: now,
		Signature: patient.Sign(wire.AuditSigningBytes(chainID, id, now))}
	start := audit.ChainEntry{Patient: id}
	if cp != nil {
		req.After, start = cp.Seq, cp.Chain
	}
	// A node busy cutting a batch answers Unavailable; ask again a few
	// times, each a fresh signed request.
	var r *connect.Response[pb.AuditEventsResponse]
	for try := 0; ; try++ {
		r, err = c.cons.AuditEvents(ctx, connect.NewRequest(req))
		if err == nil || wire.KindOf(err) != ptoy.Unavailable || try == 4 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, nil, fromConnect(op, err)
		case <-time.After(time.Duration(100*(try+1)) * time.Millisecond):
		}
		now = time.Now().Unix()
		req.Time, req.Signature = now, patient.Sign(wire.AuditSigningBytes(chainID, id, now))
	}
	if err != nil {
		return nil, nil, fromConnect(op, err)
	}
	org, err := ptoy.IDFromBytes(r.Msg.Org)
	if err != nil {
		return nil, nil, err
	}
	out := &AuditTrail{Node: r.Msg.Node, Org: org, LedgerNode: ledger.base}
	anchors := map[uint64]*pb.AuditAnchor{}
	anchor := func(batch uint64) (*pb.AuditAnchor, error) {
		if a := anchors[batch]; a != nil {
			return a, nil
		}
		a, err := ledger.anchor(ctx, org, batch)
		if err != nil {
			return nil, err
		}
		anchors[batch] = a
		return a, nil
	}
	var verified []audit.Event
	var lastBatch uint64
	failed := func(ev audit.Event, err error) error {
		if !each {
			return err
		}
		if inRange(ev.Time, from, to) || ev.Time.IsZero() {
			out.Failed = append(out.Failed, AuditFailure{Event: ev, Err: err})
		}
		return nil
	}
	for _, ap := range r.Msg.Events {
		ev, err := audit.DecodeEvent(ap.Event)
		if err != nil {
			if !each {
				return nil, nil, err
			}
			failed(audit.Event{}, ptoy.E(op, ptoy.Unauthenticated, "node "+r.Msg.Node+" served an audit event that does not decode", err))
			continue
		}
		if cp != nil && ev.Seq <= cp.Seq {
			if err := failed(ev, ptoy.E(op, ptoy.Unauthenticated, "node "+r.Msg.Node+" served an audit event from before the one asked after")); err != nil {
				return nil, nil, err
			}
			continue
		}
		a, err := anchor(ap.Batch)
		if err != nil {
			if ptoy.KindOf(err) != ptoy.Unauthenticated {
				return nil, nil, err
			}
			if err := failed(ev, err); err != nil {
				return nil, nil, err
			}
			continue
		}
		p := audit.Proof{Event: ev, Index: ap.Index,
			Batch: audit.Batch{ID: ap.Batch, First: ap.First, Last: ap.Last, Count: uint32(ap.Last - ap.First + 1)}}
		copy(p.Batch.Root[:], ap.Root)
		for _, h := range ap.Path {
			var x [32]byte
			copy(x[:], h)
			p.Path = append(p.Path, x)
		}
		anchored := audit.Batch{ID: a.Batch, First: a.First, Last: a.Last, Count: uint32(a.Last - a.First + 1)}
		copy(anchored.Root[:], a.Root)
		if err := audit.VerifyAnchored(p, anchored); err != nil {
			if err := failed(ev, ptoy.E(op, ptoy.Unauthenticated,
				"node "+r.Msg.Node+" served an audit event that does not match its anchored batch", err)); err != nil {
				return nil, nil, err
			}
			lastBatch = max(lastBatch, ap.Batch)
			continue
		}
		if ev.Patient != id {
			if err := failed(ev, ptoy.E(op, ptoy.Unauthenticated, "node "+r.Msg.Node+" served an audit event of another patient")); err != nil {
				return nil, nil, err
			}
			continue
		}
		verified = append(verified, ev)
		lastBatch = max(lastBatch, ap.Batch)
	}
	slices.SortFunc(verified, func(a, b audit.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	var next *TrailCheckpoint
	switch {
	case lastBatch > 0:
		if err := checkChain(r.Msg.Chain, start, lastBatch, verified, anchor); err != nil {
			if !each {
				return nil, nil, ptoy.E(op, ptoy.Unauthenticated, "node "+r.Msg.Node+" left events out of the patient's audit trail", err)
			}
			out.ChainErr = ptoy.E(op, ptoy.Unauthenticated,
				"the list node "+r.Msg.Node+" served does not match the chain of the patient's events anchored on the ledger", err)
		} else {
			out.Complete = true
			if len(verified) > 0 {
				next = &TrailCheckpoint{Node: r.Msg.Node, Org: org, Seq: verified[len(verified)-1].Seq, Batch: lastBatch,
					Chain: audit.ChainEntry{Patient: id, Count: r.Msg.Chain.Count}}
				copy(next.Chain.Head[:], r.Msg.Chain.Head)
			}
		}
	case cp != nil:
		out.Complete = true // nothing anchored since: the checkpoint stands
		next = cp
	}
	if cp != nil {
		verified = append(slices.Clip(cp.Verified), verified...)
	}
	if next != nil {
		if len(out.Failed) > 0 {
			next = nil
		} else if next != cp {
			next.Verified = verified
		}
	}
	for _, ev := range verified {
		if inRange(ev.Time, from, to) {
			out.Verified = append(out.Verified, ev)
		}
	}
	for _, b := range r.Msg.Pending {
		ev, err := audit.DecodeEvent(b)
		if err != nil {
			return nil, nil, err
		}
		if inRange(ev.Time, from, to) {
			out.Pending = append(out.Pending, ev)
		}
	}
	return out, next, nil
}

// checkChain checks the patient's verified events, sorted by Seq, against
// the chain entry of the last batch, whose patients' root the ledger
// holds.
func checkChain(c *pb.AuditChainProof, start audit.ChainEntry, lastBatch uint64, events []audit.Event,
	anchor func(uint64) (*pb.AuditAnchor, error)) error {
	patient := start.Patient
	if c == nil || c.Batch != lastBatch || len(c.Head) != 32 {
		return ptoy.E("client.AuditEvents", ptoy.Unauthenticated, "the node gave no proof that the list is complete")
	}
	a, err := anchor(c.Batch)
	if err != nil {
		return err
	}
	var root [32]byte
	if len(a.Patients) != 32 {
		return ptoy.E("client.AuditEvents", ptoy.Unauthenticated, fmt.Sprintf("audit batch %d was anchored without a patients' root", c.Batch))
	}
	copy(root[:], a.Patients)
	p := audit.ChainProof{Batch: c.Batch, Entry: audit.ChainEntry{Patient: patient, Count: c.Count}, Index: c.Index, Size: c.Size}
	copy(p.Entry.Head[:], c.Head)
	for _, h := range c.Path {
		var x [32]byte
		copy(x[:], h)
		p.Path = append(p.Path, x)
	}
	return audit.VerifyChainFrom(start, events, p, root)
}

// anchor reads an organisation's anchored audit batch from the ledger.
// A batch the node serving the events has anchored may not have reached
// this node yet: NotFound is waited on for a few blocks.
func (c *Client) anchor(ctx context.Context, org ptoy.ID, batch uint64) (*pb.AuditAnchor, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		an, err := c.cons.Anchor(ctx, connect.NewRequest(&pb.AnchorRequest{Org: org.Bytes(), Batch: batch}))
		if err == nil {
			return an.Msg.Anchor, nil
		}
		err = fromConnect("client.AuditEvents", err)
		if ptoy.KindOf(err) != ptoy.NotFound {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ptoy.E("client.AuditEvents", ptoy.Unauthenticated,
				fmt.Sprintf("the ledger (through %s) has no audit batch %d of the node's organisation", c.base, batch), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// inRange reports whether t is in [from, to), zero bounds being open.
func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}
