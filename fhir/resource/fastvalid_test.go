package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"ptoy/internal/npmdeps"
	"ptoy/synth"
)

// synthCorpus returns the resources synth generates for a few seeds, with
// second-hospital copies (and their corruptions) included.
func synthCorpus(t testing.TB, seeds []int64, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for _, seed := range seeds {
		ps, err := synth.Generate(seed, n, synth.Options{Hospital: "General Hospital", Duplicates: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		for p := range ps {
			for _, rec := range []*synth.Record{p.Record, p.Copy} {
				if rec == nil {
					continue
				}
				rec.Each(func(_ string, r []byte) error { out = append(out, r); return nil })
			}
		}
	}
	return out
}

// fileCorpus returns the resources of the files under testdata, the US Core
// bundles of ../shared/data/uscore (their entries, one by one) and the
// official R4 examples, where present.
func fileCorpus(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	add := func(b []byte) {
		out = append(out, b)
		var m map[string]any
		if json.Unmarshal(b, &m) != nil || m["resourceType"] != "Bundle" {
			return
		}
		es, _ := m["entry"].([]any)
		for _, e := range es {
			e, _ := e.(map[string]any)
			if r, ok := e["resource"].(map[string]any); ok {
				out = append(out, marshal(r))
			}
		}
	}
	filepath.Walk("testdata", func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		if rest, ok := bytes.CutPrefix(b, []byte("go test fuzz v1\n[]byte(")); ok {
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(string(rest)), ")"))
			if err == nil {
				add([]byte(s))
			}
			return nil
		}
		add(b)
		return nil
	})
	for _, dir := range []string{filepath.Join("..", "..", "..", "shared", "data", "uscore")} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				add(b)
			}
		}
	}
	if dir := npmdeps.Package(t, "hl7.fhir.r4.examples"); dir != "" {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			base := filepath.Base(f)
			if i := strings.IndexByte(base, '-'); i < 0 || !Supported(base[:i]) {
				continue
			}
			if b, err := os.ReadFile(f); err == nil {
				add(b)
			}
		}
	}
	return out
}

// marshal writes v as JSON without HTML escaping (as synth and most
// writers do).
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

// checkImplication reports whether body, if the fast path accepts it, is
// accepted by the validator too. fast reports what the fast path said.
func checkImplication(t testing.TB, body []byte) (fast, ok bool) {
	v, jerr := decode(body, true)
	if jerr != nil {
		return false, true
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return false, true
	}
	rt, _ := m["resourceType"].(string)
	if !knownType(rt) {
		return false, true
	}
	if !fastValid(rt, body, m) {
		return false, true
	}
	if err := validateRef(rt, body, m); err != nil {
		t.Errorf("fast path accepts what the validator refuses: %v\n%.3000s", err.Issues, body)
		return true, false
	}
	return true, true
}

// TestFastValidAcceptsSynth checks the implication over the synth corpus and
// that the fast path accepts nearly all of it.
func TestFastValidAcceptsSynth(t *testing.T) {
	corpus := synthCorpus(t, []int64{1, 2, 3, 99}, 25)
	accepted := 0
	missed := map[string]int{}
	for _, b := range corpus {
		fast, _ := checkImplication(t, b)
		if fast {
			accepted++
		} else {
			var m map[string]any
			json.Unmarshal(b, &m)
			missed[fmt.Sprint(m["resourceType"])]++
		}
	}
	share := float64(accepted) / float64(len(corpus))
	t.Logf("fast path accepts %d of %d synth resources (%.2f%%); not: %v", accepted, len(corpus), 100*share, missed)
	if share < 0.99 {
		t.Errorf("fast path accepts only %.2f%% of the synth corpus", 100*share)
	}
}

// TestFastValidFiles checks the implication over the files' resources.
func TestFastValidFiles(t *testing.T) {
	corpus := fileCorpus(t)
	accepted := 0
	for _, b := range corpus {
		if fast, _ := checkImplication(t, b); fast {
			accepted++
		}
	}
	t.Logf("fast path accepts %d of %d resources from files", accepted, len(corpus))
}

