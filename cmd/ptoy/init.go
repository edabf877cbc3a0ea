package main

import (
	"context"
	"fmt"
	"strings"

	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
)

func init() {
	commands["init"] = command{"create the home of a single-node network", runInit}
	commands["testnet"] = command{"create the homes of an N-validator network on 127.0.0.1..N", runTestnet}
}

// orgKinds are the CLI's words for organisation kinds.
var orgKinds = map[string]pb.OrgKind{
	"hospital": pb.OrgKind_ORG_KIND_HOSPITAL, "clinic": pb.OrgKind_ORG_KIND_CLINIC, "lab": pb.OrgKind_ORG_KIND_LAB,
	"pharmacy": pb.OrgKind_ORG_KIND_PHARMACY, "insurer": pb.OrgKind_ORG_KIND_INSURER,
}

func runInit(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "init", "--home DIR --org NAME [--kind hospital]",
		`Creates a node home for a new network with one validator, run by one
founding organisation. The organisation key is sealed in DIR/keys/org.key
under a generated passphrase in DIR/keys/passphrase (mode 0600), and beside
it, under the same passphrase, the directory key and the network phone key
(DIR/keys/*.secret); move the passphrase to a secret store and use
PTOY_PASSPHRASE in production.`)
	home := fs.String("home", "", "node home directory (required)")
	org := fs.String("org", "", "founding organisation's name (required)")
	kind := fs.String("kind", "hospital", "organisation kind: hospital, clinic, lab, pharmacy or insurer")
	chain := fs.String("chain-id", "", "chain id (random if empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *home == "" || *org == "" {
		return usageErr("--home and --org are required")
	}
	k, ok := orgKinds[*kind]
	if !ok {
		return usageErr(fmt.Sprintf("unknown organisation kind %q", *kind))
	}
	spec := node.NetworkSpec{ChainID: *chain, HomeDirs: []string{*home}, Validators: 1,
		Orgs: []node.OrgSpec{{Name: *org, Kind: k}}, Hosts: []string{"127.0.0.1"}, KDF: homeKDF(e)}
	if _, err := node.CreateNetwork(spec); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created %s (run: ptoy node --home %s)\n", *home, *home)
	fmt.Fprintln(e.stdout, oneValidatorEscrow)
	return nil
}

func runTestnet(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "testnet", "--validators N --out DIR",
		`Writes the homes of an N-validator network, DIR/node1 … DIR/nodeN, node i
listening on 127.0.0.i (P2P 26656, CometBFT RPC 26657, API 8080 unless
--free-ports), each run by a founding organisation "Member i". Start each
with: ptoy node --home DIR/nodeI`)
	n := fs.Int("validators", 4, "number of validator nodes")
	out := fs.String("out", "", "output directory (required)")
	free := fs.Bool("free-ports", false, "pick free ports instead of the standard ones")
	fast := fs.Bool("fast", false, "short consensus timeouts (one machine)")
	chain := fs.String("chain-id", "", "chain id (random if empty)")
	dev := fs.Bool("dev", false, "send one-time codes to HOME/outbox.jsonl (development)")
	names := fs.String("orgs", "", "comma-separated organisation names (default Member 1 … Member N)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return usageErr("--out is required")
	}
	spec := node.NetworkSpec{ChainID: *chain, Out: *out, Validators: *n, FreePorts: *free, FastBlocks: *fast, Dev: *dev, KDF: homeKDF(e)}
	var given []string
	if *names != "" {
		given = strings.Split(*names, ",")
	}
	for i := range *n {
		name := fmt.Sprintf("Member %d", i+1)
		if i < len(given) {
			name = strings.TrimSpace(given[i])
		}
		spec.Orgs = append(spec.Orgs, node.OrgSpec{Name: name, Kind: pb.OrgKind_ORG_KIND_HOSPITAL})
	}
	if _, err := node.CreateNetwork(spec); err != nil {
		return err
	}
	for _, h := range spec.Homes() {
		c, err := node.LoadConfig(h)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\tapi http://%s\tp2p %s\n", h, c.HTTPAddr, c.P2PAddr)
	}
	return nil
}

// oneValidatorEscrow is what a network of one validator organisation
// means for break-glass, said at init and by ptoy status.
const oneValidatorEscrow = `note: with one validator organisation there is no emergency escrow: one node alone
would hold every patient's emergency key, so patients publish none, and a
break-glass opens no encrypted record until a second organisation runs a validator.`

// homeKDF is the KDF that seals the keys of new homes: cheap in tests.
func homeKDF(e *env) keys.KDFParams {
	if v, _ := e.getenv(envFastKDF); v == "1" {
		return keys.TestKDF
	}
	return keys.DefaultKDF
}
