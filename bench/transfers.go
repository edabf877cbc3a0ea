package bench

// The transfer benchmark: committed PTOY transfers per second, measured
// the way Run measures registrations (drive: pre-signed transactions
// submitted round robin through every node's mempool, counted in node 1's
// committed blocks).
//
// Each transfer comes from its own funded account. A transfer carries its
// account's next sequence number, and CometBFT's mempool does not keep
// one account's transactions in order when they reach a node from
// different peers at once (two CheckTx calls may insert into the mempool
// in the opposite order to the one they were checked in), so a burst of
// one account's transfers may reach a block out of order and fail there.
// One transfer per account measures the ledger, not that race; clients
// that wait for each commit (client.Send) never meet it.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"ptoy"
	"ptoy/blob"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/ledger"
	"ptoy/node"
	"ptoy/tx"
)

// TransferApp names the transfer rows of a report.
const TransferApp = "ptoy Transfer (signed)"

// RunTransfers measures committed transfers per second on every network
// size in opt (opt.Txs transfers each, the median of opt.Rounds rounds).
// The opt.Txs senders are patients registered before the measurement and
// funded by genesis allocations; each sends one transfer of a random
// amount to another of them chosen at random. After each measurement it
// checks that every transfer was applied, not merely committed.
func RunTransfers(ctx context.Context, opt Options) (*Report, error) {
	return runSecond(ctx, opt, transferKind)
}

// GrantApp names the grant rows of a report.
const GrantApp = "ptoy Grant (signed)"

// RunGrants measures committed grants per second the same way: each of
// opt.Txs registered patients grants an organisation read and write for
// clinical categories, with a key bundle hash (the bundle itself is a
// blob off the ledger). It checks that every grant was applied.
func RunGrants(ctx context.Context, opt Options) (*Report, error) {
	return runSecond(ctx, opt, grantKind)
}

// secondKind is what each registered account signs as its second
// transaction in a measurement, and how the measurement is checked.
type secondKind struct {
	name, app string
	body      func(rng *rand.Rand, i int, accts, orgs []*keys.KeyPair) *pb.Body
	check     func(l *ledger.Ledger, accts, orgs []*keys.KeyPair) error
}

var transferKind = secondKind{
	name: "transfers", app: TransferApp,
	body: func(rng *rand.Rand, i int, accts, _ []*keys.KeyPair) *pb.Body {
		to := rng.IntN(len(accts) - 1)
		if to >= i {
			to++
		}
		return &pb.Body{Sequence: 2, Msg: &pb.Body_Transfer{Transfer: &pb.Transfer{
			To: accts[to].ID().Bytes(), Amount: 1 + rng.Uint64N(ledger.MicroPTOY),
		}}}
	},
}

var grantKind = secondKind{
	name: "grants", app: GrantApp,
	body: func(rng *rand.Rand, i int, _, orgs []*keys.KeyPair) *pb.Body {
		bundle := make([]byte, 32)
		for j := range bundle {
			bundle[j] = byte(rng.Uint32())
		}
		return &pb.Body{Sequence: 2, Msg: &pb.Body_Grant{Grant: &pb.Grant{
			Patient: nil, Grantee: orgs[i%len(orgs)].ID().Bytes(), Categories: consent.Clinical,
			Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE, KeyBundle: bundle,
		}}}
	},
	check: func(l *ledger.Ledger, accts, orgs []*keys.KeyPair) error {
		for i, k := range accts {
			if _, err := l.Grant(k.ID(), orgs[i%len(orgs)].ID()); err != nil {
				return err
			}
		}
		return nil
	},
}

func runSecond(ctx context.Context, opt Options, kind secondKind) (*Report, error) {
	if opt.Txs <= 0 {
		opt.Txs = 4000
	}
	if opt.Txs < 2 {
		return nil, ptoy.E("bench.RunTransfers", ptoy.Invalid, "transfers need at least 2 accounts: measure at least 2 transactions")
	}
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	if len(opt.Validators) == 0 {
		opt.Validators = []int{1, 4}
	}
	if opt.Progress == nil {
		opt.Progress = io.Discard
	}
	if opt.Rounds <= 0 {
		opt.Rounds = 1
	}
	if opt.Dir == "" {
		d, err := os.MkdirTemp("", "ptoy-bench-")
		if err != nil {
			return nil, ptoy.E("bench.RunTransfers", ptoy.Other, err)
		}
		defer os.RemoveAll(d)
		opt.Dir = d
	}
	rep := &Report{}
	for _, v := range opt.Validators {
		var rows []Row
		for r := range opt.Rounds {
			fmt.Fprintf(opt.Progress, "round %d: %s, %d validators, %d %s…\n", r+1, kind.app, v, opt.Txs, kind.name)
			row, err := runKind(ctx, opt, v, r, kind)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(opt.Progress, "round %d: %.0f %s/s\n", r+1, row.TPS(), kind.name)
			rows = append(rows, row)
		}
		rep.Rows = append(rep.Rows, median(rows))
	}
	return rep, nil
}

