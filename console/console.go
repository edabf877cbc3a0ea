// Package console is Neith, the provider console a node serves at
// "/console/" for the staff of its organisation: server-rendered pages
// (html/template, embedded) whose forms work without JavaScript.
//
// A staff member signs in with their account id and passphrase: the node
// opens the keystore it keeps for them (as it does a patient's) into a
// session holding their keys in memory, if they are an employee of the
// node's organisation (Staff.SignIn). The console keeps the session's
// token in a cookie (HttpOnly, SameSite=Strict, Secure off localhost,
// path /console/); the session ends at log-out, after 15 minutes idle or
// when the member is taken off the staff, and the keys are dropped.
//
// What a member sees follows their role on the ledger: the patient list
// and charts for the roles that read records (consent.RoleCategories),
// adding an encounter note, a prescription (physicians) or a lab result
// where the patient granted write, the employee
// list, the matching review queue and the EHR holdings for admins,
// break-glass for emergency physicians, and the break-glass review queue
// for privacy officers and admins. Charts are read, and notes written,
// through the node's FHIR API in process as the member's session: the
// same door, consent decisions and audit as any FHIR client. Everything
// else acts through the node (Org) with the keys the session holds.
//
//	GET  /console/                      the patient list, or the page the role starts at
//	GET  /console/signin, POST
//	POST /console/signout
//	GET  /console/patients              patients who granted the organisation access
//	POST /console/patients              search them by name or id (a POST: no name in a URL)
//	GET  /console/patients/{id}         a patient's chart by category (?category=)
//	GET  /console/patients/{id}/note, POST  add an encounter note
//	GET  /console/patients/{id}/prescription, POST  add a prescription (physicians)
//	GET  /console/patients/{id}/lab, POST  add a lab result
//	GET  /console/employees, POST /console/employees/add, /remove, /role
//	GET  /console/sync, POST /console/sync/start, /stop  the EHR syncs (admins)
//	GET  /console/matching, POST /console/matching/approve
//	GET  /console/break-glass, POST     open emergency access, with a reason
//	GET  /console/break-glass/queue     the privacy officer's review queue
//	POST /console/break-glass/queue     check a reason's text against it
package console

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
	"unicode/utf8"

	"ptoy"
	"ptoy/consent"
	"ptoy/fhir/resource"
	pb "ptoy/gen/ptoy/v1"
)

// Member is a signed-in staff member.
type Member struct {
	ID   ptoy.ID
	Name string
	Role pb.Role
}

// Staff is what the console asks of the node about staff sessions.
type Staff interface {
	// SignIn opens the keystore the node keeps for an employee of its
	// organisation with their passphrase into a session holding their
	// keys; it returns the session's token and when it ends if unused. A
	// wrong account or passphrase, or someone not on the staff, is
	// ptoy.Unauthenticated; too many guesses ptoy.Unavailable.
	SignIn(ctx context.Context, account ptoy.ID, passphrase string) (tok string, expires time.Time, err error)
	// Member returns the staff member of a live session, with their
	// current role; false once the session ended or they left the staff.
	Member(tok string) (Member, bool)
	// SignOut ends a session: the keys it holds are dropped.
	SignOut(tok string)
}

// Config configures the console.
type Config struct {
	Staff Staff
	// Org acts for the signed-in member through the node.
	Org Org
	// FHIR is the node's FHIR API (paths under /fhir), called in process
	// with the member's session.
	FHIR http.Handler
	Log  *slog.Logger
}

