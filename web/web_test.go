package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"ptoy"
)

// patients is a stand-in for the node's sessions: one patient, one
// passphrase. It records what the app asked.
type patients struct {
	signIns, signOuts int
}

const goodPass = "right passphrase"

func (p *patients) SignIn(_ context.Context, _ ptoy.ID, pass string) (string, time.Time, error) {
	p.signIns++
	if pass != goodPass {
		return "", time.Time{}, ptoy.E("test", ptoy.Unauthenticated, "wrong account or passphrase")
	}
	return "tok", time.Now().Add(time.Hour), nil
}

func (p *patients) Session(tok string) (ptoy.ID, bool) { return ptoy.ID{1}, tok == "tok" }
func (p *patients) SignOut(string)                     { p.signOuts++ }

func newApp(t *testing.T) (*patients, http.Handler) {
	t.Helper()
	p := &patients{}
	s, err := New(Config{Patients: p, FHIR: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	return p, s.Handler()
}

func post(h http.Handler, host, path string, form url.Values, cookies ...*http.Cookie) *http.Response {
	r := httptest.NewRequest(http.MethodPost, "http://"+host+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// TestFormsNeedCSRF: a sign-in or log-out post without the form's token,
// with another token than its cookie's, or from another site, is refused
// and reaches no session.
func TestFormsNeedCSRF(t *testing.T) {
	p, h := newApp(t)
	id := ptoy.ID{1}.String()
	good := &http.Cookie{Name: csrfCookie, Value: strings.Repeat("a", 43)}
	cases := []struct {
		name   string
		form   url.Values
		origin string
		cookie *http.Cookie
	}{
		{"no token", url.Values{"account": {id}, "passphrase": {goodPass}}, "", good},
		{"no cookie", url.Values{"account": {id}, "passphrase": {goodPass}, csrfField: {good.Value}}, "", nil},
		{"another token", url.Values{"account": {id}, "passphrase": {goodPass}, csrfField: {strings.Repeat("b", 43)}}, "", good},
		{"another site", url.Values{"account": {id}, "passphrase": {goodPass}, csrfField: {good.Value}}, "http://evil.example", good},
	}
	for _, c := range cases {
		for _, path := range []string{"/signin", "/signout"} {
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+path, strings.NewReader(c.form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			if c.cookie != nil {
				r.AddCookie(c.cookie)
			}
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "tok"})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusForbidden {
				t.Errorf("%s %s: %d", c.name, path, w.Code)
			}
		}
	}
	if p.signIns != 0 || p.signOuts != 0 {
		t.Fatalf("refused forms reached the sessions: %d sign-ins, %d sign-outs", p.signIns, p.signOuts)
	}
	// With the token, both go through.
	form := url.Values{"account": {id}, "passphrase": {goodPass}, csrfField: {good.Value}}
	if resp := post(h, "127.0.0.1:8080", "/signin", form, good); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/timeline" {
		t.Fatalf("sign-in with the token: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := post(h, "127.0.0.1:8080", "/signout", url.Values{csrfField: {good.Value}}, good, &http.Cookie{Name: sessionCookie, Value: "tok"}); resp.StatusCode != http.StatusSeeOther || p.signOuts != 1 {
		t.Fatalf("log-out with the token: %d, %d sign-outs", resp.StatusCode, p.signOuts)
	}
}

// TestSessionCookie: the session cookie is HttpOnly and SameSite=Strict,
// and Secure everywhere but localhost and 127.0.0.0/8.
func TestSessionCookie(t *testing.T) {
	_, h := newApp(t)
	good := &http.Cookie{Name: csrfCookie, Value: strings.Repeat("a", 43)}
	form := url.Values{"account": {ptoy.ID{1}.String()}, "passphrase": {goodPass}, csrfField: {good.Value}}
	for host, secure := range map[string]bool{
		"127.0.0.1:8080": false, "127.0.0.4:8080": false, "localhost:8080": false,
		"node1.example.org": true, "10.0.0.5:8080": true, "[::1]:8080": true,
	} {
		resp := post(h, host, "/signin", form, good)
		var c *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == sessionCookie {
				c = k
			}
		}
		if c == nil || c.Value != "tok" {
			t.Fatalf("%s: no session cookie (%d)", host, resp.StatusCode)
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != secure {
			t.Errorf("%s: HttpOnly %v, SameSite %v, Secure %v", host, c.HttpOnly, c.SameSite, c.Secure)
		}
	}
}

// TestPagesNeedSession: without a live session every patient page sends
// the browser to sign in.
func TestPagesNeedSession(t *testing.T) {
	_, h := newApp(t)
	for _, path := range []string{"/timeline", "/records/Observation/abc", "/labs/18262-6"} {
		for _, tok := range []string{"", "ended"} {
			r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil)
			if tok != "" {
				r.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/signin") {
				t.Errorf("%s with session %q: %d %s", path, tok, w.Code, w.Header().Get("Location"))
			}
		}
	}
}
