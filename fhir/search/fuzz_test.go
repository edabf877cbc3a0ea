package search

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseQuery checks that any query either parses or fails with an
// error, and that a parsed one matches and sorts without panicking.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		benchQuery, "date=ap2020-01-01T10:00:00.123+05:30", "code:text=x&code:not=a|b,c", "value-quantity=le1e3||mg",
		"subject:Patient=1&_sort=-date,_id&_count=3", "_include=Observation:patient&_revinclude=Provenance:target",
		`family=a\,b`, "date=2020-02-30", "_lastUpdated=gt2020-01-01T00:00",
	} {
		f.Add("Observation", s)
	}
	ixs := synthetic(f, 20)
	f.Fuzz(func(t *testing.T, typ, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := Default().ParseQuery(typ, v)
		if err != nil {
			return
		}
		for i := range ixs {
			q.Match(&ixs[i])
			q.Compare(&ixs[i], &ixs[(i+1)%len(ixs)])
		}
	})
}

// FuzzParseDate checks that parseDate never panics and gives ranges that
// are not empty.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2020", "2020-02", "2020-02-29", "2020-01-01T10:00", "2020-01-01T10:00:00.5+14:00", "2020-01-01T23:59:60Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if lo, hi, ok := parseDate(s); ok && lo > hi {
			t.Errorf("parseDate(%q): %d > %d", s, lo, hi)
		}
	})
}

// FuzzExtract checks that Extract never panics on a decoded resource,
// whatever its shape.
func FuzzExtract(f *testing.F) {
	f.Add(`{"resourceType":"Observation","effectivePeriod":{"start":"2020"},"valueRange":{"low":{"value":1}},"code":{"text":"x"}}`)
	f.Add(`{"resourceType":"Patient","name":[{"given":["A",1]}],"telecom":[{"system":"phone","value":"1"}],"birthDate":"1970-13"}`)
	f.Add(`{"resourceType":"MedicationRequest","dosageInstruction":[{"timing":{"repeat":{"boundsPeriod":{"end":"2020"}}}}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		var res map[string]any
		d := json.NewDecoder(strings.NewReader(data))
		d.UseNumber()
		if d.Decode(&res) != nil {
			return
		}
		typ, _ := res["resourceType"].(string)
		ix, err := Default().Extract(typ, res)
		if err != nil {
			return
		}
		ix.References("patient")
		ix.Dates("date")
		sort := "_id"
		if _, ok := Default().Param(typ, "date"); ok {
			sort = "-date,_id"
		}
		q, err := Default().ParseQuery(typ, url.Values{"_sort": {sort}})
		if err != nil {
			t.Fatal(err)
		}
		q.Compare(&ix, &ix)
		q.Match(&ix)
	})
}
