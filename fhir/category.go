package fhir

import (
	"ptoy/consent"
	"ptoy/fhir/resource"
	pb "ptoy/gen/ptoy/v1"
)

// categoryOf is the consent category of a resource type: the key it is
// sealed to and the scope a grant must cover to read it. Types that are
// not records (Practitioner, Organization, Consent, AuditEvent,
// Provenance) are answered from the ledger and the audit log and have
// none.
var categoryOf = map[string]pb.Category{
	"Patient":              pb.Category_CATEGORY_DEMOGRAPHICS,
	"Encounter":            pb.Category_CATEGORY_ENCOUNTERS,
	"Procedure":            pb.Category_CATEGORY_ENCOUNTERS,
	"Condition":            pb.Category_CATEGORY_CONDITIONS,
	"MedicationRequest":    pb.Category_CATEGORY_MEDICATIONS,
	"MedicationStatement":  pb.Category_CATEGORY_MEDICATIONS,
	"AllergyIntolerance":   pb.Category_CATEGORY_ALLERGIES,
	"Immunization":         pb.Category_CATEGORY_IMMUNIZATIONS,
	"Observation":          pb.Category_CATEGORY_LAB_RESULTS,
	"DiagnosticReport":     pb.Category_CATEGORY_LAB_RESULTS,
	"DocumentReference":    pb.Category_CATEGORY_NOTES,
	"CarePlan":             pb.Category_CATEGORY_NOTES,
	"Goal":                 pb.Category_CATEGORY_NOTES,
	"CareTeam":             pb.Category_CATEGORY_NOTES,
	"Coverage":             pb.Category_CATEGORY_INSURANCE_BILLING,
	"Claim":                pb.Category_CATEGORY_INSURANCE_BILLING,
	"ExplanationOfBenefit": pb.Category_CATEGORY_INSURANCE_BILLING,
}

// compartmentOf is the element of a record type that names its patient
// (the patient compartment's reference): subject unless listed here. A
// Patient is its own, by its id.
var compartmentOf = map[string]string{
	"AllergyIntolerance":   "patient",
	"Immunization":         "patient",
	"Claim":                "patient",
	"ExplanationOfBenefit": "patient",
	"Coverage":             "beneficiary",
	"Patient":              "id",
}

// compartment returns the element of typ that names its patient.
func compartment(typ string) string {
	if el, ok := compartmentOf[typ]; ok {
		return el
	}
	return "subject"
}

// recordTypes are the types stored as records, in the order the
// CapabilityStatement lists them.
func recordTypes() []string {
	out := make([]string, 0, len(categoryOf))
	for t := range categoryOf {
		out = append(out, t)
	}
	sortStrings(out)
	return out
}

// sensitiveLabels maps the HL7 confidentiality and sensitivity codes a
// writer puts in meta.security to the sensitive categories a record
// touches: a reader needs a grant that names each of them.
var sensitiveLabels = map[string]pb.Category{
	"PSY":     pb.Category_CATEGORY_MENTAL_HEALTH,
	"PSYTHPN": pb.Category_CATEGORY_MENTAL_HEALTH,
	"MH":      pb.Category_CATEGORY_MENTAL_HEALTH,
	"ETH":     pb.Category_CATEGORY_SUBSTANCE_USE,
	"SUD":     pb.Category_CATEGORY_SUBSTANCE_USE,
	"ETHUD":   pb.Category_CATEGORY_SUBSTANCE_USE,
	"SDV":     pb.Category_CATEGORY_SEXUAL_REPRODUCTIVE,
	"SEX":     pb.Category_CATEGORY_SEXUAL_REPRODUCTIVE,
	"STD":     pb.Category_CATEGORY_SEXUAL_REPRODUCTIVE,
	"HIV":     pb.Category_CATEGORY_HIV,
	"GDIS":    pb.Category_CATEGORY_GENETIC,
}

// labelsOf returns the sensitive-category bits of a resource's
// meta.security codes.
func labelsOf(res map[string]any) uint32 {
	meta, _ := res["meta"].(map[string]any)
	sec, _ := meta["security"].([]any)
	var bits uint32
	for _, s := range sec {
		c, _ := s.(map[string]any)
		code, _ := c["code"].(string)
		if cat, ok := sensitiveLabels[code]; ok {
			bits |= consent.Bit(cat)
		}
	}
	return bits
}

// Classify returns how a record of r is kept: the category it is filed
// under, the sensitive labels of its meta.security, and the reference that
// names its patient ("Patient/<id>"; for a Patient, its own id). ok is
// false for types that are not kept as records.
func Classify(r *resource.Resource) (cat pb.Category, labels uint32, patientRef string, ok bool) {
	cat, ok = categoryOf[r.Type]
	if !ok {
		return 0, 0, "", false
	}
	if r.Type == "Patient" {
		patientRef = "Patient/" + r.ID
	} else {
		m, _ := r.Map[compartment(r.Type)].(map[string]any)
		patientRef, _ = m["reference"].(string)
	}
	return cat, labelsOf(r.Map), patientRef, true
}
