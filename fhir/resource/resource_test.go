package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"ptoy"
)

const obs = `{"resourceType":"Observation","id":"bp-1","status":"final",` +
	`"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},` +
	`"subject":{"reference":"Patient/alice"},"effectiveDateTime":"2024-05-01T10:00:00Z",` +
	`"valueQuantity":{"value":120.5,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}`

// withObs returns the Observation above with one member replaced or added
// (value "" removes it).
func withObs(name, value string) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(obs), &m); err != nil {
		panic(err)
	}
	if value == "" {
		delete(m, name)
	} else {
		m[name] = json.RawMessage(value)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestParseAccepts(t *testing.T) {
	r, err := Parse([]byte(obs))
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != "Observation" || r.ID != "bp-1" || string(r.Raw) != obs {
		t.Fatalf("got %q %q %q", r.Type, r.ID, r.Raw)
	}
	if v := r.Map["valueQuantity"].(map[string]any)["value"]; v != json.Number("120.5") {
		t.Fatalf("value %#v, want json.Number 120.5", v)
	}
	if _, err := ParseAs("Observation", []byte(obs)); err != nil {
		t.Fatal(err)
	}
	// No id: a create.
	r, err = Parse([]byte(withObs("id", "")))
	if err != nil || r.ID != "" {
		t.Fatalf("%v %q", err, r.ID)
	}
	// A transaction Bundle of supported types.
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[` +
		`{"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":{"resourceType":"Patient","gender":"female"},"request":{"method":"POST","url":"Patient"}},` +
		`{"resource":` + obs + `,"request":{"method":"PUT","url":"Observation/bp-1"}},` +
		`{"request":{"method":"DELETE","url":"Observation/old"}}]}`
	if _, err := Parse([]byte(tx)); err != nil {
		t.Fatal(err)
	}
}

func TestParseRefuses(t *testing.T) {
	deep := `{"resourceType":"Observation","status":"final","code":{"text":"x"},"extension":[` +
		strings.Repeat(`{"url":"http://x","extension":[`, 40) + `{"url":"http://x","valueString":"y"}` + strings.Repeat(`]}`, 40) + `]}`
	dupDeep := strings.Replace(obs, `"code":"85354-9"`, `"code":"85354-9","code":"x"`, 1)
	bundle := func(entry string) string {
		return `{"resourceType":"Bundle","type":"batch","entry":[` + entry + `]}`
	}
	for _, c := range []struct {
		name   string
		body   string
		status int
		code   string
		expr   string // "" for none
		want   string // in the diagnostics
	}{
		{"empty body", ``, 400, "structure", "", "empty body"},
		{"not JSON", `{"resourceType":"Patient",}`, 400, "structure", "", "invalid JSON at byte 26"},
		{"truncated", `{"resourceType":"Patient"`, 400, "structure", "", "unexpected end"},
		{"trailing data", `{"resourceType":"Patient"} {}`, 400, "structure", "", "after the end"},
		{"invalid UTF-8", "{\"resourceType\":\"Patient\",\"gender\":\"m\xffle\"}", 400, "structure", "", "invalid UTF-8 at byte 37"},
		{"lone surrogate", `{"resourceType":"Patient","name":[{"text":"\ud800"}]}`, 400, "structure", "Patient.name[0].text", "surrogate"},
		{"control character", "{\"resourceType\":\"Patient\",\"name\":[{\"text\":\"a\tb\"}]}", 400, "structure", "Patient.name[0].text", "control character"},
		{"byte order mark", "\ufeff" + obs, 400, "structure", "", "unexpected character"},
		{"duplicate key at top", `{"resourceType":"Patient","gender":"male","gender":"female"}`, 400, "structure", "Patient.gender", `duplicate member "gender"`},
		{"duplicate key deep", dupDeep, 400, "structure", "Observation.code.coding[0].code", "duplicate member"},
		{"duplicate resourceType", `{"resourceType":"Patient","resourceType":"Observation"}`, 400, "structure", "Patient.resourceType", "duplicate"},
		{"too deep", deep, 400, "too-costly", "Observation.extension[0]" + strings.Repeat(".extension[0]", 31), "deeper than 64"},
		{"too many digits", withObs("valueQuantity", `{"value":1.000000000000000000001}`), 422, "value", "Observation.valueQuantity.value", "significant digits"},
		{"exponent too large", withObs("valueQuantity", `{"value":1e309}`), 422, "value", "Observation.valueQuantity.value", "out of range"},
		{"exponent too small", withObs("valueQuantity", `{"value":0.001e-306}`), 422, "value", "Observation.valueQuantity.value", "out of range"},
		{"integer beyond 32 bits", `{"resourceType":"Patient","multipleBirthInteger":2147483648}`, 422, "value", "Patient.multipleBirthInteger", "expected integer"},
		{"decimal in an integer", `{"resourceType":"Patient","multipleBirthInteger":2.0}`, 422, "value", "Patient.multipleBirthInteger", "expected integer"},
		{"top level array", `[` + obs + `]`, 400, "structure", "", "JSON object"},
		{"top level string", `"Patient"`, 400, "structure", "", "JSON object"},
		{"missing resourceType", `{"id":"x","gender":"male"}`, 400, "required", "resourceType", "missing"},
		{"resourceType not a string", `{"resourceType":7}`, 400, "structure", "resourceType", "not a string"},
		{"unknown resourceType", `{"resourceType":"Patients"}`, 400, "invalid", "resourceType", "Patients is not a FHIR R4 resource type"},
		{"unsupported resourceType", `{"resourceType":"Medication","status":"active"}`, 422, "not-supported", "resourceType", "not stored here"},
		{"resourceType echoes nothing", `{"resourceType":"<script>"}`, 400, "invalid", "resourceType", "the resourceType given"},
		{"id with slash", withObs("id", `"a/b"`), 400, "value", "Observation.id", "only letters"},
		{"id with dots only is allowed but .. with slash not", withObs("id", `"../etc"`), 400, "value", "Observation.id", "only letters"},
		{"id with NUL", withObs("id", `"a\u0000b"`), 400, "value", "Observation.id", "only letters"},
		{"id with %00", withObs("id", `"a%00"`), 400, "value", "Observation.id", "only letters"},
		{"id too long", withObs("id", `"`+strings.Repeat("a", 65)+`"`), 400, "value", "Observation.id", "1 to 64"},
		{"id empty", withObs("id", `""`), 422, "value", "Observation.id", "empty string"},
		{"id not a string", withObs("id", `7`), 400, "value", "Observation.id", "1 to 64"},
		{"wrong type", withObs("status", `3`), 422, "value", "Observation.status", "expected code"},
		{"object for array", `{"resourceType":"Patient","name":{"family":"x"}}`, 422, "value", "Patient.name", "expected array"},
		{"array for a primitive", `{"resourceType":"Patient","gender":["male"]}`, 422, "structure", "Patient.gender", "wrong JSON type"},
		{"missing required", withObs("status", ""), 422, "required", "Observation.status", "required element is missing"},
		{"missing required in a backbone", withObs("component", `[{"valueString":"z"}]`), 422, "required", "Observation.component[0].code", "required"},
		{"bad code", withObs("status", `"done"`), 422, "code-invalid", "Observation.status", "required value set"},
		{"bad date", withObs("effectiveDateTime", `"2024-13-01"`), 422, "value", "Observation.effectiveDateTime", "expected datetime"},
		{"date without zone", withObs("effectiveDateTime", `"2024-05-01T10:00:00"`), 422, "value", "Observation.effectiveDateTime", "expected datetime"},
		{"impossible date", `{"resourceType":"Patient","birthDate":"1990-02-30"}`, 422, "value", "Patient.birthDate", "expected date"},
		{"unknown element", withObs("colour", `"red"`), 422, "structure", "Observation.colour", "unknown element"},
		{"upper camel element", withObs("Status", `"final"`), 422, "structure", "Observation.Status", "lower camel"},
		{"reference to a wrong type", withObs("subject", `{"reference":"Medication/1"}`), 422, "value", "Observation.subject", "invalid reference to a Medication"},
		{"empty string", withObs("status", `""`), 422, "value", "Observation.status", "empty string"},
		{"empty object", withObs("code", `{}`), 422, "value", "Observation.code", "empty object"},
		{"empty array", withObs("category", `[]`), 422, "value", "Observation.category", "empty array"},
		{"null", withObs("status", `null`), 422, "value", "Observation.status", "expected code"},
		{"NUL in a string", `{"resourceType":"Patient","name":[{"text":"a\u0000b"}]}`, 422, "value", "Patient.name[0].text", "invalid characters"},
		{"bundle of another type", `{"resourceType":"Bundle","type":"collection"}`, 422, "not-supported", "Bundle.type", "batch or transaction"},
		{"bundle entry unsupported", bundle(`{"resource":{"resourceType":"Medication"}}`), 422, "not-supported", "Bundle.entry[0].resource.resourceType", "not stored here"},
		{"bundle entry bad id", bundle(`{"resource":{"resourceType":"Patient","id":"a_b"}}`), 422, "value", "Bundle.entry[0].resource.id", "only letters"},
		{"bundle entry missing required", bundle(`{"resource":{"resourceType":"Observation","code":{"text":"x"}}}`), 422, "required", "Bundle.entry[0].resource.status", "required"},
		{"bundle entry bad code", bundle(`{"resource":{"resourceType":"Observation","status":"done","code":{"text":"x"}}}`), 422, "code-invalid", "Bundle.entry[0].resource.status", "value set"},
		{"contained bad code", withObs("contained", `[{"resourceType":"Patient","gender":"m"}]`), 422, "code-invalid", "Observation.contained[0].gender", "value set"},
		{"contained missing required", `{"resourceType":"Patient","contained":[{"resourceType":"Observation","code":{"text":"x"}}]}`, 422, "required", "Patient.contained[0].status", "required"},
		{"contained in a bundle entry", bundle(`{"resource":{"resourceType":"Patient","contained":[{"resourceType":"Observation","code":{"text":"x"}}]}}`), 422, "required", "Bundle.entry[0].resource.contained[0].status", "required"},
		{"contained unknown type", `{"resourceType":"Patient","contained":[{"resourceType":"Foo"}]}`, 422, "value", "Patient.contained[0].resourceType", "unknown resource type"},
		{"two types for a choice", withObs("effectivePeriod", `{"start":"2024-01-01"}`), 422, "structure", "Observation.effective", "more than one type"},
		{"primitive extension without url", withObs("_status", `{"extension":[{"valueString":"x"}]}`), 422, "required", "Observation.status.extension[0].url", "required"},
		{"too large", `{"resourceType":"Patient","text":{"status":"generated","div":"` + strings.Repeat("x", MaxBody) + `"}}`, 413, "too-long", "", "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.body))
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want *Error", err)
			}
			if fe.Status != c.status {
				t.Errorf("status %d, want %d (%v)", fe.Status, c.status, fe)
			}
			is := fe.Issues[0]
			if is.Severity != "error" || is.Code != c.code {
				t.Errorf("issue %s/%s, want error/%s (%v)", is.Severity, is.Code, c.code, fe)
			}
			var expr string
			if len(is.Expression) > 0 {
				expr = is.Expression[0]
			}
			if expr != c.expr {
				t.Errorf("expression %q, want %q (%v)", expr, c.expr, fe)
			}
			if !strings.Contains(is.Diagnostics, c.want) {
				t.Errorf("diagnostics %q, want %q in them", is.Diagnostics, c.want)
			}
			status, oo := OutcomeOf(err)
			if status != c.status || !json.Valid(oo) || !strings.Contains(string(oo), `"resourceType":"OperationOutcome"`) {
				t.Errorf("OutcomeOf: %d %s", status, oo)
			}
		})
	}
}

func TestParseReportsEveryIssue(t *testing.T) {
	body := `{"resourceType":"Observation","status":"done","effectiveDateTime":"yesterday","colour":"red"}`
	_, err := Parse([]byte(body))
	var fe *Error
	if !errors.As(err, &fe) || fe.Status != 422 {
		t.Fatalf("got %v", err)
	}
	var got []string
	for _, is := range fe.Issues {
		got = append(got, is.Code+" "+strings.Join(is.Expression, ","))
	}
	// Required elements are checked once the rest is right.
	want := []string{"structure Observation.colour", "value Observation.effectiveDateTime", "code-invalid Observation.status"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("issues %q, want %q", got, want)
	}
	// The diagnostics repeat none of the values sent.
	if s := fe.Error(); strings.Contains(s, "done") || strings.Contains(s, "yesterday") || strings.Contains(s, "red\"") {
		t.Fatalf("Error() repeats a value: %s", s)
	}
}

func TestParseAs(t *testing.T) {
	_, err := ParseAs("Patient", []byte(obs))
	var fe *Error
	if !errors.As(err, &fe) || fe.Status != 400 || fe.Issues[0].Expression[0] != "resourceType" ||
		!strings.Contains(fe.Issues[0].Diagnostics, "is a Observation, not a Patient") {
		t.Fatalf("got %v", err)
	}
	_, err = ParseAs("Medication", []byte(`{"resourceType":"Medication"}`))
	if !errors.As(err, &fe) || fe.Status != 404 {
		t.Fatalf("got %v", err)
	}
}

func TestValidID(t *testing.T) {
	for _, id := range []string{"a", "A-1.b", strings.Repeat("z", 64), "..", "-"} {
		if err := ValidID(id); err != nil {
			t.Errorf("ValidID(%q): %v", id, err)
		}
	}
	for _, id := range []string{"", "a/b", "a b", "a%00", "a_b", "é", strings.Repeat("z", 65), "a\x00"} {
		if ValidID(id) == nil {
			t.Errorf("ValidID(%q) accepted", id)
		}
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
		diag   string
	}{
		{ptoy.E("fhir.read", ptoy.NotFound, "no Observation bp-9"), 404, "not-found", "no Observation bp-9"},
		{ptoy.E("fhir.read", ptoy.PermissionDenied, "scope excludes Observation"), 403, "forbidden", "scope excludes Observation"},
		{ptoy.E("fhir.read", ptoy.Unauthenticated, "sign in"), 401, "login", "sign in"},
		{ptoy.E("fhir.create", ptoy.Invalid, "bad _count"), 400, "invalid", "bad _count"},
		{ptoy.E("fhir.create", ptoy.Exists, "Patient alice exists"), 409, "duplicate", "Patient alice exists"},
		{ptoy.E("fhir.read", ptoy.Unavailable, "node starting"), 503, "transient", "node starting"},
		{fmt.Errorf("wrapped: %w", ptoy.E("fhir.read", ptoy.NotFound, "gone")), 404, "not-found", "gone"},
		{ptoy.E("fhir.read", ptoy.Other, "pebble: disk /srv/x full"), 500, "exception", "internal error"},
		{errors.New("open /srv/secret: no such file"), 500, "exception", "internal error"},
		{PreconditionFailed("version 3 is not the latest"), 412, "conflict", "version 3 is not the latest"},
		{fmt.Errorf("wrap: %w", refuse(422, "value", "x", "Patient.gender")), 422, "value", "x"},
	} {
		status, body := OutcomeOf(c.err)
		var oo struct {
			ResourceType string
			Issue        []struct{ Severity, Code, Diagnostics string }
		}
		if err := json.Unmarshal(body, &oo); err != nil {
			t.Fatal(err)
		}
		if status != c.status || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 ||
			oo.Issue[0].Code != c.code || oo.Issue[0].Diagnostics != c.diag || oo.Issue[0].Severity != "error" {
			t.Errorf("%v: %d %s", c.err, status, body)
		}
		if http.StatusText(status) == "" {
			t.Errorf("status %d", status)
		}
	}
	if got := string(Outcome()); got != `{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational","diagnostics":"ok"}]}` {
		t.Fatal(got)
	}
}

func TestEqualAndWithout(t *testing.T) {
	for _, c := range []struct {
		a, b string
		eq   bool
	}{
		{`{"a":1,"b":[1,2]}`, ` { "b" : [1,2], "a" : 1 } `, true},
		{`{"a":1.0}`, `{"a":1}`, false},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"a":"\u00e9"}`, `{"a":"é"}`, true},
		{`{"a":null}`, `{}`, false},
		{`{"a":1,"a":1}`, `{"a":1}`, false},
		{`{`, `{`, false},
	} {
		if Equal([]byte(c.a), []byte(c.b)) != c.eq {
			t.Errorf("Equal(%s, %s) = %v", c.a, c.b, !c.eq)
		}
	}
	raw := "{\n  \"resourceType\": \"Patient\",\n  \"meta\": {\"versionId\": \"1\"},\n  \"id\": \"x\"\n}"
	if got := string(Without([]byte(raw), "meta")); got != "{\n  \"resourceType\": \"Patient\",\n  \"id\": \"x\"\n}" {
		t.Errorf("Without meta: %q", got)
	}
	if got := string(Without([]byte(raw), "resourceType", "id")); got != "{\n  \"meta\": {\"versionId\": \"1\"}\n}" {
		t.Errorf("Without: %q", got)
	}
	if got := string(Without([]byte(raw), "resourceType", "id", "meta")); got != "{\n  \n}" {
		t.Errorf("Without all: %q", got)
	}
	if got := string(Without([]byte(`[1]`), "a")); got != `[1]` {
		t.Errorf("Without on an array: %q", got)
	}
}

func TestWithMeta(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("x", 3600))
	for _, c := range []struct{ in, want string }{
		{`{"resourceType":"Patient","id":"a","gender":"male"}`,
			`{"resourceType":"Patient","id":"a","meta":{"versionId":"2","lastUpdated":"2026-03-04T04:06:07.891234Z"},"gender":"male"}`},
		{`{"resourceType":"Patient"}`,
			`{"resourceType":"Patient","meta":{"versionId":"2","lastUpdated":"2026-03-04T04:06:07.891234Z"}}`},
		{`{"gender":"male","resourceType":"Patient"}`,
			`{"gender":"male","resourceType":"Patient","meta":{"versionId":"2","lastUpdated":"2026-03-04T04:06:07.891234Z"}}`},
		{`{}`, `{"meta":{"versionId":"2","lastUpdated":"2026-03-04T04:06:07.891234Z"}}`},
		{`{"resourceType":"Patient","meta":{"versionId":"1","source":"#a","lastUpdated":"2020-01-01T00:00:00Z","tag":[{"code":"x"}]},"id":"a"}`,
			`{"resourceType":"Patient","meta":{"versionId":"2","lastUpdated":"2026-03-04T04:06:07.891234Z","source":"#a","tag":[{"code":"x"}]},"id":"a"}`},
		{`{"resourceType":"Patient","meta":{"versionId":"1"}}`,
			`{"resourceType":"Patient","meta":{"versionId":"2","lastUpdated":"2026-03-04T04:06:07.891234Z"}}`},
	} {
		got, err := WithMeta([]byte(c.in), "2", at)
		if err != nil || string(got) != c.want {
			t.Errorf("WithMeta(%s)\n got %s %v\nwant %s", c.in, got, err, c.want)
		}
	}
	// The result still parses, and lastUpdated is a valid instant.
	got, err := WithMeta([]byte(obs), "1", at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(got); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`[]`, `{"meta":"x"}`, `{"a":1,"a":2}`, `{`} {
		if _, err := WithMeta([]byte(bad), "1", at); err == nil {
			t.Errorf("WithMeta(%s) accepted", bad)
		}
	}
	if _, err := WithMeta([]byte(obs), "1/2", at); err == nil {
		t.Error("WithMeta accepted a bad versionId")
	}
}

// TestLengthMismatchSameIssues: a primitive array beside an "_" array of
// another length gets the same issues at every parse (the validator's own
// answer depended on which of the two it met first).
func TestLengthMismatchSameIssues(t *testing.T) {
	b := []byte(`{"resourceType":"Patient","i8":"C","name":[{"given":["0"],"_given":[null,{"x":[{"b":"7"}]}]}]}`)
	var first string
	for i := range 30 {
		_, err := Parse(b)
		var e *Error
		if !errors.As(err, &e) || e.Status != 422 {
			t.Fatalf("Parse: %v, want a 422", err)
		}
		got := fmt.Sprint(e.Issues)
		if i == 0 {
			first = got
			if !strings.Contains(got, "array length mismatch, expected 1, found 2 [Patient.name[0]._given]") ||
				!strings.Contains(got, "unknown element [Patient.i8]") {
				t.Fatalf("issues %s: want the mismatch and the unknown element", got)
			}
		} else if got != first {
			t.Fatalf("parse %d gave %s, the first %s", i, got, first)
		}
	}
}

// TestTypeAndID: the type and id of a resource that may be refused, and
// nothing from what is not an object or names too long to report.
func TestTypeAndID(t *testing.T) {
	for _, c := range []struct{ raw, typ, id string }{
		{`{"resourceType":"Observation","id":"o1","status":"bad"}`, "Observation", "o1"},
		{`{"resourceType":"Observation"}`, "Observation", ""},
		{`[1]`, "", ""},
		{`{"resourceType":"Observation","id":"` + strings.Repeat("x", 65) + `"}`, "", ""},
	} {
		if typ, id := TypeAndID([]byte(c.raw)); typ != c.typ || id != c.id {
			t.Errorf("TypeAndID(%s) = %q, %q; want %q, %q", c.raw, typ, id, c.typ, c.id)
		}
	}
}
