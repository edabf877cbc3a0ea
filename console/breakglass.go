package console

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

// breakGlassForm is the break-glass form: the patient and the reason.
type breakGlassForm struct {
	Patient, Reason string
	Errors          errs
}

const maxReason = 2000

func (s *Server) breakGlassPage(w http.ResponseWriter, r *http.Request) {
	_, m, ok := s.signedIn(w, r)
	if !ok || !s.allowed(w, r, m, m.Role == pb.Role_ROLE_EMERGENCY_PHYSICIAN, "break the glass: emergency physicians do") {
		return
	}
	s.render(w, r, http.StatusOK, "breakglass", page{Title: "Break-glass", Member: &m, Nav: "/console/break-glass",
		Data: map[string]any{"Form": breakGlassForm{Errors: errs{}}}})
}

// breakGlass opens emergency access to a patient's emergency set. The
// reason is mandatory; only its SHA-256 goes on the ledger, and the
// member is shown it to keep with the text for the review.
func (s *Server) breakGlass(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.form(w, r)
	if !ok || !s.allowed(w, r, m, m.Role == pb.Role_ROLE_EMERGENCY_PHYSICIAN, "break the glass: emergency physicians do") {
		return
	}
	f := breakGlassForm{Patient: value(r, "patient", 64), Reason: value(r, "reason", maxReason+1), Errors: errs{}}
	patient, err := ptoy.ParseID(f.Patient)
	switch {
	case f.Patient == "":
		f.Errors["patient"] = "Enter the patient's account id."
	case err != nil:
		f.Errors["patient"] = "An account id is 40 characters, 0–9 and a–f."
	}
	switch n := utf8.RuneCountInString(f.Reason); {
	case n == 0:
		f.Errors["reason"] = "Say why you need emergency access: the reason is mandatory and is reviewed."
	case n < 10:
		f.Errors["reason"] = "Say a little more: at least 10 characters."
	case n > maxReason:
		f.Errors["reason"] = "Keep the reason to 2,000 characters."
	}
	render := func(status int, data map[string]any) {
		data["Form"] = f
		s.render(w, r, status, "breakglass", page{Title: "Break-glass", Member: &m, Nav: "/console/break-glass", Data: data})
	}
	if len(f.Errors) > 0 {
		render(http.StatusUnprocessableEntity, map[string]any{})
		return
	}
	ev, err := s.cfg.Org.BreakGlass(r.Context(), tok, patient, f.Reason)
	if err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors[""] = s.say("a break-glass", err)
		render(http.StatusUnprocessableEntity, map[string]any{})
		return
	}
	h := sha256.Sum256([]byte(f.Reason))
	data := map[string]any{"Opened": true, "Patient": patient.String(), "Label": s.cfg.Org.Name(patient), "Hash": hex.EncodeToString(h[:])}
	if ev != nil {
		data["Event"] = ev
		data["What"] = consent.DescribeCategories(ev.Categories)
		data["Closes"] = time.Unix(ev.Closes, 0).UTC().Format("2 Jan 2006 15:04 UTC")
	}
	f = breakGlassForm{Errors: errs{}}
	render(http.StatusOK, data)
}

// glassRow is a break-glass event as the review queue shows it.
type glassRow struct {
	ID                                  uint64
	Practitioner, Patient, What, Reason string
	Opened, Closes                      int64
	Open, Flagged                       bool
	// Matches is set when the reason checked hashes to this event's.
	Matches bool
	// The patient's dispute: when, its reason's SHA-256, and its text
	// where this node keeps it (checked against the hash). DisputeError
	// says why the text is not shown when it is kept but fails the check.
	Disputed                               int64
	DisputeHash, DisputeText, DisputeError string
	DisputeMatches                         bool
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.signedIn(w, r)
	if !ok || !s.allowed(w, r, m, m.Role == pb.Role_ROLE_PRIVACY_OFFICER || m.Role == pb.Role_ROLE_ADMIN, "review break-glass: privacy officers and admins do") {
		return
	}
	s.renderQueue(w, r, tok, m, http.StatusOK, checkForm{Errors: errs{}})
}

