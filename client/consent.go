package client

import (
	"context"
	"time"

	"connectrpc.com/connect"

	"ptoy"
	"ptoy/api"
	"ptoy/audit"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
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
}

// AuditEvents lists the patient's audit events recorded by this node and
// checks each one's proof against the batch root the node's organisation
// anchored on the ledger. A proof that does not check is an error: the
// node altered or dropped an event.
func (c *Client) AuditEvents(ctx context.Context, patient tx.Signer, id ptoy.ID, from, to time.Time) (*AuditTrail, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now().Unix()
	req := &pb.AuditEventsRequest{Patient: id.Bytes(), Signer: patient.SigningPublic(), Time: now,
		Signature: patient.Sign(api.AuditSigningBytes(chainID, id, now))}
	if !from.IsZero() {
		req.FromUnix = from.Unix()
	}
	if !to.IsZero() {
		req.ToUnix = to.Unix()
	}
	r, err := c.cons.AuditEvents(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, fromConnect("client.AuditEvents", err)
	}
	org, err := ptoy.IDFromBytes(r.Msg.Org)
	if err != nil {
		return nil, err
	}
	out := &AuditTrail{Node: r.Msg.Node, Org: org}
	for _, ap := range r.Msg.Events {
		ev, err := audit.DecodeEvent(ap.Event)
		if err != nil {
			return nil, err
		}
		an, err := c.cons.Anchor(ctx, connect.NewRequest(&pb.AnchorRequest{Org: org.Bytes(), Batch: ap.Batch}))
		if err != nil {
			return nil, fromConnect("client.AuditEvents", err)
		}
		a := an.Msg.Anchor
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
			return nil, ptoy.E("client.AuditEvents", ptoy.Unauthenticated,
				"node "+r.Msg.Node+" served an audit event that does not match its anchored batch", err)
		}
		out.Verified = append(out.Verified, ev)
	}
	for _, b := range r.Msg.Pending {
		ev, err := audit.DecodeEvent(b)
		if err != nil {
			return nil, err
		}
		out.Pending = append(out.Pending, ev)
	}
	return out, nil
}
