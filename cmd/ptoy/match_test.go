package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// febrlFile returns the path of a FEBRL file in ../shared/data/febrl
// beside the module, failing if the shared data are not there.
func febrlFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "data", "febrl", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: this test needs the shared data directory beside the repository (../shared/data)", p)
	}
	return p
}

func runPtoy(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) (string, bool) { return "", false }}
	code = run(e, args)
	return code, out.String(), errb.String()
}

// ptoy match eval on FEBRL dataset4a against dataset4b meets the bar of
// the issue at the model's own thresholds: precision at least 0.999,
// recall at least 0.97; blocking keeps at least 99% of true pairs.
func TestMatchEvalFEBRL(t *testing.T) {
	a, b := febrlFile(t, "dataset4a.csv"), febrlFile(t, "dataset4b.csv")
	code, out, errs := runPtoy("match", "eval", a, b, "--json")
	if code != 0 {
		t.Fatalf("ptoy match eval: exit %d: %s", code, errs)
	}
	var r struct {
		TruePairs        int     `json:"true_pairs"`
		Precision        float64 `json:"precision"`
		Recall           float64 `json:"recall"`
		PairCompleteness float64 `json:"pair_completeness"`
		ReductionRatio   float64 `json:"reduction_ratio"`
		Review           int     `json:"review"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("%+v", r)
	if r.TruePairs != 5000 || r.Precision < 0.999 || r.Recall < 0.97 || r.PairCompleteness < 0.99 || r.ReductionRatio < 0.999 {
		t.Errorf("ptoy match eval: %s", out)
	}

	// The table names every figure; a lower link threshold trades
	// precision for recall.
	code, out, errs = runPtoy("match", "eval", a, b, "--link", "-20", "--review", "-30", "--weights")
	if code != 0 {
		t.Fatalf("ptoy match eval --link -20: exit %d: %s", code, errs)
	}
	for _, want := range []string{"pair completeness", "reduction ratio", "link at -20.00", "precision", "recall", "F1", "review from -30.00", "date of birth"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "precision 1.0000") {
		t.Errorf("a link threshold of -20 still gives precision 1:\n%s", out)
	}
}

func TestMatchEvalBadInput(t *testing.T) {
	dir := t.TempDir()
	notFEBRL := filepath.Join(dir, "x.csv")
	os.WriteFile(notFEBRL, []byte("id,name\n1,a\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"match", "eval", notFEBRL}, "needs A.csv B.csv"},
		{[]string{"match", "eval", filepath.Join(dir, "none.csv"), notFEBRL}, "cannot read"},
		{[]string{"match", "eval", notFEBRL, notFEBRL}, "a FEBRL file has 11"},
		{[]string{"match", "eval", notFEBRL, notFEBRL, "--link", "high"}, `--link "high" is not a number`},
		{[]string{"match"}, "needs a subcommand"},
	} {
		code, _, errs := runPtoy(c.args...)
		if code != 1 || !strings.Contains(errs, c.want) || !strings.HasPrefix(errs, "ptoy: error: ") {
			t.Errorf("ptoy %s: exit %d, %q; want exit 1 and %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
}
