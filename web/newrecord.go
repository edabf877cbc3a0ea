package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"ptoy"
	"ptoy/fhir"
)

// The patient adds their own records through the node's FHIR API as
// their session, like any other write: a note (a DocumentReference with
// the text as a plain-text attachment) or a home blood-pressure reading
// (a vital-signs Observation, LOINC 85354-9 with systolic 8480-6 and
// diastolic 8462-4 components).

// newRecordForm is the form: what was entered and the messages.
type newRecordForm struct {
	Kind, Title, Text, Systolic, Diastolic, When string
	Errors                                       errs
}

const (
	maxNoteTitle = 120
	maxNoteText  = 5000
)

func (s *Server) newRecordPage(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.signedIn(w, r); !ok {
		return
	}
	kind := r.URL.Query().Get("kind")
	if kind != "note" && kind != "document" {
		kind = "bp"
	}
	s.render(w, r, http.StatusOK, "newrecord", page{Title: "Add a record", SignedIn: true, Nav: "/records/new",
		Data: newRecordForm{Kind: kind, Errors: errs{}}})
}

// parseWhen reads the form's date and time (UTC, as a datetime-local
// field sends it); "" is now.
func parseWhen(v string, now time.Time) (time.Time, string) {
	if v == "" {
		return now.UTC().Truncate(time.Second), ""
	}
	var t time.Time
	var err error
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err = time.Parse(layout, v); err == nil {
			break
		}
	}
	switch {
	case err != nil:
		return t, "Enter a date and time like 2026-03-01 08:30, or leave it empty for now."
	case t.After(now.Add(5 * time.Minute)):
		return t, "This is in the future. Enter when the reading was taken."
	case t.Year() < 1900:
		return t, "Enter a date after 1900."
	}
	return t, ""
}

func (s *Server) newRecord(w http.ResponseWriter, r *http.Request) {
	tok, id, ok := s.form(w, r)
	if !ok {
		return
	}
	f := newRecordForm{Kind: value(r, "kind", 8), Title: value(r, "title", maxNoteTitle+1), Text: strings.TrimSpace(r.PostFormValue("text")),
		Systolic: value(r, "systolic", 8), Diastolic: value(r, "diastolic", 8), When: value(r, "when", 24), Errors: errs{}}
	when, msg := parseWhen(f.When, time.Now())
	if msg != "" {
		f.Errors["when"] = msg
	}
	var res map[string]any
	patient := map[string]any{"reference": "Patient/" + id.String()}
	switch f.Kind {
	case "note":
		switch n := utf8.RuneCountInString(f.Title); {
		case n == 0:
			f.Errors["title"] = "Give the note a title."
		case n > maxNoteTitle:
			f.Errors["title"] = "Keep the title to 120 characters."
		}
		switch n := utf8.RuneCountInString(f.Text); {
		case n == 0:
			f.Errors["text"] = "Write the note."
		case n > maxNoteText:
			f.Errors["text"] = "Keep the note to 5,000 characters."
			f.Text = string([]rune(f.Text)[:maxNoteText])
		case !utf8.ValidString(f.Text):
			f.Errors["text"] = "The note has characters that cannot be kept."
		}
		res = map[string]any{
			"resourceType": "DocumentReference", "status": "current",
			"type":    map[string]any{"text": "Note by the patient"},
			"subject": patient, "date": when.Format(time.RFC3339), "description": f.Title,
			"content": []any{map[string]any{"attachment": map[string]any{
				"contentType": "text/plain; charset=utf-8", "title": f.Title,
				"data": base64.StdEncoding.EncodeToString([]byte(f.Text)),
			}}},
		}
	case "bp":
		sys, e1 := reading(f.Systolic, 50, 300)
		dia, e2 := reading(f.Diastolic, 30, 200)
		if e1 != "" {
			f.Errors["systolic"] = "Systolic: " + e1
		}
		if e2 != "" {
			f.Errors["diastolic"] = "Diastolic: " + e2
		}
		if e1 == "" && e2 == "" && dia >= sys {
			f.Errors["diastolic"] = "The diastolic (lower) number must be below the systolic (upper) one."
		}
		component := func(code, display string, v int) map[string]any {
			return map[string]any{
				"code":          map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": code, "display": display}}, "text": display},
				"valueQuantity": map[string]any{"value": v, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
			}
		}
		res = map[string]any{
			"resourceType": "Observation", "status": "final",
			"category": []any{map[string]any{"coding": []any{map[string]any{
				"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs"}}}},
			"code": map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "85354-9",
				"display": "Blood pressure panel with all children optional"}}, "text": "Blood pressure"},
			"subject": patient, "effectiveDateTime": when.Format(time.RFC3339),
			"component": []any{component("8480-6", "Systolic blood pressure", sys), component("8462-4", "Diastolic blood pressure", dia)},
		}
	default:
		f.Kind = "bp"
		f.Errors[""] = "Choose what to add: a blood pressure reading or a note."
	}
	if len(f.Errors) > 0 {
		s.render(w, r, http.StatusUnprocessableEntity, "newrecord", page{Title: "Add a record", SignedIn: true, Nav: "/records/new", Data: f})
		return
	}
	typ, rid, err := s.create(r.Context(), r, tok, res)
	if err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors[""] = s.say("adding a record", err)
		s.render(w, r, http.StatusUnprocessableEntity, "newrecord", page{Title: "Add a record", SignedIn: true, Nav: "/records/new", Data: f})
		return
	}
	http.Redirect(w, r, "/records/"+typ+"/"+rid+"?added=1", http.StatusSeeOther)
}

