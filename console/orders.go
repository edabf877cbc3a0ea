package console

import (
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

// Prescriptions and lab results a member adds to a patient's chart, as
// FHIR resources written through the node's FHIR API with the member's
// session: the door checks the patient's grant (write, and the category)
// and the member's role, as for an encounter note.

// mayPrescribe: physicians write prescriptions; the ledger would let any
// role with the medications category write one, the console asks more.
func mayPrescribe(r pb.Role) bool {
	return r == pb.Role_ROLE_PHYSICIAN || r == pb.Role_ROLE_EMERGENCY_PHYSICIAN
}

// mayRecordLabs: the roles whose records include lab results.
func mayRecordLabs(r pb.Role) bool {
	return consent.RoleCategories(r)&consent.Bit(pb.Category_CATEGORY_LAB_RESULTS) != 0
}

// labTest is a test the lab result form offers, with its LOINC code and
// UCUM unit.
type labTest struct {
	Code, Name, Unit, UCUM string
}

// labTests are the tests a lab result can be recorded for.
var labTests = []labTest{
	{"4548-4", "Hemoglobin A1c", "%", "%"},
	{"2345-7", "Glucose", "mg/dL", "mg/dL"},
	{"13457-7", "LDL cholesterol", "mg/dL", "mg/dL"},
	{"2093-3", "Total cholesterol", "mg/dL", "mg/dL"},
	{"718-7", "Hemoglobin", "g/dL", "g/dL"},
	{"2823-3", "Potassium", "mmol/L", "mmol/L"},
	{"2951-2", "Sodium", "mmol/L", "mmol/L"},
	{"2160-0", "Creatinine", "mg/dL", "mg/dL"},
}

func findLabTest(code string) (labTest, bool) {
	for _, t := range labTests {
		if t.Code == code {
			return t, true
		}
	}
	return labTest{}, false
}

const (
	maxMedication = 200
	maxDosage     = 300
	maxRxReason   = 200
)

// rxnorm is an RxNorm concept id: digits.
var rxnorm = regexp.MustCompile(`^[0-9]{1,10}$`)

// prescriptionForm is the prescription form.
type prescriptionForm struct {
	ID, Label                          string
	Medication, RxNorm, Dosage, Reason string
	Errors                             errs
}

// labForm is the lab result form.
type labForm struct {
	ID, Label              string
	Test, Value, Low, High string
	Date                   string
	Tests                  []labTest
	Errors                 errs
}

// orderTarget checks the member's role and the patient id of an order
// page; ok false once it has answered.
func (s *Server) orderTarget(w http.ResponseWriter, r *http.Request, post bool, may func(pb.Role) bool, what string) (tok string, m Member, id ptoy.ID, ok bool) {
	if post {
		tok, m, ok = s.form(w, r)
	} else {
		tok, m, ok = s.signedIn(w, r)
	}
	if !ok || !s.allowed(w, r, m, may(m.Role), what) {
		return "", m, id, false
	}
	id, ok = parseID(w, r, s)
	return tok, m, id, ok
}

func (s *Server) prescriptionPage(w http.ResponseWriter, r *http.Request) {
	_, m, id, ok := s.orderTarget(w, r, false, mayPrescribe, "write prescriptions")
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "prescription", page{Title: "Add a prescription", Member: &m, Nav: "/console/patients",
		Data: prescriptionForm{ID: id.String(), Label: s.cfg.Org.Name(id), Errors: errs{}}})
}

