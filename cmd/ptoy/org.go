package main

// Command "ptoy org" lists the member organisations and runs admissions:
// a member proposes a candidate organisation (which co-signs with its own
// key), members vote, and more than two thirds of them admit it.

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
)

func init() {
	commands["org"] = command{"list organisations, propose and vote on new members", runOrg}
}

var orgSubcommands = []subcommand{
	{"list", "list the member organisations", runOrgList},
	{"propose", "propose a new member organisation", runOrgPropose},
	{"cosign", "co-sign and submit the proposal that admits this home's organisation", runOrgCosign},
	{"remove", "propose removing a member's validator and storage node", runOrgRemove},
	{"vote", "vote on a proposal", runOrgVote},
	{"proposals", "list the admission proposals", runOrgProposals},
	{"jurisdiction", "list or set where members' storage nodes are (residency)", runOrgJurisdiction},
}

func runOrg(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "org", orgSubcommands, args)
}

// orgKindWords are the CLI's words for organisation kinds, in enum order.
var orgKindWords = []struct {
	word string
	kind pb.OrgKind
}{
	{"hospital", pb.OrgKind_ORG_KIND_HOSPITAL},
	{"clinic", pb.OrgKind_ORG_KIND_CLINIC},
	{"lab", pb.OrgKind_ORG_KIND_LAB},
	{"pharmacy", pb.OrgKind_ORG_KIND_PHARMACY},
	{"insurer", pb.OrgKind_ORG_KIND_INSURER},
}

func parseOrgKind(s string) (pb.OrgKind, error) {
	words := make([]string, len(orgKindWords))
	for i, k := range orgKindWords {
		if k.word == s {
			return k.kind, nil
		}
		words[i] = k.word
	}
	return 0, usageErr(fmt.Sprintf("unknown organisation kind %q: want one of %s", s, strings.Join(words, ", ")))
}

func orgKindName(k pb.OrgKind) string {
	for _, w := range orgKindWords {
		if w.kind == k {
			return w.word
		}
	}
	return "unknown"
}

func proposalStatusName(s pb.ProposalStatus) string {
	switch s {
	case pb.ProposalStatus_PROPOSAL_STATUS_OPEN:
		return "open"
	case pb.ProposalStatus_PROPOSAL_STATUS_ADMITTED:
		return "admitted"
	case pb.ProposalStatus_PROPOSAL_STATUS_REJECTED:
		return "rejected"
	}
	return "unknown"
}

func runOrgList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "org list", "[--json]",
		`Lists the member organisations: id, name, kind, the height at which they
were admitted (0 for founding members) and whether they run a validator.`)
	c := addCommon(fs, e, useNode)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("org list", pos, 0, ""); err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	orgs, err := cl.Orgs(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSONList(orgs))
	}
	tw := table(e.stdout)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tADMITTED\tVALIDATOR")
	for _, o := range orgs {
		v := "no"
		if len(o.ValidatorKey) > 0 {
			v = "yes"
		}
		if o.RemovedHeight > 0 {
			v = fmt.Sprintf("removed at %d", o.RemovedHeight)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", idOf(o.Id), o.Name, orgKindName(o.Kind), o.AdmittedHeight, v)
	}
	return tw.Flush()
}

// forRef reads --for, if given.
func forRef(c *common, arg string) (*accountRef, error) {
	if arg == "" {
		return nil, nil
	}
	r, err := c.ref("organisation", arg)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// onBehalfOf resolves --for, if given.
func onBehalfOf(ctx context.Context, cl *client.Client, r *accountRef) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	id, err := r.resolve(ctx, cl)
	if err != nil {
		return nil, err
	}
	return id.Bytes(), nil
}

