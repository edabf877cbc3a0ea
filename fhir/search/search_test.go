package search

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"ptoy/internal/npmdeps"
)

// TestRegistryKeepsTheCommonParams checks that every parameter clients rely
// on is offered for every type whose official definitions define it.
func TestRegistryKeepsTheCommonParams(t *testing.T) {
	var g generated
	if err := json.Unmarshal(paramsJSON, &g); err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, p := range g.Params {
		defined[p.Resource+"."+p.Name] = true
	}
	r := Default()
	if len(r.Types()) != 22 {
		t.Errorf("%d types, want the 22 supported: %v", len(r.Types()), r.Types())
	}
	want := []string{"_id", "_lastUpdated", "patient", "subject", "code", "category", "date", "birthdate",
		"status", "clinical-status", "identifier", "name", "family", "given"}
	checked := 0
	for _, typ := range r.Types() {
		for _, name := range want {
			if !defined[typ+"."+name] && !defined["Resource."+name] {
				continue
			}
			checked++
			if _, ok := r.Param(typ, name); !ok {
				t.Errorf("%s has no search parameter %q, though the official definitions define it", typ, name)
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d (type, param) pairs checked", checked)
	}
	for _, c := range []struct{ typ, name, expr string }{
		{"Observation", "code", "Observation.code"},
		{"Observation", "patient", "Observation.subject.where(resolve() is Patient)"},
		{"Observation", "date", "Observation.effective"},
		{"Condition", "_id", "Condition.id"},
		{"Patient", "_lastUpdated", "Patient.meta.lastUpdated"},
		{"MedicationRequest", "code", "(MedicationRequest.medication as CodeableConcept)"},
	} {
		p, ok := r.Param(c.typ, c.name)
		if !ok || p.Expression != c.expr {
			t.Errorf("%s %s: expression %q, want %q", c.typ, c.name, p.Expression, c.expr)
		}
	}
	p, _ := r.Param("Observation", "subject")
	if p.Type != "reference" || !slices.Contains(p.Targets, "Patient") ||
		p.Definition != "http://hl7.org/fhir/SearchParameter/Observation-subject" {
		t.Errorf("Observation subject: %+v", p)
	}
	params := r.Params("Encounter")
	if !slices.IsSortedFunc(params, func(a, b Param) int { return cmpString(a.Name, b.Name) }) {
		t.Error("Params are not sorted by name")
	}
	if r.Params("Basic") != nil {
		t.Error("an unsupported type has params")
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestRegistryDropsUnsupportedExpressions checks that a parameter whose
// expression is outside the FHIRPath subset, or whose type is composite or
// special, is not offered.
func TestRegistryDropsUnsupportedExpressions(t *testing.T) {
	r := Default()
	for _, c := range []struct{ typ, name string }{
		{"Patient", "deceased"},                // exists() and !=
		{"Observation", "gene-identifier"},     // extension('...')
		{"Patient", "age"},                     // no expression
		{"Observation", "code-value-quantity"}, // composite
	} {
		if _, ok := r.Param(c.typ, c.name); ok {
			t.Errorf("%s %s is offered, though its expression is not supported", c.typ, c.name)
		}
	}
	data := `{"types":{"Patient":{"choice":[],"required":[],"summary":[]}},"params":[
	{"resource":"Patient","name":"a","type":"string","expression":"Patient.name","url":"u"},
	{"resource":"Patient","name":"b","type":"string","expression":"Patient.name.first()","url":"u"},
	{"resource":"Patient","name":"c","type":"token","expression":"Patient.x.exists() and Patient.y","url":"u"},
	{"resource":"Patient","name":"d","type":"composite","expression":"Patient.name","url":"u"},
	{"resource":"Patient","name":"e","type":"token","expression":"Patient.telecom.where(system='email')","url":"u"}]}`
	reg, err := load([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range reg.Params("Patient") {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"a", "e"}) {
		t.Errorf("kept %v, want [a e]", names)
	}
}

func TestCompile(t *testing.T) {
	for _, s := range []string{
		"Observation.code",
		"Observation.code | Observation.component.code",
		"(Observation.value as CodeableConcept).text",
		"Observation.value as Quantity",
		"Condition.onset.as(dateTime) | Condition.onset.as(Period)",
		"Patient.telecom.where(system='phone')",
		"AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)",
		"Observation.value.ofType(Quantity)",
	} {
		if _, err := compile(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{
		"", "Patient.deceased.exists() and Patient.deceased != false", "Observation.extension('x')",
		"(Observation.code", "Observation.", "Observation.code.first()", "Patient.name[0]",
		"Patient.telecom.where(system=\"x\")", "Patient.telecom.where(system='a\\'b')",
	} {
		if _, err := compile(s); err == nil {
			t.Errorf("%q compiled", s)
		}
	}
}

// TestParamsJSONIsCurrent checks that the committed params.json is what
// the generator writes from the official definitions.
func TestParamsJSONIsCurrent(t *testing.T) {
	npmdeps.Dir(t)
	out := filepath.Join(t.TempDir(), "params.json")
	cmd := exec.Command("go", "run", "./gen", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./gen: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(paramsJSON) {
		t.Error("params.json is not what gen writes: run go generate ./fhir/search")
	}
}
