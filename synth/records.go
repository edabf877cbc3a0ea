package synth

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// health is what is true of a person whichever hospital sees them: their
// long-lasting conditions (with onset and treatment), allergies and build.
type health struct {
	conditions []onset
	allergies  []allergy
	heightCm   float64
	bmi        float64
	systolic   float64 // usual blood pressure
	diastolic  float64
}

type onset struct {
	c   *chronic
	at  time.Time
	med *code // the medicine they take for it, or nil
}

func (h *health) has(key string, at time.Time) bool {
	for _, o := range h.conditions {
		if o.c.key == key && !o.at.After(at) {
			return true
		}
	}
	return false
}

func newHealth(r *rand.Rand, p Person, until time.Time) *health {
	h := &health{}
	age := years(p.Birth, until)
	for i := range chronics {
		c := &chronics[i]
		if age <= c.minAge {
			continue
		}
		// More likely with age: the prevalence at 50, scaled.
		chance := c.prevalence * math.Min(1.8, float64(age-c.minAge+15)/float64(50-c.minAge+15))
		if c.key == "prediabetes" && h.has("diabetes", until) {
			continue
		}
		if r.Float64() >= chance {
			continue
		}
		span := until.Sub(p.Birth.AddDate(c.minAge, 0, 0))
		o := onset{c: c, at: p.Birth.AddDate(c.minAge, 0, 0).Add(time.Duration(r.Int64N(int64(span))))}
		if len(c.meds) > 0 {
			o.med = &c.meds[r.IntN(len(c.meds))]
		}
		h.conditions = append(h.conditions, o)
	}
	for range r.IntN(3) {
		if r.IntN(3) == 0 {
			a := allergies[r.IntN(len(allergies))]
			if !slices.ContainsFunc(h.allergies, func(b allergy) bool { return b.code == a.code }) {
				h.allergies = append(h.allergies, a)
			}
		}
	}
	h.heightCm = 163 + r.NormFloat64()*7
	if p.Sex == "male" {
		h.heightCm += 13
	}
	h.bmi = 22 + r.Float64()*7
	if h.has("obesity", until) {
		h.bmi = 30 + r.Float64()*8
	}
	h.systolic, h.diastolic = 112+r.Float64()*14, 70+r.Float64()*10
	return h
}

// years is the age in whole years at t of someone born on birth.
func years(birth, t time.Time) int {
	y := t.Year() - birth.Year()
	if t.YearDay() < birth.YearDay() {
		y--
	}
	return y
}

// builder collects one record's resources.
type builder struct {
	r        *rand.Rand
	rec      *Record
	h        *health
	patient  map[string]any // reference to the Patient
	coverage map[string]any
	// for each medicine, the index of its latest request: it stays
	// active, the earlier ones are completed.
	lastMed  map[string]int
	recorded map[string]bool // chronic conditions already recorded here
	allergic bool            // allergies recorded here
}

func ref(id string) map[string]any { return map[string]any{"reference": "urn:uuid:" + id} }

func (b *builder) add(typ string, body map[string]any) (string, map[string]any) {
	id := uuid(b.r)
	sys := IdentifierSystem(b.rec.Hospital, typ)
	val := id
	if typ == "Patient" {
		val = b.rec.MRN
		body["identifier"] = []any{map[string]any{"use": "usual",
			"type":   codeable(code{"http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number"}),
			"system": sys, "value": val}}
	} else {
		body["identifier"] = []any{map[string]any{"system": sys, "value": val}}
	}
	b.rec.Resources = append(b.rec.Resources, Resource{Type: typ, ID: id, Identifier: [2]string{sys, val}, Body: body})
	return id, ref(id)
}

func coding(c code) map[string]any {
	return map[string]any{"system": c.system, "code": c.code, "display": c.display}
}

func codeable(cs ...code) map[string]any {
	l := make([]any, len(cs))
	for i, c := range cs {
		l[i] = coding(c)
	}
	return map[string]any{"coding": l, "text": cs[0].display}
}

func category(system, c, display string) []any {
	return []any{map[string]any{"coding": []any{map[string]any{"system": system, "code": c, "display": display}}}}
}

func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func quantity(v float64, unit string) map[string]any {
	return map[string]any{"value": v, "unit": unit, "system": sysUCUM, "code": unit}
}

func money(v float64) map[string]any {
	return map[string]any{"value": math.Round(v*100) / 100, "currency": "USD"}
}

