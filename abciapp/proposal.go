package abciapp

import (
	"context"
	"slices"

	abci "github.com/cometbft/cometbft/abci/types"

	"ptoy/tx"
)

// PrepareProposal takes the mempool's transactions up to the block's byte
// limit and puts each signer's transactions in sequence order. CometBFT's
// mempool can hold one account's transactions out of order when they
// reach a node from several peers at once; in a block they would then
// fail ("sequence N skips ahead"). Transactions keep their relative order
// otherwise: each signer's run takes the places its transactions had.
func (a *App) PrepareProposal(_ context.Context, req *abci.RequestPrepareProposal) (*abci.ResponsePrepareProposal, error) {
	var txs [][]byte
	var size int64
	for _, raw := range req.Txs {
		size += int64(len(raw))
		if size > req.MaxTxBytes {
			break
		}
		txs = append(txs, raw)
	}
	return &abci.ResponsePrepareProposal{Txs: orderBySequence(txs, a.decode)}, nil
}

// orderBySequence sorts each signer's transactions by sequence number in
// the slots they occupy; undecodable ones stay where they are.
func orderBySequence(txs [][]byte, decode func([]byte) (*tx.Tx, error)) [][]byte {
	type item struct {
		slot int
		seq  uint64
		raw  []byte
	}
	bySigner := map[string][]item{}
	var signers []string
	for i, raw := range txs {
		t, err := decode(raw)
		if err != nil {
			continue
		}
		k := string(t.Signer())
		if _, ok := bySigner[k]; !ok {
			signers = append(signers, k)
		}
		bySigner[k] = append(bySigner[k], item{slot: i, seq: t.Body.Sequence, raw: raw})
	}
	out := slices.Clone(txs)
	for _, k := range signers {
		items := bySigner[k]
		if len(items) < 2 {
			continue
		}
		slots := make([]int, len(items))
		for i, it := range items {
			slots[i] = it.slot
		}
		slices.SortStableFunc(items, func(x, y item) int {
			switch {
			case x.seq < y.seq:
				return -1
			case x.seq > y.seq:
				return 1
			}
			return 0
		})
		for i, it := range items {
			out[slots[i]] = it.raw
		}
	}
	return out
}