// TestFastValidMutations checks the implication over systematic mutations of
// a sample of resources of every type: every element deleted, given values
// of every wrong JSON type and bad formats, arrays and scalars swapped,
// unknown and underscore names added, choice names changed. By default it
// takes one resource of each type from synth and one from the files, of at
// most 4 kB; PTOY_FASTVAL_FULL=1 takes four of each, of any size (some
// minutes).
func TestFastValidMutations(t *testing.T) {
	limit, maxSize := 1, 4<<10
	if os.Getenv("PTOY_FASTVAL_FULL") != "" {
		limit, maxSize = 4, MaxBody
	}
	var sample [][]byte
	for _, corpus := range [][][]byte{synthCorpus(t, []int64{5}, 12), fileCorpus(t)} {
		perType := map[string]int{}
		for _, b := range corpus {
			var m map[string]any
			if len(b) > maxSize || json.Unmarshal(b, &m) != nil {
				continue
			}
			rt, _ := m["resourceType"].(string)
			if !Supported(rt) || perType[rt] >= limit {
				continue
			}
			perType[rt]++
			sample = append(sample, b)
		}
	}
	var total, fastN int
	for _, b := range sample {
		v, _ := decode(b, false)
		m, _ := v.(map[string]any)
		if m == nil {
			continue
		}
		mutate(m, func() {
			total++
			if fast, _ := checkImplication(t, marshal(m)); fast {
				fastN++
			}
		})
	}
	t.Logf("%d resources, %d mutants, %d accepted by the fast path (each checked against the validator)", len(sample), total, fastN)
}

// badStrings are values that break one rule or another of FHIR's primitives.
var badStrings = []string{
	"x", "2020", "2020-13", "2020-02-30", "2021-02-29", "2020-00-01", "2020-01-00", "0000-01-01", "-2020",
	"2020-1-1", "2020-01-01T25:00:00Z", "2020-01-01T10:00:00", "2020-01-01T10:00Z",
	"2020-01-01T10:00:00+14:01", "2020-01-01T10:00:00+15:00", "2020-01-01T10:00:00.Z",
	"2020-01-01T10:00:00.123456789123Z", "2020-01-01T23:59:60Z", "2020-01-01 10:00:00Z",
	"10:00", "24:00:00", "10:00:00.", "10:00:00.5", "not a code", " x", "x ", "x  y", "x\ty",
	"x\u0001y", "x\u000by", "x\u007fy", "bad id!", strings.Repeat("a", 65), "urn:oid:1.2.3", "urn:oid:x",
	"urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e", "urn:uuid:0F8FAD5B-D9CB-469F-A165-70867728950E",
	"http://[::1", "%zz", ":x", "Foo/123", "Patient/", "Patient/1/_history/x y", "Patient/1/_history/2",
	"Observation/1", "Resource/1", "BodySite/1", "#", "#x", "#\u0001", "a/b/c", "/1",
	"ENTERED-IN-ERROR", "entered_in_error", "Entered-In-Error", "Final", "FINAL", "final ", "ſinal",
	"AA=", "QQ==", "Q Q==", "QQ", "@@@@", "true", "1",
}

// badValues are values of every JSON type, several out of range.
var badValues = []any{
	json.Number("0"), json.Number("1"), json.Number("-1"), json.Number("-0"), json.Number("1.5"),
	json.Number("1.0"), json.Number("1e2"), json.Number("2147483647"), json.Number("2147483648"),
	json.Number("-2147483648"), json.Number("-2147483649"), json.Number("4294967296"),
	true, false, nil, map[string]any{"x": "y"}, map[string]any{"extension": []any{map[string]any{"url": "http://x", "valueString": "y"}}},
	[]any{"x"}, []any{json.Number("1")},
}

