// Package bench measures the ledger's throughput beside CometBFT's own
// kvstore example application, run the same way in the same process:
// the same number of validators on 127.0.0.x, the same consensus
// settings, the same submission path (BroadcastTxSync through every
// node's mempool), counted the same way (transactions in committed
// blocks on node 1): in steady state (RunSteady, a window of block time
// after a warm-up) or for a fixed number of transactions (Run). It also
// measures records, the FHIR API and Decide, and writes all of it as one
// report (WriteReport: Markdown and an SVG chart).
package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/rpc/client/local"
	cmttypes "github.com/cometbft/cometbft/types"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
	"ptoy/tx"
)

// kvstoreApp names the rows of CometBFT's kvstore example application.
const kvstoreApp = "cometbft kvstore"

// Options of a run.
type Options struct {
	Dir        string // scratch space; a temporary directory if empty
	Validators []int  // network sizes to measure, e.g. 1 and 4
	Txs        int    // transactions per measurement
	Workers    int    // concurrent submitters per node
	Rounds     int    // alternating kvstore/ptoy rounds; the median is reported
	Progress   io.Writer
}

// Row is one measurement.
type Row struct {
	App        string
	Validators int
	Txs        int
	Elapsed    time.Duration
}

// TPS is committed transactions per second.
func (r Row) TPS() float64 { return float64(r.Txs) / r.Elapsed.Seconds() }

// Report is the result of a run.
type Report struct {
	Rows []Row
	// StateBytesPerPatient is the growth of the ledger state (keys and
	// values in the store) per registered patient; TxBytesPerPatient the
	// size of the registration transaction kept in the block store.
	StateBytesPerPatient float64
	TxBytesPerPatient    float64
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	if len(r.Rows) == 0 {
		return
	}
	fmt.Fprintf(w, "%-30s %10s %8s %10s %10s %8s\n", "application", "validators", "txs", "seconds", "tx/s", "ratio")
	kv := map[int]float64{}
	for _, row := range r.Rows {
		if row.App == kvstoreApp {
			kv[row.Validators] = row.TPS()
		}
	}
	for _, row := range r.Rows {
		ratio := ""
		if row.App != kvstoreApp && kv[row.Validators] > 0 {
			ratio = fmt.Sprintf("%.2f", row.TPS()/kv[row.Validators])
		}
		fmt.Fprintf(w, "%-30s %10d %8d %10.2f %10.0f %8s\n", row.App, row.Validators, row.Txs, row.Elapsed.Seconds(), row.TPS(), ratio)
	}
	if r.StateBytesPerPatient > 0 {
		fmt.Fprintf(w, "ledger state bytes per registered patient: %.0f (registration transaction in the block store: %.0f bytes)\n", r.StateBytesPerPatient, r.TxBytesPerPatient)
	}
}

// Run measures every network size in opt, kvstore first, then ptoy.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if opt.Txs <= 0 {
		opt.Txs = 4000
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
	if opt.Dir == "" {
		d, err := os.MkdirTemp("", "ptoy-bench-")
		if err != nil {
			return nil, ptoy.E("bench.Run", ptoy.Other, err)
		}
		defer os.RemoveAll(d)
		opt.Dir = d
	}
	if opt.Rounds <= 0 {
		opt.Rounds = 1
	}
	rep := &Report{}
	for _, v := range opt.Validators {
		var kvRows, ptoyRows []Row
		for r := range opt.Rounds {
			fmt.Fprintf(opt.Progress, "round %d: kvstore, %d validators, %d transactions…\n", r+1, v, opt.Txs)
			row, size, err := runKV(ctx, opt, v, r)
			if err != nil {
				return nil, err
			}
			kvRows = append(kvRows, row)
			fmt.Fprintf(opt.Progress, "round %d: ptoy RegisterPatient, %d validators, %d transactions of %d bytes…\n", r+1, v, opt.Txs, size)
			row, perPatient, txBytes, err := runPtoy(ctx, opt, v, r)
			if err != nil {
				return nil, err
			}
			ptoyRows = append(ptoyRows, row)
			rep.StateBytesPerPatient, rep.TxBytesPerPatient = perPatient, txBytes
		}
		rep.Rows = append(rep.Rows, median(kvRows), median(ptoyRows))
	}
	return rep, nil
}

