package search

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"ptoy"
)

func mustExtract(t testing.TB, res map[string]any) *Index {
	t.Helper()
	ix, err := Default().Extract(res["resourceType"].(string), res)
	if err != nil {
		t.Fatal(err)
	}
	return &ix
}

func mustParse(t testing.TB, typ, rawQuery string) *Query {
	t.Helper()
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Default().ParseQuery(typ, v)
	if err != nil {
		t.Fatalf("%s?%s: %v", typ, rawQuery, err)
	}
	return q
}

// TestDatePrefixes checks each prefix against targets of several
// precisions, as the R4 search page defines them over ranges.
func TestDatePrefixes(t *testing.T) {
	targets := map[string]any{
		"day":     "2020-06-15",
		"instant": "2020-06-15T10:30:00Z",
		"month":   "2020-06",
		"period":  map[string]any{"start": "2020-06-10", "end": "2020-06-20"},
		"open":    map[string]any{"start": "2020-06-10"}, // no end: ongoing
		"before":  "2019-12-31T23:59:59Z",
		"tz":      "2020-06-16T01:00:00+02:00", // 2020-06-15T23:00Z
	}
	cases := []struct {
		query string
		want  []string // the targets that match
	}{
		{"2020-06-15", []string{"day", "instant", "tz"}},
		{"eq2020-06", []string{"day", "instant", "month", "period", "tz"}},
		{"eq2020", []string{"day", "instant", "month", "period", "tz"}},
		{"ne2020-06-15", []string{"month", "period", "open", "before"}},
		{"gt2020-06-15", []string{"month", "period", "open"}},
		{"lt2020-06-15", []string{"month", "period", "open", "before"}},
		{"ge2020-06-15", []string{"day", "instant", "month", "period", "open", "tz"}},
		{"le2020-06-15", []string{"day", "instant", "month", "period", "open", "before", "tz"}},
		{"sa2020-06-09", []string{"day", "instant", "period", "open", "tz"}},
		{"eb2020-06-15", []string{"before"}},
		{"eb2020-06-21", []string{"day", "instant", "period", "before", "tz"}},
		{"gt2020-06-15T10:30:00Z", []string{"day", "month", "period", "open", "tz"}},
		{"eq2020-06-15T10:30:00Z", []string{"instant"}},
		{"eq2020-06-15T10:30Z", []string{"instant"}},
		{"eq2020-06-15T12:30:00+02:00", []string{"instant"}},
		{"lt2020-01-01", []string{"before"}},
		{"ap2020-06-14", []string{"day", "instant", "month", "period", "open", "tz"}},
		{"ap2020-06-01", []string{"month"}},
	}
	r := Default()
	for _, c := range cases {
		q := mustParse(t, "Observation", "date="+url.QueryEscape(c.query))
		var got []string
		for _, name := range []string{"day", "instant", "month", "period", "open", "before", "tz"} {
			ix, err := r.Extract("Observation", withEffective(targets[name]))
			if err != nil {
				t.Fatal(err)
			}
			if q.Match(&ix) {
				got = append(got, name)
			}
		}
		if want := c.want; !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("date=%s matched %v, want %v", c.query, got, want)
		}
	}
}

func withEffective(v any) map[string]any {
	res := map[string]any{"resourceType": "Observation", "id": "x", "status": "final"}
	if p, ok := v.(map[string]any); ok {
		res["effectivePeriod"] = p
	} else {
		res["effectiveDateTime"] = v
	}
	return res
}

