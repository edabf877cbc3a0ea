package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRun runs a small measurement end to end: both applications commit
// every transaction and the report has a row for each. It asserts no
// speed; `ptoy bench` prints the figures.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n := 200
	if s := os.Getenv("PTOY_BENCH_TXS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	rep, err := Run(ctx, Options{Dir: t.TempDir(), Validators: validators(), Txs: n})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2*len(validators()) || rep.Rows[0].Txs != n || rep.Rows[1].Txs != n {
		t.Fatalf("rows %+v", rep.Rows)
	}
	if rep.StateBytesPerPatient <= 0 {
		t.Errorf("state bytes per patient %v", rep.StateBytesPerPatient)
	}
	var b strings.Builder
	rep.Print(&b)
	t.Log("\n" + b.String())
}

// validators is 1, or the list in PTOY_BENCH_VALIDATORS (for profiling).
func validators() []int {
	var out []int
	for _, f := range strings.Split(os.Getenv("PTOY_BENCH_VALIDATORS"), ",") {
		if v, err := strconv.Atoi(f); err == nil {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		out = []int{1}
	}
	return out
}
