package bench

// The steady-state measurement: submitters keep every node's mempool
// full for a fixed duration; after a warm-up, the transactions that
// succeeded in the blocks whose times fall in the window are counted and
// divided by the time between the first and the last of those blocks.
// kvstore and ptoy take turns in each round, with transactions of the
// same size, the same consensus settings and the same submitters.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/rpc/client/local"
	cmttypes "github.com/cometbft/cometbft/types"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
)

// SteadyOptions of a steady-state measurement.
type SteadyOptions struct {
	Dir        string
	Validators []int         // network sizes (default 1 and 4)
	Warmup     time.Duration // load before the window opens (default 5 s)
	Duration   time.Duration // the window (default 20 s)
	Rounds     int           // alternating kvstore/ptoy rounds per size (default 3)
	Workers    int           // submitters per node (default 8)
	// Depth is the backlog the submitters keep: transactions sent and
	// not yet in one of node 1's blocks, across the network. They pause
	// while it is larger, and back off while a mempool is full. A block
	// takes at most the backlog, so Depth bounds blocks too. Zero: 5,000
	// on one validator (CometBFT's default mempool size), 1,000 on more:
	// with the short timeouts here a block of 2,000 1.5 KB transactions
	// (3 MB) took two or three rounds to cross four validators' peer
	// connections. Every waiting transaction is checked again after each
	// block (CometBFT's recheck), which costs ptoy a re-application and
	// kvstore next to nothing, so a deeper backlog slows ptoy: a backlog
	// is part of what is measured. Rows give the mean block so that a
	// reader sees whether Depth was the bound (mean near Depth).
	Depth int
	// DefaultTimeouts runs consensus with CometBFT's default timeouts
	// instead of the short ones of development networks.
	DefaultTimeouts bool
	// MaxTxs bounds the ptoy transactions signed ahead of a round
	// (default 250,000); a round that uses them all closes its window
	// early and says so.
	MaxTxs int
	// BlockBytes, if set, is the networks' largest block (CometBFT's
	// consensus parameter block.max_bytes, 21 MiB by default), the same
	// for kvstore and ptoy.
	BlockBytes int64
	Progress   io.Writer
}

func (o *SteadyOptions) defaults() {
	if len(o.Validators) == 0 {
		o.Validators = []int{1, 4}
	}
	if o.Warmup <= 0 {
		o.Warmup = 5 * time.Second
	}
	if o.Duration <= 0 {
		o.Duration = 20 * time.Second
	}
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.MaxTxs <= 0 {
		o.MaxTxs = 250_000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// depth is the backlog on v validators.
func (o SteadyOptions) depth(v int) int {
	switch {
	case o.Depth > 0:
		return o.Depth
	case v == 1:
		return 5000
	default:
		return 1000
	}
}

// SteadyRow is one round of one application on one network size.
type SteadyRow struct {
	App        string
	Validators int
	Timeouts   string        // "short" or "default"
	Txs        int           // successful transactions in the window's blocks after its first
	Blocks     int           // blocks in the window
	Window     time.Duration // from the first to the last block time in the window
	// MinDepth is the least depth of node 1's mempool sampled during the
	// window: above zero, the mempool never ran dry.
	MinDepth int
	Depth    int // the backlog kept (SteadyOptions.Depth)
	// Late counts the window's heights decided after round 0: the
	// proposal did not reach two thirds of the validators in time, and a
	// timeout and another proposer's round were paid for it.
	Late int
	// Cores is the CPU time the whole process (nodes and submitters) used
	// during the window per second of it: near the machine's core count,
	// the run was bound by CPU. Zero where it cannot be read.
	Cores float64
	// Exhausted says that the transactions signed ahead ran out before
	// the window's planned end; the window closed then.
	Exhausted bool
}

// MeanBlock is the mean number of successful transactions in the
// window's blocks after its first.
func (r SteadyRow) MeanBlock() float64 {
	if r.Blocks < 2 {
		return 0
	}
	return float64(r.Txs) / float64(r.Blocks-1)
}

// TPS is successful transactions per second of block time.
func (r SteadyRow) TPS() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Txs) / r.Window.Seconds()
}

