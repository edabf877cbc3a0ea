package resource

import (
	"encoding/json"
	"bytes"
	"time"
)

var Types = []string{"AllergyIntolerance", "AuditEvent", "CarePlan", "CareTeam", "Claim", "Condition", "Consent", "Coverage", "DiagnosticReport", "DocumentReference", "Encounter", "ExplanationOfBenefit", "Goal", "Immunization", "MedicationRequest", "MedicationStatement", "Observation", "Organization", "Patient", "Practitioner", "Procedure", "Provenance"}

func Supported(t string) bool { for _, x := range Types { if x == t { return true } }; return false }

type Resource struct {
	Type string
	ID   string
	Raw  []byte
	Map  map[string]any
}

func Parse(body []byte) (*Resource, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, &Error{Status: 400, Issues: []Issue{{Severity: "error", Code: "structure", Diagnostics: err.Error()}}}
	}
	t, _ := m["resourceType"].(string)
	id, _ := m["id"].(string)
	return &Resource{Type: t, ID: id, Raw: body, Map: m}, nil
}
func ParseAs(t string, body []byte) (*Resource, error) { return Parse(body) }

type Issue struct {
	Severity, Code, Diagnostics string
	Expression                  []string
}
type Error struct {
	Status int
	Issues []Issue
}

func (e *Error) Error() string { return e.Issues[0].Diagnostics }
func Outcome(issues ...Issue) []byte {
	b, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "issue": issues})
	return b
}
func OutcomeOf(err error) (int, []byte) {
	if e, ok := err.(*Error); ok {
		return e.Status, Outcome(e.Issues...)
	}
	return 400, Outcome(Issue{Severity: "error", Code: "invalid", Diagnostics: err.Error()})
}
func ValidID(id string) error { return nil }
func WithMeta(raw []byte, v string, t time.Time) ([]byte, error) {
	var m map[string]any
	json.Unmarshal(raw, &m)
	meta, _ := m["meta"].(map[string]any)
	if meta == nil { meta = map[string]any{} }
	meta["versionId"] = v
	meta["lastUpdated"] = t.UTC().Format(time.RFC3339Nano)
	m["meta"] = meta
	return json.Marshal(m)
}
func Equal(a, b []byte) bool { return bytes.Equal(a, b) }

const MaxBody = 32 << 20
