package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTransfers runs a small transfer measurement end to end: every
// transfer is committed and applied (RunTransfers checks the accounts'
// sequence numbers and the supply) and the report has a row per network
// size. It asserts no speed; `ptoy bench --transfers` prints the figures.
func TestTransfers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n := 300
	if s := os.Getenv("PTOY_BENCH_TXS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	rep, err := RunTransfers(ctx, Options{Dir: t.TempDir(), Validators: validators(), Txs: n})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != len(validators()) {
		t.Fatalf("rows %+v", rep.Rows)
	}
	for _, r := range rep.Rows {
		if r.App != TransferApp || r.Txs != n || r.Elapsed <= 0 {
			t.Errorf("row %+v", r)
		}
	}
	var b strings.Builder
	rep.Print(&b)
	t.Log("\n" + b.String())
}

// TestGrants runs a small grant measurement end to end: every grant is
// committed and applied (RunGrants checks each on the ledger).
func TestGrants(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunGrants(ctx, Options{Dir: t.TempDir(), Validators: []int{1}, Txs: 200})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].App != GrantApp || rep.Rows[0].Txs != 200 {
		t.Fatalf("rows %+v", rep.Rows)
	}
}
