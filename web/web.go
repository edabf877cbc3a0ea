// Package web is the patient app a node serves at "/": server-rendered
// pages (html/template, embedded) whose forms work without JavaScript.
//
// A patient signs in with their account id and passphrase: the node opens
// the keystore it keeps for them into a session holding their keys in
// memory (Patients.SignIn), and the app keeps the session's token in a
// cookie (HttpOnly, SameSite=Strict, Secure off localhost). Every page
// reads the patient's records through the node's FHIR API, in process,
// as the patient's session: the same door, consent checks and audit as
// any FHIR client. Logging out ends the session and drops the keys.
//
//	GET  /                    the timeline if signed in, else the sign-in page
//	GET  /signin, POST /signin
//	POST /signout
//	GET  /timeline            the patient's records by year
//	GET  /records/{type}/{id} one record, readable
//	GET  /labs/{code}         one lab (a LOINC code) over time: a chart and a table
//	GET  /records/new, POST   add your own record: a note or a blood-pressure reading
//	GET  /access              who can see your records: grants, and why not
//	POST /access/grant, /access/revoke
//	GET  /accesses            who has seen your records: the audit trail, proofs checked,
//	                          and every break-glass on the ledger, disputed or not
//	GET  /accesses/dispute/{id}, POST   dispute a break-glass, with a reason
//	GET  /emergency, POST     break-glass settings: on, limited to some categories, off
//	GET  /caregivers          caregivers (delegates): who acts for you, within what
//	POST /caregivers/add, /caregivers/remove
//	GET  /wallet              PTOY balance and storage
//	POST /wallet/send, /wallet/plan
//	GET  /account             name and phone
//	POST /account/phone, /account/phone/confirm, /account/passphrase
//	GET  /signup, POST        sign up: name and phone, then the code and a passphrase
//	POST /signup/complete
//	GET  /find, POST          find my records: demographics to the record locator
//	POST /find/confirm, /find/reject
//
// The pages that act (grant, revoke, send, change the phone or the
// passphrase, confirm a proposal) do so through the node (Consent,
// Wallet, Profile, Locator) as the patient's session, with the keys it
// holds. Sign-up (Signup) registers a new patient at the node, which
// makes their keys, keeps their keystore sealed under their passphrase
// and opens their session. The demographics a patient gives the record
// locator are posted, never put in a URL, and not kept: the app keeps a
// session's last answers only (who proposes how many records of what).
package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"ptoy"
)

// Patients is what the app asks of the node about patients' sessions.
type Patients interface {
	// SignIn opens the keystore the node keeps for the patient with their
	// passphrase into a session holding their keys; it returns the
	// session's token and when it ends at the latest. A wrong account or
	// passphrase is ptoy.Unauthenticated, too many guesses
	// ptoy.Unavailable, an empty passphrase ptoy.Invalid.
	SignIn(ctx context.Context, patient ptoy.ID, passphrase string) (token string, expires time.Time, err error)
	// Session returns the patient of a live session token.
	Session(token string) (ptoy.ID, bool)
	// SignOut ends a session: the keys it holds are dropped.
	SignOut(token string)
}

// Config configures the app.
type Config struct {
	Patients Patients
	// FHIR is the node's FHIR API (paths under /fhir), called in process
	// with the patient's session.
	FHIR http.Handler
	// Consent, Wallet and Profile serve the pages of the same names; a
	// page whose part is nil answers that it is not available.
	Consent Consent
	Wallet  Wallet
	Profile Profile
	// Signup signs new patients up; Locator finds their records. Their
	// pages answer that they are not available when nil.
	Signup  Signup
	Locator Locator
	// Care serves break-glass disputes, the break-glass settings and
	// caregivers; their pages answer that they are not available when nil.
	Care Care
	Log  *slog.Logger
}

