package ledger

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/kv"
	"ptoy/tx"

	"google.golang.org/protobuf/proto"
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
		p := &pb.ProposeOrg{Name: o.Name, Kind: o.Kind, SigningKey: o.SigningKey, Kem: o.Kem, ValidatorKey: o.ValidatorKey, Jurisdiction: o.Jurisdiction}
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
	if err := checkNodeURL(op, p.NodeUrl); err != nil {
		return err
	}
	if err := checkJurisdiction(op, p.Jurisdiction); err != nil {
		return err
	}
	return b.checkKEM(op, p.Kem)
}

// maxNodeURL bounds a node URL on the ledger.
const maxNodeURL = 256

// checkNodeURL accepts an empty URL (no storage node) or the base URL of
// a node's HTTP server: https, or http to a loopback address (nodes speak
// to each other over TLS off one machine), a host, no path, query,
// fragment or user name.
func checkNodeURL(op, s string) error {
	if s == "" {
		return nil
	}
	bad := func(why string) error {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("node URL %q %s", s, why))
	}
	if len(s) > maxNodeURL {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("node URL is %d bytes; at most %d", len(s), maxNodeURL))
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return bad("is not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return bad("must be https://host[:port]")
	case u.Host == "" || u.Hostname() == "":
		return bad("names no host")
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return bad("must be only scheme://host[:port], the base of the node's HTTP server")
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return bad("is plain HTTP off loopback; nodes speak to each other over https")
	}
	return nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// admit creates the organisation's account and record.
