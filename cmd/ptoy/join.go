package main

// Joining a running network: "ptoy init --join" makes the home of a new
// organisation's node, "ptoy org propose --request" lets a member sign
// the admission proposal for it, "ptoy org cosign" has the candidate
// co-sign and submit it, and "ptoy org remove" proposes removing a
// member's validator and storage node.

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
	"ptoy/tx"
)

// runJoin is ptoy init with --join or --genesis: the home of a node that
// joins an existing network.
func runJoin(ctx context.Context, e *env, home, org, member, genesis, peers, storage, httpAddr, p2p, rpc, nodeURL, jurisdiction string, fast bool) error {
	var info node.NetworkInfo
	switch {
	case member != "" && genesis != "":
		return usageErr("give --join URL or --genesis FILE with --peers, not both")
	case member != "":
		hc, err := (&common{e: e}).httpClient()
		if err != nil {
			return err
		}
		got, err := node.FetchNetwork(ctx, hc, member)
		if err != nil {
			return err
		}
		info = *got
	default:
		b, err := os.ReadFile(genesis)
		if err != nil {
			return usageErr(fmt.Sprintf("cannot read the genesis file: %v", err))
		}
		info.Genesis = b
		info.Storage = map[string]string{}
		for _, kv := range splitList(storage) {
			id, u, ok := strings.Cut(kv, "=")
			if !ok {
				return usageErr(fmt.Sprintf("--storage %q: want ORG_ID=URL,…", kv))
			}
			info.Storage[id] = u
		}
	}
	if p := splitList(peers); len(p) > 0 {
		info.Peers = p
	}
	if httpAddr == "" || p2p == "" {
		return usageErr("a joining node needs --http HOST:PORT and --p2p tcp://HOST:PORT (addresses the other nodes reach)")
	}
	j, err := node.JoinNetwork(node.JoinSpec{
		Home: home, Network: info, Moniker: monikerOf(org),
		HTTPAddr: httpAddr, P2PAddr: p2p, RPCAddr: rpc, NodeURL: nodeURL, FastBlocks: fast, KDF: homeKDF(e),
		Jurisdiction: jurisdiction,
	})
	if err != nil {
		return err
	}
	req := filepath.Join(home, node.JoinRequestFile)
	fmt.Fprintf(e.stdout, `created %s to join chain %s (genesis sha256 %s: compare it with a member's)
organisation %s, validator key %s, node URL %s
next:
  1. start the node; it syncs as a non-validator:  ptoy node --home %s
  2. send %s to a member, who signs the proposal:
       ptoy org propose --as KEY --request join-request.json --name %q --kind KIND --out proposal.tx
  3. co-sign and submit it:                        ptoy org cosign --home %s proposal.tx
  4. the members vote:                             ptoy org vote --as KEY PROPOSAL yes
`, home, j.ChainID, j.GenesisHash, j.Org, j.ValidatorKey, j.NodeURL, home, req, org, home)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// monikerOf makes a node name of an organisation's name.
func monikerOf(org string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(org) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	if m := strings.Trim(b.String(), "-"); m != "" {
		return m
	}
	return "node"
}

// proposeRequest signs the admission proposal of a join request with the
// member's key and writes it, for the candidate to co-sign (ptoy org
// cosign), to out.
func proposeRequest(ctx context.Context, e *env, c *common, as, forOrg, reqPath, name string, kind pb.OrgKind, out string) error {
	if out == "" {
		return usageErr("with --request, give --out FILE: the candidate co-signs the proposal (ptoy org cosign) and submits it")
	}
	j, err := node.ReadJoined(reqPath)
	if err != nil {
		return err
	}
	m, err := j.ProposeOrg(name, kind)
	if err != nil {
		return err
	}
	fr, err := forRef(c, forOrg)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	if m.OnBehalfOf, err = onBehalfOf(ctx, cl, fr); err != nil {
		return err
	}
	signer, err := c.loadKey(as)
	if err != nil {
		return err
	}
	raw, err := cl.Sign(ctx, &pb.Body{Msg: &pb.Body_ProposeOrg{ProposeOrg: m}}, signer)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return usageErr(fmt.Sprintf("cannot create %s: %v", out, err))
	}
	_, err = fmt.Fprintln(f, base64.StdEncoding.EncodeToString(raw))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote the proposal to admit %s (id %s) to %s: the candidate co-signs and submits it with ptoy org cosign\n", name, j.Org, out)
	return nil
}