func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

// history makes a hospital's record of a person: their Patient, their
// coverage and the visits between from and until, each with what was
// measured, found, prescribed, written and billed.
func history(r *rand.Rand, i int, hospital string, p Person, h *health, from, until time.Time) *Record {
	b := &builder{r: r, h: h, rec: &Record{Hospital: hospital, Person: p, MRN: mrn(hospital, i)},
		lastMed: map[string]int{}, recorded: map[string]bool{}}
	_, b.patient = b.add("Patient", patientBody(p))
	_, b.coverage = b.add("Coverage", map[string]any{
		"status":       "active",
		"type":         codeable(code{sysActCode, "PPO", "preferred provider organization policy"}),
		"subscriberId": fmt.Sprintf("ACM%09d", r.IntN(1_000_000_000)),
		"beneficiary":  b.patient,
		"relationship": codeable(code{"http://terminology.hl7.org/CodeSystem/subscriber-relationship", "self", "Self"}),
		"period":       map[string]any{"start": from.AddDate(-r.IntN(5), 0, 0).Format(time.DateOnly)},
		"payor":        []any{map[string]any{"display": "Acme Insurance"}},
	})
	if !p.Birth.IsZero() && p.Birth.After(from) {
		from = p.Birth
	}
	for _, v := range b.plan(from, until) {
		b.visit(v)
	}
	for i, res := range b.rec.Resources {
		if res.Type != "MedicationRequest" {
			continue
		}
		key := res.Body["medicationCodeableConcept"].(map[string]any)["text"].(string)
		if b.lastMed[key] != i {
			res.Body["status"] = "completed"
		}
	}
	return b.rec
}

func patientBody(p Person) map[string]any {
	body := map[string]any{"active": true, "gender": p.Sex}
	name := map[string]any{"use": "official"}
	if p.Family != "" {
		name["family"] = p.Family
	}
	if p.Given != "" {
		name["given"] = []any{p.Given}
	}
	body["name"] = []any{name}
	if p.Phone != "" {
		body["telecom"] = []any{map[string]any{"system": "phone", "value": p.Phone, "use": "home"}}
	}
	if !p.Birth.IsZero() {
		body["birthDate"] = p.Birth.Format(time.DateOnly)
	}
	addr := map[string]any{"use": "home", "country": "US"}
	var lines []any
	if l := p.Line(); l != "" {
		lines = append(lines, l)
	}
	if p.Unit != "" {
		lines = append(lines, p.Unit)
	}
	if len(lines) > 0 {
		addr["line"] = lines
	}
	for k, v := range map[string]string{"city": p.City, "state": p.State, "postalCode": p.Postcode} {
		if v != "" {
			addr[k] = v
		}
	}
	body["address"] = []any{addr}
	return body
}

type visitKind int

const (
	checkup visitKind = iota
	followUp
	symptom
	emergency
	inpatient
)

// visit is a planned encounter.
type visit struct {
	kind  visitKind
	start time.Time
	acute *acute
}

// maxVisits keeps a record's transaction Bundle well under the server's
// limit of entries.
const maxVisits = 45

// plan lays out the visits between from and until.
func (b *builder) plan(from, until time.Time) []visit {
	r := b.r
	var vs []visit
	day := func(y int) time.Time {
		start := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		end := start.AddDate(1, 0, 0)
		if start.Before(from) {
			start = from
		}
		if end.After(until) {
			end = until
		}
		if !end.After(start) {
			return time.Time{}
		}
		d := start.Add(time.Duration(r.Int64N(int64(end.Sub(start)))))
		return time.Date(d.Year(), d.Month(), d.Day(), 8+r.IntN(9), 5*r.IntN(12), 0, 0, time.UTC)
	}
	add := func(k visitKind, at time.Time, a *acute) {
		if !at.IsZero() {
			vs = append(vs, visit{k, at, a})
		}
	}
	for y := from.Year(); y <= until.Year(); y++ {
		if r.IntN(10) < 8 {
			add(checkup, day(y), nil)
		}
		if n := len(b.h.conditions); n > 0 {
			for range min(1+r.IntN(2), n) {
				add(followUp, day(y), nil)
			}
		}
		for range r.IntN(3) {
			a := &acutes[r.IntN(5)] // the ambulatory ones
			add(symptom, day(y), a)
		}
		if r.IntN(10) == 0 {
			a := &acutes[5+r.IntN(2)]
			add(emergency, day(y), a)
		}
		if r.IntN(30) == 0 || b.h.has("heart-failure", until) && r.IntN(4) == 0 {
			add(inpatient, day(y), &acutes[7])
		}
	}
	slices.SortFunc(vs, func(a, b visit) int { return a.start.Compare(b.start) })
	if len(vs) > maxVisits {
		vs = vs[len(vs)-maxVisits:]
	}
	return vs
}