func runOrgPropose(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "org propose", `--as KEYNAME [--for ORG] --name "Name" --kind KIND (--candidate KEYNAME [--validator-key HEX] [--node-url URL] | --request FILE --out FILE)`,
		`Proposes that the consortium admit a new organisation. KEYNAME signs: a
member organisation's key, or an admin employee's key with --for naming the
organisation (id or key name) it acts for. The candidate's key pair, key
--candidate in the keystore directory, co-signs to show the candidate holds
it. The proposer's vote counts as yes; more than two thirds of the members
must vote yes. KIND is hospital, clinic, lab, pharmacy or insurer.
--validator-key is the Ed25519 consensus public key (64 hex digits) of the
candidate's validator node, if it runs one: once admitted, it validates.
--node-url is the base URL of its storage node: once admitted, ciphertext
is placed on it.

For an organisation that made its node with ptoy init --join, give its
--request FILE (its join-request.json: keys, validator key, node URL)
instead: the signed proposal is written to --out FILE, for the candidate
to co-sign and submit with ptoy org cosign.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs")
	forOrg := fs.String("for", "", "organisation (`ORG` id or key name) an admin signs for")
	name := fs.String("name", "", "name of the candidate organisation")
	kindFlag := fs.String("kind", "", "kind of organisation: hospital, clinic, lab, pharmacy or insurer")
	candidate := fs.String("candidate", "", "key `NAME` of the candidate organisation")
	valKey := fs.String("validator-key", "", "Ed25519 public key of the candidate's validator node, in `HEX`")
	nodeURL := fs.String("node-url", "", "base `URL` of the candidate's storage node")
	request := fs.String("request", "", "the candidate's join request `FILE` (join-request.json)")
	out := fs.String("out", "", "with --request, write the signed proposal to the new `FILE`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("org propose", pos, 0, ""); err != nil {
		return err
	}
	switch {
	case *as == "":
		return usageErr("ptoy org propose needs --as KEYNAME (run ptoy org propose -h)")
	case *request != "" && (*candidate != "" || *valKey != "" || *nodeURL != ""):
		return usageErr("--request gives the candidate's keys and node URL: leave out --candidate, --validator-key and --node-url")
	case *request != "" && (strings.TrimSpace(*name) == "" || *kindFlag == ""):
		return usageErr("ptoy org propose needs --name and --kind (run ptoy org propose -h)")
	case *request != "":
		kind, err := parseOrgKind(*kindFlag)
		if err != nil {
			return err
		}
		return proposeRequest(ctx, e, c, *as, *forOrg, *request, *name, kind, *out)
	case *candidate == "":
		return usageErr("ptoy org propose needs --candidate KEYNAME (run ptoy org propose -h)")
	case strings.TrimSpace(*name) == "":
		return usageErr("ptoy org propose needs --name (run ptoy org propose -h)")
	case *kindFlag == "":
		return usageErr("ptoy org propose needs --kind (run ptoy org propose -h)")
	case *candidate == *as:
		return usageErr("the candidate must have its own key, not the proposer's")
	}
	kind, err := parseOrgKind(*kindFlag)
	if err != nil {
		return err
	}
	var vk []byte
	if *valKey != "" {
		if vk, err = hex.DecodeString(*valKey); err != nil || len(vk) != 32 {
			return usageErr("--validator-key must be an Ed25519 public key: 64 hex digits")
		}
	}
	fr, err := forRef(c, *forOrg)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	behalf, err := onBehalfOf(ctx, cl, fr)
	if err != nil {
		return err
	}
	signer, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	cand, err := c.loadKey(*candidate)
	if err != nil {
		return err
	}
	m := &pb.ProposeOrg{
		Name: *name, Kind: kind, SigningKey: cand.SigningPublic(), Kem: client.KEM(cand),
		ValidatorKey: vk, OnBehalfOf: behalf, NodeUrl: *nodeURL,
	}
	if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_ProposeOrg{ProposeOrg: m}}, signer, cand); err != nil {
		return err
	}
	ps, err := cl.Proposals(ctx)
	if err != nil {
		return err
	}
	var p *pb.Proposal
	for _, q := range ps {
		if string(q.GetOrg().GetSigningKey()) == string(m.SigningKey) && (p == nil || q.Id > p.Id) {
			p = q
		}
	}
	if p == nil {
		fmt.Fprintf(e.stdout, "proposed %s\n", *name)
		return nil
	}
	fmt.Fprintf(e.stdout, "proposal %d: admit %s (%s, id %s): %s, %d yes, %d no\n",
		p.Id, p.Org.Name, orgKindName(p.Org.Kind), cand.ID(), proposalStatusName(p.Status), len(p.Yes), len(p.No))
	return nil
}

func runOrgVote(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "org vote", "--as KEYNAME [--for ORG] PROPOSAL_ID yes|no",
		`Votes on an admission proposal for the organisation of KEYNAME: its own key,
or an admin employee's key with --for naming the organisation. Each member
votes once. The candidate is admitted once more than two thirds of the
members voted yes, and the proposal is rejected once that can no longer
happen.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs")
	forOrg := fs.String("for", "", "organisation (`ORG` id or key name) an admin votes for")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("org vote", pos, 2, "a PROPOSAL_ID and yes or no"); err != nil {
		return err
	}
	if *as == "" {
		return usageErr("ptoy org vote needs --as KEYNAME (run ptoy org vote -h)")
	}
	pid, err := strconv.ParseUint(pos[0], 10, 64)
	if err != nil || pid == 0 {
		return usageErr(fmt.Sprintf("bad proposal id %q: want a number such as 1 (see ptoy org proposals)", pos[0]))
	}
	var approve bool
	switch strings.ToLower(pos[1]) {
	case "yes":
		approve = true
	case "no":
		approve = false
	default:
		return usageErr(fmt.Sprintf("bad vote %q: want yes or no", pos[1]))
	}
	fr, err := forRef(c, *forOrg)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	behalf, err := onBehalfOf(ctx, cl, fr)
	if err != nil {
		return err
	}
	signer, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	m := &pb.Vote{Proposal: pid, Approve: approve, OnBehalfOf: behalf}
	if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_Vote{Vote: m}}, signer); err != nil {
		return err
	}
	ps, err := cl.Proposals(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Id == pid {
			what := p.GetOrg().GetName()
			if p.Removal != nil {
				what = "remove " + idOf(p.Removal.Org).String()
			}
			fmt.Fprintf(e.stdout, "voted %s on proposal %d (%s): %s, %d yes, %d no\n",
				strings.ToLower(pos[1]), pid, what, proposalStatusName(p.Status), len(p.Yes), len(p.No))
			return nil
		}
	}
	fmt.Fprintf(e.stdout, "voted %s on proposal %d\n", strings.ToLower(pos[1]), pid)
	return nil
}