// median returns the row of median throughput.
func median(rows []Row) Row {
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a.TPS(), b.TPS()) })
	return rows[len(rows)/2]
}

func network(opt Options, name string, v, round int) (node.NetworkSpec, []*keys.KeyPair, error) {
	spec := node.NetworkSpec{Out: filepath.Join(opt.Dir, fmt.Sprintf("%s-%d-%d", name, v, round)), Validators: v,
		FreePorts: true, FastBlocks: true, KDF: keys.TestKDF, ChainID: "ptoy-bench"}
	for i := range v {
		spec.Orgs = append(spec.Orgs, node.OrgSpec{Name: fmt.Sprintf("Member %d", i+1), Kind: pb.OrgKind_ORG_KIND_HOSPITAL})
	}
	orgs, err := node.CreateNetwork(spec)
	return spec, orgs, err
}

// registrations makes n signed RegisterPatient transactions, the i-th
// attested by organisation i mod len(orgs).
func registrations(chainID string, orgs []*keys.KeyPair, n int) ([][]byte, error) {
	out := make([][]byte, n)
	for i := range out {
		p, err := keys.Generate(keys.KEMHybrid)
		if err != nil {
			return nil, err
		}
		org := orgs[i%len(orgs)]
		out[i], err = tx.Sign(chainID, &pb.Body{Sequence: 1, Msg: &pb.Body_RegisterPatient{RegisterPatient: &pb.RegisterPatient{
			Kem: &pb.KemKey{Alg: uint32(p.KEMAlg()), Key: p.KEMPublic()}, Registrar: org.ID().Bytes(), PhoneTag: phoneTag(),
		}}}, p, org)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// phoneTag is a random stand-in for the keyed hash of a phone number:
// every benchmark patient has a phone of its own.
func phoneTag() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

type submitter func(ctx context.Context, raw []byte) error

// drive submits txs round robin over the nodes' submitters and returns
// the time until node 1 has them all in committed blocks.
func drive(ctx context.Context, opt Options, first *cmtnode.Node, subs []submitter, txs [][]byte) (time.Duration, error) {
	h0 := first.BlockStore().Height()
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	per := len(subs) * opt.Workers
	for w := range per {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			sub := subs[w%len(subs)]
			for i := w; i < len(txs); i += per {
				if err := sub(ctx, txs[i]); err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
			}
		}(w)
	}
	wg.Wait()
	select {
	case err := <-errc:
		return 0, err
	default:
	}
	deadline := time.Now().Add(5 * time.Minute)
	counted, h := 0, h0
	for counted < len(txs) {
		if time.Now().After(deadline) {
			return 0, ptoy.E("bench", ptoy.Unavailable, fmt.Sprintf("only %d of %d transactions committed", counted, len(txs)))
		}
		if top := first.BlockStore().Height(); top > h {
			counted += node.CommittedTxs(first, h, top)
			h = top
			continue
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start), nil
}

// startNetwork opens and starts the nodes of spec, waits for their second
// block and returns them with a submitter per node (async broadcast, a
// CheckTx rejection is an error). The caller closes the nodes, also on
// error.
func startNetwork(ctx context.Context, spec node.NetworkSpec, op string) ([]*node.Node, []submitter, error) {
	var nodes []*node.Node
	for _, h := range spec.Homes() {
		n, err := node.Open(h, node.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nodes, nil, err
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := n.Start(); err != nil {
			return nodes, nil, err
		}
	}
	var subs []submitter
	for _, n := range nodes {
		if err := n.WaitHeight(ctx, 2); err != nil {
			return nodes, nil, err
		}
		subs = append(subs, func(ctx context.Context, raw []byte) error {
			r, err := n.Submit(ctx, raw, false)
			if err != nil {
				return err
			}
			return tx.Err(op, r.Code, r.Log)
		})
	}
	return nodes, subs, nil
}

func closeAll(nodes []*node.Node) {
	for _, n := range nodes {
		n.Close()
	}
}

func runPtoy(ctx context.Context, opt Options, v, round int) (Row, float64, float64, error) {
	spec, orgs, err := network(opt, "ptoy", v, round)
	if err != nil {
		return Row{}, 0, 0, err
	}
	nodes, subs, err := startNetwork(ctx, spec, "bench")
	defer closeAll(nodes)
	if err != nil {
		return Row{}, 0, 0, err
	}
	txs, err := registrations(spec.ChainID, orgs, opt.Txs)
	if err != nil {
		return Row{}, 0, 0, err
	}
	_, before, err := nodes[0].Ledger().StateSize()
	if err != nil {
		return Row{}, 0, 0, err
	}
	d, err := drive(ctx, opt, nodes[0].Comet(), subs, txs)
	if err != nil {
		return Row{}, 0, 0, err
	}
	// Every registration applied, not merely committed: node 1's ledger
	// has caught up with its blocks and holds each new patient.
	if err := nodes[0].WaitHeight(ctx, nodes[0].Comet().BlockStore().Height()); err != nil {
		return Row{}, 0, 0, err
	}
	applied := 0
	for _, raw := range txs {
		t, err := tx.Decode(raw)
		if err != nil {
			return Row{}, 0, 0, err
		}
		if _, err := nodes[0].Ledger().AccountByKey(t.Signer()); err == nil {
			applied++
		}
	}
	if applied != len(txs) {
		return Row{}, 0, 0, ptoy.E("bench", ptoy.Invalid, fmt.Sprintf("%d of %d registrations committed were applied", applied, len(txs)))
	}
	_, after, err := nodes[0].Ledger().StateSize()
	if err != nil {
		return Row{}, 0, 0, err
	}
	var txBytes int
	for _, t := range txs {
		txBytes += len(t)
	}
	n := float64(len(txs))
	return Row{App: "ptoy RegisterPatient (signed)", Validators: v, Txs: len(txs), Elapsed: d}, float64(after-before) / n, float64(txBytes) / n, nil
}

func runKV(ctx context.Context, opt Options, v, round int) (Row, int, error) {
	spec, _, err := network(opt, "kvstore", v, round)
	if err != nil {
		return Row{}, 0, err
	}
	var cns []*cmtnode.Node
	defer func() {
		for _, cn := range cns {
			node.StopComet(cn)
		}
	}()
	log := slog.New(slog.DiscardHandler)
	for _, h := range spec.Homes() {
		cfg, err := node.LoadConfig(h)
		if err != nil {
			return Row{}, 0, err
		}
		cn, err := node.NewComet(h, cfg, kvstore.NewInMemoryApplication(), log, nil)
		if err != nil {
			return Row{}, 0, err
		}
		cns = append(cns, cn)
	}
	for _, cn := range cns {
		if err := cn.Start(); err != nil {
			return Row{}, 0, ptoy.E("bench", ptoy.Other, err)
		}
	}
	for cns[0].BlockStore().Height() < 2 {
		select {
		case <-ctx.Done():
			return Row{}, 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Transactions of the same size as ptoy's registrations, so that
	// gossip and storage carry the same bytes.
	sample, err := registrations("x", []*keys.KeyPair{mustKey()}, 1)
	if err != nil {
		return Row{}, 0, err
	}
	size := len(sample[0])
	txs := make([][]byte, opt.Txs)
	for i := range txs {
		k := fmt.Sprintf("k%08d", i)
		val := make([]byte, size-len(k)-1)
		for j := range val {
			val[j] = 'a' + byte((i+j)%26)
		}
		txs[i] = kvstore.NewTx(k, string(val))
	}
	var subs []submitter
	for _, cn := range cns {
		c := local.New(cn)
		subs = append(subs, func(ctx context.Context, raw []byte) error {
			r, err := c.BroadcastTxSync(ctx, cmttypes.Tx(raw))
			if err != nil {
				return err
			}
			if r.Code != 0 {
				return ptoy.E("bench", ptoy.Invalid, r.Log)
			}
			return nil
		})
	}
	d, err := drive(ctx, opt, cns[0], subs, txs)
	return Row{App: kvstoreApp, Validators: v, Txs: len(txs), Elapsed: d}, size, err
}

func mustKey() *keys.KeyPair {
	k, err := keys.Generate(keys.KEMX25519)
	if err != nil {
		panic(err)
	}
	return k
}
