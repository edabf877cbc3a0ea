package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"ptoy"
	"ptoy/agent"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

// Care is what the app asks of the node about emergency access
// (break-glass) and caregivers, as the patient's session (tok). A session
// that ended is ptoy.Unauthenticated; the ledger's refusals are
// ptoy.Invalid, ptoy.NotFound, ptoy.Exists or ptoy.PermissionDenied with
// its reason.
type Care interface {
	// BreakGlass lists the break-glass events on the patient's records,
	// oldest first, as the ledger holds them (with any dispute).
	BreakGlass(ctx context.Context, tok string) ([]*pb.BreakGlassEvent, error)
	// Dispute disputes the patient's break-glass event: the reason's
	// SHA-256 goes on the ledger, the text stays with the node for the
	// privacy officer. It returns once the dispute is committed.
	Dispute(ctx context.Context, tok string, event uint64, reason string) error
	// Policy is the patient's break-glass policy.
	Policy(ctx context.Context, tok string) (*pb.BreakGlassPolicy, error)
	// SetPolicy turns break-glass off, limits it to cats (within the
	// emergency set), or (neither) puts it back to the emergency set.
	SetPolicy(ctx context.Context, tok string, disabled bool, cats uint32) error
	// Caregivers lists the patient's delegations (ended ones included).
	Caregivers(ctx context.Context, tok string) ([]*pb.DelegationState, error)
	// Person names a person (a patient's or a practitioner's account)
	// for the patient; ptoy.NotFound if id is no person's account.
	Person(ctx context.Context, tok string, id ptoy.ID) (string, error)
	// FindByPhone finds a person this node registered by their phone
	// number: their account and name. ptoy.NotFound if none, ptoy.Invalid
	// for a number that is not one.
	FindByPhone(ctx context.Context, tok, phone string) (ptoy.ID, string, error)
	// AddCaregiver lets who act for the patient within o, as the key
	// agent does (the in-scope keys sealed to them); a new delegation
	// to the same person replaces the old one.
	AddCaregiver(ctx context.Context, tok string, who ptoy.ID, o agent.DelegateOptions) error
	// RemoveCaregiver ends who's delegation at once.
	RemoveCaregiver(ctx context.Context, tok string, who ptoy.ID) error
}

// ---- break-glass on /accesses, and disputes ----

// glassView is one break-glass as the patient sees it.
type glassView struct {
	ID                             uint64
	Who, Org, What, Opened, Closes string
	Open, Flagged, Disputed        bool
	DisputedOn, DisputedBy         string
}