func (b *Block) admit(p *pb.ProposeOrg) {
	id := ptoy.IDFromKey(p.SigningKey)
	b.putMsg(accountKey(id), b.newAccount(id, pb.AccountKind_ACCOUNT_KIND_ORG, p.SigningKey, p.Kem))
	b.putMsg(orgKey(id), &pb.Org{Id: id.Bytes(), Name: p.Name, Kind: p.Kind, ValidatorKey: p.ValidatorKey, AdmittedHeight: b.height, NodeUrl: p.NodeUrl, Jurisdiction: p.Jurisdiction})
	n, _ := b.get(keyMembers)
	b.set(keyMembers, u64(readU64(n)+1))
	if len(p.NodeSigningKey) > 0 {
		b.addNode(id, p.NodeSigningKey, p.NodeKem)
	}
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
	if err := b.checkValidatorKeyUnused(op, m.ValidatorKey); err != nil {
		return err
	}
	if len(m.NodeSigningKey) > 0 || m.NodeKem != nil {
		if bytes.Equal(m.NodeSigningKey, m.SigningKey) {
			return ptoy.E(op, ptoy.Invalid, "the candidate's node needs a key of its own, not the organisation's")
		}
		if err := b.checkNewSigningKey(op, t, m.NodeSigningKey, "candidate's node"); err != nil {
			return err
		}
		if err := b.checkKEM(op, m.NodeKem); err != nil {
			return err
		}
	}
	nb, err := b.get(keyNextProp)
	if err != nil {
		return err
	}
	id := readU64(nb) + 1
	b.set(keyNextProp, u64(id))
	p := &pb.Proposal{
		Id: id,
		Org: &pb.ProposeOrg{Name: m.Name, Kind: m.Kind, SigningKey: m.SigningKey, Kem: m.Kem, ValidatorKey: m.ValidatorKey, NodeUrl: m.NodeUrl,
			NodeSigningKey: m.NodeSigningKey, NodeKem: m.NodeKem, Jurisdiction: m.Jurisdiction},
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
// the treasury pays, or a member's validator and storage node leave (a
// spend the treasury can no longer pay is rejected, as is a candidate
// whose key got used meanwhile, or a removal that would now leave no
// validator).
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
	case 3*yes > 2*n && p.Removal != nil:
		p.Status = pb.ProposalStatus_PROPOSAL_STATUS_REJECTED
		if ok, err := b.remove(p.Removal.Org); err != nil {
			return err
		} else if ok {
			p.Status = pb.ProposalStatus_PROPOSAL_STATUS_ADMITTED
		}
	case 3*yes > 2*n:
		if b.checkKeyUnused("", p.Org.SigningKey, "candidate") != nil || b.checkValidatorKeyUnused("", p.Org.ValidatorKey) != nil ||
			(len(p.Org.NodeSigningKey) > 0 && b.checkKeyUnused("", p.Org.NodeSigningKey, "node") != nil) {
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

// IsOrgKey reports whether a state key is an organisation's record:
// subscribers use it on commit write sets to see membership change (an
// admission, a removal).
func IsOrgKey(k []byte) bool { return bytes.HasPrefix(k, prefixOrg) }

// orgs returns every organisation as the block sees it (committed state
// with the block's writes over it), in key order.
func (b *Block) orgs() ([]*pb.Org, error) {
	vals := map[string][]byte{}
	err := b.l.kv.Scan(prefixOrg, kv.PrefixEnd(prefixOrg), func(k, v []byte) error {
		vals[string(k)] = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, w := range []map[string][]byte{b.writes, b.txw} {
		for k, v := range w {
			if strings.HasPrefix(k, string(prefixOrg)) {
				vals[k] = v
			}
		}
	}
	keys := make([]string, 0, len(vals))
	for k, v := range vals {
		if !isTomb(v) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]*pb.Org, 0, len(keys))
	for _, k := range keys {
		o := new(pb.Org)
		if err := proto.Unmarshal(vals[k], o); err != nil {
			return nil, ptoy.E("ledger", ptoy.Other, "corrupt state value", err)
		}
		out = append(out, o)
	}
	return out, nil
}

// validators counts the organisations that run a validator, and says
// whether key is one of their validator keys.
func (b *Block) validators(key []byte) (int, bool, error) {
	orgs, err := b.orgs()
	if err != nil {
		return 0, false, err
	}
	n, found := 0, false
	for _, o := range orgs {
		if len(o.ValidatorKey) > 0 {
			n++
			found = found || bytes.Equal(o.ValidatorKey, key)
		}
	}
	return n, found, nil
}

// checkValidatorKeyUnused refuses a candidate's validator key that a
// member's validator already uses: consensus knows a validator by its
// key alone, so two organisations must never share one.
func (b *Block) checkValidatorKeyUnused(op string, key []byte) error {
	if len(key) == 0 {
		return nil
	}
	_, used, err := b.validators(key)
	if err != nil {
		return err
	}
	if used {
		return ptoy.E(op, ptoy.Exists, "the candidate's validator key is already a member's validator key")
	}
	return nil
}

// checkRemoval says why org's validator and storage node cannot be
// removed now, if they cannot: it is no member, they were removed
// already, or it runs the last validator.
func (b *Block) checkRemoval(op string, orgb []byte) (*pb.Org, error) {
	_, o, err := b.org(op, orgb)
	if err != nil {
		return nil, err
	}
	if o.RemovedHeight > 0 {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("organisation %s's validator and storage node were removed at height %d", ptoy.ID(o.Id), o.RemovedHeight))
	}
	if len(o.ValidatorKey) > 0 {
		n, _, err := b.validators(nil)
		if err != nil {
			return nil, err
		}
		if n <= 1 {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("organisation %s runs the network's only validator; removing it would leave none", ptoy.ID(o.Id)))
		}
	}
	return o, nil
}

// proposeRemoval proposes removing a member's validator and storage node.
func (b *Block) proposeRemoval(op string, acct *pb.Account, m *pb.ProposeRemoval) error {
	proposer, _, err := b.actFor(op, acct, m.OnBehalfOf)
	if err != nil {
		return err
	}
	if _, err := b.checkRemoval(op, m.Org); err != nil {
		return err
	}
	return b.newProposal(&pb.Proposal{Removal: &pb.ProposeRemoval{Org: bytes.Clone(m.Org)}}, proposer)
}

// remove takes org's validator out of consensus (power 0) and its node
// out of placement. It reports false, having written nothing, when that
// is no longer possible (checkRemoval).
func (b *Block) remove(orgb []byte) (bool, error) {
	o, err := b.checkRemoval("ledger.remove", orgb)
	if ptoy.KindOf(err) == ptoy.Invalid || ptoy.KindOf(err) == ptoy.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(o.ValidatorKey) > 0 {
		b.updates = append(b.updates, ValidatorUpdate{PubKey: bytes.Clone(o.ValidatorKey), Power: 0})
	}
	o.ValidatorKey, o.NodeUrl, o.RemovedHeight = nil, "", b.height
	b.putMsg(orgKey(ptoy.ID(o.Id)), o)
	return true, nil
}