// visit writes one encounter and everything that comes of it.
func (b *builder) visit(v visit) {
	r := b.r
	p := b.rec.Person
	age := years(b.rec.Person.Birth, v.start)
	if p.Birth.IsZero() {
		age = 40
	}
	var class code
	var types []code
	var end time.Time
	var items []code
	switch v.kind {
	case checkup:
		class, end = classAMB, v.start.Add(time.Duration(20+r.IntN(25))*time.Minute)
		prev := cptPrevent65
		switch {
		case age < 12:
			prev = cptPreventKid
		case age < 18:
			prev = cptPrevent12
		case age < 40:
			prev = cptPrevent18
		case age < 65:
			prev = cptPrevent40
		}
		types = []code{encCheckup, prev}
	case followUp:
		class, end = classAMB, v.start.Add(time.Duration(15+r.IntN(20))*time.Minute)
		types = []code{encFollowUp, cptOffice2}
	case symptom:
		class, end = classAMB, v.start.Add(time.Duration(15+r.IntN(15))*time.Minute)
		types = []code{encSymptom, cptOffice}
	case emergency:
		class, end = classEMER, v.start.Add(time.Duration(90+r.IntN(300))*time.Minute)
		types = []code{encEmergency, cptEmergency}
	case inpatient:
		class, end = classIMP, v.start.Add(time.Duration(48+r.IntN(96))*time.Hour)
		types = []code{encInpatient, cptInpatient}
	}
	items = append(items, types[1])
	enc := map[string]any{
		"status":          "finished",
		"class":           coding(class),
		"type":            []any{codeable(types...)},
		"subject":         b.patient,
		"period":          map[string]any{"start": instant(v.start), "end": instant(end)},
		"serviceProvider": map[string]any{"display": b.rec.Hospital},
	}
	if v.acute != nil {
		enc["reasonCode"] = []any{codeable(v.acute.cond)}
	}
	if v.kind == inpatient {
		enc["hospitalization"] = map[string]any{"dischargeDisposition": codeable(code{"http://terminology.hl7.org/CodeSystem/discharge-disposition", "home", "Home"})}
	}
	_, encRef := b.add("Encounter", enc)

	var diagnoses []map[string]any
	var found []string // for the note
	// Allergies and long-lasting conditions are recorded at the first
	// visit that knows of them.
	if !b.allergic {
		b.allergic = true
		for _, a := range b.h.allergies {
			b.add("AllergyIntolerance", map[string]any{
				"clinicalStatus":     codeable(code{"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"}),
				"verificationStatus": codeable(code{"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed"}),
				"type":               "allergy",
				"category":           []any{a.category},
				"criticality":        map[bool]string{true: "high", false: "low"}[a.reaction.code == "39579001"],
				"code":               codeable(a.code),
				"patient":            b.patient,
				"encounter":          encRef,
				"recordedDate":       instant(v.start),
				"reaction":           []any{map[string]any{"manifestation": []any{codeable(a.reaction)}, "severity": map[bool]string{true: "severe", false: "mild"}[a.reaction.code == "39579001"]}},
			})
			found = append(found, "known "+strings.ToLower(a.code.display))
		}
	}
	for _, o := range b.h.conditions {
		if b.recorded[o.c.key] || o.at.After(end) {
			continue
		}
		b.recorded[o.c.key] = true
		_, cref := b.add("Condition", map[string]any{
			"clinicalStatus":     codeable(code{"http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"}),
			"verificationStatus": codeable(code{"http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"}),
			"category":           category("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item"),
			"code":               codeable(o.c.cond),
			"subject":            b.patient,
			"encounter":          encRef,
			"onsetDateTime":      instant(o.at),
			"recordedDate":       instant(v.start),
		})
		diagnoses = append(diagnoses, cref)
		if o.med != nil {
			b.prescribe(*o.med, encRef, v.start, "Take as directed, every day", 90)
		}
	}
	if v.acute != nil {
		_, cref := b.add("Condition", map[string]any{
			"clinicalStatus":     codeable(code{"http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved", "Resolved"}),
			"verificationStatus": codeable(code{"http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"}),
			"category":           category("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Encounter Diagnosis"),
			"code":               codeable(v.acute.cond),
			"subject":            b.patient,
			"encounter":          encRef,
			"onsetDateTime":      instant(v.start.AddDate(0, 0, -1-r.IntN(6))),
			"abatementDateTime":  instant(end.AddDate(0, 0, 7+r.IntN(14))),
			"recordedDate":       instant(v.start),
		})
		diagnoses = append([]map[string]any{cref}, diagnoses...)
		if v.acute.med != nil {
			b.prescribe(*v.acute.med, encRef, v.start, "Take as directed until the course is finished", 10)
		}
	}
	// Renewals of the medicines of long-lasting conditions, once a year.
	if v.kind == checkup {
		for _, o := range b.h.conditions {
			if o.med != nil && b.recorded[o.c.key] && o.at.Before(v.start.AddDate(0, -6, 0)) {
				b.prescribe(*o.med, encRef, v.start, "Take as directed, every day", 365)
			}
		}
	}

	vitals := b.vitals(v, encRef, age)
	found = append(found, vitals...)
	if v.kind == checkup || v.kind == inpatient || v.kind == followUp && (b.h.has("diabetes", v.start) || b.h.has("hyperlipidemia", v.start)) {
		labs, billed := b.labs(v, encRef, end)
		found = append(found, labs...)
		items = append(items, billed...)
	}
	if v.kind == checkup {
		items = append(items, b.immunise(v, encRef, age)...)
	}
	b.note(v, encRef, end, diagnoses, found)
	b.bill(v, encRef, end, items, diagnoses)
}

