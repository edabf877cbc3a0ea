package main

import (
	"context"
	"fmt"
	"strings"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
	"ptoy/residency"
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
	fs := flags(e, "init", "--home DIR --org NAME [--kind hospital] | --home DIR --org NAME (--join URL | --genesis FILE --peers LIST) --http HOST:PORT --p2p tcp://HOST:PORT",
		`Creates a node home for a new network with one validator, run by one
founding organisation. The organisation key is sealed in DIR/keys/org.key
under a generated passphrase in DIR/keys/passphrase (mode 0600), and beside
it, under the same passphrase, the directory key and the network phone key
(DIR/keys/*.secret); move the passphrase to a secret store and use
PTOY_PASSPHRASE in production.

With --join URL (a member node's API) or --genesis FILE and --peers, it
creates instead the home of a new organisation's node for an existing
network: the member's genesis file, its CometBFT peers and storage nodes
(or the ones given), new organisation, node and validator keys, and
DIR/join-request.json, what the members admit it with (see "Joining a
network" in the README). The node syncs as a non-validator until then.`)
	home := fs.String("home", "", "node home directory (required)")
	org := fs.String("org", "", "founding organisation's name (required)")
	kind := fs.String("kind", "hospital", "organisation kind: hospital, clinic, lab, pharmacy or insurer")
	chain := fs.String("chain-id", "", "chain id (random if empty)")
	join := fs.String("join", "", "join the network of the member node at `URL` (its API)")
	genesis := fs.String("genesis", "", "join the network of genesis `FILE` (with --peers)")
	peers := fs.String("peers", "", "CometBFT peers to sync from, nodeid@host:port,… (with --join: instead of the member's)")
	storage := fs.String("storage", "", "storage nodes ORG_ID=URL,… (with --genesis)")
	httpAddr := fs.String("http", "", "joining node's API address HOST:PORT")
	p2p := fs.String("p2p", "", "joining node's CometBFT P2P address tcp://HOST:PORT")
	rpc := fs.String("rpc", "", "joining node's CometBFT RPC address tcp://HOST:PORT (none if empty)")
	nodeURL := fs.String("node-url", "", "base `URL` by which the other nodes reach the joining node (default from --http)")
	fast := fs.Bool("fast", false, "short consensus timeouts (a network on one machine)")
	jurisdiction := fs.String("jurisdiction", "", "where the node's storage is, for residency rules: `CODE` such as DE or US-CA (none if empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	j, err := jurisdictionFlag(*jurisdiction)
	if err != nil {
		return err
	}
	if *home == "" || *org == "" {
		return usageErr("--home and --org are required")
	}
	if *join != "" || *genesis != "" {
		return runJoin(ctx, e, *home, *org, *join, *genesis, *peers, *storage, *httpAddr, *p2p, *rpc, *nodeURL, j, *fast)
	}
	k, ok := orgKinds[*kind]
	if !ok {
		return usageErr(fmt.Sprintf("unknown organisation kind %q", *kind))
	}
	spec := node.NetworkSpec{ChainID: *chain, HomeDirs: []string{*home}, Validators: 1,
		Orgs: []node.OrgSpec{{Name: *org, Kind: k, Jurisdiction: j}}, Hosts: []string{"127.0.0.1"}, KDF: homeKDF(e)}
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
	juris := fs.String("jurisdictions", "", "comma-separated jurisdictions of the nodes, in order (DE,DE,FR,US; default none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var js []string
	for _, s := range splitList(*juris) {
		j, err := jurisdictionFlag(s)
		if err != nil {
			return err
		}
		js = append(js, j)
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
		o := node.OrgSpec{Name: name, Kind: pb.OrgKind_ORG_KIND_HOSPITAL}
		if i < len(js) {
			o.Jurisdiction = js[i]
		}
		spec.Orgs = append(spec.Orgs, o)
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

// jurisdictionFlag checks a jurisdiction given on the command line
// (empty: none) and returns it in capitals.
func jurisdictionFlag(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	j, err := residency.Parse(s)
	if err != nil {
		return "", usageErr(ptoy.Message(err))
	}
	return j, nil
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