// reading reads a whole number of mmHg within [lo, hi].
func reading(v string, lo, hi int) (int, string) {
	if v == "" {
		return 0, "enter the number in mmHg."
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, "enter a whole number, like 120."
	}
	if n < lo || n > hi {
		return 0, "enter a number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi) + "."
	}
	return n, ""
}

// create writes a resource through the node's FHIR API in process as
// the patient's session, and returns its type and id.
func (s *Server) create(ctx context.Context, in *http.Request, tok string, res map[string]any) (string, string, error) {
	body, err := json.Marshal(res)
	if err != nil {
		return "", "", ptoy.E("web", ptoy.Other, err)
	}
	typ, _ := res["resourceType"].(string)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fhirMount+"/"+typ, bytes.NewReader(body))
	if err != nil {
		return "", "", ptoy.E("web", ptoy.Other, err)
	}
	req.Host, req.RemoteAddr, req.TLS = in.Host, in.RemoteAddr, in.TLS
	req.Header.Set("Authorization", "PTOY-Session "+tok)
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Prefer", "return=representation")
	rec := fhir.NewRecorder()
	s.cfg.FHIR.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	switch {
	case rec.Status == http.StatusUnauthorized:
		return "", "", errSessionEnded
	case rec.Status == http.StatusCreated || rec.Status == http.StatusOK:
	case rec.Status >= 400 && rec.Status < 500:
		msg := "the record was refused"
		if d := str(at(out, "issue", 0, "diagnostics")); d != "" {
			msg += ": " + d
		}
		return "", "", ptoy.E("web", ptoy.Invalid, msg)
	default:
		s.cfg.Log.Warn("web: FHIR create failed", "status", rec.Status)
		return "", "", ptoy.E("web", ptoy.Unavailable, "the record could not be added just now; nothing was saved. Try again in a moment")
	}
	id := str(out["id"])
	if id == "" {
		// Location: …/{type}/{id}/_history/{v}
		parts := strings.Split(rec.Header().Get("Location"), "/")
		for i := range parts {
			if parts[i] == typ && i+1 < len(parts) {
				id = parts[i+1]
			}
		}
	}
	if !idRE.MatchString(id) {
		return "", "", ptoy.E("web", ptoy.Other, "the FHIR API answered a create without an id")
	}
	return typ, id, nil
}
