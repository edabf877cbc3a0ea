package node

import (
	"context"
	"crypto/sha256"

	"ptoy"
	"ptoy/agent"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/web"
)

// webCare gives the patient app break-glass (the list, disputes, the
// policy) and caregivers, as the patient's session.
type webCare struct{ n *Node }

var _ web.Care = webCare{}

func (c webCare) BreakGlass(_ context.Context, tok string) ([]*pb.BreakGlassEvent, error) {
	id, _, err := c.n.sessionKeys(tok)
	if err != nil {
		return nil, err
	}
	return c.n.ledger.BreakGlassOf(id)
}

// Dispute puts the dispute on the ledger (the reason's SHA-256), then
// keeps the text, sealed, in this node's directory for the privacy
// officer. The ledger refuses a second dispute, so the text kept is the
// one whose hash the ledger holds.
func (c webCare) Dispute(ctx context.Context, tok string, event uint64, reason string) error {
	id, kp, err := c.n.sessionKeys(tok)
	if err != nil {
		return err
	}
	h := sha256.Sum256([]byte(reason))
	m := &pb.DisputeBreakGlass{Patient: id.Bytes(), Event: event, ReasonHash: h[:]}
	if _, err := c.n.selfClient().Send(ctx, &pb.Body{Msg: &pb.Body_DisputeBreakGlass{DisputeBreakGlass: m}}, kp); err != nil {
		return err
	}
	if err := c.n.dir.KeepDispute(ctx, event, id, reason); err != nil {
		c.n.log.Warn("web: keeping a dispute's text", "event", event, "kind", ptoy.KindOf(err).String())
		return ptoy.E("node.Dispute", ptoy.Other, "the dispute is on the ledger, but this node could not keep its text", err)
	}
	return nil
}

func (c webCare) Policy(_ context.Context, tok string) (*pb.BreakGlassPolicy, error) {
	id, _, err := c.n.sessionKeys(tok)
	if err != nil {
		return nil, err
	}
	return c.n.ledger.BreakGlassPolicy(id)
}

func (c webCare) SetPolicy(ctx context.Context, tok string, disabled bool, cats uint32) error {
	id, kp, err := c.n.sessionKeys(tok)
	if err != nil {
		return err
	}
	m := &pb.SetBreakGlassPolicy{Patient: id.Bytes(), Disabled: disabled, Categories: cats}
	_, err = c.n.selfClient().Send(ctx, &pb.Body{Msg: &pb.Body_BreakGlassPolicy{BreakGlassPolicy: m}}, kp)
	return err
}

func (c webCare) Caregivers(_ context.Context, tok string) ([]*pb.DelegationState, error) {
	id, _, err := c.n.sessionKeys(tok)
	if err != nil {
		return nil, err
	}
	return c.n.ledger.Delegations(id)
}

// Person names a person for the patient choosing a caregiver: the name
// this node's directory holds for a patient it registered, the staff
// name for one of its organisation's staff. ptoy.NotFound for an
// account that is not a person, and for one this node cannot name.
func (c webCare) Person(ctx context.Context, tok string, id ptoy.ID) (string, error) {
	if _, _, err := c.n.sessionKeys(tok); err != nil {
		return "", err
	}
	a, err := c.n.ledger.Account(id)
	if err != nil {
		return "", err
	}
	if a == nil || (a.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT && a.Kind != pb.AccountKind_ACCOUNT_KIND_PRACTITIONER) {
		return "", ptoy.E("node.Person", ptoy.NotFound, "there is no person with this account id on the network")
	}
	if p, err := c.n.dir.Profile(ctx, id); err == nil {
		return p.FullName, nil
	}
	if c.n.employee(id) != nil || c.n.staff != nil && c.n.staff.get(id) != "" {
		return c.n.staffName(id), nil
	}
	return capitalFirst(consent.DefaultName(id, a.Kind)), nil
}

func (c webCare) FindByPhone(ctx context.Context, tok, phone string) (ptoy.ID, string, error) {
	if _, _, err := c.n.sessionKeys(tok); err != nil {
		return ptoy.ID{}, "", err
	}
	id, err := c.n.dir.FindByPhone(ctx, phone)
	if err != nil {
		return ptoy.ID{}, "", err
	}
	p, err := c.n.dir.Profile(ctx, id)
	if err != nil {
		return ptoy.ID{}, "", err
	}
	return id, p.FullName, nil
}

func (c webCare) AddCaregiver(ctx context.Context, tok string, who ptoy.ID, o agent.DelegateOptions) error {
	_, kp, err := c.n.sessionKeys(tok)
	if err != nil {
		return err
	}
	return agent.New(c.n.selfClient(), kp).Delegate(ctx, who, o)
}

func (c webCare) RemoveCaregiver(ctx context.Context, tok string, who ptoy.ID) error {
	_, kp, err := c.n.sessionKeys(tok)
	if err != nil {
		return err
	}
	return agent.New(c.n.selfClient(), kp).Undelegate(ctx, who)
}
