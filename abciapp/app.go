// Package abciapp runs the ledger under CometBFT: it is the only package
// that speaks ABCI. CheckTx decodes, verifies signatures and applies the
// transaction to a scratch copy of the state so that the mempool holds
// only transactions that would succeed now, and keeps the decoded
// transaction for the recheck, the proposal and the block; FinalizeBlock
// verifies in a batch whatever this node has not verified yet, applies
// the block and returns the app hash; Commit makes it durable.
package abciapp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/crypto/ed25519"
	"google.golang.org/protobuf/encoding/protojson"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
	"ptoy/tx"
)

// Codespace names ptoy's result codes in CometBFT's results.
const Codespace = "ptoy"

// Result is the committed outcome of a transaction.
type Result struct {
	Height int64
	Code   uint32
	Log    string
}

// App is the ABCI application. CometBFT calls it through a mutex per
// connection (proxy.NewConnSyncLocalClientCreator; see ConnSafe): CheckTx
// may run while the consensus connection works on a block, but not
// during Commit and its recheck, which hold the mempool's lock. Wait and
// Cancel may be called at any time.
type App struct {
	abci.BaseApplication
	l   *ledger.Ledger
	log *slog.Logger

	check    *ledger.Block // CheckTx's scratch state on top of the committed one
	block    *ledger.Block // the block between FinalizeBlock and Commit
	results  map[[32]byte]Result
	codes    []uint32   // the block's result codes, in order
	cmu      sync.Mutex // guards check and checked
	checked  *checkedTxs
	onResult func(code uint32)

	mu      sync.Mutex
	waiters map[[32]byte][]chan Result
}

// New returns the application over l.
func New(l *ledger.Ledger, log *slog.Logger) *App {
	a := &App{l: l, log: log, checked: newCheckedTxs(1 << 13), waiters: map[[32]byte][]chan Result{}}
	a.resetCheck()
	return a
}

// ConnSafe marks the app as safe to call through CometBFT's
// per-connection mutexes (proxy.NewConnSyncLocalClientCreator): CheckTx
// may run while the consensus connection prepares, processes or
// finalizes a block.
func (a *App) ConnSafe() {}

// OnResult sets fn to be called with the result code of each
// transaction once its block is committed (metrics); call it before
// CometBFT starts. fn must be quick.
func (a *App) OnResult(fn func(code uint32)) { a.onResult = fn }

// Ledger returns the ledger the app runs.
func (a *App) Ledger() *ledger.Ledger { return a.l }

func (a *App) resetCheck() {
	h, _ := a.l.Height()
	a.check = a.l.Begin(h+1, a.l.BlockTime())
}

// Info reports the last committed height and app hash, so that CometBFT
// replays what the app is missing after a crash.
func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	h, hash := a.l.Height()
	return &abci.ResponseInfo{Data: "ptoy", Version: "1", AppVersion: 1, LastBlockHeight: h, LastBlockAppHash: hash}, nil
}

// InitChain loads the genesis app state (protobuf JSON of ptoy.v1.Genesis).
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	if h, hash := a.l.Height(); h == 0 && a.l.ChainID() == req.ChainId {
		// Initialised before a crash that came ahead of block 1.
		return &abci.ResponseInitChain{AppHash: hash}, nil
	}
	g := new(pb.Genesis)
	if err := protojson.Unmarshal(req.AppStateBytes, g); err != nil {
		return nil, fmt.Errorf("genesis app state: %w", err)
	}
	hash, err := a.l.InitChain(req.ChainId, g, req.Time)
	if err != nil {
		return nil, err
	}
	a.cmu.Lock()
	a.resetCheck()
	a.cmu.Unlock()
	return &abci.ResponseInitChain{AppHash: hash}, nil
}

// CheckTx admits a transaction to the mempool if it would apply now. It
// decodes and verifies a transaction it has not met before without the
// app's lock, so that the consensus connection's calls do not wait for
// signature checks; the mempool connection calls it one at a time.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	a.cmu.Lock()
	t := a.checked.get(req.Tx)
	a.cmu.Unlock()
	fresh := t == nil
	if fresh {
		var err error
		if t, err = a.decodeVerify(req.Tx); err != nil {
			return &abci.ResponseCheckTx{Code: tx.Code(err), Log: ptoy.Message(err), Codespace: Codespace}, nil
		}
	}
	a.cmu.Lock()
	r := a.check.Apply(t)
	switch {
	case r.Code != 0:
		a.checked.remove(req.Tx) // the mempool drops it
	case fresh:
		a.checked.add(t)
	}
	a.cmu.Unlock()
	if r.Code != 0 && req.Type == abci.CheckTxType_Recheck {
		// Dropped from the mempool after a block (a transaction before it
		// of the same signer failed, and its sequence now skips ahead):
		// whoever waits for it is told now rather than never.
		a.mu.Lock()
		for _, ch := range a.waiters[t.Hash] {
			ch <- Result{Code: r.Code, Log: "dropped before it was committed: " + r.Log}
		}
		delete(a.waiters, t.Hash)
		a.mu.Unlock()
	}
	return &abci.ResponseCheckTx{Code: r.Code, Log: r.Log, Codespace: Codespace}, nil
}

