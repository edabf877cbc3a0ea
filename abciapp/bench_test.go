package abciapp

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"google.golang.org/protobuf/encoding/protojson"

	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/ledger"
	"ptoy/store"
	"ptoy/tx"
)

// newTestApp returns an application on a fresh ledger in a temporary
// directory with one organisation, General Hospital, and a function
// that returns a new patient's signed registration attested by it.
func newTestApp(tb testing.TB) (*App, func() []byte) {
	tb.Helper()
	gj, registration := testGenesis(tb)
	return appFromGenesis(tb, gj), registration
}

// testGenesis returns the genesis app state of newTestApp and its
// registration function.
func testGenesis(tb testing.TB) ([]byte, func() []byte) {
	tb.Helper()
	org, err := keys.Generate(keys.KEMHybrid)
	if err != nil {
		tb.Fatal(err)
	}
	g := &pb.Genesis{Orgs: []*pb.GenesisOrg{{Name: "General Hospital", Kind: pb.OrgKind_ORG_KIND_HOSPITAL,
		SigningKey: org.SigningPublic(), Kem: &pb.KemKey{Alg: uint32(org.KEMAlg()), Key: org.KEMPublic()}}}}
	gj, _ := protojson.Marshal(g)
	return gj, func() []byte {
		p, err := keys.Generate(keys.KEMHybrid)
		if err != nil {
			tb.Fatal(err)
		}
		tag := make([]byte, 32)
		rand.Read(tag)
		raw, err := tx.Sign("bench", &pb.Body{Sequence: 1, Msg: &pb.Body_RegisterPatient{RegisterPatient: &pb.RegisterPatient{
			Kem: &pb.KemKey{Alg: uint32(p.KEMAlg()), Key: p.KEMPublic()}, Registrar: org.ID().Bytes(), PhoneTag: tag,
		}}}, p, org)
		if err != nil {
			tb.Fatal(err)
		}
		return raw
	}
}

// TestBlockOfUncheckedTransactions: a block of transactions this node
// never checked is verified as a batch; when a signature in it is bad,
// each is verified on its own by the same rules, and only the bad one
// fails.
func TestBlockOfUncheckedTransactions(t *testing.T) {
	a, registration := newTestApp(t)
	good, bad := registration(), registration()
	bad = bytes.Clone(bad)
	bad[len(bad)-5] ^= 1 // inside the last signature
	res, err := a.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{Height: 1, Time: time.Now(), Txs: [][]byte{good, bad}})
	if err != nil {
		t.Fatal(err)
	}
	if res.TxResults[0].Code != 0 || res.TxResults[1].Code == 0 {
		t.Fatalf("codes %d (%s) and %d (%s), want success and a failure", res.TxResults[0].Code, res.TxResults[0].Log, res.TxResults[1].Code, res.TxResults[1].Log)
	}
	t.Logf("the bad one: %s", res.TxResults[1].Log)
}

// appFromGenesis returns an application on a fresh ledger in a
// temporary directory, initialised with the genesis app state gj.
func appFromGenesis(tb testing.TB, gj []byte) *App {
	tb.Helper()
	kv, err := store.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { kv.Close() })
	l, err := ledger.Open(kv)
	if err != nil {
		tb.Fatal(err)
	}
	a := New(l, slog.New(slog.DiscardHandler))
	if _, err := a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: "bench", AppStateBytes: gj, Time: time.Unix(1_700_000_000, 0)}); err != nil {
		tb.Fatal(err)
	}
	return a
}

// BenchmarkRegisterPatient drives one node's application as CometBFT
// does under a steady load of signed RegisterPatient transactions (the
// `ptoy bench` ledger load): each block's transactions are checked as
// they arrive, the block is finalized and committed, and the next
// block's transactions still waiting are checked again (recheck). It
// prints the time per transaction of each step (recheck: per
// transaction checked again; all: per committed transaction; cpu: the
// process's CPU time, background work included, per committed
// transaction).
//
//	go test -run '^$' -bench RegisterPatient -benchtime 5x ./abciapp
func BenchmarkRegisterPatient(b *testing.B) {
	const block, backlog = 600, 1000
	a, registration := newTestApp(b)
	ctx := context.Background()
	n := (b.N+1)*block + backlog
	txs := make([][]byte, n)
	for i := range txs {
		txs[i] = registration()
	}
	check := func(raw []byte, typ abci.CheckTxType) {
		r, err := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: raw, Type: typ})
		if err != nil || r.Code != 0 {
			b.Fatalf("check: %v %v", r, err)
		}
	}
	var tCheck, tRecheck, tFinal, tCommit time.Duration
	next := 0
	for next < backlog {
		check(txs[next], abci.CheckTxType_New)
		next++
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for h := int64(1); h <= int64(b.N); h++ {
		first := int(h-1) * block
		t0 := time.Now()
		for next < first+block+backlog {
			check(txs[next], abci.CheckTxType_New)
			next++
		}
		t1 := time.Now()
		res, err := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: h, Time: time.Now(), Txs: txs[first : first+block]})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res.TxResults {
			if r.Code != 0 {
				b.Fatalf("block %d: %s", h, r.Log)
			}
		}
		t2 := time.Now()
		if _, err := a.Commit(ctx, &abci.RequestCommit{}); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		for _, raw := range txs[first+block : next] {
			check(raw, abci.CheckTxType_Recheck)
		}
		t4 := time.Now()
		tCheck += t1.Sub(t0)
		tFinal += t2.Sub(t1)
		tCommit += t3.Sub(t2)
		tRecheck += t4.Sub(t3)
	}
	cpu := cpuTime() - cpu0
	per := func(d time.Duration, count int) float64 { return float64(d.Microseconds()) / float64(count) }
	nb := b.N * block
	b.ReportMetric(per(tCheck, nb), "check-us/tx")
	b.ReportMetric(per(tFinal, nb), "finalize-us/tx")
	b.ReportMetric(per(tCommit, nb), "commit-us/tx")
	b.ReportMetric(per(tRecheck, b.N*backlog), "recheck-us/tx")
	b.ReportMetric(per(tCheck+tFinal+tCommit+tRecheck, nb), "all-us/tx")
	b.ReportMetric(per(cpu, nb), "cpu-us/tx")
}
