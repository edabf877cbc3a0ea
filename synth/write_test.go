package synth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ptoy"
	"ptoy/fhir/resource"
)

// NDJSON: one file per type at each hospital; every line is valid, has
// an id, and every reference points at a resource of the same files.
func TestWriteNDJSON(t *testing.T) {
	dir := t.TempDir()
	var calls int
	sum, err := Write(context.Background(), 4, 30, Options{Duplicates: 0.4}, WriteOptions{Dir: dir, Format: FormatNDJSON,
		Progress: func(p, r int) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Patients != 30 || sum.Copies == 0 || calls == 0 {
		t.Fatalf("summary %+v, %d progress calls", sum, calls)
	}
	for _, h := range []string{"general-hospital", "riverside-clinic"} {
		ids := map[string]bool{}
		var refs []string
		files, _ := filepath.Glob(filepath.Join(dir, h, "*.ndjson"))
		if len(files) < 10 {
			t.Fatalf("%s: %d files", h, len(files))
		}
		for _, f := range files {
			typ := strings.TrimSuffix(filepath.Base(f), ".ndjson")
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(fh)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatal(err)
				}
				if m["resourceType"] != typ {
					t.Fatalf("%s holds a %v", f, m["resourceType"])
				}
				ids[typ+"/"+m["id"].(string)] = true
				walkRefs(m, func(r string) { refs = append(refs, r) })
			}
			fh.Close()
		}
		for _, r := range refs {
			if !ids[r] {
				t.Fatalf("%s: reference %s to nothing", h, r)
			}
		}
	}
	if got := sum.ByType["Patient"]; got != sum.Patients+sum.Copies {
		t.Fatalf("%d Patients written, want %d", got, sum.Patients+sum.Copies)
	}
}

func walkRefs(v any, f func(string)) {
	switch v := v.(type) {
	case map[string]any:
		if r, ok := v["reference"].(string); ok {
			f(r)
		}
		for _, x := range v {
			walkRefs(x, f)
		}
	case []any:
		for _, x := range v {
			walkRefs(x, f)
		}
	}
}

// Bundles: one valid transaction per patient at each hospital, entries
// conditional on their identifier; the truth and the FEBRL files list
// each copy beside its original.
func TestWriteBundlesTruthAndFEBRL(t *testing.T) {
	dir := t.TempDir()
	sum, err := Write(context.Background(), 5, 20, Options{Duplicates: 0.5}, WriteOptions{Dir: dir, Format: FormatBundle})
	if err != nil {
		t.Fatal(err)
	}
	bundles, _ := filepath.Glob(filepath.Join(dir, "general-hospital", "*.json"))
	copies, _ := filepath.Glob(filepath.Join(dir, "riverside-clinic", "*.json"))
	if len(bundles) != 20 || len(copies) != sum.Copies || sum.Copies == 0 {
		t.Fatalf("%d and %d Bundles, summary %+v", len(bundles), len(copies), sum)
	}
	raw, err := os.ReadFile(bundles[0])
	if err != nil {
		t.Fatal(err)
	}
	res, err := resource.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Map["entry"].([]any) {
		e := e.(map[string]any)
		req := e["request"].(map[string]any)
		if req["method"] != "POST" || !strings.HasPrefix(req["ifNoneExist"].(string), "identifier=urn:ptoy:synth:general-hospital:") ||
			!strings.HasPrefix(e["fullUrl"].(string), "urn:uuid:") {
			t.Fatalf("entry %v", e)
		}
	}

	truth := readCSV(t, filepath.Join(dir, "truth.csv"), ',')
	if strings.Join(truth[0], ",") != "source_a,source_b,corruptions,febrl_a,febrl_b" || len(truth)-1 != sum.Copies {
		t.Fatalf("truth.csv: %d rows, header %v", len(truth)-1, truth[0])
	}
	a := readCSV(t, filepath.Join(dir, "febrl-a.csv"), ',')
	b := readCSV(t, filepath.Join(dir, "febrl-b.csv"), ',')
	for _, f := range [][][]string{a, b} {
		if strings.Join(f[0], ",") != strings.ReplaceAll(febrlHeader, ", ", ",") {
			t.Fatalf("FEBRL header %v", f[0])
		}
	}
	if len(a)-1 != 20 || len(b)-1 != sum.Copies {
		t.Fatalf("FEBRL rows %d and %d", len(a)-1, len(b)-1)
	}
	recA := map[string][]string{}
	for _, row := range a[1:] {
		recA[row[0]] = row
	}
	for i, row := range truth[1:] {
		orig, dup := row[3], row[4]
		if recA[orig] == nil || b[i+1][0] != dup || strings.TrimSuffix(orig, "-org") != strings.TrimSuffix(dup, "-dup-0") {
			t.Fatalf("truth row %v does not match the FEBRL files", row)
		}
		if !strings.HasPrefix(row[0], "urn:ptoy:synth:general-hospital:mrn|GH") || !strings.HasPrefix(row[1], "urn:ptoy:synth:riverside-clinic:mrn|RC") {
			t.Fatalf("truth row %v", row)
		}
		for _, k := range strings.Split(row[2], ";") {
			if !Kind(k).valid() {
				t.Fatalf("truth row %v: kind %q", row, k)
			}
		}
	}
	// Writing again into the same directory is refused.
	_, err = Write(context.Background(), 5, 20, Options{Duplicates: 0.5}, WriteOptions{Dir: dir, Format: FormatBundle})
	if ptoy.KindOf(err) != ptoy.Exists {
		t.Fatalf("a second write into %s: %v", dir, err)
	}
}

func readCSV(t *testing.T, name string, sep rune) [][]string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = sep
	r.TrimLeadingSpace = true
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// BenchmarkGenerate measures generation: patients with their histories,
// encoded as transaction Bundles.
func BenchmarkGenerate(b *testing.B) {
	resources := 0
	for i := 0; b.Loop(); i++ {
		p := generate(1, i, Options{}.Defaults())
		if _, err := p.Record.Bundle(); err != nil {
			b.Fatal(err)
		}
		resources += len(p.Record.Resources)
	}
	b.ReportMetric(float64(resources)/b.Elapsed().Seconds(), "resources/s")
	b.ReportMetric(float64(resources)/float64(b.N), "resources/patient")
}

// The generator's own JSON writer writes what encoding/json writes.
func TestJSONAsEncodingJSON(t *testing.T) {
	for _, p := range generateAll(t, 9, 5, Options{}) {
		for _, res := range p.Record.Resources {
			want, err := marshal(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendJSON(nil, res.Body)
			if err != nil || string(got) != string(want) {
				t.Fatalf("%s: %v\n got %s\nwant %s", res.Type, err, got, want)
			}
		}
	}
	odd := map[string]any{"s": "a\"b\\c\n\t\x01é\u2028\xff<&>", "f": []any{0.0, 1e-7, 1e21, -2.5, 3}, "n": nil, "b": false}
	want, _ := marshal(odd)
	if got, err := appendJSON(nil, odd); err != nil || string(got) != string(want) {
		t.Fatalf("got %s, want %s (%v)", got, want, err)
	}
}

// marshal is encoding/json without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
