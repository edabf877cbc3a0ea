package holdings

import (
	"strings"

	"ptoy/match"
)

// identifierKinds maps the identifier systems a person may share with
// another organisation to the kind match compares them by. An
// organisation's own record numbers are not among them: no one else
// knows them.
var identifierKinds = map[string]string{
	"http://hl7.org/fhir/sid/us-ssn":      "ssn",
	"http://hl7.org/fhir/sid/us-medicare": "medicare",
	"http://hl7.org/fhir/sid/us-mbi":      "mbi",
	"urn:oid:2.16.840.1.113883.4.1":       "ssn",
}

// PersonOf reads the demographics of a FHIR Patient resource (decoded
// JSON) as match compares them: the official name (else the first), sex,
// date of birth, the first phone, the first address and the identifiers
// people share across organisations.
func PersonOf(id string, m map[string]any) match.Person {
	p := match.Person{ID: id}
	names, _ := m["name"].([]any)
	var name map[string]any
	for _, n := range names {
		nm, _ := n.(map[string]any)
		if nm == nil {
			continue
		}
		if name == nil || nm["use"] == "official" && name["use"] != "official" {
			name = nm
		}
	}
	if name != nil {
		p.Given = strings.Join(strs(name["given"]), " ")
		p.Family, _ = name["family"].(string)
	}
	p.Sex, _ = m["gender"].(string)
	p.Birth, _ = m["birthDate"].(string)
	tels, _ := m["telecom"].([]any)
	for _, t := range tels {
		tm, _ := t.(map[string]any)
		if tm != nil && tm["system"] == "phone" {
			if v, _ := tm["value"].(string); v != "" {
				p.Phone = v
				break
			}
		}
	}
	addrs, _ := m["address"].([]any)
	if len(addrs) > 0 {
		a, _ := addrs[0].(map[string]any)
		if a != nil {
			p.Street = strings.Join(strs(a["line"]), " ")
			p.City, _ = a["city"].(string)
			p.Postcode, _ = a["postalCode"].(string)
			p.State, _ = a["state"].(string)
		}
	}
	ids, _ := m["identifier"].([]any)
	for _, i := range ids {
		im, _ := i.(map[string]any)
		sys, _ := im["system"].(string)
		v, _ := im["value"].(string)
		if kind, ok := identifierKinds[sys]; ok && v != "" {
			if p.Identifiers == nil {
				p.Identifiers = map[string]string{}
			}
			p.Identifiers[kind] = v
		}
	}
	return p
}

func strs(v any) []string {
	xs, _ := v.([]any)
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if s, ok := x.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// dateFields are the elements that date a record, in the order they are
// tried: when it happened, else when it was written.
var dateFields = []string{"effectiveDateTime", "effectivePeriod", "period", "onsetDateTime", "performedDateTime",
	"performedPeriod", "occurrenceDateTime", "authoredOn", "recordedDate", "issued", "date", "created", "billablePeriod", "birthDate"}

// yearOf returns the year a record is of (0 when it names none).
func yearOf(m map[string]any) int {
	for _, f := range dateFields {
		var s string
		switch v := m[f].(type) {
		case string:
			s = v
		case map[string]any:
			s, _ = v["start"].(string)
		}
		if len(s) >= 4 {
			y := 0
			for _, c := range s[:4] {
				if c < '0' || c > '9' {
					y = -1
					break
				}
				y = y*10 + int(c-'0')
			}
			if y > 0 {
				return y
			}
		}
	}
	return 0
}
