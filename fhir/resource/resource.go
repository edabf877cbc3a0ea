// Package resource reads FHIR R4 resources safely: every resource written
// through the FHIR API passes Parse, which refuses what is not strict JSON
// (invalid UTF-8, duplicate names, nesting past MaxDepth, numbers past
// MaxDigits or MaxExponent) and then what is not valid FHIR R4 (checked by
// google/fhir's jsonformat: types, cardinality and required elements, codes
// of required bindings, dates, reference targets). The writer's bytes stay the
// record: validation never rewrites them. Refusals are *Error, rendered as an
// OperationOutcome by Outcome and OutcomeOf.
package resource

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// MaxBody is the largest request body the server reads; it answers 413 above it.
const MaxBody = 32 << 20

// Types is the list of resource types the FHIR server stores, sorted.
var Types = []string{
	"AllergyIntolerance", "AuditEvent", "CarePlan", "CareTeam", "Claim", "Condition",
	"Consent", "Coverage", "DiagnosticReport", "DocumentReference", "Encounter",
	"ExplanationOfBenefit", "Goal", "Immunization", "MedicationRequest",
	"MedicationStatement", "Observation", "Organization", "Patient", "Practitioner",
	"Procedure", "Provenance",
}

// Supported reports whether the server stores resources of this type.
func Supported(resourceType string) bool {
	_, ok := slices.BinarySearch(Types, resourceType)
	return ok
}

// Resource is a parsed, valid resource.
type Resource struct {
	Type string
	ID   string         // "" if the writer sent none
	Raw  []byte         // exactly the bytes given to Parse (not a copy)
	Map  map[string]any // decoded as by json.Decoder.UseNumber: numbers are json.Number
}

// Parse checks body and returns the resource. Types allowed: Types, plus
// "Bundle" of type batch or transaction, whose entries' resources are
// validated as part of the Bundle and must each be of a supported type.
// Errors are *Error: 400 for what is not strict JSON or has no usable
// resourceType or id, 413 past MaxBody, 422 for valid JSON that is not
// valid FHIR R4.
func Parse(body []byte) (*Resource, error) {
	return parse("", body)
}

// ParseAs is Parse for a known type: an interaction on /Observation refuses a
// Patient body (400).
func ParseAs(resourceType string, body []byte) (*Resource, error) {
	if resourceType != "Bundle" && !Supported(resourceType) {
		return nil, refuse(404, "not-supported", fmt.Sprintf("resource type %q is not supported here", resourceType))
	}
	return parse(resourceType, body)
}

func parse(want string, body []byte) (*Resource, error) {
	if len(body) > MaxBody {
		return nil, refuse(413, "too-long", fmt.Sprintf("the resource is larger than %d bytes", MaxBody))
	}
	if len(body) == 0 {
		return nil, refuse(400, "structure", "empty body: send a FHIR resource as JSON")
	}
	v, jerr := decode(body, true)
	if jerr != nil && jerr.status == 422 {
		// Said of valid JSON only: a syntax error further on comes first.
		if _, serr := decode(body, false); serr != nil {
			jerr = serr
		}
	}
	if jerr != nil {
		e := refuse(jerr.status, jerr.code, jerr.msg)
		if jerr.path != "" {
			e.Issues[0].Expression = []string{jerr.path}
		}
		return nil, e
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, refuse(400, "structure", "a FHIR resource is a JSON object")
	}
	r := &Resource{Raw: body, Map: m}
	rt, present := m["resourceType"]
	if !present {
		return nil, refuse(400, "required", "resourceType is missing", "resourceType")
	}
	if r.Type, ok = rt.(string); !ok {
		return nil, refuse(400, "structure", "resourceType is not a string", "resourceType")
	}
	switch {
	case want != "" && r.Type != want:
		return nil, refuse(400, "invalid", fmt.Sprintf("the resource is a %s, not a %s", safeName(r.Type), want), "resourceType")
	case r.Type == "Bundle":
	case !Supported(r.Type) && knownType(r.Type):
		return nil, refuse(422, "not-supported", fmt.Sprintf("resources of type %s are not stored here", r.Type), "resourceType")
	case !Supported(r.Type):
		return nil, refuse(400, "invalid", fmt.Sprintf("%s is not a FHIR R4 resource type", safeName(r.Type)), "resourceType")
	}
	if id, present := m["id"]; present {
		s, _ := id.(string)
		if err := ValidID(s); err != nil {
			return nil, refuse(400, "value", err.Error(), r.Type+".id")
		}
		r.ID = s
	}
	if r.Type == "Bundle" {
		if err := checkBundle(m); err != nil {
			return nil, err
		}
	}
	if err := validate(r.Type, body, m); err != nil {
		return nil, err
	}
	return r, nil
}