func (s *Server) glassViews(ctx context.Context, tok string) ([]glassView, error) {
	evs, err := s.cfg.Care.BreakGlass(ctx, tok)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]glassView, 0, len(evs))
	for i := len(evs) - 1; i >= 0; i-- { // newest first
		ev := evs[i]
		org := ptoy.ID(ev.Org)
		v := glassView{ID: ev.Id, Who: s.cfg.Consent.Name(tok, ptoy.ID(ev.Practitioner), org), Org: s.cfg.Consent.Name(tok, org, ptoy.ID{}),
			What: capital(consent.DescribeCategories(ev.Categories)), Opened: longTime(ev.Opened), Closes: longTime(ev.Closes),
			Open: now.Unix() < ev.Closes, Flagged: ev.Flagged, Disputed: ev.Disputed != 0}
		if v.Disputed {
			v.DisputedOn = longTime(ev.Disputed)
			if len(ev.DisputedBy) == ptoy.IDLen {
				v.DisputedBy = s.cfg.Consent.Name(tok, ptoy.ID(ev.DisputedBy), ptoy.ID{})
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func longTime(unix int64) string {
	return time.Unix(unix, 0).UTC().Format("2 January 2006, 15:04 UTC")
}

// maxDispute bounds a dispute's reason, in characters.
const maxDispute = 1000

// disputeForm is the dispute page's form.
type disputeForm struct {
	Reason string
	Errors errs
}

// glassEvent finds the patient's break-glass id among theirs; nil when
// the path names none of them.
func (s *Server) glassEvent(w http.ResponseWriter, r *http.Request, tok string) (*glassView, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	views, verr := s.glassViews(r.Context(), tok)
	if verr != nil {
		s.fail(w, r, verr)
		return nil, false
	}
	for i := range views {
		if err == nil && views[i].ID == id {
			return &views[i], true
		}
	}
	s.errorPage(w, r, http.StatusNotFound, "There is no such emergency access to your records.")
	return nil, false
}

func (s *Server) disputePage(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	if s.cfg.Care == nil || s.cfg.Consent == nil {
		s.unavailable(w, r)
		return
	}
	v, ok := s.glassEvent(w, r, tok)
	if !ok {
		return
	}
	s.renderDispute(w, r, http.StatusOK, v, disputeForm{Errors: errs{}})
}

func (s *Server) renderDispute(w http.ResponseWriter, r *http.Request, status int, v *glassView, f disputeForm) {
	s.render(w, r, status, "dispute", page{Title: "Dispute an emergency access", SignedIn: true, Nav: "/accesses",
		Data: map[string]any{"Event": v, "Form": f, "Max": maxDispute}})
}

func (s *Server) dispute(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Care == nil || s.cfg.Consent == nil {
		s.unavailable(w, r)
		return
	}
	v, ok := s.glassEvent(w, r, tok)
	if !ok {
		return
	}
	f := disputeForm{Reason: value(r, "reason", maxDispute+1), Errors: errs{}}
	switch n := utf8.RuneCountInString(f.Reason); {
	case v.Disputed:
		f.Errors[""] = "You disputed this access already, on " + v.DisputedOn + "."
	case n == 0:
		f.Errors["reason"] = "Say why you dispute this access: the privacy officer reads it."
	case n < 10:
		f.Errors["reason"] = "Say a little more: at least 10 characters."
	case n > maxDispute:
		f.Errors["reason"] = "Keep it to 1,000 characters."
	}
	if len(f.Errors) > 0 {
		s.renderDispute(w, r, http.StatusUnprocessableEntity, v, f)
		return
	}
	if err := s.cfg.Care.Dispute(r.Context(), tok, v.ID, f.Reason); err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors[""] = s.say("a dispute", err)
		s.renderDispute(w, r, http.StatusUnprocessableEntity, v, f)
		return
	}
	http.Redirect(w, r, "/accesses?disputed="+strconv.FormatUint(v.ID, 10)+"#glass-"+strconv.FormatUint(v.ID, 10), http.StatusSeeOther)
}

// ---- break-glass settings ----

// emergencyForm is the break-glass settings form: "on", "limited" (to
// Categories) or "off".
type emergencyForm struct {
	Mode       string
	Categories []categoryChoice
	Errors     errs
}

func emergencyChoices(set uint32) []categoryChoice {
	var out []categoryChoice
	for _, c := range agent.Categories {
		if consent.Bit(c)&consent.EmergencySet != 0 {
			out = append(out, categoryChoice{Value: strconv.Itoa(int(c)), Label: capital(consent.CategoryName(c)), Checked: set&consent.Bit(c) != 0})
		}
	}
	return out
}

func (s *Server) emergencyPage(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	if s.cfg.Care == nil {
		s.unavailable(w, r)
		return
	}
	pol, err := s.cfg.Care.Policy(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := emergencyForm{Mode: "on", Categories: emergencyChoices(pol.GetCategories()), Errors: errs{}}
	switch {
	case pol.GetDisabled():
		f.Mode = "off"
	case pol.GetCategories() != 0:
		f.Mode = "limited"
	}
	done := ""
	if r.URL.Query().Get("done") == "saved" {
		done = "Saved on the ledger. It applies at once, also to an emergency access open now."
	}
	s.renderEmergency(w, r, http.StatusOK, pol, f, done)
}

func (s *Server) renderEmergency(w http.ResponseWriter, r *http.Request, status int, pol *pb.BreakGlassPolicy, f emergencyForm, done string) {
	now := "On: in an emergency, a hospital's emergency physician can open your " + consent.DescribeCategories(consent.EmergencySet) + "."
	switch {
	case pol.GetDisabled():
		now = "Off: no one can open your records in an emergency."
	case pol.GetCategories() != 0:
		now = "Limited: in an emergency, a hospital's emergency physician can open your " + consent.DescribeCategories(pol.GetCategories()) + " only."
	}
	s.render(w, r, status, "emergency", page{Title: "Emergency access", SignedIn: true, Nav: "/access", Data: map[string]any{
		"Now": now, "Form": f, "Done": done, "Set": capital(consent.DescribeCategories(consent.EmergencySet)),
	}})
}

func (s *Server) setEmergency(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Care == nil {
		s.unavailable(w, r)
		return
	}
	f := emergencyForm{Mode: value(r, "mode", 16), Errors: errs{}}
	var cats uint32
	for _, v := range r.PostForm["category"] {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n >= 32 || consent.Bit(pb.Category(n))&consent.EmergencySet == 0 {
			f.Errors["category"] = "Choose categories from the list."
			continue
		}
		cats |= consent.Bit(pb.Category(n))
	}
	f.Categories = emergencyChoices(cats)
	switch f.Mode {
	case "on", "off":
		cats = 0
		delete(f.Errors, "category")
	case "limited":
		if cats == 0 && f.Errors["category"] == "" {
			f.Errors["category"] = "Choose at least one category, or choose another setting."
		}
	default:
		f.Errors["mode"] = "Choose one of the settings."
	}
	pol, err := s.cfg.Care.Policy(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(f.Errors) > 0 {
		s.renderEmergency(w, r, http.StatusUnprocessableEntity, pol, f, "")
		return
	}
	if err := s.cfg.Care.SetPolicy(r.Context(), tok, f.Mode == "off", cats); err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors[""] = s.say("a break-glass policy", err)
		s.renderEmergency(w, r, http.StatusUnprocessableEntity, pol, f, "")
		return
	}
	http.Redirect(w, r, "/emergency?done=saved", http.StatusSeeOther)
}

// ---- caregivers ----

// caregiverView is one delegation as the page shows it.
type caregiverView struct {
	ID, Name, Scope, Until, Status string
	MayGrant, Active               bool
}

// caregiverForm is the add form: who (a phone number or an account id),
// the scope and the end; Confirm is set once who is found, for the
// patient to confirm the name.
type caregiverForm struct {
	Who, Until       string
	MayGrant         bool
	Categories       []categoryChoice
	Found, FoundName string
	Errors           errs
}

func (s *Server) caregiversPage(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	if s.cfg.Care == nil {
		s.unavailable(w, r)
		return
	}
	done := ""
	switch r.URL.Query().Get("done") {
	case "added":
		done = "Your caregiver is added. They can act for you within what you chose."
	case "removed":
		done = "Your caregiver is removed. They can no longer act for you; what they already downloaded cannot be taken back."
	}
	s.renderCaregivers(w, r, tok, http.StatusOK, caregiverForm{Categories: categoryChoices(nil), Errors: errs{}}, done)
}

func (s *Server) renderCaregivers(w http.ResponseWriter, r *http.Request, tok string, status int, f caregiverForm, done string) {
	ctx := r.Context()
	list, err := s.cfg.Care.Caregivers(ctx, tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := time.Now().Unix()
	var views []caregiverView
	for _, ds := range list {
		d := ds.GetDelegation()
		id, err := ptoy.IDFromBytes(d.GetDelegate())
		if err != nil {
			continue
		}
		name, err := s.cfg.Care.Person(ctx, tok, id)
		if err != nil {
			name = "Account " + consent.ShortID(id)
		}
		v := caregiverView{ID: id.String(), Name: name, Scope: capital(consent.DescribeCategories(d.Categories)), MayGrant: d.MayGrant,
			Until: "No end date", Status: "Active", Active: true}
		if d.Expires != 0 {
			v.Until = consent.FormatEnd(time.Unix(d.Expires, 0))
			if now >= d.Expires {
				v.Status, v.Active = "Ended", false
			}
		}
		views = append(views, v)
	}
	slices.SortStableFunc(views, func(a, b caregiverView) int { return strings.Compare(a.Name, b.Name) })
	s.render(w, r, status, "caregivers", page{Title: "Caregivers", SignedIn: true, Nav: "/caregivers", Data: map[string]any{
		"Caregivers": views, "Form": f, "Done": done, "Today": time.Now().UTC().Format(time.DateOnly),
	}})
}

// addCaregiver finds the person the patient named, then (with
// confirm=yes and the same fields) adds them.
func (s *Server) addCaregiver(w http.ResponseWriter, r *http.Request) {
	tok, me, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Care == nil {
		s.unavailable(w, r)
		return
	}
	ctx := r.Context()
	f := caregiverForm{Who: value(r, "who", 64), Until: value(r, "until", 16), MayGrant: r.PostFormValue("may-grant") == "yes", Errors: errs{}}
	checked := map[pb.Category]bool{}
	var cats uint32
	for _, v := range r.PostForm["category"] {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n >= 32 || consent.Bit(pb.Category(n))&consent.Defined == 0 {
			f.Errors["category"] = "Choose categories from the list."
			continue
		}
		checked[pb.Category(n)] = true
		cats |= consent.Bit(pb.Category(n))
	}
	f.Categories = categoryChoices(checked)
	if cats == 0 && f.Errors["category"] == "" {
		f.Errors["category"] = "Choose at least one category."
	}
	expires, msg := parseEnd(f.Until, time.Now())
	if msg != "" {
		f.Errors["until"] = msg
	}
	var who ptoy.ID
	switch {
	case f.Who == "":
		f.Errors["who"] = "Enter your caregiver's phone number or account id."
	case len(f.Who) == 2*ptoy.IDLen && strings.Trim(strings.ToLower(f.Who), "0123456789abcdef") == "":
		id, err := ptoy.ParseID(strings.ToLower(f.Who))
		if err != nil {
			f.Errors["who"] = "An account id is 40 characters, 0–9 and a–f."
			break
		}
		name, err := s.cfg.Care.Person(ctx, tok, id)
		switch {
		case ptoy.KindOf(err) == ptoy.NotFound:
			f.Errors["who"] = "There is no person with this account id on the network."
		case err != nil:
			s.fail(w, r, err)
			return
		}
		who, f.FoundName = id, name
	default:
		id, name, err := s.cfg.Care.FindByPhone(ctx, tok, f.Who)
		switch {
		case err == nil:
			who, f.FoundName = id, name
		case ptoy.KindOf(err) == ptoy.NotFound:
			f.Errors["who"] = "No one registered at this node has this phone number. Ask your caregiver for their account id."
		case ptoy.KindOf(err) == ptoy.Invalid:
			f.Errors["who"] = "Enter a phone number with its country code (like +1 555 010 0001), or an account id."
		default:
			s.fail(w, r, err)
			return
		}
	}
	if f.Errors["who"] == "" && who == me {
		f.Errors["who"] = "You cannot be your own caregiver."
	}
	if len(f.Errors) > 0 {
		s.renderCaregivers(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	f.Found = who.String()
	if r.PostFormValue("confirm") != "yes" || r.PostFormValue("found") != f.Found {
		// Show whom the patient named before anything is signed.
		s.renderCaregivers(w, r, tok, http.StatusOK, f, "")
		return
	}
	err := s.cfg.Care.AddCaregiver(ctx, tok, who, agent.DelegateOptions{Categories: cats, MayGrant: f.MayGrant, Expires: expires})
	if err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Found, f.FoundName = "", ""
		f.Errors[""] = s.say("a delegation", err)
		s.renderCaregivers(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	http.Redirect(w, r, "/caregivers?done=added", http.StatusSeeOther)
}

func (s *Server) removeCaregiver(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Care == nil {
		s.unavailable(w, r)
		return
	}
	who, err := ptoy.ParseID(value(r, "who", 64))
	list, lerr := s.cfg.Care.Caregivers(r.Context(), tok)
	if lerr != nil {
		s.fail(w, r, lerr)
		return
	}
	if err != nil || !slices.ContainsFunc(list, func(ds *pb.DelegationState) bool { return ptoy.ID(ds.GetDelegation().GetDelegate()) == who }) {
		s.errorPage(w, r, http.StatusUnprocessableEntity, "There is no such caregiver to remove.")
		return
	}
	if err := s.cfg.Care.RemoveCaregiver(r.Context(), tok, who); err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f := caregiverForm{Categories: categoryChoices(nil), Errors: errs{"": s.say("removing a caregiver", err)}}
		s.renderCaregivers(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	http.Redirect(w, r, "/caregivers?done=removed", http.StatusSeeOther)
}