// SteadyReport is what RunSteady measured: every round's row.
type SteadyReport struct {
	Rows    []SteadyRow
	TxBytes int // the size of every transaction, both applications
}

// Series returns the transactions per second of app on v validators, one
// per round.
func (r *SteadyReport) Series(app string, v int) []float64 {
	var out []float64
	for _, row := range r.Rows {
		if row.App == app && row.Validators == v {
			out = append(out, row.TPS())
		}
	}
	return out
}

// Print writes every round and, per size, the median and range.
func (r *SteadyReport) Print(w io.Writer) {
	fmt.Fprintf(w, "steady state, %d-byte transactions\n", r.TxBytes)
	fmt.Fprintf(w, "%-30s %10s %8s %8s %8s %6s %10s %10s %10s %6s\n", "application", "validators", "timeouts", "txs", "blocks", "late", "mean block", "seconds", "tx/s", "cores")
	for _, row := range r.Rows {
		note := ""
		if row.Exhausted {
			note = " (signed transactions ran out: window closed early)"
		}
		fmt.Fprintf(w, "%-30s %10d %8s %8d %8d %6d %10.0f %10.2f %10.0f %6.2f%s\n", row.App, row.Validators, row.Timeouts, row.Txs, row.Blocks, row.Late, row.MeanBlock(), row.Window.Seconds(), row.TPS(), row.Cores, note)
	}
	seen := map[int]bool{}
	for _, row := range r.Rows {
		if seen[row.Validators] {
			continue
		}
		seen[row.Validators] = true
		kv, pt := Summarize(r.Series(kvstoreApp, row.Validators)), Summarize(r.Series(PtoyApp, row.Validators))
		fmt.Fprintf(w, "%d validators: kvstore %s tx/s, ptoy %s tx/s, ratio of medians %.2f\n", row.Validators, kv, pt, pt.Median/kv.Median)
	}
}

// PtoyApp names ptoy's rows: signed RegisterPatient transactions.
const PtoyApp = "ptoy RegisterPatient (signed)"

// KVStoreApp names kvstore's rows.
const KVStoreApp = kvstoreApp

// RunSteady measures every network size in o: in each round kvstore,
// then ptoy, each on a network of its own.
func RunSteady(ctx context.Context, o SteadyOptions) (*SteadyReport, error) {
	o.defaults()
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "ptoy-bench-")
		if err != nil {
			return nil, ptoy.E("bench.RunSteady", ptoy.Other, err)
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	sample, err := registrations("x", []*keys.KeyPair{mustKey()}, 1)
	if err != nil {
		return nil, err
	}
	rep := &SteadyReport{TxBytes: len(sample[0])}
	timeouts := "short"
	if o.DefaultTimeouts {
		timeouts = "default"
	}
	for _, v := range o.Validators {
		var last float64 // ptoy's rate in the previous round, to size the next
		for r := range o.Rounds {
			fmt.Fprintf(o.Progress, "round %d of %d: kvstore, %d validators, %v warm-up, %v window…\n", r+1, o.Rounds, v, o.Warmup, o.Duration)
			kv, err := steadyKV(ctx, o, v, r, rep.TxBytes)
			if err != nil {
				return nil, err
			}
			kv.Timeouts = timeouts
			rep.Rows = append(rep.Rows, kv)
			fmt.Fprintf(o.Progress, "  %.0f tx/s over %d blocks\n", kv.TPS(), kv.Blocks)
			est := last
			if est == 0 {
				est = kv.TPS()
			}
			fmt.Fprintf(o.Progress, "round %d of %d: ptoy, %d validators…\n", r+1, o.Rounds, v)
			pt, err := steadyPtoy(ctx, o, v, r, est)
			if err != nil {
				return nil, err
			}
			pt.Timeouts = timeouts
			rep.Rows = append(rep.Rows, pt)
			last = pt.TPS()
			fmt.Fprintf(o.Progress, "  %.0f tx/s over %d blocks\n", pt.TPS(), pt.Blocks)
		}
	}
	return rep, nil
}

