package abciapp

import (
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
	kv, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer kv.Close()
	l, err := ledger.Open(kv)
	if err != nil {
		b.Fatal(err)
	}
	org, err := keys.Generate(keys.KEMHybrid)
	if err != nil {
		b.Fatal(err)
	}
	g := &pb.Genesis{Orgs: []*pb.GenesisOrg{{Name: "General Hospital", Kind: pb.OrgKind_ORG_KIND_HOSPITAL,
		SigningKey: org.SigningPublic(), Kem: &pb.KemKey{Alg: uint32(org.KEMAlg()), Key: org.KEMPublic()}}}}
	gj, _ := protojson.Marshal(g)
	a := New(l, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if _, err := a.InitChain(ctx, &abci.RequestInitChain{ChainId: "bench", AppStateBytes: gj, Time: time.Now()}); err != nil {
		b.Fatal(err)
	}
	n := (b.N+1)*block + backlog
	txs := make([][]byte, n)
	for i := range txs {
		p, err := keys.Generate(keys.KEMHybrid)
		if err != nil {
			b.Fatal(err)
		}
		tag := make([]byte, 32)
		rand.Read(tag)
		if txs[i], err = tx.Sign("bench", &pb.Body{Sequence: 1, Msg: &pb.Body_RegisterPatient{RegisterPatient: &pb.RegisterPatient{
			Kem: &pb.KemKey{Alg: uint32(p.KEMAlg()), Key: p.KEMPublic()}, Registrar: org.ID().Bytes(), PhoneTag: tag,
		}}}, p, org); err != nil {
			b.Fatal(err)
		}
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