// checkBundle allows batch and transaction Bundles whose entries hold
// resources of the supported types with valid ids.
func checkBundle(m map[string]any) *Error {
	if t, _ := m["type"].(string); t != "batch" && t != "transaction" {
		return refuse(422, "not-supported", "only Bundles of type batch or transaction are accepted", "Bundle.type")
	}
	entries, _ := m["entry"].([]any)
	for i, e := range entries {
		e, _ := e.(map[string]any)
		res, ok := e["resource"].(map[string]any)
		if !ok {
			continue // a GET or DELETE, or a shape jsonformat refuses
		}
		at := fmt.Sprintf("Bundle.entry[%d].resource", i)
		rt, _ := res["resourceType"].(string)
		switch {
		case rt == "":
			return refuse(422, "required", "resourceType is missing", at+".resourceType")
		case !Supported(rt):
			return refuse(422, "not-supported", fmt.Sprintf("resources of type %s are not stored here", safeName(rt)), at+".resourceType")
		}
		if id, present := res["id"]; present {
			s, _ := id.(string)
			if err := ValidID(s); err != nil {
				return refuse(422, "value", err.Error(), at+".id")
			}
		}
	}
	return nil
}

// safeName returns s if it looks like a type name, else a placeholder, so
// that what a writer put in resourceType is not echoed whatever it is.
func safeName(s string) string {
	if len(s) > 0 && len(s) <= 64 && elementName(string(s[0]|0x20)+s[1:]) {
		return s
	}
	return "the resourceType given"
}

// ValidID checks a resource id: 1 to 64 of A-Z, a-z, 0-9, '-' and '.'.
func ValidID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("an id has 1 to 64 characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("an id has only letters, digits, '-' and '.'")
		}
	}
	return nil
}

// WithMeta returns raw with meta.versionId and meta.lastUpdated set (added or
// replaced); every other member and byte is unchanged, except that inside
// meta the two come first. lastUpdated is written in UTC to the microsecond
// (FHIR's instant).
func WithMeta(raw []byte, versionID string, lastUpdated time.Time) ([]byte, error) {
	if err := ValidID(versionID); err != nil {
		return nil, fmt.Errorf("fhir/resource: versionId: %w", err)
	}
	ms, open, _, err := members(raw)
	if err != nil {
		return nil, fmt.Errorf("fhir/resource: %w", err)
	}
	vid, _ := json.Marshal(versionID)
	lu, _ := json.Marshal(lastUpdated.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano))
	fields := `"versionId":` + string(vid) + `,"lastUpdated":` + string(lu)
	for _, m := range ms {
		if m.name != "meta" {
			continue
		}
		val := raw[m.valStart:m.end]
		inner, iopen, _, err := members(val)
		if err != nil {
			return nil, fmt.Errorf("fhir/resource: meta is not a JSON object")
		}
		meta := splice(val, inner, map[string]bool{"versionId": true, "lastUpdated": true}, nil)
		inner, iopen, _, _ = members(meta)
		var nm []byte
		nm = append(nm, meta[:iopen+1]...)
		nm = append(nm, fields...)
		if len(inner) > 0 {
			nm = append(nm, ',')
		}
		nm = append(nm, meta[iopen+1:]...)
		return splice(raw, ms, nil, map[string][]byte{"meta": nm}), nil
	}
	// No meta: add it after id, else after resourceType, else first.
	at, sep := open+1, ""
	for _, m := range ms {
		if m.name == "id" || m.name == "resourceType" && at == open+1 {
			at, sep = m.end, ","
		}
	}
	var out []byte
	out = append(out, raw[:at]...)
	out = append(out, sep...)
	out = append(out, `"meta":{`+fields+`}`...)
	if sep == "" && len(ms) > 0 {
		out = append(out, ',')
	}
	out = append(out, raw[at:]...)
	return out, nil
}

// TypeAndID reads the resourceType and id of raw without validating it,
// to name a resource that may be refused: empty strings where raw is not
// a JSON object or either is missing or longer than 64 characters.
func TypeAndID(raw []byte) (typ, id string) {
	var m struct {
		Type string `json:"resourceType"`
		ID   string `json:"id"`
	}
	if json.Unmarshal(raw, &m) != nil || len(m.Type) > 64 || len(m.ID) > 64 {
		return "", ""
	}
	return m.Type, m.ID
}