// Server is the console.
type Server struct {
	cfg   Config
	pages map[string]*template.Template
	mux   *http.ServeMux
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Mount is where the console is served.
const Mount = "/console/"

const (
	sessionCookie = "neith_session"
	csrfCookie    = "neith_csrf"
	csrfField     = "csrf"
	maxForm       = 64 << 10
)

// New returns the console.
func New(cfg Config) (*Server, error) {
	if cfg.Staff == nil || cfg.Org == nil || cfg.FHIR == nil {
		return nil, ptoy.E("console.New", ptoy.Invalid, "the console needs the node's staff sessions, its organisation and its FHIR API")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, pages: map[string]*template.Template{}}
	for _, name := range []string{"signin", "error", "patients", "chart", "note", "prescription", "lab", "sync", "employees", "confirm", "matching", "breakglass", "queue"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, ptoy.E("console.New", ptoy.Other, err)
		}
		s.pages[name] = t
	}
	static, _ := fs.Sub(staticFS, "static")
	m := http.NewServeMux()
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /console/{$}", s.home)
	m.HandleFunc("GET /console/signin", s.signInPage)
	m.HandleFunc("POST /console/signin", s.signIn)
	m.HandleFunc("POST /console/signout", s.signOut)
	m.HandleFunc("GET /console/patients", s.patients)
	m.HandleFunc("POST /console/patients", s.searchPatients)
	m.HandleFunc("GET /console/patients/{id}", s.chart)
	m.HandleFunc("GET /console/patients/{id}/note", s.notePage)
	m.HandleFunc("POST /console/patients/{id}/note", s.addNote)
	m.HandleFunc("GET /console/patients/{id}/prescription", s.prescriptionPage)
	m.HandleFunc("POST /console/patients/{id}/prescription", s.addPrescription)
	m.HandleFunc("GET /console/patients/{id}/lab", s.labPage)
	m.HandleFunc("POST /console/patients/{id}/lab", s.addLab)
	m.HandleFunc("GET /console/employees", s.employees)
	m.HandleFunc("POST /console/employees/add", s.addEmployee)
	m.HandleFunc("POST /console/employees/remove", s.removeEmployee)
	m.HandleFunc("POST /console/employees/role", s.setRole)
	m.HandleFunc("GET /console/sync", s.syncPage)
	m.HandleFunc("POST /console/sync/start", s.startSync)
	m.HandleFunc("POST /console/sync/stop", s.stopSync)
	m.HandleFunc("GET /console/matching", s.matching)
	m.HandleFunc("POST /console/matching/approve", s.approve)
	m.HandleFunc("GET /console/break-glass", s.breakGlassPage)
	m.HandleFunc("POST /console/break-glass", s.breakGlass)
	m.HandleFunc("GET /console/break-glass/queue", s.queue)
	m.HandleFunc("POST /console/break-glass/queue", s.checkReason)
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, "There is no page here.")
	})
	m.HandleFunc("/console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Mount, http.StatusSeeOther)
	})
	s.mux = m
	return s, nil
}

// Handler serves the console (it sees whole paths: /console/…).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/console/static/") {
			h.Set("Cache-Control", "no-store")
		}
		s.mux.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Title  string
	CSRF   string
	Member *Member
	Org    string
	Nav    string // the path of the page's place in the navigation
	Data   any
}

// navItem is one link of the navigation.
type navItem struct{ Path, Label string }

// Nav is the navigation a member's role has.
func (p page) NavItems() []navItem {
	if p.Member == nil {
		return nil
	}
	var out []navItem
	role := p.Member.Role
	if consent.RoleCategories(role) != 0 {
		out = append(out, navItem{"/console/patients", "Patients"})
	}
	if role == pb.Role_ROLE_EMERGENCY_PHYSICIAN {
		out = append(out, navItem{"/console/break-glass", "Break-glass"})
	}
	if role == pb.Role_ROLE_ADMIN {
		out = append(out, navItem{"/console/employees", "Employees"}, navItem{"/console/sync", "EHR sync"}, navItem{"/console/matching", "EHR matching"})
	}
	if role == pb.Role_ROLE_ADMIN || role == pb.Role_ROLE_PRIVACY_OFFICER {
		out = append(out, navItem{"/console/break-glass/queue", "Break-glass review"})
	}
	return out
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.CSRF = s.csrf(w, r)
	_, p.Org = s.cfg.Org.Org()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages[name].Execute(w, p); err != nil {
		s.cfg.Log.Warn("console: rendering a page", "page", name, "err", err)
	}
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	var m *Member
	if mem, ok := s.member(r); ok {
		m = &mem
	}
	s.render(w, r, status, "error", page{Title: http.StatusText(status), Member: m, Data: msg})
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
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Mount, MaxAge: maxAge,
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

// token returns the request's session cookie, if it has a plausible one.
func token(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return "", false
	}
	return c.Value, true
}

// member returns the member of the request's session.
func (s *Server) member(r *http.Request) (Member, bool) {
	tok, ok := token(r)
	if !ok {
		return Member{}, false
	}
	return s.cfg.Staff.Member(tok)
}

// signedIn returns the session's token and member, or sends the browser
// to the sign-in page.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) (string, Member, bool) {
	tok, had := token(r)
	if had {
		if m, ok := s.cfg.Staff.Member(tok); ok {
			return tok, m, true
		}
		s.setCookie(w, r, sessionCookie, "", -1)
	}
	to := "/console/signin"
	if had {
		to += "?ended=1"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return "", Member{}, false
}

// form reads a signed-in member's form post: its CSRF token first (a post
// without it is refused whoever sends it), then the session.
func (s *Server) form(w http.ResponseWriter, r *http.Request) (string, Member, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "This form expired. Go back, reload the page and try again.")
		return "", Member{}, false
	}
	return s.signedIn(w, r)
}

// allowed answers a page the member's role does not open, and reports
// whether it may.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, m Member, ok bool, what string) bool {
	if !ok {
		s.errorPage(w, r, http.StatusForbidden, "Your role ("+consent.RoleName(m.Role)+") does not let you "+what+".")
	}
	return ok
}

// errs are a form's messages by field name; "" is the form's own.
type errs map[string]string

