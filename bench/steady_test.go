package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/mempool"

	"ptoy"
)

// TestRunSteady runs a short steady-state measurement: both applications
// commit transactions in the window, ptoy's all applied (only successful
// results count), and each round has its row. It asserts no speed.
func TestRunSteady(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := SteadyOptions{Dir: t.TempDir(), Validators: validators(), Warmup: 300 * time.Millisecond, Duration: time.Second, Rounds: 1}
	if s := os.Getenv("PTOY_BENCH_DEPTH"); s != "" {
		o.Depth, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("PTOY_BENCH_DURATION"); s != "" {
		o.Duration, _ = time.ParseDuration(s)
	}
	rep, err := RunSteady(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2*len(validators()) {
		t.Fatalf("rows %+v", rep.Rows)
	}
	for _, r := range rep.Rows {
		if r.Txs <= 0 || r.Blocks < 2 || r.Window <= 0 || r.Timeouts != "short" {
			t.Errorf("row %+v", r)
		}
	}
	if rep.TxBytes < 1000 {
		t.Errorf("transactions of %d bytes", rep.TxBytes)
	}
	var b strings.Builder
	rep.Print(&b)
	t.Log("\n" + b.String())

	// CometBFT's default timeouts: blocks a second or more apart, so the
	// window stretches to hold three.
	o.Validators, o.DefaultTimeouts = []int{1}, true
	rep, err = RunSteady(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		if r.Txs <= 0 || r.Blocks < 3 || r.Timeouts != "default" {
			t.Errorf("row with default timeouts %+v", r)
		}
	}
}

// TestMempoolFull: submitters tell CometBFT's full mempool, as its RPC
// and ptoy's node pass it on, from a rejection, and wait it out.
func TestMempoolFull(t *testing.T) {
	full := mempool.ErrMempoolIsFull{NumTxs: 50000, MaxTxs: 50000}
	rpc := fmt.Errorf("error on broadcastTxSync: %v", full)
	if !mempoolFull(rpc) || !mempoolFull(ptoy.E("node.Submit", ptoy.Unavailable, "the node could not take the transaction", rpc)) {
		t.Errorf("a full mempool not recognised")
	}
	if mempoolFull(ptoy.E("bench", ptoy.Invalid, "invalid signature")) {
		t.Errorf("a rejection taken for a full mempool")
	}
}