func TestTokenStringReferenceForms(t *testing.T) {
	obs := mustExtract(t, example(t, "Observation-example.json"))
	tender := mustExtract(t, example(t, "Observation-abdo-tender.json"))
	pat := mustExtract(t, example(t, "Patient-example.json"))
	f205 := mustExtract(t, example(t, "Observation-f205.json"))
	cases := []struct {
		typ, query string
		ix         *Index
		want       bool
	}{
		// token
		{"Observation", "code=29463-7", obs, true},
		{"Observation", "code=http://loinc.org|29463-7", obs, true},
		{"Observation", "code=http://snomed.info/sct|29463-7", obs, false},
		{"Observation", "code=http://loinc.org|", obs, true},
		{"Observation", "code=|29463-7", obs, false}, // the coding has a system
		{"Observation", "code=1234-5,3141-9", obs, true},
		{"Observation", "code=1234-5&code=3141-9", obs, false},
		{"Observation", "code=29463-7&code=3141-9", obs, true},
		{"Observation", "code:not=29463-7", obs, false},
		{"Observation", "code:not=1234-5", obs, true},
		{"Observation", "code:text=body wei", obs, true},     // a display, prefix, any case
		{"Observation", "code:text=abdominal", tender, true}, // CodeableConcept.text
		{"Observation", "code=abdominal", tender, false},
		{"Observation", "code:text=weight", obs, false},
		{"Observation", "status=final", obs, true},
		{"Observation", "status=FINAL", obs, false}, // codes are case-sensitive
		{"Patient", "identifier=urn:oid:1.2.36.146.595.217.0.1|12345", pat, true},
		{"Patient", "identifier=12345", pat, true},
		{"Patient", "active=true", pat, true},
		{"Patient", "phone=(03) 5555 6473", pat, true},
		{"Patient", "gender:missing=false", pat, true},
		{"Patient", "gender:missing=true", pat, false},
		{"Patient", "death-date:missing=true", pat, true},
		// string
		{"Patient", "family=chal", pat, true},
		{"Patient", "family=CHALMERS", pat, true},
		{"Patient", "family=halmers", pat, false},
		{"Patient", "family:contains=halm", pat, true},
		{"Patient", "family:exact=Chalmers", pat, true},
		{"Patient", "family:exact=chalmers", pat, false},
		{"Patient", "name=jim", pat, true},
		{"Patient", "given=jam,xyz", pat, true},
		{"Patient", "address=rainbow", pat, true},
		{"Patient", "address-city=pleasant", pat, true},
		// reference
		{"Observation", "subject=Patient/example", obs, true},
		{"Observation", "subject=example", obs, true},
		{"Observation", "subject:Patient=example", obs, true},
		{"Observation", "subject=Group/example", obs, false},
		{"Observation", "patient=http://example.org/fhir/Patient/example", obs, true},
		{"Observation", "patient=Patient/other", obs, false},
		{"Observation", "specimen:missing=true", obs, true},
		// quantity and number
		{"Observation", "value-quantity=185", obs, true},
		{"Observation", "value-quantity=185.0", obs, true},
		{"Observation", "value-quantity=184.6", obs, false},
		{"Observation", "value-quantity=gt180|http://unitsofmeasure.org|[lb_av]", obs, true},
		{"Observation", "value-quantity=gt180|http://unitsofmeasure.org|kg", obs, false},
		{"Observation", "value-quantity=185||[lb_av]", obs, true},
		{"Observation", "value-quantity=185||lbs", obs, true}, // the unit
		{"Observation", "value-quantity=lt185", obs, false},
		{"Observation", "value-quantity=le185", obs, true},
		{"Observation", "value-quantity=ap200", obs, true},
		{"Observation", "value-quantity=ap210", obs, false},
		{"Observation", "value-quantity=1.85e2", obs, true},
		{"Observation", "component-value-quantity=gt100", f205, true}, // >60 may be above 100
		{"Observation", "component-value-quantity=gt61", f205, true},  // only the >60 one can be
		{"Observation", "component-value-quantity=ge60", f205, true},
		{"Observation", "component-value-quantity=lt50", f205, false},
		// common
		{"Observation", "_id=example", obs, true},
		{"Observation", "_id=other,example", obs, true},
		{"Observation", "_lastUpdated:missing=true", obs, true},
		{"Observation", "_format=json&_pretty=true&_page=abc&_count=10", obs, true},
	}
	for _, c := range cases {
		q := mustParse(t, c.typ, c.query)
		if got := q.Match(c.ix); got != c.want {
			t.Errorf("%s?%s on %s: %v, want %v", c.typ, c.query, c.ix.ID(), got, c.want)
		}
	}
	// A query on one type does not match a resource of another.
	if mustParse(t, "Patient", "").Match(obs) {
		t.Error("a Patient query matched an Observation")
	}
}