// value is a form field, trimmed and cut to max characters.
func value(r *http.Request, name string, max int) string {
	v := strings.TrimSpace(r.PostFormValue(name))
	if utf8.RuneCountInString(v) > max {
		v = string([]rune(v)[:max])
	}
	return v
}

// say is what a member is told of err from the node: its message for
// what they can act on, a generic sentence (and a log line, without
// PHI) for faults.
func (s *Server) say(what string, err error) string {
	switch ptoy.KindOf(err) {
	case ptoy.Invalid, ptoy.Exists, ptoy.NotFound, ptoy.PermissionDenied, ptoy.Expired, ptoy.Unavailable:
		if m := ptoy.Message(err); m != "" {
			return capital(m)
		}
	}
	s.cfg.Log.Warn("console: "+what+" failed", "kind", ptoy.KindOf(err).String())
	return "That did not work just now; nothing was changed. Try again in a moment."
}

// fail answers a page whose read failed: a session that ended goes to
// sign-in.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if ptoy.KindOf(err) == ptoy.Unauthenticated {
		s.setCookie(w, r, sessionCookie, "", -1)
		http.Redirect(w, r, "/console/signin?ended=1", http.StatusSeeOther)
		return
	}
	status := http.StatusServiceUnavailable
	switch ptoy.KindOf(err) {
	case ptoy.NotFound:
		status = http.StatusNotFound
	case ptoy.PermissionDenied:
		status = http.StatusForbidden
	}
	s.errorPage(w, r, status, s.say("a page", err))
}

func capital(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}

// home sends a member to the first page of their role.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	m, ok := s.member(r)
	if !ok {
		http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
		return
	}
	items := page{Member: &m}.NavItems()
	if len(items) == 0 {
		s.errorPage(w, r, http.StatusForbidden, "Your role opens no page of the console. Ask an admin of your organisation.")
		return
	}
	http.Redirect(w, r, items[0].Path, http.StatusSeeOther)
}

// signInForm is the sign-in page's form: what was entered (never the
// passphrase) and a message next to each field.
type signInForm struct {
	Account        string
	Errors         errs
	SignedOut      bool
	SessionExpired bool
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.member(r); ok {
		http.Redirect(w, r, Mount, http.StatusSeeOther)
		return
	}
	f := signInForm{Errors: errs{}, SignedOut: r.URL.Query().Get("out") == "1", SessionExpired: r.URL.Query().Get("ended") == "1"}
	s.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", Data: f})
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil || !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "This form expired. Go back, reload the page and try again.")
		return
	}
	f := signInForm{Account: value(r, "account", 64), Errors: errs{}}
	pass := r.PostFormValue("passphrase")
	id, err := ptoy.ParseID(strings.ToLower(f.Account))
	switch {
	case f.Account == "":
		f.Errors["account"] = "Enter your account id."
	case err != nil:
		f.Errors["account"] = "An account id is 40 characters, 0–9 and a–f."
	}
	if pass == "" {
		f.Errors["passphrase"] = "Enter your passphrase."
	}
	if len(f.Errors) > 0 {
		s.render(w, r, http.StatusUnprocessableEntity, "signin", page{Title: "Sign in", Data: f})
		return
	}
	tok, exp, err := s.cfg.Staff.SignIn(r.Context(), id, pass)
	if err != nil {
		status := http.StatusUnauthorized
		switch ptoy.KindOf(err) {
		case ptoy.Unauthenticated:
			f.Errors["passphrase"] = capital(ptoy.Message(err)) + "."
		case ptoy.Invalid:
			f.Errors["passphrase"] = capital(ptoy.Message(err)) + "."
			status = http.StatusUnprocessableEntity
		default:
			f.Errors[""] = s.say("a sign-in", err)
			status = http.StatusServiceUnavailable
		}
		s.render(w, r, status, "signin", page{Title: "Sign in", Data: f})
		return
	}
	s.setCookie(w, r, sessionCookie, tok, int(time.Until(exp.Add(8*time.Hour)).Seconds()))
	http.Redirect(w, r, Mount, http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil || !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "This form expired. Go back, reload the page and try again.")
		return
	}
	if tok, ok := token(r); ok {
		s.cfg.Staff.SignOut(tok)
	}
	s.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/console/signin?out=1", http.StatusSeeOther)
}

var funcs = template.FuncMap{
	"role":  consent.RoleName,
	"ago":   ago,
	"lower": strings.ToLower,
	"short": func(id ptoy.ID) string {
		return consent.ShortID(id)
	},
	"unix": func(t int64) string {
		if t == 0 {
			return "—"
		}
		return time.Unix(t, 0).UTC().Format("2 Jan 2006 15:04 UTC")
	},
	// date shows a FHIR date or dateTime as a day ("2 March 2024").
	"date": resource.Day,
}
