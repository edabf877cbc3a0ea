package web

import (
	"encoding/json"
	"testing"
)

func decoded(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLabValue: a lab result shows its value, unit and reference range;
// its flag is the interpretation's H or L, else from the range.
func TestLabValue(t *testing.T) {
	const rng = `"referenceRange":[{"low":{"value":0},"high":{"value":100}}]`
	for _, c := range []struct{ json, value, unit, rng, flag string }{
		{`{"valueQuantity":{"value":118,"unit":"mg/dL"},` + rng + `}`, "118", "mg/dL", "0–100", "H"},
		{`{"valueQuantity":{"value":-1,"unit":"mg/dL"},` + rng + `}`, "-1", "mg/dL", "0–100", "L"},
		{`{"valueQuantity":{"value":96,"unit":"mg/dL"},` + rng + `}`, "96", "mg/dL", "0–100", ""},
		{`{"valueQuantity":{"value":96,"code":"mg/dL"},` + rng + `,"interpretation":[{"coding":[{"code":"H"}]}]}`, "96", "mg/dL", "0–100", "H"},
		{`{"valueQuantity":{"value":5.8,"unit":"%"},"referenceRange":[{"high":{"value":5.6}}]}`, "5.8", "%", "≤ 5.6", "H"},
		{`{"valueString":"Negative","referenceRange":[{"text":"Negative"}]}`, "Negative", "", "Negative", ""},
	} {
		l := lab(decoded(t, c.json))
		if l.Value != c.value || l.Unit != c.unit || l.Range != c.rng || l.Flag != c.flag {
			t.Errorf("%s: value %q unit %q range %q flag %q", c.json, l.Value, l.Unit, l.Range, l.Flag)
		}
	}
}

// TestTimelineByYear: records are grouped by year, newest first, and
// within a year by kind in a fixed order.
func TestTimelineByYear(t *testing.T) {
	enc, _ := kindOf("Encounter")
	imm, _ := kindOf("Immunization")
	es := []entry{
		imm.entry(decoded(t, `{"id":"i1","occurrenceDateTime":"2021-04-01","vaccineCode":{"text":"Influenza"}}`)),
		enc.entry(decoded(t, `{"id":"e1","period":{"start":"2021-03-01T10:00:00Z"},"type":[{"coding":[{"display":"Check up"}]}]}`)),
		enc.entry(decoded(t, `{"id":"e2","period":{"start":"2023-01-01"}}`)),
		imm.entry(decoded(t, `{"id":"i2"}`)),
	}
	got := timeline(es)
	var years []string
	for _, y := range got {
		years = append(years, y.Year)
	}
	if len(got) != 3 || got[0].Year != "2023" || got[1].Year != "2021" || got[2].Year != "Undated" {
		t.Fatalf("years %v", years)
	}
	g := got[1].Groups
	if len(g) != 2 || g[0].Label != "Visits" || g[1].Label != "Immunisations" || g[0].Entries[0].Title != "Check up" || g[1].Entries[0].Title != "Influenza" {
		t.Fatalf("2021: %+v", g)
	}
	if got[0].Groups[0].Entries[0].Title != "Visit" {
		t.Fatalf("an untyped visit is titled %q", got[0].Groups[0].Entries[0].Title)
	}
}

// TestLabRows: the lab table's rows, written without the template,
// escape every value and the record's id in its link.
func TestLabRows(t *testing.T) {
	got := string(labRows([]point{
		{Date: "2024-03-02", Value: "<b>7</b>", Unit: `"mg"&`, Range: "0–100", Flag: "H", Ref: `a"b/c`},
		{Date: "2023-01", Value: "5", Unit: "%", Flag: "L", Ref: "r1"},
		{Date: "sometime", Value: "5", Ref: "r2"},
	}))
	want := `<tr><td><a href="/records/Observation/a%22b%2Fc">2 March 2024</a></td><td>&lt;b&gt;7&lt;/b&gt; &#34;mg&#34;&amp;</td><td>0–100</td><td>High</td></tr>
<tr><td><a href="/records/Observation/r1">January 2023</a></td><td>5 %</td><td></td><td>Low</td></tr>
<tr><td><a href="/records/Observation/r2">sometime</a></td><td>5 </td><td></td><td></td></tr>
`
	if got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
}