func steadyNetwork(o SteadyOptions, name string, v, round int) (node.NetworkSpec, []*keys.KeyPair, error) {
	if o.DefaultTimeouts {
		name += "-default"
	}
	spec := node.NetworkSpec{Out: filepath.Join(o.Dir, fmt.Sprintf("steady-%s-%d-%d", name, v, round)), Validators: v,
		FreePorts: true, FastBlocks: !o.DefaultTimeouts, KDF: keys.TestKDF, ChainID: "ptoy-bench"}
	for i := range v {
		spec.Orgs = append(spec.Orgs, node.OrgSpec{Name: fmt.Sprintf("Member %d", i+1), Kind: pb.OrgKind_ORG_KIND_HOSPITAL})
	}
	orgs, err := node.CreateNetwork(spec)
	if err != nil || o.BlockBytes == 0 {
		return spec, orgs, err
	}
	for _, h := range spec.Homes() {
		path := filepath.Join(h, "config", "genesis.json")
		doc, err := cmttypes.GenesisDocFromFile(path)
		if err != nil {
			return spec, nil, ptoy.E("bench.steady", ptoy.Other, err)
		}
		doc.ConsensusParams.Block.MaxBytes = o.BlockBytes
		if err := doc.ValidateAndComplete(); err != nil {
			return spec, nil, ptoy.E("bench.steady", ptoy.Invalid, "block bytes", err)
		}
		if err := doc.SaveAs(path); err != nil {
			return spec, nil, ptoy.E("bench.steady", ptoy.Other, err)
		}
	}
	return spec, orgs, nil
}

func steadyKV(ctx context.Context, o SteadyOptions, v, round, size int) (SteadyRow, error) {
	spec, _, err := steadyNetwork(o, "kvstore", v, round)
	if err != nil {
		return SteadyRow{}, err
	}
	var cns []*cmtnode.Node
	defer func() { stopEach(cns, node.StopComet) }()
	log := slog.New(slog.DiscardHandler)
	for _, h := range spec.Homes() {
		cfg, err := node.LoadConfig(h)
		if err != nil {
			return SteadyRow{}, err
		}
		cn, err := node.NewComet(h, cfg, kvstore.NewInMemoryApplication(), log, nil)
		if err != nil {
			return SteadyRow{}, err
		}
		cns = append(cns, cn)
	}
	for _, cn := range cns {
		if err := cn.Start(); err != nil {
			return SteadyRow{}, ptoy.E("bench", ptoy.Other, err)
		}
	}
	if err := waitBlocks(ctx, cns[0], 2); err != nil {
		return SteadyRow{}, err
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
	// Transactions of the same size as ptoy's registrations, each with a
	// key of its own, made as they are sent (a few hundred nanoseconds).
	var seq atomic.Int64
	next := func() []byte {
		i := seq.Add(1)
		k := fmt.Sprintf("r%d-%010d", round, i)
		val := make([]byte, size-len(k)-1)
		for j := range val {
			val[j] = 'a' + byte((int(i)+j)%26)
		}
		return kvstore.NewTx(k, string(val))
	}
	row, err := saturate(ctx, o, o.depth(v), cns, subs, next)
	row.App, row.Validators = kvstoreApp, v
	return row, err
}

func steadyPtoy(ctx context.Context, o SteadyOptions, v, round int, est float64) (SteadyRow, error) {
	spec, orgs, err := steadyNetwork(o, "ptoy", v, round)
	if err != nil {
		return SteadyRow{}, err
	}
	// Enough signed registrations for the whole load at 1.5 times the
	// estimated rate, and the backlog, signed before the clock starts.
	n := int(est*1.5*(o.Warmup+o.Duration).Seconds()) + 3*o.depth(v)
	n = min(max(n, 2000), o.MaxTxs)
	fmt.Fprintf(o.Progress, "  signing %d registrations…\n", n)
	txs, err := signRegistrations(ctx, spec.ChainID, orgs, n)
	if err != nil {
		return SteadyRow{}, err
	}
	nodes, subs, err := startNetwork(ctx, spec, "bench")
	defer func() { stopEach(nodes, func(n *node.Node) { n.Close() }) }()
	if err != nil {
		return SteadyRow{}, err
	}
	var cns []*cmtnode.Node
	for _, nd := range nodes {
		cns = append(cns, nd.Comet())
	}
	var seq atomic.Int64
	next := func() []byte {
		i := int(seq.Add(1)) - 1
		if i >= len(txs) {
			return nil
		}
		return txs[i]
	}
	// Only transactions the ledger applied count (result code 0).
	row, err := saturate(ctx, o, o.depth(v), cns, subs, next)
	row.App, row.Validators = PtoyApp, v
	return row, err
}

// stopEach stops every node at once: each stop waits out its peers'
// routines, and one after another they would add up.
func stopEach[T any](nodes []T, stop func(T)) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop(n)
		}()
	}
	wg.Wait()
}

