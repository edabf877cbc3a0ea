package abciapp

import (
	"github.com/cometbft/cometbft/crypto"

	"ptoy/tx"
)

type cryptoPubKey = crypto.PubKey

// checkedTxs remembers the transactions CheckTx decoded and verified,
// by their raw bytes, until a block commits them or the mempool drops
// them. CometBFT checks every waiting transaction again after each block
// (recheck), the proposer orders them (PrepareProposal) and
// FinalizeBlock applies them: none of these decodes a transaction or
// verifies its signatures again. The ledger never modifies a transaction
// it applies (its tests check), so one decoded *tx.Tx serves them all.
//
// Bounded: two generations of at most n transactions; when the current
// one is full it becomes the old one and the old one is forgotten.
type checkedTxs struct {
	cur, old map[string]*tx.Tx
	n        int
}

func newCheckedTxs(n int) *checkedTxs {
	return &checkedTxs{cur: map[string]*tx.Tx{}, old: map[string]*tx.Tx{}, n: n}
}

// get returns the checked transaction whose encoding is raw, or nil.
func (c *checkedTxs) get(raw []byte) *tx.Tx {
	if t, ok := c.cur[string(raw)]; ok {
		return t
	}
	t, ok := c.old[string(raw)]
	if !ok {
		return nil
	}
	delete(c.old, string(raw))
	c.add(t)
	return t
}

// add remembers t, which CheckTx decoded and verified.
func (c *checkedTxs) add(t *tx.Tx) {
	if len(c.cur) >= c.n {
		c.old, c.cur = c.cur, make(map[string]*tx.Tx, c.n)
	}
	c.cur[string(t.Raw)] = t
}

// take returns the checked transaction whose encoding is raw, or nil,
// and forgets it (a block commits it).
func (c *checkedTxs) take(raw []byte) *tx.Tx {
	t, ok := c.cur[string(raw)]
	if !ok {
		t = c.old[string(raw)]
	}
	c.remove(raw)
	return t
}

// remove forgets the transaction whose encoding is raw.
func (c *checkedTxs) remove(raw []byte) {
	delete(c.cur, string(raw))
	delete(c.old, string(raw))
}