func runOrgCosign(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "org cosign", "--home HOME [--node URL] PROPOSAL_FILE",
		`Co-signs an admission proposal that a member signed for this node's
organisation (ptoy org propose --request … --out FILE) with the
organisation key and the node key of HOME, and submits it. The keys are
unlocked with HOME's passphrase file (or PTOY_PASSPHRASE). The proposal
goes to --node, by default this home's own node.`)
	home := fs.String("home", "", "home of the joining node (required)")
	nodeURL := fs.String("node", "", "`URL` of a node's API to submit to (default: the home's own node)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("org cosign", pos, 1, "a PROPOSAL_FILE"); err != nil {
		return err
	}
	if *home == "" {
		return usageErr("ptoy org cosign needs --home (run ptoy org cosign -h)")
	}
	cfg, err := node.LoadConfig(*home)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return usageErr(fmt.Sprintf("cannot read the proposal: %v", err))
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return usageErr(pos[0] + " is not a proposal written by ptoy org propose --out")
	}
	t, err := tx.Decode(raw)
	if err != nil {
		return err
	}
	po, ok := t.Body.Msg.(*pb.Body_ProposeOrg)
	if !ok {
		return usageErr(pos[0] + " holds no admission proposal")
	}
	passPath := cfg.PassphraseFile
	if passPath != "" && !filepath.IsAbs(passPath) {
		passPath = filepath.Join(*home, passPath)
	}
	pass, err := keys.Passphrase(passPath, envPass, e.getenv, nil, nil)
	if err != nil {
		return err
	}
	kd := keys.Dir{Path: filepath.Join(*home, "keys")}
	org, _, err := kd.Load(cfg.OrgKey, pass)
	if err != nil {
		return err
	}
	if string(org.SigningPublic()) != string(po.ProposeOrg.SigningKey) {
		return usageErr("the proposal admits another organisation than this home's")
	}
	signers := []tx.Signer{org}
	if len(po.ProposeOrg.NodeSigningKey) > 0 {
		nk, _, err := kd.Load(cfg.NodeKey, pass)
		if err != nil {
			return err
		}
		if string(nk.SigningPublic()) != string(po.ProposeOrg.NodeSigningKey) {
			return usageErr("the proposal names another node key than this home's")
		}
		signers = append(signers, nk)
	}
	cm := &common{e: e, node: *nodeURL}
	if cm.node == "" {
		cm.node = cfg.Scheme() + "://" + cfg.HTTPAddr
	}
	cl, err := cm.client(ctx)
	if err != nil {
		return err
	}
	chainID, err := cl.ChainID(ctx)
	if err != nil {
		return err
	}
	for _, s := range signers {
		if raw, err = tx.Cosign(chainID, raw, s); err != nil {
			return err
		}
	}
	if _, err := cl.SubmitRaw(ctx, raw, true); err != nil {
		return err
	}
	ps, err := cl.Proposals(ctx)
	if err != nil {
		return err
	}
	for i := len(ps) - 1; i >= 0; i-- {
		if p := ps[i]; string(p.GetOrg().GetSigningKey()) == string(org.SigningPublic()) {
			fmt.Fprintf(e.stdout, "proposal %d: admit %s (id %s): %s, %d yes, %d no\n",
				p.Id, p.Org.Name, org.ID(), proposalStatusName(p.Status), len(p.Yes), len(p.No))
			return nil
		}
	}
	fmt.Fprintln(e.stdout, "proposal submitted")
	return nil
}

func runOrgRemove(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "org remove", "--as KEYNAME [--for ORG] ORG",
		`Proposes removing member organisation ORG's validator and storage node
(ORG is an id or a key name). KEYNAME signs: a member organisation's key,
or an admin employee's with --for. The proposer's vote counts as yes; once
more than two thirds of the members vote yes (ptoy org vote), ORG's
validator leaves consensus and placement leaves its node out. ORG stays a
member. The network's last validator cannot be removed.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs")
	forOrg := fs.String("for", "", "organisation (`ORG` id or key name) an admin signs for")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("org remove", pos, 1, "the ORG whose validator and storage node to remove"); err != nil {
		return err
	}
	if *as == "" {
		return usageErr("ptoy org remove needs --as KEYNAME (run ptoy org remove -h)")
	}
	target, err := c.ref("organisation", pos[0])
	if err != nil {
		return err
	}
	fr, err := forRef(c, *forOrg)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	id, err := target.resolve(ctx, cl)
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
	m := &pb.ProposeRemoval{Org: id.Bytes(), OnBehalfOf: behalf}
	if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_ProposeRemoval{ProposeRemoval: m}}, signer); err != nil {
		return err
	}
	ps, err := cl.Proposals(ctx)
	if err != nil {
		return err
	}
	for i := len(ps) - 1; i >= 0; i-- {
		if p := ps[i]; p.Removal != nil && string(p.Removal.Org) == string(id.Bytes()) {
			fmt.Fprintf(e.stdout, "proposal %d: remove the validator and storage node of %s: %s, %d yes, %d no\n",
				p.Id, id, proposalStatusName(p.Status), len(p.Yes), len(p.No))
			return nil
		}
	}
	fmt.Fprintf(e.stdout, "proposed removing %s\n", id)
	return nil
}
