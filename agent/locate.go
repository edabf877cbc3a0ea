package agent

import (
	"context"
	"fmt"
	"time"

	"ptoy"
	"ptoy/client"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/match"
)

// Found is what one organisation's node answered the record locator.
type Found struct {
	Node      client.LocatorNode
	Proposals []client.Proposal
	Err       error // the node could not be asked; the others still were
}

// FindRecords asks every member node whether its organisation holds
// records of the patient, with the demographics the patient gives (sealed
// to each organisation's key, signed as the patient; nothing goes on the
// ledger). A node that cannot be reached is reported in its Found, not as
// an error.
// earlier are the patient's demographics as they were (a previous
// address, name or phone), which the organisation may still have.
func (a *Agent) FindRecords(ctx context.Context, p match.Person, earlier ...match.Person) ([]Found, error) {
	ps := append([]match.Person{p}, earlier...)
	for _, q := range ps {
		if err := q.Validate(); err != nil {
			return nil, err
		}
	}
	nodes, err := a.c.LocatorNodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Found, len(nodes))
	done := make(chan struct{}, len(nodes))
	for i, n := range nodes {
		go func() {
			defer func() { done <- struct{}{} }()
			ps, err := client.Locate(ctx, a.c.HTTPClient(), a.me, a.patient, n, ps)
			out[i] = Found{Node: n, Proposals: ps, Err: err}
		}()
	}
	for range nodes {
		<-done
	}
	return out, nil
}

// linkWindow is how long a write-only grant made to link records lasts.
const linkWindow = 24 * time.Hour

// Confirm confirms a proposal made by the organisation of node: the
// organisation re-seals the records to the patient's keys and files them
// under the patient. It needs the patient's leave to write the records'
// categories: if the organisation has none, a deposit-only grant for them
// is given first, ending a day later (it lets the organisation file
// records, never read them). It returns how many records were linked.
func (a *Agent) Confirm(ctx context.Context, node client.LocatorNode, p client.Proposal) (int, error) {
	const op = "agent.Confirm"
	grants, err := a.c.Grants(ctx, a.patient)
	if err != nil {
		return 0, err
	}
	var held *pb.GrantState
	for _, g := range grants {
		if ptoy.ID(g.Grant.Grantee) == node.Org && g.Status == pb.GrantStatus_GRANT_STATUS_ACTIVE {
			held = g
		}
	}
	switch {
	case held == nil:
		if err := a.Grant(ctx, node.Org, GrantOptions{Categories: p.Cats, Purpose: pb.Purpose_PURPOSE_TREATMENT,
			Permission: pb.Permission_PERMISSION_WRITE, Expires: time.Now().Add(linkWindow).Unix()}); err != nil {
			return 0, err
		}
	case held.Grant.Permission&pb.Permission_PERMISSION_WRITE == 0 || p.Cats&^held.Grant.Categories != 0:
		return 0, ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf(
			"you have given this organisation access that does not let it file these records (%s): widen that grant to write them, or revoke it, and confirm again",
			consent.DescribeCategories(p.Cats&^held.Grant.Categories)))
	}
	return client.AnswerProposal(ctx, a.c.HTTPClient(), a.me, node.URL, p.ID, true)
}

// Reject tells the organisation of node that a proposal is not the
// patient: it is not made again.
func (a *Agent) Reject(ctx context.Context, node client.LocatorNode, p client.Proposal) error {
	_, err := client.AnswerProposal(ctx, a.c.HTTPClient(), a.me, node.URL, p.ID, false)
	return err
}