// addPrescription writes a MedicationRequest (an order, active, with the
// RxNorm code when given and the dosage in words).
func (s *Server) addPrescription(w http.ResponseWriter, r *http.Request) {
	tok, m, id, ok := s.orderTarget(w, r, true, mayPrescribe, "write prescriptions")
	if !ok {
		return
	}
	f := prescriptionForm{ID: id.String(), Label: s.cfg.Org.Name(id), Errors: errs{},
		Medication: value(r, "medication", maxMedication+1), RxNorm: value(r, "rxnorm", 11),
		Dosage: value(r, "dosage", maxDosage+1), Reason: value(r, "reason", maxRxReason+1)}
	switch n := len([]rune(f.Medication)); {
	case n == 0:
		f.Errors["medication"] = "Name the medication, like “Metformin 500 mg tablet”."
	case n > maxMedication:
		f.Errors["medication"] = "Keep the medication to 200 characters."
	}
	if f.RxNorm != "" && !rxnorm.MatchString(f.RxNorm) {
		f.Errors["rxnorm"] = "An RxNorm code is 1 to 10 digits, like 860975; or leave it empty."
	}
	switch n := len([]rune(f.Dosage)); {
	case n == 0:
		f.Errors["dosage"] = "Say how to take it, like “1 tablet twice a day with meals”."
	case n > maxDosage:
		f.Errors["dosage"] = "Keep the instructions to 300 characters."
	}
	if len([]rune(f.Reason)) > maxRxReason {
		f.Errors["reason"] = "Keep the reason to 200 characters."
	}
	render := func(status int) {
		s.render(w, r, status, "prescription", page{Title: "Add a prescription", Member: &m, Nav: "/console/patients", Data: f})
	}
	if len(f.Errors) > 0 {
		render(http.StatusUnprocessableEntity)
		return
	}
	med := map[string]any{"text": f.Medication}
	if f.RxNorm != "" {
		med["coding"] = []any{map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": f.RxNorm, "display": f.Medication}}
	}
	res := map[string]any{
		"resourceType": "MedicationRequest", "status": "active", "intent": "order",
		"medicationCodeableConcept": med,
		"subject":                   map[string]any{"reference": "Patient/" + id.String()},
		"requester":                 map[string]any{"reference": "Practitioner/" + m.ID.String()},
		"authoredOn":                time.Now().UTC().Format(time.RFC3339),
		"dosageInstruction":         []any{map[string]any{"text": f.Dosage}},
	}
	if f.Reason != "" {
		res["reasonCode"] = []any{map[string]any{"text": f.Reason}}
	}
	if msg, done := s.create(w, r, tok, id, "MedicationRequest", res, "medications", "prescription"); !done {
		f.Errors[""] = msg
		render(http.StatusUnprocessableEntity)
	}
}

func (s *Server) labPage(w http.ResponseWriter, r *http.Request) {
	_, m, id, ok := s.orderTarget(w, r, false, mayRecordLabs, "record lab results")
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "lab", page{Title: "Add a lab result", Member: &m, Nav: "/console/patients",
		Data: labForm{ID: id.String(), Label: s.cfg.Org.Name(id), Tests: labTests, Date: time.Now().UTC().Format(time.DateOnly), Errors: errs{}}})
}

