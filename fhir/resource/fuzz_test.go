package resource

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, gives the same answer twice,
// refuses with a 4xx and at least one issue, refuses whatever is not JSON,
// and that what it accepts keeps its bytes, decodes to the same document and
// still parses once meta is set.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		obs,
		withObs("status", `"done"`),
		withObs("component", `[{"valueString":"z"}]`),
		withObs("contained", `[{"resourceType":"Patient","gender":"m"}]`),
		`{"resourceType":"Patient","id":"a","name":[{"given":["A","B"],"_given":[null,{"extension":[{"url":"http://x","valueString":"y"}]}]}]}`,
		`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","gender":"female"},"request":{"method":"POST","url":"Patient"}}]}`,
		`{"resourceType":"Patient","gender":"male","gender":"female"}`,
		`{"resourceType":"Patient","name":[{"text":"\ud83d\ude00 \ud800"}]}`,
		`{"resourceType":"Observation","valueQuantity":{"value":-1.000000000000000000E+245}}`,
		"{\"resourceType\":\"Patient\",\"gender\":\"m\xffle\"}",
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	} {
		f.Add([]byte(s))
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkImplication(t, b)
		r, err := Parse(b)
		r2, err2 := Parse(b)
		if (err == nil) != (err2 == nil) || err != nil && !reflect.DeepEqual(err, err2) {
			t.Fatalf("two answers: %v / %v", err, err2)
		}
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.Status < 400 || fe.Status > 499 || len(fe.Issues) == 0 {
				t.Fatalf("refusal %#v", err)
			}
			for _, is := range fe.Issues {
				if is.Severity == "" || is.Code == "" || is.Diagnostics == "" {
					t.Fatalf("issue %#v", is)
				}
			}
			if !json.Valid(b) && fe.Status != 400 && fe.Status != 413 {
				t.Fatalf("invalid JSON refused with %d", fe.Status)
			}
			if !json.Valid(Outcome(fe.Issues...)) {
				t.Fatal("outcome is not JSON")
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if string(r.Raw) != string(b) || !reflect.DeepEqual(r.Map, r2.Map) {
			t.Fatal("Raw or Map differ")
		}
		if !Supported(r.Type) && r.Type != "Bundle" {
			t.Fatalf("accepted type %q", r.Type)
		}
		again, err := json.Marshal(r.Map)
		if err != nil || !Equal(again, b) {
			t.Fatalf("Map is not the document: %v", err)
		}
		if r.Type == "Bundle" {
			return
		}
		w, err := WithMeta(b, "2", at)
		if err != nil {
			t.Fatal(err)
		}
		if !Equal(Without(w, "meta"), Without(b, "meta")) {
			t.Fatal("WithMeta changed more than meta")
		}
		if _, err := Parse(w); err != nil {
			t.Fatalf("after WithMeta: %v", err)
		}
	})
}

// FuzzFastValid checks that whatever the fast path accepts the validator
// accepts too, starting from synth's resources of every type.
func FuzzFastValid(f *testing.F) {
	f.Add([]byte(obs))
	f.Add([]byte(typical))
	seen := map[string]int{}
	for _, b := range synthCorpus(f, []int64{1}, 3) {
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		rt, _ := m["resourceType"].(string)
		if seen[rt] < 2 {
			seen[rt]++
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkImplication(t, b)
	})
}

// typical is an Observation as an EHR or Synthea writes one: a vital sign.
const typical = `{
  "resourceType": "Observation",
  "id": "4f1a6c2e-0f5b-4d1c-9c34-2b8e5a7d9e10",
  "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-body-weight"]},
  "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "vital-signs"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body Weight"}], "text": "Body Weight"},
  "subject": {"reference": "Patient/8d2c7a3e-6b1f-4e0a-a5d2-3c9b7e1f4a60"},
  "encounter": {"reference": "Encounter/b7e3f1a2-9c4d-4b6e-8a1f-0d2c5e7b9a34"},
  "effectiveDateTime": "2024-05-01T10:15:00-04:00",
  "issued": "2024-05-01T10:15:00.123-04:00",
  "valueQuantity": {"value": 72.3, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
}`

func BenchmarkParse(b *testing.B) {
	body := []byte(typical)
	if _, err := Parse(body); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode is the strict JSON layer alone, without the validator.
func BenchmarkDecode(b *testing.B) {
	body := []byte(typical)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(body, true); err != nil {
			b.Fatal(err)
		}
	}
}
