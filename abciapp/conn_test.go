package abciapp

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
)

// TestCheckTxBesideConsensus plays CometBFT's mempool and consensus
// connections at once, as proxy.NewConnSyncLocalClientCreator lets them
// run: new transactions are checked on one goroutine while another
// prepares, finalizes and commits blocks of those already checked. As
// in CometBFT, Commit and the recheck that follows hold the mempool's
// lock, which CheckTx takes for reading. Every transaction is committed
// once and succeeds, and a second app that only replays the same blocks
// reaches the same app hash at every height: checking beside a block
// changes nothing in it. Run it with -race too.
func TestCheckTxBesideConsensus(t *testing.T) {
	gj, registration := testGenesis(t)
	a, replay := appFromGenesis(t, gj), appFromGenesis(t, gj)
	const n = 400
	raws := make([][]byte, n)
	for i := range raws {
		raws[i] = registration()
	}
	ctx := context.Background()

	var update sync.RWMutex // CometBFT's mempool update lock
	var poolMu sync.Mutex
	var pool [][]byte // checked, not yet in a block
	checkErr := make(chan error, 1)
	go func() { // the mempool connection
		defer close(checkErr)
		for _, raw := range raws {
			update.RLock()
			r, err := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: raw, Type: abci.CheckTxType_New})
			if err == nil && r.Code == 0 {
				poolMu.Lock()
				pool = append(pool, raw)
				poolMu.Unlock()
			}
			update.RUnlock()
			if err != nil || r.Code != 0 {
				checkErr <- fmt.Errorf("CheckTx: %v %d %s", err, r.GetCode(), r.GetLog())
				return
			}
		}
	}()

	type block struct {
		txs  [][]byte
		time time.Time
		hash []byte
	}
	var blocks []block
	committed := map[string]int{}
	deadline := time.Now().Add(2 * time.Minute)
	for h := int64(1); len(committed) < n; h++ {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d transactions committed by the deadline", len(committed), n)
		}
		select {
		case err, ok := <-checkErr:
			if ok {
				t.Fatal(err)
			}
		default:
		}
		poolMu.Lock()
		take := slices.Clone(pool[:min(len(pool), 25)])
		poolMu.Unlock()
		pp, err := a.PrepareProposal(ctx, &abci.RequestPrepareProposal{Txs: take, MaxTxBytes: 1 << 30, Height: h})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1_700_000_000+h, 0)
		res, err := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: h, Time: now, Txs: pp.Txs})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res.TxResults {
			if r.Code != 0 {
				t.Fatalf("height %d, transaction %d: %d %s", h, i, r.Code, r.Log)
			}
			committed[string(pp.Txs[i])]++
		}
		update.Lock()
		if _, err := a.Commit(ctx, &abci.RequestCommit{}); err != nil {
			update.Unlock()
			t.Fatal(err)
		}
		poolMu.Lock()
		pool = slices.DeleteFunc(pool, func(x []byte) bool {
			return slices.ContainsFunc(pp.Txs, func(y []byte) bool { return bytes.Equal(x, y) })
		})
		waiting := slices.Clone(pool)
		poolMu.Unlock()
		for _, raw := range waiting { // the recheck
			if r, err := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: raw, Type: abci.CheckTxType_Recheck}); err != nil || r.Code != 0 {
				update.Unlock()
				t.Fatalf("recheck after height %d: %v %d %s", h, err, r.GetCode(), r.GetLog())
			}
		}
		update.Unlock()
		blocks = append(blocks, block{pp.Txs, now, res.AppHash})
	}
	if err := <-checkErr; err != nil {
		t.Fatal(err)
	}
	for _, c := range committed {
		if c != 1 {
			t.Fatalf("a transaction was committed %d times", c)
		}
	}
	for i, b := range blocks {
		h := int64(i + 1)
		res, err := replay.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: h, Time: b.time, Txs: b.txs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := replay.Commit(ctx, &abci.RequestCommit{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(res.AppHash, b.hash) {
			t.Fatalf("height %d: app hash %x checked beside consensus, %x replayed", h, b.hash, res.AppHash)
		}
	}
	t.Logf("%d transactions in %d blocks", n, len(blocks))
}