func (b *builder) prescribe(med code, encRef map[string]any, at time.Time, sig string, days int) {
	b.add("MedicationRequest", map[string]any{
		"status":                    "active",
		"intent":                    "order",
		"category":                  category("http://terminology.hl7.org/CodeSystem/medicationrequest-category", "community", "Community"),
		"medicationCodeableConcept": codeable(med),
		"subject":                   b.patient,
		"encounter":                 encRef,
		"authoredOn":                instant(at),
		"dosageInstruction":         []any{map[string]any{"sequence": 1, "text": sig}},
		"dispenseRequest": map[string]any{"validityPeriod": map[string]any{
			"start": at.Format(time.DateOnly), "end": at.AddDate(0, 0, days).Format(time.DateOnly)}},
	})
	b.lastMed[med.display] = len(b.rec.Resources) - 1
}

// note writes the visit's clinical note as plain text.
func (b *builder) note(v visit, encRef map[string]any, end time.Time, diagnoses []map[string]any, found []string) {
	typ := noteProgress
	reason := "annual check-up"
	switch v.kind {
	case followUp:
		reason = "follow-up of long-term conditions"
	case symptom:
		reason = v.acute.complaint
	case emergency:
		typ, reason = noteEmergency, v.acute.complaint
	case inpatient:
		typ, reason = noteDischarge, v.acute.complaint
	}
	if v.kind == checkup && b.r.IntN(4) == 0 {
		typ = noteHandP
	}
	var t strings.Builder
	fmt.Fprintf(&t, "%s, %s\n\n", typ.display, v.start.Format("2 January 2006"))
	fmt.Fprintf(&t, "Reason for visit: %s.\n", reason)
	if len(found) > 0 {
		fmt.Fprintf(&t, "Findings: %s.\n", strings.Join(found, "; "))
	}
	var assess []string
	if v.acute != nil {
		assess = append(assess, v.acute.cond.display)
	}
	for _, o := range b.h.conditions {
		if b.recorded[o.c.key] {
			assess = append(assess, o.c.cond.display+": "+o.c.note)
		}
	}
	if len(assess) == 0 {
		assess = append(assess, "healthy, no active problems")
	}
	fmt.Fprintf(&t, "Assessment: %s.\n", strings.Join(assess, "; "))
	plan := "Routine follow-up in one year."
	switch v.kind {
	case symptom, emergency:
		plan = "Symptomatic care explained; return if worse or not better in a week."
	case inpatient:
		plan = "Discharged home on oral treatment; review in the clinic in two weeks."
	case followUp:
		plan = "Continue current treatment; review in three to six months."
	}
	fmt.Fprintf(&t, "Plan: %s\n", plan)
	b.add("DocumentReference", map[string]any{
		"status":   "current",
		"type":     codeable(typ),
		"category": category("http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category", "clinical-note", "Clinical Note"),
		"subject":  b.patient,
		"date":     instant(end),
		"content": []any{map[string]any{"attachment": map[string]any{
			"contentType": "text/plain",
			"data":        base64.StdEncoding.EncodeToString([]byte(t.String())),
			"title":       typ.display,
		}}},
		"context": map[string]any{"encounter": []any{encRef},
			"period": map[string]any{"start": instant(v.start), "end": instant(end)}},
	})
}

