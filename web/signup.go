package web

import (
	"context"
	"net/http"
	"regexp"
	"time"
	"unicode/utf8"

	"ptoy"
	"ptoy/directory"
)

// Signup is what the app asks of the node to sign a new patient up: the
// node registers them for its organisation, as "ptoy register" does,
// makes their keys, keeps their keystore sealed under their passphrase
// and opens their session.
type Signup interface {
	// Start sends a one-time code to phone for a new patient called name,
	// and returns the sign-up's id and the phone masked. clientAddr is
	// the browser's address, for the node's rate limits. A bad name or
	// phone is ptoy.Invalid, a phone registered already ptoy.Exists, too
	// many codes or a node that registers no one ptoy.Unavailable or
	// ptoy.PermissionDenied.
	Start(ctx context.Context, clientAddr, name, phone string) (id, to string, err error)
	// Pending returns the masked phone of a sign-up under way.
	Pending(id string) (to string, ok bool)
	// Complete registers the patient of sign-up id with the code, makes
	// and publishes their keys, keeps their keystore sealed under
	// passphrase and opens their session: its token, when it ends at the
	// latest and the patient's account id. A wrong code is
	// ptoy.PermissionDenied (with the attempts left), an unknown sign-up
	// ptoy.NotFound, an old code ptoy.Expired. A step that fails leaves
	// the sign-up to be completed again.
	Complete(ctx context.Context, id, code, passphrase string) (tok string, expires time.Time, patient ptoy.ID, err error)
}

// signupForm is the sign-up page's two steps: the name and phone, then
// the code and the passphrase (never kept in the form).
type signupForm struct {
	Name, Phone string
	// ID is the sign-up's id once the code is sent; To, the phone masked;
	// Code, what was typed for it.
	ID, To, Code string
	Message      string
	Errors       errs
}

var signupRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// publicForm reads a form post of someone not signed in: its CSRF token
// is checked as for any form.
func (s *Server) publicForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "This form expired. Go back, reload the page and try again.")
		return false
	}
	return true
}

func (s *Server) renderSignup(w http.ResponseWriter, r *http.Request, status int, f signupForm) {
	if f.Errors == nil {
		f.Errors = errs{}
	}
	s.render(w, r, status, "signup", page{Title: "Sign up", Data: map[string]any{"Form": f, "MinPassphrase": minPassphrase}})
}

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Signup == nil {
		s.unavailable(w, r)
		return
	}
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, "/find", http.StatusSeeOther)
		return
	}
	s.renderSignup(w, r, http.StatusOK, signupForm{})
}

func (s *Server) startSignup(w http.ResponseWriter, r *http.Request) {
	if !s.publicForm(w, r) {
		return
	}
	if s.cfg.Signup == nil {
		s.unavailable(w, r)
		return
	}
	f := signupForm{Name: value(r, "name", 200), Phone: value(r, "phone", 32), Errors: errs{}}
	if f.Name == "" {
		f.Errors["name"] = "Enter your full name."
	} else if _, err := directory.CheckName(f.Name); err != nil {
		f.Errors["name"] = capital(ptoy.Message(err)) + "."
	}
	if f.Phone == "" {
		f.Errors["phone"] = "Enter your phone number."
	} else if _, err := directory.NormalizePhone(f.Phone); err != nil {
		f.Errors["phone"] = "Enter your number with its country code, like +1 555 010 0123."
	}
	if len(f.Errors) > 0 {
		s.renderSignup(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	id, to, err := s.cfg.Signup.Start(r.Context(), r.RemoteAddr, f.Name, f.Phone)
	if err != nil {
		status := http.StatusUnprocessableEntity
		switch ptoy.KindOf(err) {
		case ptoy.Exists:
			f.Errors["phone"] = "This phone number is registered already. Sign in instead, or use another number."
		case ptoy.Invalid:
			f.Errors["phone"] = s.say("a sign-up", err)
		default:
			f.Message = s.say("a sign-up", err)
			status = http.StatusServiceUnavailable
		}
		s.renderSignup(w, r, status, f)
		return
	}
	s.renderSignup(w, r, http.StatusOK, signupForm{ID: id, To: to, Errors: errs{}})
}

func (s *Server) completeSignup(w http.ResponseWriter, r *http.Request) {
	if !s.publicForm(w, r) {
		return
	}
	if s.cfg.Signup == nil {
		s.unavailable(w, r)
		return
	}
	id := value(r, "signup", 32)
	to, ok := s.cfg.Signup.Pending(id)
	if !signupRE.MatchString(id) || !ok {
		s.renderSignup(w, r, http.StatusUnprocessableEntity, signupForm{Message: "This sign-up is unknown or too old. Start again: we will send you a new code."})
		return
	}
	code, pass, again := value(r, "code", 16), r.PostFormValue("passphrase"), r.PostFormValue("again")
	f := signupForm{ID: id, To: to, Code: code, Errors: errs{}}
	switch {
	case code == "":
		f.Errors["code"] = "Enter the code we sent to your phone."
	case len(code) != 6 || !digits(code):
		f.Errors["code"] = "The code is 6 digits."
	}
	switch n := utf8.RuneCountInString(pass); {
	case pass == "":
		f.Errors["passphrase"] = "Choose a passphrase."
	case n < minPassphrase:
		f.Errors["passphrase"] = "Use at least 10 characters: a few words are easy to remember."
	case n > 1024:
		f.Errors["passphrase"] = "Use at most 1,024 characters."
	}
	if f.Errors["passphrase"] == "" && again != pass {
		f.Errors["again"] = "This is not the same as the passphrase above."
	}
	if len(f.Errors) > 0 {
		s.renderSignup(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	tok, exp, _, err := s.cfg.Signup.Complete(r.Context(), id, code, pass)
	if err != nil {
		switch ptoy.KindOf(err) {
		case ptoy.NotFound, ptoy.Expired:
			s.renderSignup(w, r, http.StatusUnprocessableEntity, signupForm{Message: s.say("a sign-up", err), Errors: errs{}})
			return
		case ptoy.PermissionDenied:
			f.Errors["code"] = s.say("a sign-up", err)
		default:
			f.Message = s.say("a sign-up", err)
		}
		s.renderSignup(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	s.setCookie(w, r, sessionCookie, tok, int(time.Until(exp).Seconds()))
	http.Redirect(w, r, "/find?welcome=1", http.StatusSeeOther)
}