func TestParseQueryErrors(t *testing.T) {
	cases := []struct{ typ, query, want string }{
		{"Observation", "foo=1", `unknown search parameter "foo" for Observation`},
		{"Observation", "_foo=1", `unknown search parameter "_foo" for Observation`},
		{"Basic", "", `resource type "Basic" is not supported`},
		{"Observation", "date=2020-13", `date: date value "2020-13" is not a FHIR date`},
		{"Observation", "date=xx2020", `date: prefix "xx" is not one of`},
		{"Observation", "date=2020-01-01T10:00:00+25:00", `is not a FHIR date`},
		{"Observation", "value-quantity=abc", `value-quantity: prefix "ab"`},
		{"Observation", "value-quantity=1|2", `is not number|system|code`},
		{"Observation", "value-quantity=gt", `"gt" is not a number`},
		{"Observation", "code:exact=1", `code: the modifier :exact applies to string parameters only`},
		{"Observation", "code:in=http://x", `code: unknown or unsupported modifier ":in"`},
		{"Observation", "code:missing=maybe", `code: :missing must be true or false`},
		{"Observation", "code=a|b|c", `code: "a|b|c" is not [system]|[code]`},
		{"Observation", "code=|", `has neither system nor code`},
		{"Observation", "subject:Medication=1", `unknown or unsupported modifier ":Medication"`},
		{"Observation", "subject:Patient=Group/1", `is not a reference to a Patient`},
		{"Observation", "subject.name=peter", `chained search parameters ("subject.name") are not supported`},
		{"Observation", "_count=-1", `_count must be one whole number from 0 to 1000`},
		{"Observation", "_count=ten", `_count must be`},
		{"Observation", "_count=1&_count=2", `_count must be`},
		{"Observation", "_total=all", `_total must be one of none, estimate, accurate`},
		{"Observation", "_summary=yes", `_summary must be one of`},
		{"Observation", "_sort=foo", `_sort: unknown search parameter "foo"`},
		{"Observation", "_sort=subject", `_sort: cannot sort by subject, a reference parameter`},
		{"Observation", "_elements=status,val-ue", `_elements: "val-ue" is not the name of an element`},
		{"Observation", "_include=Observation", `_include: "Observation" is not SourceType:parameter`},
		{"Observation", "_include=Observation:code", `_include: Observation has no reference search parameter "code"`},
		{"Observation", "_include=Patient:organization", `does not start with Observation`},
		{"Observation", "_revinclude=Basic:subject", `_revinclude: resource type "Basic" is not supported`},
		{"Observation", "_include:deep=Observation:patient", `_include: unknown modifier "deep"`},
		{"Patient", "family:not=x", `the modifier :not applies to token parameters only`},
	}
	for _, c := range cases {
		v, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Default().ParseQuery(c.typ, v)
		var e *ptoy.Error
		if !errors.As(err, &e) || e.Kind != ptoy.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s?%s: %v, want an Invalid error with %q", c.typ, c.query, err, c.want)
		}
	}
}