// checkForm checks a reason's text against the queue: the officer pastes
// what the practitioner kept, and the console says which break-glass's
// SHA-256 it is. The text is not kept.
type checkForm struct {
	Reason  string
	Checked bool
	Matches []uint64
	// Disputes lists the events whose dispute's reason the text is.
	Disputes []uint64
	Errors   errs
}

// checkReason checks a reason against the queue.
func (s *Server) checkReason(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.form(w, r)
	if !ok || !s.allowed(w, r, m, m.Role == pb.Role_ROLE_PRIVACY_OFFICER || m.Role == pb.Role_ROLE_ADMIN, "review break-glass: privacy officers and admins do") {
		return
	}
	f := checkForm{Reason: value(r, "reason", maxReason+1), Errors: errs{}}
	switch n := utf8.RuneCountInString(f.Reason); {
	case n == 0:
		f.Errors["reason"] = "Paste the reason's text the practitioner kept."
	case n > maxReason:
		f.Errors["reason"] = "A reason is at most 2,000 characters."
	}
	status := http.StatusOK
	if len(f.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	} else {
		f.Checked = true
	}
	s.renderQueue(w, r, tok, m, status, f)
}

func (s *Server) renderQueue(w http.ResponseWriter, r *http.Request, tok string, m Member, status int, f checkForm) {
	evs, err := s.cfg.Org.GlassQueue(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var sum [sha256.Size]byte
	if f.Checked {
		sum = sha256.Sum256([]byte(f.Reason))
	}
	now := time.Now().Unix()
	rows := make([]glassRow, 0, len(evs))
	disputed := 0
	for i := len(evs) - 1; i >= 0; i-- { // newest first
		ev := evs[i]
		row := glassRow{ID: ev.Id, Practitioner: s.cfg.Org.Name(idOf(ev.Practitioner)), Patient: s.cfg.Org.Name(idOf(ev.Patient)),
			What: consent.DescribeCategories(ev.Categories), Reason: hex.EncodeToString(ev.ReasonHash), Opened: ev.Opened, Closes: ev.Closes,
			Open: now < ev.Closes, Flagged: ev.Flagged, Disputed: ev.Disputed}
		if f.Checked && string(ev.ReasonHash) == string(sum[:]) {
			row.Matches = true
			f.Matches = append(f.Matches, ev.Id)
		}
		if ev.Disputed != 0 {
			disputed++
			row.DisputeHash = hex.EncodeToString(ev.DisputeHash)
			text, err := s.cfg.Org.DisputeText(r.Context(), tok, ev.Id)
			switch {
			case ptoy.KindOf(err) == ptoy.Invalid:
				row.DisputeError = capital(ptoy.Message(err)) + ": it is not shown."
			case err != nil:
				s.fail(w, r, err)
				return
			}
			row.DisputeText = text
			if f.Checked && string(ev.DisputeHash) == string(sum[:]) {
				row.DisputeMatches = true
				f.Disputes = append(f.Disputes, ev.Id)
			}
		}
		rows = append(rows, row)
	}
	// Disputed ones first, each part newest first.
	slices.SortStableFunc(rows, func(a, b glassRow) int {
		switch {
		case a.Disputed != 0 && b.Disputed == 0:
			return -1
		case a.Disputed == 0 && b.Disputed != 0:
			return 1
		}
		return 0
	})
	s.render(w, r, status, "queue", page{Title: "Break-glass review", Member: &m, Nav: "/console/break-glass/queue",
		Data: map[string]any{"Rows": rows, "Form": f, "Disputed": disputed}})
}

// idOf reads an account id from the ledger's bytes (zero if malformed).
func idOf(b []byte) ptoy.ID {
	id, _ := ptoy.IDFromBytes(b)
	return id
}
