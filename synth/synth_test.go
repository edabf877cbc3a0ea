package synth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"ptoy/fhir/resource"
)

func generateAll(t testing.TB, seed int64, n int, o Options) []*Patient {
	t.Helper()
	ps, err := Generate(seed, n, o)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Collect(ps)
}

// Every resource written, as a transaction Bundle and as an NDJSON line,
// passes the FHIR server's validator.
func TestEveryResourceIsValidFHIR(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 40
	}
	start := time.Now()
	resources := 0
	for _, p := range generateAll(t, 1, n, Options{Duplicates: 0.3}) {
		for _, rec := range []*Record{p.Record, p.Copy} {
			if rec == nil {
				continue
			}
			resources += len(rec.Resources)
			b, err := rec.Bundle()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := resource.Parse(b); err != nil {
				t.Fatalf("patient %d at %s: the Bundle is refused: %v", p.Index, rec.Hospital, err)
			}
			if p.Index%10 != 0 {
				continue
			}
			err = rec.Each(func(typ string, line []byte) error {
				if _, err := resource.ParseAs(typ, line); err != nil {
					return fmt.Errorf("%s refused: %v\n%s", typ, err, line)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("patient %d: %v", p.Index, err)
			}
		}
	}
	t.Logf("%d patients, %d resources valid in %v", n, resources, time.Since(start).Round(time.Millisecond))
}

// The same seed gives the same patients, byte for byte; patient i does
// not depend on how many are asked for; another seed gives other people.
func TestDeterministic(t *testing.T) {
	o := Options{Duplicates: 0.5}
	bundles := func(seed int64, n int) [][]byte {
		var out [][]byte
		for _, p := range generateAll(t, seed, n, o) {
			for _, rec := range []*Record{p.Record, p.Copy} {
				if rec != nil {
					b, err := rec.Bundle()
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, b)
				}
			}
		}
		return out
	}
	a, b := bundles(7, 12), bundles(7, 12)
	if !slices.EqualFunc(a, b, bytes.Equal) {
		t.Fatal("two runs of seed 7 differ")
	}
	few := bundles(7, 4)
	if !slices.EqualFunc(few, a[:len(few)], bytes.Equal) {
		t.Fatal("the first 4 patients of seed 7 differ when 12 are asked for")
	}
	if other := bundles(8, 12); bytes.Equal(other[0], a[0]) {
		t.Fatal("seeds 7 and 8 gave the same first patient")
	}
}

// Across a hundred patients every category is there, coded with the codes
// of the tables and their displays; labs carry reference ranges and UCUM
// units.
func TestCategoriesAndCodes(t *testing.T) {
	byType := map[string]int{}
	codes := map[string]string{} // system|code → display
	labsWithRange, labs := 0, 0
	classes := map[string]bool{}
	for _, p := range generateAll(t, 3, 100, Options{}) {
		err := p.Record.Each(func(typ string, line []byte) error {
			byType[typ]++
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				return err
			}
			walkCodings(m, func(sys, c, d string) { codes[sys+"|"+c] = d })
			if typ == "Encounter" {
				classes[m["class"].(map[string]any)["code"].(string)] = true
			}
			if cat, _ := json.Marshal(m["category"]); typ == "Observation" && strings.Contains(string(cat), `"laboratory"`) {
				labs++
				if rr, ok := m["referenceRange"].([]any); ok && len(rr) == 1 {
					q := m["valueQuantity"].(map[string]any)
					if q["system"] == sysUCUM && q["code"] != "" {
						labsWithRange++
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, typ := range []string{"Patient", "Coverage", "Encounter", "Condition", "MedicationRequest", "AllergyIntolerance",
		"Immunization", "Observation", "DocumentReference", "Claim", "ExplanationOfBenefit"} {
		if byType[typ] == 0 {
			t.Errorf("no %s in 100 patients", typ)
		}
	}
	for _, c := range []string{"AMB", "EMER", "IMP"} {
		if !classes[c] {
			t.Errorf("no %s encounter in 100 patients", c)
		}
	}
	if labs == 0 || labsWithRange != labs {
		t.Errorf("%d of %d lab results have a reference range and a UCUM unit", labsWithRange, labs)
	}
	want := []code{
		chronics[0].cond, chronics[1].cond, chronics[2].cond, chronics[3].cond, // hypertension, diabetes, hyperlipidemia, asthma
		rxnorm("314076", "lisinopril 10 MG Oral Tablet"),
		rxnorm("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"),
		labGlucose.code, labA1c.code, labLDL.code, labCreatinine.code,
		vitalSystolic, vitalDiastolic, vitalWeight, vitalHeight, vitalHeartRate,
		vaxFlu, noteProgress, encCheckup, cptOffice,
	}
	for _, c := range want {
		if d, ok := codes[c.system+"|"+c.code]; !ok || d != c.display {
			t.Errorf("%s %s: display %q, want %q", c.system, c.code, d, c.display)
		}
	}
	t.Logf("resources by type: %v", byType)
}

func walkCodings(v any, f func(sys, c, d string)) {
	switch v := v.(type) {
	case map[string]any:
		if s, ok := v["system"].(string); ok {
			if c, ok := v["code"].(string); ok {
				d, _ := v["display"].(string)
				f(s, c, d)
			}
		}
		for _, x := range v {
			walkCodings(x, f)
		}
	case []any:
		for _, x := range v {
			walkCodings(x, f)
		}
	}
}

// A record's clinical note is plain text in base64 and says why the
// patient came.
func TestNotes(t *testing.T) {
	p := generateAll(t, 5, 1, Options{})[0]
	notes := 0
	for _, res := range p.Record.Resources {
		if res.Type != "DocumentReference" {
			continue
		}
		notes++
		att := res.Body["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)
		if att["contentType"] != "text/plain" {
			t.Fatalf("contentType %v", att["contentType"])
		}
		text, err := base64Decode(att["data"].(string))
		if err != nil || !strings.Contains(text, "Reason for visit: ") || !strings.Contains(text, "Plan: ") {
			t.Fatalf("note %q (%v)", text, err)
		}
	}
	if notes == 0 {
		t.Fatal("no notes")
	}
}

func base64Decode(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}
