package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"ptoy"
	"ptoy/auth"
	"ptoy/consent"
	"ptoy/fhir"
	pb "ptoy/gen/ptoy/v1"
)

// fhirMount is where the node serves FHIR.
const fhirMount = "/fhir"

var errSessionEnded = ptoy.E("console", ptoy.Unauthenticated, "your session ended; sign in again")

// fhir calls the node's FHIR API in process as the member's session,
// acting for the organisation: pathQuery is relative to the FHIR base.
// A Bundle answer is in the recorder's Page, anything else decoded.
func (s *Server) fhir(ctx context.Context, in *http.Request, tok, method, pathQuery string, body []byte, purpose pb.Purpose) (*fhir.Recorder, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, method, fhirMount+"/"+pathQuery, bytes.NewReader(body))
	if err != nil {
		return nil, nil, ptoy.E("console", ptoy.Other, err)
	}
	org, _ := s.cfg.Org.Org()
	req.Host, req.RemoteAddr, req.TLS = in.Host, in.RemoteAddr, in.TLS
	req.Header.Set("Authorization", auth.SessionScheme+" "+tok)
	req.Header.Set(auth.HeaderOrg, org.String())
	if purpose != pb.Purpose_PURPOSE_UNSPECIFIED {
		req.Header.Set(auth.HeaderPurpose, consent.PurposeName(purpose))
	}
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Prefer", "return=representation")
	}
	rec := fhir.NewRecorder()
	s.cfg.FHIR.ServeHTTP(rec, req)
	if rec.Status == http.StatusUnauthorized {
		return rec, nil, errSessionEnded
	}
	var out map[string]any
	if rec.Page == nil {
		json.Unmarshal(rec.Body.Bytes(), &out)
	}
	return rec, out, nil
}

// search returns every resource of a FHIR read, following next links.
func (s *Server) search(ctx context.Context, in *http.Request, tok, pathQuery string, purpose pb.Purpose) ([]map[string]any, error) {
	var all []map[string]any
	for page := 0; pathQuery != "" && page < 50; page++ {
		rec, b, err := s.fhir(ctx, in, tok, http.MethodGet, pathQuery, nil, purpose)
		if err != nil {
			return nil, err
		}
		switch {
		case rec.Status == http.StatusNotFound:
			// Nothing of the patient is open to the member: the
			// chart is empty.
			return all, nil
		case rec.Status == http.StatusForbidden:
			return nil, ptoy.E("console", ptoy.PermissionDenied, "you may not read this patient's records: "+diagnostics(b))
		case rec.Status != http.StatusOK:
			s.cfg.Log.Warn("console: FHIR read failed", "status", rec.Status)
			return nil, ptoy.E("console", ptoy.Unavailable, "the records could not be read just now: "+diagnostics(b))
		case rec.Page == nil:
			return nil, ptoy.E("console", ptoy.Other, "the FHIR API answered a read with something other than a Bundle")
		}
		rs, err := rec.Page.Resources()
		if err != nil {
			return nil, ptoy.E("console", ptoy.Other, err)
		}
		all = append(all, rs...)
		pathQuery = rec.Page.Next(fhirMount)
	}
	return all, nil
}