// decodeVerify decodes raw and verifies its signatures.
func (a *App) decodeVerify(raw []byte) (*tx.Tx, error) {
	t, err := tx.Decode(raw)
	if err == nil {
		err = a.verify(t)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// decode returns raw decoded, the checked transaction if CheckTx has
// it; its signatures may be unverified.
func (a *App) decode(raw []byte) (*tx.Tx, error) {
	a.cmu.Lock()
	t := a.checked.get(raw)
	a.cmu.Unlock()
	if t != nil {
		return t, nil
	}
	return tx.Decode(raw)
}

// verify checks t's signatures in one batch of CometBFT's verifier,
// which keeps the keys it met expanded (an organisation co-signs every
// registration it attests). For the two signatures of a registration it
// measured as fast as single verifications with an expanded key cache of
// our own, and faster when several validators share a process (and so
// CometBFT's cache); crypto/ed25519 is slower (BenchmarkVerifyRegistration).
func (a *App) verify(t *tx.Tx) error {
	bv := ed25519.NewBatchVerifier()
	addSignatures(bv, a.l.ChainID(), t)
	if ok, _ := bv.Verify(); !ok {
		if err := t.Verify(a.l.ChainID()); err != nil {
			return err // says which signature is bad
		}
		return ptoy.E("abciapp.verify", ptoy.Unauthenticated, "a signature does not verify")
	}
	t.MarkVerified()
	return nil
}

func addSignatures(bv interface {
	Add(key cryptoPubKey, msg, sig []byte) error
}, chainID string, t *tx.Tx) {
	msg := tx.SigningBytes(chainID, t.Envelope.Body)
	bv.Add(ed25519.PubKey(t.Envelope.Signer), msg, t.Envelope.Signature)
	for _, c := range t.Envelope.Cosignatures {
		bv.Add(ed25519.PubKey(c.Signer), msg, c.Signature)
	}
}

// FinalizeBlock applies a decided block.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	b := a.l.Begin(req.Height, req.Time)
	chainID := a.l.ChainID()
	txs := make([]*tx.Tx, len(req.Txs))
	errs := make([]error, len(req.Txs))
	bv := ed25519.NewBatchVerifier()
	var pending []int
	a.cmu.Lock()
	for i, raw := range req.Txs {
		txs[i] = a.checked.take(raw) // decoded and verified by CheckTx
	}
	a.cmu.Unlock()
	for i, raw := range req.Txs {
		if txs[i] != nil {
			continue
		}
		t, err := tx.Decode(raw)
		if err != nil {
			errs[i] = err
			continue
		}
		txs[i] = t
		addSignatures(bv, chainID, t)
		pending = append(pending, i)
	}
	if len(pending) > 0 {
		if ok, _ := bv.Verify(); ok {
			for _, i := range pending {
				txs[i].MarkVerified()
			}
		} else {
			// Each on its own, by the same rules as the batch and as
			// CheckTx (ZIP-215): crypto/ed25519 is stricter, and a
			// signature only it refuses would split the nodes that
			// verified it in CheckTx from those that did not.
			for _, i := range pending {
				errs[i] = a.verify(txs[i])
			}
		}
	}
	a.results = make(map[[32]byte]Result, len(req.Txs))
	out := make([]*abci.ExecTxResult, len(req.Txs))
	a.codes = a.codes[:0]
	for i := range req.Txs {
		var r ledger.Result
		if errs[i] != nil {
			r = ledger.Result{Code: tx.Code(errs[i]), Log: ptoy.Message(errs[i])}
		} else {
			r = b.Apply(txs[i])
		}
		out[i] = &abci.ExecTxResult{Code: r.Code, Log: r.Log, Codespace: Codespace}
		a.codes = append(a.codes, r.Code)
		if txs[i] != nil {
			out[i].Events = []abci.Event{{Type: "ptoy", Attributes: []abci.EventAttribute{{Key: "type", Value: tx.Name(txs[i].Body), Index: false}}}}
			a.results[txs[i].Hash] = Result{Height: req.Height, Code: r.Code, Log: r.Log}
		}
	}
	hash := b.Finish()
	a.block = b
	var vu []abci.ValidatorUpdate
	for _, u := range b.ValidatorUpdates() {
		vu = append(vu, abci.UpdateValidator(u.PubKey, u.Power, "ed25519"))
	}
	return &abci.ResponseFinalizeBlock{TxResults: out, AppHash: hash, ValidatorUpdates: vu}, nil
}

// Commit makes the finalized block durable, then tells the waiters.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	if a.block == nil {
		return &abci.ResponseCommit{}, nil
	}
	a.cmu.Lock()
	err := a.l.Commit(a.block)
	if err == nil {
		a.resetCheck()
	}
	a.cmu.Unlock()
	if err != nil {
		return nil, err
	}
	a.block = nil
	if a.onResult != nil {
		for _, c := range a.codes {
			a.onResult(c)
		}
	}
	a.mu.Lock()
	for h, r := range a.results {
		for _, ch := range a.waiters[h] {
			ch <- r
		}
		delete(a.waiters, h)
	}
	a.mu.Unlock()
	a.results = nil
	return &abci.ResponseCommit{}, nil
}

// Wait returns a channel that receives the transaction's result once the
// block that holds it is committed on this node. Call Cancel if you stop
// waiting before then.
func (a *App) Wait(hash [32]byte) <-chan Result {
	ch := make(chan Result, 1)
	a.mu.Lock()
	a.waiters[hash] = append(a.waiters[hash], ch)
	a.mu.Unlock()
	return ch
}

// Cancel stops a Wait.
func (a *App) Cancel(hash [32]byte, ch <-chan Result) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ws := a.waiters[hash]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(a.waiters, hash)
	} else {
		a.waiters[hash] = ws
	}
}