// signRegistrations signs n registrations on every core.
func signRegistrations(ctx context.Context, chainID string, orgs []*keys.KeyPair, n int) ([][]byte, error) {
	out := make([][]byte, n)
	const chunk = 500
	err := parallel(ctx, (n+chunk-1)/chunk, 2, func(ctx context.Context, c int) error {
		lo, hi := c*chunk, min(n, (c+1)*chunk)
		part, err := registrations(chainID, rotate(orgs, lo), hi-lo)
		copy(out[lo:hi], part)
		return err
	})
	return out, err
}

// rotate returns orgs starting at i mod len(orgs), so that registration i
// is attested by organisation i mod len(orgs) whatever the chunk.
func rotate(orgs []*keys.KeyPair, i int) []*keys.KeyPair {
	i %= len(orgs)
	return append(append([]*keys.KeyPair{}, orgs[i:]...), orgs[:i]...)
}

// waitBlocks waits until cn has committed height h.
func waitBlocks(ctx context.Context, cn *cmtnode.Node, h int64) error {
	for cn.BlockStore().Height() < h {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// mempoolFull tells a full mempool, which submitters wait out, from a
// rejection.
func mempoolFull(err error) bool { return strings.Contains(err.Error(), "mempool is full") }

// saturate keeps a backlog of depth transactions for o.Warmup+o.Duration
// with transactions from next (nil when there are no more), then counts
// the successful transactions of the blocks whose times fall in the
// window after the warm-up.
func saturate(ctx context.Context, o SteadyOptions, depth int, cns []*cmtnode.Node, subs []submitter, next func() []byte) (SteadyRow, error) {
	row := SteadyRow{Depth: depth}
	h0 := cns[0].BlockStore().Height()
	start := time.Now()
	from, to := start.Add(o.Warmup), start.Add(o.Warmup+o.Duration)
	var ranOut atomic.Int64 // unix nanoseconds when next returned nil
	var stop atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The backlog: sent, less what node 1's blocks hold; and the blocks
	// timed in the window so far.
	var sent, committed, inWindow atomic.Int64
	go func() {
		h := h0
		for ctx.Err() == nil {
			if top := cns[0].BlockStore().Height(); top > h {
				committed.Add(int64(node.CommittedTxs(cns[0], h, top)))
				for ; h < top; h++ {
					if m := cns[0].BlockStore().LoadBlockMeta(h + 1); m != nil && !m.Header.Time.Before(from) {
						inWindow.Add(1)
					}
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for _, sub := range subs {
		for range o.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() && ctx.Err() == nil {
					if sent.Load()-committed.Load() >= int64(depth) {
						time.Sleep(time.Millisecond)
						continue
					}
					sent.Add(1)
					raw := next()
					if raw == nil {
						ranOut.CompareAndSwap(0, time.Now().UnixNano())
						return
					}
					for {
						err := sub(ctx, raw)
						if err == nil {
							break
						}
						if mempoolFull(err) {
							if stop.Load() {
								return
							}
							time.Sleep(5 * time.Millisecond)
							continue
						}
						if ctx.Err() == nil {
							once.Do(func() { firstErr = err; cancel() })
						}
						return
					}
				}
			}()
		}
	}
	// The window closes at its planned end once it holds at least three
	// blocks (slow blocks lengthen a short window), or when the signed
	// transactions run out. Node 1's mempool depth is sampled through it.
	row.MinDepth = -1
	tick := time.NewTicker(10 * time.Millisecond)
	var end, opened time.Time
	var cpu0 time.Duration
	for ctx.Err() == nil {
		now := <-tick.C
		if opened.IsZero() && !now.Before(from) {
			opened, cpu0 = now, cpuTime()
		}
		if t := ranOut.Load(); t != 0 {
			end, row.Exhausted = time.Unix(0, t), true
			break
		}
		if !now.Before(to) && inWindow.Load() >= 3 {
			end = now
			break
		}
		if now.After(from) {
			if d := cns[0].Mempool().Size(); row.MinDepth < 0 || d < row.MinDepth {
				row.MinDepth = d
			}
		}
	}
	tick.Stop()
	if cpu := cpuTime(); !opened.IsZero() && cpu0 > 0 && end.After(opened) {
		row.Cores = (cpu - cpu0).Seconds() / end.Sub(opened).Seconds()
	}
	stop.Store(true)
	wg.Wait()
	if firstErr != nil {
		return row, ptoy.E("bench.steady", ptoy.Other, "submitting", firstErr)
	}
	if ctx.Err() != nil {
		return row, ctx.Err()
	}
	if !end.After(from) {
		return row, ptoy.E("bench.steady", ptoy.Invalid, "the signed transactions ran out during the warm-up: raise MaxTxs or shorten the warm-up")
	}
	// Wait for a block after the window, so that every block in it is
	// committed.
	deadline := time.Now().Add(time.Minute)
	for {
		h := cns[0].BlockStore().Height()
		if m := cns[0].BlockStore().LoadBlockMeta(h); m != nil && m.Header.Time.After(end) {
			break
		}
		if time.Now().After(deadline) {
			return row, ptoy.E("bench.steady", ptoy.Unavailable, "no block after the window within a minute")
		}
		if err := waitBlocks(ctx, cns[0], h+1); err != nil {
			return row, err
		}
	}
	env, err := cns[0].ConfigureRPC()
	if err != nil {
		return row, ptoy.E("bench.steady", ptoy.Other, err)
	}
	var first, last time.Time
	for h := h0 + 1; h <= cns[0].BlockStore().Height(); h++ {
		m := cns[0].BlockStore().LoadBlockMeta(h)
		if m == nil || m.Header.Time.Before(from) || m.Header.Time.After(end) {
			continue
		}
		row.Blocks++
		if c := cns[0].BlockStore().LoadBlockCommit(h); c != nil && c.Round > 0 {
			row.Late++
		}
		if first.IsZero() {
			first = m.Header.Time // its transactions came before the window
			continue
		}
		last = m.Header.Time
		res, err := env.StateStore.LoadFinalizeBlockResponse(h)
		if err != nil {
			return row, ptoy.E("bench.steady", ptoy.Other, fmt.Sprintf("results of block %d", h), err)
		}
		for _, r := range res.TxResults {
			if r.Code == 0 {
				row.Txs++
			}
		}
	}
	if row.Blocks < 2 {
		return row, ptoy.E("bench.steady", ptoy.Unavailable, fmt.Sprintf("only %d blocks in a %v window: lengthen it", row.Blocks, end.Sub(from)))
	}
	row.Window = last.Sub(first)
	row.MinDepth = max(row.MinDepth, 0)
	return row, nil
}
