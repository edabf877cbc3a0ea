package web

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"ptoy"
)

// maxForm bounds a form post's body.
const maxForm = 64 << 10

// form reads a signed-in patient's form post: its CSRF token first (a
// post without it is refused whoever sends it), then the session. It
// answers the browser itself when it returns false.
func (s *Server) form(w http.ResponseWriter, r *http.Request) (string, ptoy.ID, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "This form expired. Go back, reload the page and try again.")
		return "", ptoy.ID{}, false
	}
	return s.signedIn(w, r)
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

// say is what a person is told of err from the node: its message for
// what they can act on, a generic sentence (and a log line, without PHI)
// for faults.
func (s *Server) say(what string, err error) string {
	switch ptoy.KindOf(err) {
	case ptoy.Invalid, ptoy.Exists, ptoy.NotFound, ptoy.PermissionDenied, ptoy.Expired, ptoy.Unavailable:
		if m := ptoy.Message(err); m != "" {
			return capital(m)
		}
	}
	s.cfg.Log.Warn("web: "+what+" failed", "kind", ptoy.KindOf(err).String())
	return "That did not work just now; nothing was changed. Try again in a moment."
}

func capital(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}

// unavailable answers a page whose part the node does not serve.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusNotFound, "This page is not available on this node.")
}