// number reads a decimal form value: ok false when it is not a finite
// number of at most 12 characters.
func number(v string) (float64, bool) {
	if v == "" || len(v) > 12 {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", "."), 64)
	return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

// addLab writes a lab result: an Observation (final, category
// laboratory) with the LOINC code, the value in the test's UCUM unit and
// the reference range when given.
func (s *Server) addLab(w http.ResponseWriter, r *http.Request) {
	tok, m, id, ok := s.orderTarget(w, r, true, mayRecordLabs, "record lab results")
	if !ok {
		return
	}
	f := labForm{ID: id.String(), Label: s.cfg.Org.Name(id), Tests: labTests, Errors: errs{},
		Test: value(r, "test", 10), Value: value(r, "value", 13), Low: value(r, "low", 13), High: value(r, "high", 13), Date: value(r, "date", 11)}
	test, known := findLabTest(f.Test)
	if !known {
		f.Errors["test"] = "Choose the test."
	}
	val, okVal := number(f.Value)
	switch {
	case f.Value == "":
		f.Errors["value"] = "Enter the result."
	case !okVal || val < 0:
		f.Errors["value"] = "The result is a number, 0 or more, like 6.1."
	}
	low, okLow := number(f.Low)
	high, okHigh := number(f.High)
	if f.Low != "" && (!okLow || low < 0) {
		f.Errors["low"] = "The low end is a number, 0 or more; or leave it empty."
	}
	if f.High != "" && (!okHigh || high < 0) {
		f.Errors["high"] = "The high end is a number, 0 or more; or leave it empty."
	}
	if okLow && okHigh && f.Errors["low"] == "" && f.Errors["high"] == "" && low >= high {
		f.Errors["high"] = "The high end must be above the low end."
	}
	day, err := time.Parse(time.DateOnly, f.Date)
	switch {
	case err != nil:
		f.Errors["date"] = "Give the date the sample was taken, like 2026-03-14."
	case day.After(time.Now().UTC()):
		f.Errors["date"] = "The date cannot be in the future."
	case day.Year() < 1900:
		f.Errors["date"] = "The date is too long ago."
	}
	render := func(status int) {
		s.render(w, r, status, "lab", page{Title: "Add a lab result", Member: &m, Nav: "/console/patients", Data: f})
	}
	if len(f.Errors) > 0 {
		render(http.StatusUnprocessableEntity)
		return
	}
	quantity := func(v float64) map[string]any {
		return map[string]any{"value": json.Number(strconv.FormatFloat(v, 'f', -1, 64)), "unit": test.Unit, "system": "http://unitsofmeasure.org", "code": test.UCUM}
	}
	res := map[string]any{
		"resourceType": "Observation", "status": "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory", "display": "Laboratory"}}}},
		"code": map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": test.Code, "display": test.Name}},
			"text": test.Name},
		"subject":           map[string]any{"reference": "Patient/" + id.String()},
		"performer":         []any{map[string]any{"reference": "Practitioner/" + m.ID.String()}},
		"effectiveDateTime": f.Date,
		"issued":            time.Now().UTC().Format(time.RFC3339),
		"valueQuantity":     quantity(val),
	}
	if f.Low != "" || f.High != "" {
		rr := map[string]any{}
		if f.Low != "" {
			rr["low"] = quantity(low)
		}
		if f.High != "" {
			rr["high"] = quantity(high)
		}
		res["referenceRange"] = []any{rr}
	}
	if msg, done := s.create(w, r, tok, id, "Observation", res, "lab-results", "lab result"); !done {
		f.Errors[""] = msg
		render(http.StatusUnprocessableEntity)
	}
}

// create writes resource res of type rt for patient id through the FHIR
// API as the member's session, and on success sends the member to the
// chart's category; otherwise it returns what to tell them (done false),
// or answers itself (done true) when the session ended.
func (s *Server) create(w http.ResponseWriter, r *http.Request, tok string, id ptoy.ID, rt string, res map[string]any, category, what string) (msg string, done bool) {
	body, err := json.Marshal(res)
	if err != nil {
		return "The " + what + " could not be written; nothing was saved.", false
	}
	rec, out, err := s.fhir(r.Context(), r, tok, http.MethodPost, rt, body, pb.Purpose_PURPOSE_TREATMENT)
	switch {
	case err != nil:
		s.fail(w, r, err)
		return "", true
	case rec.Status == http.StatusCreated || rec.Status == http.StatusOK:
		http.Redirect(w, r, "/console/patients/"+id.String()+"?category="+category+"&added="+strings.ReplaceAll(what, " ", "-"), http.StatusSeeOther)
		return "", true
	case rec.Status >= 400 && rec.Status < 500:
		return "The " + what + " was refused, and nothing was saved: " + diagnostics(out), false
	}
	s.cfg.Log.Warn("console: FHIR create failed", "type", rt, "status", rec.Status)
	return "The " + what + " could not be saved just now; nothing was saved. Try again in a moment.", false
}
