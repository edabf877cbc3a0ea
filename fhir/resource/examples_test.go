package resource

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"ptoy/internal/npmdeps"
)

// refusedExamples are the official R4 examples of the supported types that
// Parse refuses, each read and found to be in error, with the expression the
// refusal must name.
var refusedExamples = map[string]struct{ expr, reason string }{
	// "dispenseRequest": {"performer": {"reference": "Practitioner/f001"}}; R4 allows Reference(Organization) only.
	"MedicationRequest-medrx0301.json": {"MedicationRequest.dispenseRequest.performer", "a dispenser that is a Practitioner"},
	// "performer": [{"reference": "Encounter/example"}]; R4 allows Practitioner, PractitionerRole,
	// Organization, CareTeam, Patient and RelatedPerson.
	"Observation-clinical-gender.json": {"Observation.performer[0]", "a performer that is an Encounter"},
}

// TestOfficialExamples parses every official R4 example of the supported
// types: each parses, keeps its bytes, and takes meta without any other
// change, or is one of refusedExamples and is refused for the reason given.
func TestOfficialExamples(t *testing.T) {
	dir := npmdeps.Package(t, "hl7.fhir.r4.examples")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	counts := map[string]int{}
	var parsed, refused int
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ ResourceType string }
		if json.Unmarshal(b, &head) != nil || !Supported(head.ResourceType) {
			continue
		}
		name := filepath.Base(f)
		counts[head.ResourceType]++
		r, err := Parse(b)
		if want, listed := refusedExamples[name]; listed {
			seen[name] = true
			var fe *Error
			if !errors.As(err, &fe) {
				t.Errorf("%s: accepted, but listed as refused (%s)", name, want.reason)
				continue
			}
			found := false
			for _, is := range fe.Issues {
				found = found || len(is.Expression) > 0 && is.Expression[0] == want.expr
			}
			if !found {
				t.Errorf("%s: refused, but not at %s: %v", name, want.expr, fe)
			}
			refused++
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		parsed++
		if string(r.Raw) != string(b) || r.Type != head.ResourceType {
			t.Errorf("%s: Raw or Type differ", name)
		}
		if id, _ := r.Map["id"].(string); id != r.ID {
			t.Errorf("%s: ID %q, want %q", name, r.ID, id)
		}
		w, err := WithMeta(b, "7", at)
		if err != nil {
			t.Errorf("%s: WithMeta: %v", name, err)
			continue
		}
		if !Equal(Without(w, "meta"), Without(b, "meta")) {
			t.Errorf("%s: WithMeta changed more than meta", name)
		}
		if !Equal(metaWithout(t, w), metaWithout(t, b)) {
			t.Errorf("%s: WithMeta changed meta beyond versionId and lastUpdated", name)
		}
		if _, err := Parse(w); err != nil {
			t.Errorf("%s: after WithMeta: %v", name, err)
		}
	}
	for name := range refusedExamples {
		if !seen[name] {
			t.Errorf("%s is listed as refused but was not found", name)
		}
	}
	var types []string
	for k := range counts {
		types = append(types, k)
	}
	sort.Strings(types)
	var sb strings.Builder
	for _, k := range types {
		sb.WriteString(" " + k + ":" + itoa(counts[k]))
	}
	t.Logf("official R4 examples of the %d supported types: %d parsed, %d refused (listed);%s", len(Types), parsed, refused, sb.String())
	if len(types) != len(Types) || parsed < 250 {
		t.Errorf("expected examples of every supported type and at least 250 parsed")
	}
}

// metaWithout returns meta of the document b, without versionId and
// lastUpdated, as JSON ({} if there is none).
func metaWithout(t *testing.T, b []byte) []byte {
	ms, _, _, err := members(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.name == "meta" {
			return Without(b[m.valStart:m.end], "versionId", "lastUpdated")
		}
	}
	return []byte(`{}`)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
