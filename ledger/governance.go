package ledger

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

// InitChain writes the genesis state: the parameters, the founding
// organisations and the initial PTOY supply (the treasury's and the
// allocations). It is height 0 of the app hash chain.
func (l *Ledger) InitChain(chainID string, g *pb.Genesis, genesisTime time.Time) ([]byte, error) {
	const op = "ledger.InitChain"
	if h, _ := l.Height(); h != 0 || l.ChainID() != "" {
		return nil, ptoy.E(op, ptoy.Exists, "the ledger is already initialised")
	}
	if chainID == "" {
		return nil, ptoy.E(op, ptoy.Invalid, "empty chain id")
	}
	if len(g.GetOrgs()) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "genesis lists no founding organisation")
	}
	params := withDefaults(g.Params)
	if err := checkParams(op, params); err != nil {
		return nil, err
	}
	b := l.Begin(0, genesisTime)
	b.txw = map[string][]byte{}
	b.putMsg(keyParams, params)
	for i, o := range g.Orgs {
		p := &pb.ProposeOrg{Name: o.Name, Kind: o.Kind, SigningKey: o.SigningKey, Kem: o.Kem, ValidatorKey: o.ValidatorKey}
		if err := b.checkOrg(op, p); err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("founding organisation %d", i), err)
		}
		if v, _ := b.get(signingKeyKey(o.SigningKey)); v != nil {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("founding organisation %d reuses a signing key", i))
		}
		b.admit(p)
		if len(o.NodeSigningKey) > 0 {
			if err := b.genesisNode(op, ptoy.IDFromKey(o.SigningKey), o); err != nil {
				return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("founding organisation %d's node", i), err)
			}
		}
	}
	if err := b.genesisToken(op, g); err != nil {
		return nil, err
	}
	for k, v := range b.txw {
		b.writes[k] = v
	}
	b.txw = nil
	hash := b.Finish()
	l.mu.Lock()
	l.meta.ChainID = chainID
	l.mu.Unlock()
	if err := l.Commit(b); err != nil {
		return nil, err
	}
	return hash, nil
}

func (b *Block) checkOrg(op string, p *pb.ProposeOrg) error {
	if err := checkName(op, p.Name); err != nil {
		return err
	}
	if _, ok := pb.OrgKind_name[int32(p.Kind)]; !ok || p.Kind == pb.OrgKind_ORG_KIND_UNSPECIFIED {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown organisation kind %d", p.Kind))
	}
	if len(p.SigningKey) != ed25519.PublicKeySize {
		return ptoy.E(op, ptoy.Invalid, "organisation signing key must be 32 bytes")
	}
	if n := len(p.ValidatorKey); n != 0 && n != ed25519.PublicKeySize {
		return ptoy.E(op, ptoy.Invalid, "validator key must be an Ed25519 public key (32 bytes)")
	}
	return b.checkKEM(op, p.Kem)
}

// admit creates the organisation's account and record.
func (b *Block) admit(p *pb.ProposeOrg) {
	id := ptoy.IDFromKey(p.SigningKey)
	b.putMsg(accountKey(id), b.newAccount(id, pb.AccountKind_ACCOUNT_KIND_ORG, p.SigningKey, p.Kem))
	b.putMsg(orgKey(id), &pb.Org{Id: id.Bytes(), Name: p.Name, Kind: p.Kind, ValidatorKey: p.ValidatorKey, AdmittedHeight: b.height})
	n, _ := b.get(keyMembers)
	b.set(keyMembers, u64(readU64(n)+1))
	if len(p.ValidatorKey) > 0 && b.height > 0 {
		b.updates = append(b.updates, ValidatorUpdate{PubKey: bytes.Clone(p.ValidatorKey), Power: ValidatorPower})
	}
}

// genesisNode registers a founding organisation's node account.
func (b *Block) genesisNode(op string, orgID ptoy.ID, o *pb.GenesisOrg) error {
	if len(o.NodeSigningKey) != ed25519.PublicKeySize {
		return ptoy.E(op, ptoy.Invalid, "node signing key must be 32 bytes")
	}
	if err := b.checkKEM(op, o.NodeKem); err != nil {
		return err
	}
	if err := b.checkKeyUnused(op, o.NodeSigningKey, "node"); err != nil {
		return err
	}
	b.addNode(orgID, o.NodeSigningKey, o.NodeKem)
	return nil
}