func runKind(ctx context.Context, opt Options, v, round int, kind secondKind) (Row, error) {
	op := "bench." + kind.name
	n := opt.Txs
	accts := make([]*keys.KeyPair, n)
	const funds = 1000 * ledger.MicroPTOY
	var alloc []*pb.Allocation
	for i := range accts {
		k, err := keys.Generate(keys.KEMX25519)
		if err != nil {
			return Row{}, err
		}
		accts[i] = k
		alloc = append(alloc, &pb.Allocation{Account: k.ID().Bytes(), Amount: funds})
	}
	spec := node.NetworkSpec{Out: filepath.Join(opt.Dir, fmt.Sprintf("%s-%d-%d", kind.name, v, round)), Validators: v,
		FreePorts: true, FastBlocks: true, KDF: keys.TestKDF, ChainID: "ptoy-bench", Allocations: alloc}
	for i := range v {
		spec.Orgs = append(spec.Orgs, node.OrgSpec{Name: fmt.Sprintf("Member %d", i+1), Kind: pb.OrgKind_ORG_KIND_HOSPITAL})
	}
	orgs, err := node.CreateNetwork(spec)
	if err != nil {
		return Row{}, err
	}
	nodes, subs, err := startNetwork(ctx, spec, op)
	defer closeAll(nodes)
	if err != nil {
		return Row{}, err
	}
	// settle waits until every node has applied what node 1's blocks hold.
	settle := func() error {
		top := nodes[0].Comet().BlockStore().Height()
		for _, nd := range nodes {
			if err := nd.WaitHeight(ctx, top); err != nil {
				return err
			}
		}
		return nil
	}

	// The accounts register (sequence 1) before the measurement.
	regs := make([][]byte, n)
	for i, k := range accts {
		org := orgs[i%len(orgs)]
		regs[i], err = tx.Sign(spec.ChainID, &pb.Body{Sequence: 1, Msg: &pb.Body_RegisterPatient{RegisterPatient: &pb.RegisterPatient{
			Kem: &pb.KemKey{Alg: uint32(k.KEMAlg()), Key: k.KEMPublic()}, Registrar: org.ID().Bytes(), PhoneTag: phoneTag(),
		}}}, k, org)
		if err != nil {
			return Row{}, err
		}
	}
	if _, err := drive(ctx, opt, nodes[0].Comet(), subs, regs); err != nil {
		return Row{}, err
	}
	if err := settle(); err != nil {
		return Row{}, err
	}

	rng := rand.New(rand.NewPCG(uint64(v), uint64(round)))
	txs := make([][]byte, n)
	for i, k := range accts {
		body := kind.body(rng, i, accts, orgs)
		if g, ok := body.Msg.(*pb.Body_Grant); ok {
			g.Grant.Patient = k.ID().Bytes()
			// A node takes a grant only with its key bundle uploaded to it
			// and in the bundle format: a small one on every node, before
			// the clock starts.
			b := append([]byte("PTOYBND1"), g.Grant.KeyBundle...)
			h := blob.Sum(b)
			g.Grant.KeyBundle = h[:]
			for _, n := range nodes {
				if _, err := n.Blobs().Put(ctx, bytes.NewReader(b), int64(len(b)), &h); err != nil {
					return Row{}, err
				}
			}
		}
		if txs[i], err = tx.Sign(spec.ChainID, body, k); err != nil {
			return Row{}, err
		}
	}
	l := nodes[0].Ledger()
	supply, err := l.Supply()
	if err != nil {
		return Row{}, err
	}
	d, err := drive(ctx, opt, nodes[0].Comet(), subs, txs)
	if err != nil {
		return Row{}, err
	}

	// Every transfer applied: each sender's sequence is 2, and the supply
	// is what it was.
	if err := settle(); err != nil {
		return Row{}, err
	}
	applied := 0
	for _, k := range accts {
		a, err := l.Account(k.ID())
		if err != nil {
			return Row{}, err
		}
		if a.Sequence == 2 {
			applied++
		}
	}
	if applied != len(txs) {
		return Row{}, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%d of %d %s committed were applied", applied, len(txs), kind.name))
	}
	if s, err := l.Supply(); err != nil || s != supply {
		return Row{}, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the supply changed from %d to %d (%v)", supply, s, err))
	}
	if kind.check != nil {
		if err := kind.check(l, accts, orgs); err != nil {
			return Row{}, err
		}
	}
	return Row{App: kind.app, Validators: v, Txs: len(txs), Elapsed: d}, nil
}