// price is what the hospital charges for a code, in US dollars.
var price = map[string]float64{
	"99213": 112, "99214": 165, "99284": 520, "99223": 2850, "99393": 190, "99394": 205,
	"99395": 220, "99396": 245, "99397": 265, "80061": 42, "83036": 28, "80048": 24, "85025": 18, "90686": 36,
}

// bill writes the claim for the visit and the insurer's explanation of
// benefit.
func (b *builder) bill(v visit, encRef map[string]any, end time.Time, items []code, diagnoses []map[string]any) {
	r := b.r
	claimType := code{"http://terminology.hl7.org/CodeSystem/claim-type", "professional", "Professional"}
	if v.kind == inpatient || v.kind == emergency {
		claimType = code{"http://terminology.hl7.org/CodeSystem/claim-type", "institutional", "Institutional"}
	}
	period := map[string]any{"start": instant(v.start), "end": instant(end)}
	created := instant(end.Add(time.Duration(1+r.IntN(48)) * time.Hour))
	var claimItems, eobItems []any
	var total, paid float64
	share := 0.7 + r.Float64()*0.2
	for i, c := range items {
		amount := price[c.code]
		total += amount
		paid += amount * share
		claimItems = append(claimItems, map[string]any{
			"sequence": i + 1, "productOrService": codeable(c), "servicedPeriod": period,
			"encounter": []any{encRef}, "net": money(amount),
		})
		eobItems = append(eobItems, map[string]any{
			"sequence": i + 1, "productOrService": codeable(c), "servicedPeriod": period,
			"encounter": []any{encRef},
			"adjudication": []any{
				map[string]any{"category": codeable(code{"http://terminology.hl7.org/CodeSystem/adjudication", "submitted", "Submitted Amount"}), "amount": money(amount)},
				map[string]any{"category": codeable(code{"http://terminology.hl7.org/CodeSystem/adjudication", "benefit", "Benefit Amount"}), "amount": money(amount * share)},
			},
		})
	}
	var dx []any
	for i, d := range diagnoses {
		dx = append(dx, map[string]any{"sequence": i + 1, "diagnosisReference": d})
	}
	provider := map[string]any{"display": b.rec.Hospital}
	insurance := []any{map[string]any{"sequence": 1, "focal": true, "coverage": b.coverage}}
	claim := map[string]any{
		"status": "active", "type": codeable(claimType), "use": "claim", "patient": b.patient,
		"billablePeriod": period, "created": created, "provider": provider,
		"priority":  codeable(code{"http://terminology.hl7.org/CodeSystem/processpriority", "normal", "Normal"}),
		"insurance": insurance, "item": claimItems, "total": money(total),
	}
	if len(dx) > 0 {
		claim["diagnosis"] = dx
	}
	_, claimRef := b.add("Claim", claim)
	eobInsurance := []any{map[string]any{"focal": true, "coverage": b.coverage}}
	b.add("ExplanationOfBenefit", map[string]any{
		"status": "active", "type": codeable(claimType), "use": "claim", "patient": b.patient,
		"billablePeriod": period, "created": created, "insurer": map[string]any{"display": "Acme Insurance"},
		"provider": provider, "claim": claimRef, "outcome": "complete", "insurance": eobInsurance,
		"item": eobItems,
		"total": []any{
			map[string]any{"category": codeable(code{"http://terminology.hl7.org/CodeSystem/adjudication", "submitted", "Submitted Amount"}), "amount": money(total)},
			map[string]any{"category": codeable(code{"http://terminology.hl7.org/CodeSystem/adjudication", "benefit", "Benefit Amount"}), "amount": money(paid)},
		},
		"payment": map[string]any{"amount": money(paid)},
	})
}