// ValidatorPower is the voting power of each member's validator node.
const ValidatorPower = 10

func (b *Block) members() (uint64, error) {
	n, err := b.get(keyMembers)
	return readU64(n), err
}

func (b *Block) proposeOrg(op string, t *tx.Tx, acct *pb.Account, m *pb.ProposeOrg) error {
	proposer, _, err := b.actFor(op, acct, m.OnBehalfOf)
	if err != nil {
		return err
	}
	if err := b.checkOrg(op, m); err != nil {
		return err
	}
	if err := b.checkNewSigningKey(op, t, m.SigningKey, "candidate organisation"); err != nil {
		return err
	}
	nb, err := b.get(keyNextProp)
	if err != nil {
		return err
	}
	id := readU64(nb) + 1
	b.set(keyNextProp, u64(id))
	p := &pb.Proposal{
		Id:            id,
		Org:           &pb.ProposeOrg{Name: m.Name, Kind: m.Kind, SigningKey: m.SigningKey, Kem: m.Kem, ValidatorKey: m.ValidatorKey},
		Proposer:      proposer.Bytes(),
		Yes:           [][]byte{proposer.Bytes()},
		Status:        pb.ProposalStatus_PROPOSAL_STATUS_OPEN,
		CreatedHeight: b.height,
	}
	return b.tally(p)
}

func (b *Block) vote(op string, acct *pb.Account, m *pb.Vote) error {
	voter, _, err := b.actFor(op, acct, m.OnBehalfOf)
	if err != nil {
		return err
	}
	p := new(pb.Proposal)
	ok, err := getMsg(b.get, proposalKey(m.Proposal), p)
	if err != nil {
		return err
	}
	if !ok {
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no proposal %d", m.Proposal))
	}
	if p.Status != pb.ProposalStatus_PROPOSAL_STATUS_OPEN {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("proposal %d is closed (%s)", p.Id, statusWord(p.Status)))
	}
	for _, v := range append(append([][]byte{}, p.Yes...), p.No...) {
		if bytes.Equal(v, voter[:]) {
			return ptoy.E(op, ptoy.Exists, fmt.Sprintf("your organisation has already voted on proposal %d", p.Id))
		}
	}
	if m.Approve {
		p.Yes = append(p.Yes, voter.Bytes())
	} else {
		p.No = append(p.No, voter.Bytes())
	}
	return b.tally(p)
}

// tally admits a proposal once more than two thirds of the members
// approve, and rejects it once that can no longer happen. Admitting
// applies it: an organisation joins, the parameters replace the network's,
// or the treasury pays (a spend the treasury can no longer pay is
// rejected, as is a candidate whose key got used meanwhile).
func (b *Block) tally(p *pb.Proposal) error {
	n, err := b.members()
	if err != nil {
		return err
	}
	yes, no := uint64(len(p.Yes)), uint64(len(p.No))
	switch {
	case 3*yes > 2*n && p.Params != nil:
		p.Status = pb.ProposalStatus_PROPOSAL_STATUS_ADMITTED
		b.putMsg(keyParams, p.Params.Params)
	case 3*yes > 2*n && p.Spend != nil:
		p.Status = pb.ProposalStatus_PROPOSAL_STATUS_REJECTED
		if ok, err := b.spend(p.Spend); err != nil {
			return err
		} else if ok {
			p.Status = pb.ProposalStatus_PROPOSAL_STATUS_ADMITTED
		}
	case 3*yes > 2*n:
		if b.checkKeyUnused("", p.Org.SigningKey, "candidate") != nil {
			p.Status = pb.ProposalStatus_PROPOSAL_STATUS_REJECTED
		} else {
			p.Status = pb.ProposalStatus_PROPOSAL_STATUS_ADMITTED
			b.admit(p.Org)
		}
	case 3*(n-no) <= 2*n:
		p.Status = pb.ProposalStatus_PROPOSAL_STATUS_REJECTED
	}
	b.putMsg(proposalKey(p.Id), p)
	return nil
}

func statusWord(s pb.ProposalStatus) string {
	switch s {
	case pb.ProposalStatus_PROPOSAL_STATUS_ADMITTED:
		return "admitted"
	case pb.ProposalStatus_PROPOSAL_STATUS_REJECTED:
		return "rejected"
	}
	return "open"
}