func TestParseQueryResultParams(t *testing.T) {
	q := mustParse(t, "Observation", "_count=5000&_sort=-date,_id&_total=accurate&_summary=data"+
		"&_elements=status,code&_elements=subject&_include=Observation:patient&_include:iterate=Patient:organization"+
		"&_revinclude=Provenance:target&patient=Patient/1,2&subject:Patient=3&code=x")
	if q.Count != MaxCount || q.Total != "accurate" || q.Summary != "data" {
		t.Errorf("Count %d Total %q Summary %q", q.Count, q.Total, q.Summary)
	}
	if !slices.Equal(q.Sort, []SortKey{{"date", true}, {"_id", false}}) {
		t.Errorf("Sort %v", q.Sort)
	}
	if !slices.Equal(q.Elements, []string{"status", "code", "subject"}) {
		t.Errorf("Elements %v", q.Elements)
	}
	if !slices.Equal(q.Include, []Include{{"Observation", "patient", "", false}, {"Patient", "organization", "", true}}) {
		t.Errorf("Include %v", q.Include)
	}
	if !slices.Equal(q.RevInclude, []Include{{"Provenance", "target", "", false}}) {
		t.Errorf("RevInclude %v", q.RevInclude)
	}
	if got := q.References("patient"); !slices.Equal(got, []string{"Patient/1", "Patient/2"}) {
		t.Errorf("References(patient) %v", got)
	}
	if got := q.References("subject"); !slices.Equal(got, []string{"Patient/3"}) {
		t.Errorf("References(subject) %v", got)
	}
	if !q.HasParam("code") || !q.HasParam("patient") || q.HasParam("date") || q.HasParam("nope") {
		t.Error("HasParam")
	}
	if q := mustParse(t, "Observation", ""); q.Count != DefaultCount {
		t.Errorf("default Count %d", q.Count)
	}
	if q := mustParse(t, "Observation", "_count=0"); q.Count != 0 {
		t.Errorf("Count %d for _count=0", q.Count)
	}
	// An escaped comma is part of the value.
	res := map[string]any{"resourceType": "Patient", "id": "p", "name": []any{map[string]any{"family": "Smith, Jr"}}}
	if !mustParse(t, "Patient", `family=smith\, jr`).Match(mustExtract(t, res)) {
		t.Error(`family=smith\, jr did not match "Smith, Jr"`)
	}
}

func TestCompare(t *testing.T) {
	mk := func(id string, date any, updated string) *Index {
		res := withEffective(date)
		res["id"] = id
		if date == nil {
			delete(res, "effectiveDateTime")
		}
		if updated != "" {
			res["meta"] = map[string]any{"lastUpdated": updated}
		}
		return mustExtract(t, res)
	}
	a := mk("a", "2020-01-05", "2024-01-01T00:00:00Z")
	b := mk("b", map[string]any{"start": "2020-01-01", "end": "2020-01-10"}, "2023-01-01T00:00:00Z")
	c := mk("c", nil, "2025-01-01T00:00:00Z")
	d := mk("d", "2020-01-05", "2022-01-01T00:00:00Z")
	all := []*Index{c, a, d, b}
	sorted := func(query string) string {
		q := mustParse(t, "Observation", query)
		s := slices.Clone(all)
		slices.SortStableFunc(s, q.Compare)
		var ids []string
		for _, ix := range s {
			ids = append(ids, ix.ID())
		}
		s2 := slices.Clone(all)
		q.SortIndexes(s2)
		var ids2 []string
		for _, ix := range s2 {
			ids2 = append(ids2, ix.ID())
		}
		if !slices.Equal(ids, ids2) {
			t.Errorf("%s: SortIndexes gives %v, SortStableFunc with Compare %v", query, ids2, ids)
		}
		return strings.Join(ids, "")
	}
	for query, want := range map[string]string{
		"_sort=date":               "badc", // b starts first; a and d tie; c has no date: last
		"_sort=-date":              "badc", // b ends last
		"_sort=date,-_lastUpdated": "badc",
		"_sort=date,_lastUpdated":  "bdac",
		"_sort=-_lastUpdated":      "cabd",
		"_sort=_id":                "abcd",
		"_sort=-_id":               "dcba",
		"":                         "cadb", // no keys: all ties
	} {
		if got := sorted(query); got != want {
			t.Errorf("%s: %s, want %s", query, got, want)
		}
	}
}