func runOrgProposals(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "org proposals", "[--json]",
		`Lists the admission proposals, oldest first: id, candidate name and kind,
status (open, admitted or rejected), yes and no votes, proposer and height.`)
	c := addCommon(fs, e, useNode)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("org proposals", pos, 0, ""); err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	ps, err := cl.Proposals(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSONList(ps))
	}
	if len(ps) == 0 {
		fmt.Fprintln(e.stdout, "no proposals")
		return nil
	}
	names, err := orgNames(ctx, cl)
	if err != nil {
		return err
	}
	tw := table(e.stdout)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tSTATUS\tYES\tNO\tPROPOSER\tHEIGHT")
	for _, p := range ps {
		proposer := idOf(p.Proposer).String()
		if n, ok := names[idOf(p.Proposer)]; ok {
			proposer = n
		}
		what, kind := p.GetOrg().GetName(), orgKindName(p.GetOrg().GetKind())
		if p.Removal != nil {
			what, kind = "remove "+idOf(p.Removal.Org).String(), "-"
			if n, ok := names[idOf(p.Removal.Org)]; ok {
				what = "remove " + n
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%d\n", p.Id, what, kind,
			proposalStatusName(p.Status), len(p.Yes), len(p.No), proposer, p.CreatedHeight)
	}
	return tw.Flush()
}