func diagnostics(b map[string]any) string {
	if d := str(at(b, "issue", 0, "diagnostics")); d != "" {
		return d
	}
	return "the FHIR API gave no reason"
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func list(v any) []any         { l, _ := v.([]any); return l }
func str(v any) string         { s, _ := v.(string); return s }

// at walks v by object keys and list indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = obj(v)[k]
		case int:
			l := list(v)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// patientRow is a patient list entry as shown.
type patientRow struct {
	Patient
	Label, What string
	Write       bool
}

func (s *Server) patients(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.signedIn(w, r)
	if !ok || !s.allowed(w, r, m, consent.RoleCategories(m.Role) != 0, "read patients' records") {
		return
	}
	s.patientList(w, r, tok, m, "")
}

// searchPatients answers the search form. It is a POST so that a name
// searched for never appears in a URL (browser history, proxies' logs).
func (s *Server) searchPatients(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.form(w, r)
	if !ok || !s.allowed(w, r, m, consent.RoleCategories(m.Role) != 0, "read patients' records") {
		return
	}
	s.patientList(w, r, tok, m, value(r, "q", 100))
}

func (s *Server) patientList(w http.ResponseWriter, r *http.Request, tok string, m Member, q string) {
	ps, err := s.cfg.Org.Patients(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rows []patientRow
	for _, p := range ps {
		if q != "" && !matches(p, q) {
			continue
		}
		row := patientRow{Patient: p, Label: p.Name, What: consent.DescribeCategories(p.Categories & consent.RoleCategories(m.Role)),
			Write: p.Permission&pb.Permission_PERMISSION_WRITE != 0}
		if row.Label == "" {
			row.Label = "Patient " + consent.ShortID(p.ID)
		}
		rows = append(rows, row)
	}
	slices.SortStableFunc(rows, func(a, b patientRow) int { return strings.Compare(strings.ToLower(a.Label), strings.ToLower(b.Label)) })
	s.render(w, r, http.StatusOK, "patients", page{Title: "Patients", Member: &m, Nav: "/console/patients",
		Data: map[string]any{"Rows": rows, "Q": q, "Total": len(ps)}})
}

// matches reports whether a patient answers a search: by name where the
// organisation knows it, else by (a prefix of) the account id.
func matches(p Patient, q string) bool {
	lq := strings.ToLower(q)
	if p.Name != "" && strings.Contains(strings.ToLower(p.Name), lq) {
		return true
	}
	return strings.HasPrefix(p.ID.String(), strings.TrimPrefix(lq, "patient "))
}

// categoryOf is the consent category of the record types the FHIR API
// stores (as the API files them).
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

// item is one record of a chart, readable.
type item struct {
	Type, ID, Title, Date, Status, Text string
}

// section is one category of a chart.
type section struct {
	Slug, Name string
	Items      []item
	// Total is how many records the category has; the overview shows
	// the newest few.
	Total int
}

// overview is how many records of each category the overview shows.
const overview = 5

func slug(c pb.Category) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(c.String(), "CATEGORY_")), "_", "-")
}

// concept is a CodeableConcept in words.
func concept(v any) string {
	if t := str(obj(v)["text"]); t != "" {
		return t
	}
	for _, c := range list(obj(v)["coding"]) {
		if d := str(obj(c)["display"]); d != "" {
			return d
		}
	}
	for _, c := range list(obj(v)["coding"]) {
		if d := str(obj(c)["code"]); d != "" {
			return d
		}
	}
	return ""
}

// readable makes a record an item: a title, a date, a status and, for
// notes, their text.
func readable(r map[string]any) item {
	it := item{Type: str(r["resourceType"]), ID: str(r["id"]), Status: str(r["status"])}
	for _, k := range []string{"code", "medicationCodeableConcept", "vaccineCode", "type", "category"} {
		v := r[k]
		if l, ok := v.([]any); ok && len(l) > 0 {
			v = l[0]
		}
		if t := concept(v); t != "" {
			it.Title = t
			break
		}
	}
	if d := str(r["description"]); d != "" && it.Type == "DocumentReference" {
		it.Title = d
	}
	if it.Type == "Patient" {
		n := obj(at(r, "name", 0))
		var parts []string
		for _, g := range list(n["given"]) {
			parts = append(parts, str(g))
		}
		it.Title = strings.TrimSpace(strings.Join(append(parts, str(n["family"])), " "))
		it.Date = str(r["birthDate"])
	}
	if it.Title == "" {
		it.Title = it.Type
	}
	for _, k := range []string{"effectiveDateTime", "date", "recordedDate", "onsetDateTime", "authoredOn", "occurrenceDateTime", "issued", "created"} {
		if d := str(r[k]); d != "" {
			it.Date = d
			break
		}
	}
	if it.Date == "" {
		it.Date = str(at(r, "period", "start"))
	}
	if q := obj(r["valueQuantity"]); q != nil {
		if b, err := json.Marshal(q["value"]); err == nil {
			it.Text = string(b) + " " + str(q["unit"])
		}
	}
	if it.Type == "MedicationRequest" {
		it.Text = str(at(r, "dosageInstruction", 0, "text"))
	}
	if it.Type == "DocumentReference" {
		if d := str(at(r, "content", 0, "attachment", "data")); d != "" {
			if b, err := base64.StdEncoding.DecodeString(d); err == nil && utf8.Valid(b) {
				it.Text = string(b)
			}
		}
	}
	return it
}

