package web

import (
	"context"
	"net/http"
	"regexp"
	"unicode/utf8"

	"ptoy"
)

// Profile is what the app asks of the node about a patient's account,
// as the patient's session (tok). A session that ended is
// ptoy.Unauthenticated.
type Profile interface {
	// Profile returns the patient's name and their phone number masked
	// (the directory of their home node; never the ledger's).
	Profile(ctx context.Context, tok string) (name, phone string, err error)
	// StartPhoneChange sends a one-time code to a new phone number and
	// returns the change's id: ptoy.Invalid for a bad number, ptoy.Exists
	// for one registered already.
	StartPhoneChange(ctx context.Context, tok, phone string) (change string, err error)
	// ChangePhone makes the number of change the patient's once code is
	// its code: ptoy.PermissionDenied for a wrong code (with the
	// attempts left), ptoy.Expired for an old one.
	ChangePhone(ctx context.Context, tok, change, code string) error
	// ChangePassphrase re-seals the keystore the node keeps under next
	// once old opens it: ptoy.PermissionDenied if it does not.
	ChangePassphrase(ctx context.Context, tok, old, next string) error
}

// minPassphrase is the fewest characters a new passphrase has.
const minPassphrase = 10

// accountForm is the account page's forms: the phone change (its first
// step, then the code) and the passphrase change.
type accountForm struct {
	Phone, Change string
	CodeSent      bool
	Errors        errs
}

var changeRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	done := ""
	switch r.URL.Query().Get("done") {
	case "phone":
		done = "Your phone number is changed."
	case "passphrase":
		done = "Your passphrase is changed. Use the new one when you next sign in."
	}
	s.renderAccount(w, r, tok, http.StatusOK, accountForm{Errors: errs{}}, done)
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, tok string, status int, f accountForm, done string) {
	if s.cfg.Profile == nil {
		s.unavailable(w, r)
		return
	}
	name, phone, err := s.cfg.Profile.Profile(r.Context(), tok)
	if err != nil && ptoy.KindOf(err) != ptoy.NotFound {
		s.fail(w, r, err)
		return
	}
	me, _ := s.cfg.Patients.Session(tok)
	s.render(w, r, status, "account", page{Title: "Your account", SignedIn: true, Nav: "/account", Data: map[string]any{
		"Account": me.String(),
		"Name":    name, "Phone": phone, "Form": f, "Done": done, "MinPassphrase": minPassphrase,
	}})
}

func (s *Server) startPhoneChange(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Profile == nil {
		s.unavailable(w, r)
		return
	}
	f := accountForm{Phone: value(r, "phone", 32), Errors: errs{}}
	if f.Phone == "" {
		f.Errors["phone"] = "Enter your new phone number."
		s.renderAccount(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	change, err := s.cfg.Profile.StartPhoneChange(r.Context(), tok, f.Phone)
	if err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors["phone"] = s.say("a phone change", err)
		s.renderAccount(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	f.Change, f.CodeSent = change, true
	s.renderAccount(w, r, tok, http.StatusOK, f, "")
}

func (s *Server) confirmPhoneChange(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Profile == nil {
		s.unavailable(w, r)
		return
	}
	f := accountForm{Change: value(r, "change", 32), CodeSent: true, Errors: errs{}}
	code := value(r, "code", 16)
	if !changeRE.MatchString(f.Change) {
		s.errorPage(w, r, http.StatusUnprocessableEntity, "This phone change is unknown. Start again from your account page.")
		return
	}
	switch {
	case code == "":
		f.Errors["code"] = "Enter the code we sent to your new number."
	case len(code) != 6 || !digits(code):
		f.Errors["code"] = "The code is 6 digits."
	}
	if len(f.Errors) > 0 {
		s.renderAccount(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	if err := s.cfg.Profile.ChangePhone(r.Context(), tok, f.Change, code); err != nil {
		switch ptoy.KindOf(err) {
		case ptoy.Unauthenticated:
			s.fail(w, r, err)
			return
		case ptoy.NotFound, ptoy.Expired:
			f = accountForm{Errors: errs{"phone": s.say("a phone change", err)}}
		default:
			f.Errors["code"] = s.say("a phone change", err)
		}
		s.renderAccount(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	http.Redirect(w, r, "/account?done=phone", http.StatusSeeOther)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (s *Server) changePassphrase(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Profile == nil {
		s.unavailable(w, r)
		return
	}
	f := accountForm{Errors: errs{}}
	old, next, again := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("again")
	if old == "" {
		f.Errors["current"] = "Enter your current passphrase."
	}
	switch n := utf8.RuneCountInString(next); {
	case next == "":
		f.Errors["new"] = "Enter a new passphrase."
	case n < minPassphrase:
		f.Errors["new"] = "Use at least 10 characters: a few words are easy to remember."
	case n > 1024:
		f.Errors["new"] = "Use at most 1,024 characters."
	case next == old:
		f.Errors["new"] = "This is your current passphrase. Choose a new one."
	}
	if f.Errors["new"] == "" && again != next {
		f.Errors["again"] = "This is not the same as the new passphrase."
	}
	if len(f.Errors) > 0 {
		s.renderAccount(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	if err := s.cfg.Profile.ChangePassphrase(r.Context(), tok, old, next); err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors["current"] = s.say("a passphrase change", err)
		s.renderAccount(w, r, tok, http.StatusUnprocessableEntity, f, "")
		return
	}
	http.Redirect(w, r, "/account?done=passphrase", http.StatusSeeOther)
}