// mutate calls f once for each mutant of m, made in place and undone after f.
func mutate(m map[string]any, f func()) {
	var walk func(v any, top bool)
	walk = func(v any, top bool) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			// Names added: unknown, a primitive's extension, a nested resourceType, contained.
			for _, k := range []string{"foo", "resourceType", "contained", "_" + firstKey(keys)} {
				if _, had := v[k]; had {
					continue
				}
				v[k] = "x"
				f()
				v[k] = map[string]any{"id": "x"}
				f()
				delete(v, k)
			}
			for _, k := range keys {
				if top && k == "resourceType" {
					continue
				}
				old := v[k]
				delete(v, k)
				f() // deleted
				// renamed: another choice type, or a case change
				for _, nk := range renames(k) {
					if _, had := v[nk]; had {
						continue
					}
					v[nk] = old
					f()
					delete(v, nk)
				}
				// a second choice type beside it
				if strings.HasPrefix(k, "value") || strings.HasPrefix(k, "effective") || strings.HasPrefix(k, "onset") {
					for _, nk := range []string{"valueString", "valueBoolean", "effectiveDateTime", "onsetString"} {
						if _, had := v[nk]; had || nk == k {
							continue
						}
						v[k] = old
						v[nk] = "x"
						if nk == "valueBoolean" {
							v[nk] = true
						}
						f()
						delete(v, nk)
						delete(v, k)
					}
				}
				for _, bad := range badValues {
					v[k] = bad
					f()
				}
				for _, s := range badStrings {
					v[k] = s
					f()
				}
				if s, ok := old.(string); ok {
					for _, s2 := range []string{s + "x", strings.ToUpper(s), s + " ", "x" + s, s + "/1", s + "\u0000"} {
						v[k] = s2
						f()
					}
				}
				switch o := old.(type) {
				case []any:
					v[k] = o[0] // array → scalar
					f()
					v[k] = append(slices.Clone(o), o[0]) // one more
					f()
				default:
					v[k] = []any{o} // scalar → array
					f()
				}
				v[k] = old
				walk(old, false)
			}
		case []any:
			for i, e := range v {
				v[i] = nil
				f()
				v[i] = "x"
				f()
				v[i] = e
				walk(e, false)
			}
		}
	}
	walk(m, true)
}

func firstKey(keys []string) string {
	for _, k := range keys {
		if k != "resourceType" {
			return k
		}
	}
	return "id"
}

// renames are other names for the element k: other choice suffixes, a
// capital first letter, a suffix that names no type.
func renames(k string) []string {
	out := []string{strings.ToUpper(k[:1]) + k[1:], k + "X", k + "String", k + "Reference"}
	for _, pre := range []string{"value", "effective", "onset", "abatement", "occurrence", "medication", "deceased", "multipleBirth", "performed", "serviced", "timing"} {
		if rest, ok := strings.CutPrefix(k, pre); ok && rest != "" {
			for _, suf := range []string{"Quantity", "String", "DateTime", "Period", "Boolean", "Integer", "CodeableConcept", "Reference", "Foo", "quantity", "Instant", "Date", "Age", "Range"} {
				if suf != rest {
					out = append(out, pre+suf)
				}
			}
		}
	}
	return out
}

// BenchmarkValidate measures, over synth's resources, Parse as it is (the
// fast path in front of the validator), Parse as it was (the strict decoder
// then the validator: "reference") and the fast path alone, in µs per
// resource.
//
//	go test -run '^$' -bench Validate ./fhir/resource
func BenchmarkValidate(b *testing.B) {
	corpus := synthCorpus(b, []int64{99}, 20)
	type doc struct {
		rt   string
		body []byte
		m    map[string]any
	}
	docs := make([]doc, 0, len(corpus))
	for _, body := range corpus {
		v, err := decode(body, true)
		if err != nil {
			b.Fatal(err.msg)
		}
		m := v.(map[string]any)
		docs = append(docs, doc{m["resourceType"].(string), body, m})
	}
	run := func(name string, f func(d doc) bool) {
		b.Run(name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				for _, d := range docs {
					if !f(d) {
						b.Fatalf("refused %s", d.rt)
					}
					n++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "µs/resource")
		})
	}
	run("parse", func(d doc) bool { _, err := Parse(d.body); return err == nil })
	run("reference", func(d doc) bool {
		v, jerr := decode(d.body, true)
		return jerr == nil && validateRef(d.rt, d.body, v.(map[string]any)) == nil
	})
	run("fast", func(d doc) bool { return fastValid(d.rt, d.body, d.m) })
}