func parseID(w http.ResponseWriter, r *http.Request, s *Server) (ptoy.ID, bool) {
	id, err := ptoy.ParseID(r.PathValue("id"))
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, "There is no such patient: an account id is 40 characters, 0–9 and a–f.")
		return ptoy.ID{}, false
	}
	return id, true
}

// chart shows a patient's records by category: what the member's role
// may read of what the patient granted, through the FHIR API.
func (s *Server) chart(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.signedIn(w, r)
	if !ok || !s.allowed(w, r, m, consent.RoleCategories(m.Role) != 0, "read patients' records") {
		return
	}
	id, ok := parseID(w, r, s)
	if !ok {
		return
	}
	purpose := pb.Purpose_PURPOSE_TREATMENT
	emergency := r.URL.Query().Get("emergency") == "1" && m.Role == pb.Role_ROLE_EMERGENCY_PHYSICIAN
	if emergency {
		purpose = pb.Purpose_PURPOSE_EMERGENCY
	}
	recs, err := s.search(r.Context(), r, tok, "Patient/"+id.String()+"/$everything?_count=200", purpose)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	bycat := map[pb.Category][]item{}
	name := ""
	for _, rec := range recs {
		it := readable(rec)
		c, ok := categoryOf[it.Type]
		if !ok {
			continue
		}
		if it.Type == "Patient" && name == "" {
			name = it.Title
		}
		bycat[c] = append(bycat[c], it)
	}
	want := r.URL.Query().Get("category")
	var secs, shown []section
	for c := pb.Category(1); c < 32; c++ {
		its, ok := bycat[c]
		if !ok {
			continue
		}
		slices.SortStableFunc(its, func(a, b item) int { return strings.Compare(b.Date, a.Date) })
		sec := section{Slug: slug(c), Name: capital(consent.CategoryName(c)), Items: its, Total: len(its)}
		secs = append(secs, sec)
		switch {
		case want == "":
			sec.Items = slices.Clone(its[:min(len(its), overview)])
			for i := range sec.Items {
				if t := []rune(sec.Items[i].Text); len(t) > 280 {
					sec.Items[i].Text = string(t[:280]) + "…"
				}
			}
			shown = append(shown, sec)
		case want == sec.Slug:
			shown = append(shown, sec)
		}
	}
	label := s.cfg.Org.Name(id)
	if name != "" {
		label = name
	}
	write := false // the patient granted the organisation write
	if ps, err := s.cfg.Org.Patients(r.Context(), tok); err == nil {
		for _, p := range ps {
			if p.ID == id && p.Status == "active" && p.Permission&pb.Permission_PERMISSION_WRITE != 0 {
				write = true
			}
		}
	}
	s.render(w, r, http.StatusOK, "chart", page{Title: "Chart of " + label, Member: &m, Nav: "/console/patients", Data: map[string]any{
		"ID": id.String(), "Label": label, "Sections": secs, "Shown": shown, "Category": want, "Write": write && consent.RoleCategories(m.Role)&consent.Bit(pb.Category_CATEGORY_NOTES) != 0,
		"Prescribe": write && mayPrescribe(m.Role), "Labs": write && mayRecordLabs(m.Role),
		"Emergency": emergency, "Added": added[r.URL.Query().Get("added")], "Count": len(recs),
		"Allowed": consent.DescribeCategories(consent.RoleCategories(m.Role)),
	}})
}