// Server is the patient app.
type Server struct {
	cfg   Config
	pages map[string]*template.Template
	mux   *http.ServeMux
	found searches
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

const (
	sessionCookie = "ptoy_session"
	csrfCookie    = "ptoy_csrf"
	csrfField     = "csrf"
)

// New returns the app.
func New(cfg Config) (*Server, error) {
	if cfg.Patients == nil || cfg.FHIR == nil {
		return nil, ptoy.E("web.New", ptoy.Invalid, "the web app needs the node's patients' sessions and its FHIR API")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, pages: map[string]*template.Template{}}
	for _, name := range []string{"signin", "timeline", "record", "lab", "error", "access", "accesses", "wallet", "account", "newrecord", "signup", "find", "dispute", "emergency", "caregivers"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, ptoy.E("web.New", ptoy.Other, err)
		}
		s.pages[name] = t
	}
	static, _ := fs.Sub(staticFS, "static")
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", s.home)
	m.HandleFunc("GET /signin", s.signInPage)
	m.HandleFunc("POST /signin", s.signIn)
	m.HandleFunc("POST /signout", s.signOut)
	m.HandleFunc("GET /timeline", s.timeline)
	m.HandleFunc("GET /records/{type}/{id}", s.record)
	m.HandleFunc("GET /labs/{code}", s.lab)
	m.HandleFunc("GET /records/new", s.newRecordPage)
	m.HandleFunc("POST /records/new", s.newRecord)
	m.HandleFunc("POST /records/document", s.newDocument)
	m.HandleFunc("GET /records/DocumentReference/{id}/file", s.documentFile)
	m.HandleFunc("GET /access", s.accessPage)
	m.HandleFunc("POST /access/grant", s.grant)
	m.HandleFunc("POST /access/revoke", s.revoke)
	m.HandleFunc("GET /accesses", s.accessesPage)
	m.HandleFunc("GET /accesses/dispute/{id}", s.disputePage)
	m.HandleFunc("POST /accesses/dispute/{id}", s.dispute)
	m.HandleFunc("GET /emergency", s.emergencyPage)
	m.HandleFunc("POST /emergency", s.setEmergency)
	m.HandleFunc("GET /caregivers", s.caregiversPage)
	m.HandleFunc("POST /caregivers/add", s.addCaregiver)
	m.HandleFunc("POST /caregivers/remove", s.removeCaregiver)
	m.HandleFunc("GET /wallet", s.walletPage)
	m.HandleFunc("POST /wallet/send", s.send)
	m.HandleFunc("POST /wallet/plan", s.buyPlan)
	m.HandleFunc("GET /account", s.accountPage)
	m.HandleFunc("POST /account/phone", s.startPhoneChange)
	m.HandleFunc("POST /account/phone/confirm", s.confirmPhoneChange)
	m.HandleFunc("POST /account/passphrase", s.changePassphrase)
	m.HandleFunc("GET /signup", s.signupPage)
	m.HandleFunc("POST /signup", s.startSignup)
	m.HandleFunc("POST /signup/complete", s.completeSignup)
	m.HandleFunc("GET /find", s.findPage)
	m.HandleFunc("POST /find", s.find)
	m.HandleFunc("POST /find/confirm", s.answer)
	m.HandleFunc("POST /find/reject", s.answer)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, "There is no page here.")
	})
	s.mux = m
	return s, nil
}

// Paths are the patterns the app answers under, for the node's mux (so
// that what no part of the node serves stays unmatched).
var Paths = []string{"/{$}", "/signin", "/signout", "/timeline", "/records/", "/labs/", "/static/",
	"/access", "/access/", "/accesses", "/accesses/", "/emergency", "/caregivers", "/caregivers/", "/wallet", "/wallet/", "/account", "/account/", "/signup", "/signup/", "/find", "/find/"}

// Handler serves the app.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		s.mux.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Title    string
	CSRF     string
	SignedIn bool
	// Nav is the path of the page's place in the main navigation.
	Nav  string
	Data any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.CSRF = s.csrf(w, r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages[name].Execute(w, p); err != nil {
		s.cfg.Log.Warn("web: rendering a page", "page", name, "err", err)
	}
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	_, signed := s.session(r)
	s.render(w, r, status, "error", page{Title: http.StatusText(status), SignedIn: signed, Data: msg})
}

