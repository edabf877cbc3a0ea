package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"ptoy"
	"ptoy/internal/npmdeps"
)

// example reads one of the official R4 examples, decoded as a server
// decodes a resource (numbers as json.Number).
func example(t testing.TB, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(npmdeps.Package(t, "hl7.fhir.r4.examples"), name))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, data)
}

func decode(t testing.TB, data []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var res map[string]any
	if err := d.Decode(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// values shows the values of one parameter of an index, one string each:
// tokens as system|code (text:... for a text alone), strings as written,
// dates as start/end in UTC (an open end empty), quantities as
// value|system|code.
func values(ix *Index, name string) []string {
	p, ok := ix.param(name)
	if !ok {
		return []string{"no such param"}
	}
	var out []string
	for _, e := range ix.find(p) {
		switch ix.tp.kinds[p] {
		case tString:
			out = append(out, ix.str(e.b))
		case tToken:
			if e.flag&flagTextOnly != 0 {
				out = append(out, "text:"+ix.str(e.c))
			} else {
				out = append(out, ix.str(e.a)+"|"+ix.str(e.b))
			}
		case tReference, tURI:
			out = append(out, ix.str(e.a))
		case tDate:
			var lo, hi string
			if e.lo != minTime {
				lo = time.UnixMilli(e.lo).UTC().Format(time.RFC3339Nano)
			}
			if e.hi != maxTime {
				hi = time.UnixMilli(e.hi).UTC().Format(time.RFC3339Nano)
			}
			out = append(out, lo+"/"+hi)
		case tNumber, tQuantity:
			v := fmt.Sprint(fval(e.lo))
			if e.lo != e.hi {
				v += ".." + fmt.Sprint(fval(e.hi))
			}
			out = append(out, v+"|"+ix.str(e.a)+"|"+ix.str(e.b))
		}
	}
	return out
}

// TestExtractOfficialExamples checks the values of parameters of each type
// against what the official examples say (read by hand from the files).
func TestExtractOfficialExamples(t *testing.T) {
	cases := []struct {
		file string
		want map[string][]string
	}{
		{"Observation-example.json", map[string][]string{
			"_id":      {"|example"},
			"status":   {"|final"},
			"category": {"http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"},
			"code": {"http://loinc.org|29463-7", "http://loinc.org|3141-9", "http://snomed.info/sct|27113001",
				"http://acme.org/devices/clinical-codes|body-weight"},
			"subject":        {"Patient/example"},
			"patient":        {"Patient/example"},
			"encounter":      {"Encounter/example"},
			"date":           {"2016-03-28T00:00:00Z/2016-03-28T23:59:59.999Z"}, // effectiveDateTime 2016-03-28
			"value-quantity": {"185|http://unitsofmeasure.org|[lb_av]"},
			"value-concept":  nil,
			"_lastUpdated":   nil,
		}},
		{"Observation-f001.json", map[string][]string{
			"identifier":     {"http://www.bmc.nl/zorgportal/identifiers/observations|6323"},
			"date":           {"2013-04-02T08:30:10Z/"}, // effectivePeriod.start 2013-04-02T09:30:10+01:00, no end
			"performer":      {"Practitioner/f005"},
			"value-quantity": {"6.3|http://unitsofmeasure.org|mmol/L"},
		}},
		{"Observation-f205.json", map[string][]string{
			// two components: {value 60, comparator ">"}, a bound, and {value 60}
			"component-value-quantity": {"60..+Inf|http://unitsofmeasure.org|mL/min/{1.73_m2}",
				"60|http://unitsofmeasure.org|mL/min/{1.73_m2}"},
		}},
		{"Observation-abdo-tender.json", map[string][]string{
			"code":          {"http://snomed.info/sct|43478001", "text:abdominal tenderness"},
			"value-concept": nil, // valueBoolean is not a CodeableConcept
		}},
		{"Patient-example.json", map[string][]string{
			"family":       {"Chalmers", "Windsor"},
			"given":        {"Peter", "James", "Jim"},
			"name":         {"Chalmers", "Peter", "James", "Jim", "Windsor"},
			"birthdate":    {"1974-12-25T00:00:00Z/1974-12-25T23:59:59.999Z"},
			"identifier":   {"urn:oid:1.2.36.146.595.217.0.1|12345"},
			"phone":        {"|(03) 5555 6473", "|(03) 3410 5613", "|(03) 5555 8834"},
			"gender":       {"|male"},
			"active":       {"|true"},
			"organization": {"Organization/1"},
			"address-city": {"PleasantVille"},
		}},
		{"Patient-glossy.json", map[string][]string{
			"_id":                  {"|glossy"},
			"_lastUpdated":         {"2014-11-13T00:41:00Z/2014-11-13T00:41:00.999Z"}, // 2014-11-13T11:41:00+11:00
			"general-practitioner": {"Practitioner/example"},
		}},
		{"Condition-f202.json", map[string][]string{
			"clinical-status": {"http://terminology.hl7.org/CodeSystem/condition-clinical|resolved"},
			"category":        {"http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis"},
			"_security":       {"http://terminology.hl7.org/CodeSystem/v3-ActCode|TBOO"},
			"onset-age":       {"52|http://unitsofmeasure.org|a"},
			"onset-date":      nil,
			"recorded-date":   {"2012-12-01T00:00:00Z/2012-12-01T23:59:59.999Z"},
			"evidence-detail": {"DiagnosticReport/f201"},
			"patient":         {"Patient/f201"},
		}},
		{"MedicationRequest-medrx0323.json", map[string][]string{
			"medication": {"#med0318"},
			"code":       nil,                                               // medicationReference, not a CodeableConcept
			"date":       {"2015-01-15T11:00:00Z/2015-01-15T11:00:00.999Z"}, // timing.event 2015-01-15T22:00:00+11:00
			"authoredon": {"2015-01-15T00:00:00Z/2015-01-15T23:59:59.999Z"},
			"intent":     {"|order"},
		}},
		{"Encounter-example.json", map[string][]string{
			"class":  {"http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP"},
			"status": {"|in-progress"},
		}},
		{"Provenance-example.json", map[string][]string{
			"recorded": {"2015-06-26T22:39:24Z/2015-06-26T22:39:24.999Z"}, // 2015-06-27T08:39:24+10:00
			"agent":    {"Practitioner/xcda-author", "Device/software"},
			"target":   {"Procedure/example"},
			"patient":  nil, // its target is a Procedure
		}},
	}
	r := Default()
	for _, c := range cases {
		res := example(t, c.file)
		ix, err := r.Extract(res["resourceType"].(string), res)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		for name, want := range c.want {
			if got := values(&ix, name); !slices.Equal(got, want) {
				t.Errorf("%s %s: %q, want %q", c.file, name, got, want)
			}
		}
	}
}

func TestExtractReferences(t *testing.T) {
	r := Default()
	res := map[string]any{"resourceType": "Observation", "id": "o1",
		"subject":         map[string]any{"reference": "https://fhir.example.org/r4/Patient/123/_history/2"},
		"performer":       []any{map[string]any{"reference": "urn:uuid:1c8b0f4e-0000-0000-0000-000000000000"}, map[string]any{"reference": "Practitioner/p1"}},
		"basedOn":         []any{map[string]any{"reference": "#contained"}},
		"effectivePeriod": map[string]any{"start": "2020-01-01", "end": "2020-01-31T12:00:00Z"},
	}
	ix, err := r.Extract("Observation", res)
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.References("patient"); !slices.Equal(got, []string{"Patient/123"}) {
		t.Errorf("patient: %v", got)
	}
	if got := ix.References("performer"); !slices.Equal(got, []string{"urn:uuid:1c8b0f4e-0000-0000-0000-000000000000", "Practitioner/p1"}) {
		t.Errorf("performer: %v", got)
	}
	if got := ix.References("based-on"); !slices.Equal(got, []string{"#contained"}) {
		t.Errorf("based-on: %v", got)
	}
	if got := ix.References("code"); got != nil {
		t.Errorf("References of a token param: %v", got)
	}
	lo, hi, ok := ix.Dates("date")
	if !ok || !lo.Equal(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) || !hi.Equal(time.Date(2020, 1, 31, 12, 0, 0, 999e6, time.UTC)) {
		t.Errorf("Dates: %v %v %v", lo, hi, ok)
	}
	if _, _, ok := ix.Dates("_lastUpdated"); ok {
		t.Error("Dates of a resource without meta.lastUpdated")
	}
	if ix.ID() != "o1" || ix.Type() != "Observation" {
		t.Errorf("ID %q Type %q", ix.ID(), ix.Type())
	}
}

func TestExtractErrors(t *testing.T) {
	r := Default()
	for _, c := range []struct {
		typ string
		res map[string]any
	}{
		{"Basic", map[string]any{"resourceType": "Basic"}},
		{"Observation", map[string]any{"resourceType": "Patient"}},
	} {
		_, err := r.Extract(c.typ, c.res)
		var e *ptoy.Error
		if !errors.As(err, &e) || e.Kind != ptoy.Invalid {
			t.Errorf("Extract(%s, %v): %v, want an Invalid error", c.typ, c.res["resourceType"], err)
		}
	}
}

func TestNormRef(t *testing.T) {
	for in, want := range map[string]string{
		"Patient/1":                                     "Patient/1",
		"Patient/1/_history/3":                          "Patient/1",
		"http://example.org/fhir/Patient/a.b-c":         "Patient/a.b-c",
		"https://x/Observation/1/_history/2":            "Observation/1",
		"urn:uuid:04121321-4af5-424c-a0e1-ed3aab1c349d": "urn:uuid:04121321-4af5-424c-a0e1-ed3aab1c349d",
		"#p1":                               "#p1",
		"http://hl7.org/fhir/ValueSet/x":    "ValueSet/x",
		"http://example.org/fhir/patient/1": "http://example.org/fhir/patient/1",
		"123":                               "123",
	} {
		if got := normRef(in); got != want {
			t.Errorf("normRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDate(t *testing.T) {
	ms := func(s string) int64 { tm, _ := time.Parse(time.RFC3339Nano, s); return tm.UnixMilli() }
	for in, want := range map[string][2]string{
		"2020":                        {"2020-01-01T00:00:00Z", "2020-12-31T23:59:59.999Z"},
		"2020-02":                     {"2020-02-01T00:00:00Z", "2020-02-29T23:59:59.999Z"},
		"2021-02-28":                  {"2021-02-28T00:00:00Z", "2021-02-28T23:59:59.999Z"},
		"2020-03-01T10:15":            {"2020-03-01T10:15:00Z", "2020-03-01T10:15:59.999Z"},
		"2020-03-01T10:15:30Z":        {"2020-03-01T10:15:30Z", "2020-03-01T10:15:30.999Z"},
		"2020-03-01T10:15:30+02:00":   {"2020-03-01T08:15:30Z", "2020-03-01T08:15:30.999Z"},
		"2020-03-01T10:15:30.5-05:00": {"2020-03-01T15:15:30.5Z", "2020-03-01T15:15:30.599Z"},
		"2020-03-01T10:15:30.123456Z": {"2020-03-01T10:15:30.123Z", "2020-03-01T10:15:30.123Z"},
	} {
		lo, hi, ok := parseDate(in)
		if !ok || lo != ms(want[0]) || hi != ms(want[1]) {
			t.Errorf("parseDate(%q) = %v %v %v, want %v", in, time.UnixMilli(lo).UTC(), time.UnixMilli(hi).UTC(), ok, want)
		}
	}
	for _, in := range []string{"", "20", "2020-13", "2020-00", "2020-02-30", "2020-1-01", "2020-01-01T25:00",
		"2020-01-01T10", "2020-01-01Z", "2020-01-01T10:00:00+2", "2020-01-01T10:00:00.Z", "2020-01-01 10:00", "tomorrow"} {
		if _, _, ok := parseDate(in); ok {
			t.Errorf("parseDate(%q) accepted", in)
		}
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{"Müller": "muller", "ÉLODIE": "elodie", "Łukasz": "lukasz",
		"plain": "plain", "Çelik Ñandú": "celik nandu", "Zoe\u0308": "zoe", "ΑΒΓ": "αβγ"} {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}