// added is what the chart says after a record was added (?added=).
var added = map[string]string{
	"note":         "Your note is added to the chart.",
	"prescription": "Your prescription is added to the chart.",
	"lab-result":   "The lab result is added to the chart.",
}

// noteForm is the encounter note form.
type noteForm struct {
	ID, Label, Title, Text string
	Errors                 errs
}

const (
	maxNoteTitle = 120
	maxNoteText  = 5000
)

func (s *Server) notePage(w http.ResponseWriter, r *http.Request) {
	_, m, ok := s.signedIn(w, r)
	if !ok || !s.allowed(w, r, m, consent.RoleCategories(m.Role)&consent.Bit(pb.Category_CATEGORY_NOTES) != 0, "write clinical notes") {
		return
	}
	id, ok := parseID(w, r, s)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "note", page{Title: "Add an encounter note", Member: &m, Nav: "/console/patients",
		Data: noteForm{ID: id.String(), Label: s.cfg.Org.Name(id), Errors: errs{}}})
}

// addNote writes an encounter note (a DocumentReference, LOINC 34109-9
// "Note", with the text as a plain-text attachment) through the FHIR API
// as the member's session: the door checks the patient's grant and the
// member's role.
func (s *Server) addNote(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.form(w, r)
	if !ok || !s.allowed(w, r, m, consent.RoleCategories(m.Role)&consent.Bit(pb.Category_CATEGORY_NOTES) != 0, "write clinical notes") {
		return
	}
	id, ok := parseID(w, r, s)
	if !ok {
		return
	}
	f := noteForm{ID: id.String(), Label: s.cfg.Org.Name(id), Title: value(r, "title", maxNoteTitle+1), Text: strings.TrimSpace(r.PostFormValue("text")), Errors: errs{}}
	switch n := utf8.RuneCountInString(f.Title); {
	case n == 0:
		f.Errors["title"] = "Give the note a title, like “Follow-up visit”."
	case n > maxNoteTitle:
		f.Errors["title"] = "Keep the title to 120 characters."
	}
	switch n := utf8.RuneCountInString(f.Text); {
	case !utf8.ValidString(f.Text):
		f.Errors["text"] = "The note has characters that cannot be kept."
		f.Text = ""
	case n == 0:
		f.Errors["text"] = "Write the note."
	case n > maxNoteText:
		f.Errors["text"] = "Keep the note to 5,000 characters."
		f.Text = string([]rune(f.Text)[:maxNoteText])
	}
	if len(f.Errors) > 0 {
		s.render(w, r, http.StatusUnprocessableEntity, "note", page{Title: "Add an encounter note", Member: &m, Nav: "/console/patients", Data: f})
		return
	}
	org, _ := s.cfg.Org.Org()
	res := map[string]any{
		"resourceType": "DocumentReference", "status": "current",
		"type": map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "34109-9", "display": "Note"}},
			"text": "Encounter note"},
		"subject":     map[string]any{"reference": "Patient/" + id.String()},
		"author":      []any{map[string]any{"reference": "Practitioner/" + m.ID.String()}},
		"custodian":   map[string]any{"reference": "Organization/" + org.String()},
		"date":        time.Now().UTC().Format(time.RFC3339),
		"description": f.Title,
		"content": []any{map[string]any{"attachment": map[string]any{
			"contentType": "text/plain; charset=utf-8", "title": f.Title,
			"data": base64.StdEncoding.EncodeToString([]byte(f.Text)),
		}}},
	}
	msg, done := s.create(w, r, tok, id, "DocumentReference", res, "notes", "note")
	if done {
		return
	}
	f.Errors[""] = msg
	s.render(w, r, http.StatusUnprocessableEntity, "note", page{Title: "Add an encounter note", Member: &m, Nav: "/console/patients", Data: f})
}
