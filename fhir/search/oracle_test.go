package search

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ptoy/internal/npmdeps"
)

// TestFHIRPathOracle evaluates every parameter of the registry over every
// official example of the supported types, here and with HL7's FHIRPath in
// JavaScript (npm fhirpath), and checks that both find the same values.
func TestFHIRPathOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node over the official examples")
	}
	modules := npmdeps.Dir(t) // tools/npm.sh installs Node.js where it is missing
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed: install Node.js (Debian: apt-get install nodejs)")
	}
	dir := filepath.Join(modules, "hl7.fhir.r4.examples")
	r := Default()
	type job struct {
		File  string   `json:"file"`
		Exprs []string `json:"exprs"`
		typ   string
		res   map[string]any
	}
	var jobs []job
	for _, typ := range r.Types() {
		files, err := filepath.Glob(filepath.Join(dir, typ+"-*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res := decode(t, data)
			if res["resourceType"] != typ {
				continue
			}
			j := job{File: f, typ: typ, res: res}
			for _, p := range r.types[typ].params {
				j.Exprs = append(j.Exprs, p.Expression)
			}
			jobs = append(jobs, j)
		}
	}
	in, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join("testdata", "fhirpath-oracle.cjs"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.Bytes())
	}
	var results [][]json.RawMessage
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatal(err)
	}
	compared, differ, refused := 0, 0, 0
	for i, j := range jobs {
		tp := r.types[j.typ]
		for k, e := range tp.exprs {
			var want []string
			if err := json.Unmarshal(results[i][k], &want); err != nil {
				// fhirpath.js refuses some values, such as a Quantity with
				// a comparator ("Cannot convert a FHIR.Quantity that has a
				// comparator"): nothing to compare with.
				msg := string(results[i][k])
				t.Logf("%s %s: fhirpath.js: %s", filepath.Base(j.File), tp.params[k].Name, msg[:min(len(msg), 200)])
				refused++
				continue
			}
			var got []string
			for _, it := range e.eval(tp, j.res, nil) {
				got = append(got, canonical(t, it.v))
			}
			// FHIRPath's | removes duplicates; Extract keeps each value of
			// a parameter once. Compare the sets.
			slices.Sort(got)
			got, want = slices.Compact(got), slices.Compact(want)
			compared++
			if reason := oracleDiffers[filepath.Base(j.File)+" "+tp.params[k].Name]; reason != "" {
				t.Logf("%s %s: not compared: %s", filepath.Base(j.File), tp.params[k].Name, reason)
				continue
			}
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				differ++
				if differ <= 20 {
					t.Errorf("%s %s (%s):\n here       %v\n fhirpath.js %v", filepath.Base(j.File), tp.params[k].Name,
						tp.params[k].Expression, got, want)
				}
			}
		}
	}
	t.Logf("%d files, %d (resource, parameter) pairs compared, %d differ, %d refused by fhirpath.js", len(jobs), compared, differ, refused)
	if refused > 10 {
		t.Errorf("fhirpath.js refused %d pairs", refused)
	}
	if compared < 1000 {
		t.Errorf("only %d pairs compared", compared)
	}
}

// oracleDiffers are the pairs where fhirpath.js is wrong, and why.
var oracleDiffers = map[string]string{
	"Observation-decimal.json combo-value-quantity":     "fhirpath.js's | takes 1e-245 g and 1e-22 g for equal and keeps one",
	"Observation-decimal.json component-value-quantity": "fhirpath.js's | takes 1e-245 g and 1e-22 g for equal and keeps one",
}

// canonical is v as JSON with numbers as JavaScript writes them.
func canonical(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var plain any
	if err := json.Unmarshal(b, &plain); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(plain); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(out.String(), "\n")
}