// secure reports whether cookies must be Secure: everywhere but on
// localhost and 127.0.0.0/8 (development over plain HTTP).
func secure(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && ip.To4() != nil {
		return false
	}
	return true
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
}

// csrf returns the request's double-submit token, setting its cookie if
// the browser has none.
func (s *Server) csrf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(w, r, csrfCookie, tok, 0)
	return tok
}

// checkCSRF reports whether a form post carries the token of its cookie
// and comes from this site.
func checkCSRF(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if i := strings.Index(o, "://"); i < 0 || o[i+3:] != r.Host {
			return false
		}
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) == 1
}

// session returns the request's session token and its patient.
func (s *Server) session(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return "", false
	}
	if _, ok := s.cfg.Patients.Session(c.Value); !ok {
		return "", false
	}
	return c.Value, true
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, "/timeline", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// signInForm is the sign-in page's form: what was entered (never the
// passphrase) and a message next to each field.
type signInForm struct {
	Account        string
	AccountError   string
	PassphraseErr  string
	Message        string
	SignedOut      bool
	SessionExpired bool
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, "/timeline", http.StatusSeeOther)
		return
	}
	f := signInForm{SignedOut: r.URL.Query().Get("out") == "1", SessionExpired: r.URL.Query().Get("ended") == "1"}
	s.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", Data: f})
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil || !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "This form expired. Go back, reload the page and try again.")
		return
	}
	f := signInForm{Account: strings.TrimSpace(r.PostFormValue("account"))}
	if len(f.Account) > 64 {
		f.Account = f.Account[:64]
	}
	pass := r.PostFormValue("passphrase")
	id, err := ptoy.ParseID(strings.ToLower(f.Account))
	switch {
	case f.Account == "":
		f.AccountError = "Enter your account id."
	case err != nil:
		f.AccountError = "An account id is 40 characters, 0–9 and a–f."
	}
	if pass == "" {
		f.PassphraseErr = "Enter your passphrase."
	}
	if f.AccountError != "" || f.PassphraseErr != "" {
		s.render(w, r, http.StatusUnprocessableEntity, "signin", page{Title: "Sign in", Data: f})
		return
	}
	tok, exp, err := s.cfg.Patients.SignIn(r.Context(), id, pass)
	if err != nil {
		status := http.StatusUnauthorized
		switch ptoy.KindOf(err) {
		case ptoy.Unauthenticated:
			f.PassphraseErr = "The account id or the passphrase is wrong, or this node does not keep your keystore."
		case ptoy.Invalid:
			f.PassphraseErr = ptoy.Message(err)
			status = http.StatusUnprocessableEntity
		default:
			f.Message = ptoy.Message(err)
			status = http.StatusServiceUnavailable
			s.cfg.Log.Warn("web: sign-in failed", "err", err)
		}
		s.render(w, r, status, "signin", page{Title: "Sign in", Data: f})
		return
	}
	s.setCookie(w, r, sessionCookie, tok, int(time.Until(exp).Seconds()))
	http.Redirect(w, r, "/timeline", http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil || !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "This form expired. Go back, reload the page and try again.")
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		s.found.drop(c.Value)
		s.cfg.Patients.SignOut(c.Value)
	}
	s.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin?out=1", http.StatusSeeOther)
}

// signedIn returns the session's token and patient, or sends the
// browser to the sign-in page.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) (string, ptoy.ID, bool) {
	c, err := r.Cookie(sessionCookie)
	if err == nil && c.Value != "" && len(c.Value) <= 128 {
		if id, ok := s.cfg.Patients.Session(c.Value); ok {
			return c.Value, id, true
		}
	}
	to := "/signin"
	if err == nil {
		s.setCookie(w, r, sessionCookie, "", -1)
		to += "?ended=1"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return "", ptoy.ID{}, false
}
