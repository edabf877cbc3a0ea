package smart

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"ptoy"
)

// authCode is what an authorization code stands for, until it is
// exchanged once or expires.
type authCode struct {
	client    string
	redirect  string
	challenge string // base64url SHA-256 of the code verifier
	nonce     string
	grant     Grant
	expires   time.Time
}

// oauthError is an OAuth error answer (RFC 6749 §4.1.2.1, §5.2).
type oauthError struct {
	Code string
	Desc string
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Desc }

func oerr(code, format string, args ...any) *oauthError {
	return &oauthError{Code: code, Desc: fmt.Sprintf(format, args...)}
}

// Limits on authorization request parameters.
const (
	maxStateLen = 1024
	maxNonceLen = 256
)

// serveAuthorize answers /authorize (GET, or POST of a form): an app's
// authorization request on behalf of the person who signs it.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	// Who signs, before the body is read: the hook may check the body
	// against its signature as it is read (auth.CheckBody).
	r = asSent(r)
	account, authErr := s.cfg.Authenticate(r)
	var q url.Values
	switch r.Method {
	case http.MethodGet:
		q = r.URL.Query()
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			httpError(w, ptoy.E("smart", ptoy.Invalid, "malformed form"), 0)
			return
		}
		q = r.PostForm
	default:
		httpError(w, ptoy.E("smart", ptoy.Invalid, "use GET or POST"), http.StatusMethodNotAllowed)
		return
	}
	// The client and its redirect URI first: until both are right, errors
	// go to the caller, never to a redirect URI.
	for _, p := range []string{"client_id", "redirect_uri"} {
		if len(q[p]) > 1 {
			httpError(w, ptoy.E("smart", ptoy.Invalid, p+" is given more than once"), 0)
			return
		}
	}
	c, err := s.client(q.Get("client_id"))
	if err != nil || c.Kind != KindApp {
		httpError(w, ptoy.E("smart", ptoy.Invalid, fmt.Sprintf("unknown client_id %q: an app is registered by an organisation first", q.Get("client_id"))), 0)
		return
	}
	redirect := q.Get("redirect_uri")
	if !contains(c.RedirectURIs, redirect) {
		httpError(w, ptoy.E("smart", ptoy.Invalid, "redirect_uri is not one registered for this app"), 0)
		return
	}
	state := q.Get("state")
	fail := func(e *oauthError) {
		v := url.Values{"error": {e.Code}, "error_description": {e.Desc}}
		if state != "" && len(state) <= maxStateLen {
			v.Set("state", state)
		}
		http.Redirect(w, r, withQuery(redirect, v), http.StatusFound)
	}
	for p, vs := range q {
		if len(vs) > 1 {
			fail(oerr("invalid_request", "%s is given more than once", p))
			return
		}
	}
	if len(state) > maxStateLen {
		fail(oerr("invalid_request", "state is longer than %d characters", maxStateLen))
		return
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail(oerr("unsupported_response_type", "response_type must be code, not %q", rt))
		return
	}
	if aud := strings.TrimSuffix(q.Get("aud"), "/"); aud != s.cfg.Issuer {
		fail(oerr("invalid_request", "aud must be this FHIR server's base URL, %s", s.cfg.Issuer))
		return
	}
	if m := q.Get("code_challenge_method"); m != "S256" {
		fail(oerr("invalid_request", "PKCE is required with code_challenge_method=S256 (plain is refused), got %q", m))
		return
	}
	challenge := q.Get("code_challenge")
	if len(challenge) != 43 || !isBase64URL(challenge) {
		fail(oerr("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)"))
		return
	}
	if q.Get("launch") != "" {
		fail(oerr("invalid_request", "EHR launch is not supported: launch the app standalone, without launch"))
		return
	}
	nonce := q.Get("nonce")
	if len(nonce) > maxNonceLen {
		fail(oerr("invalid_request", "nonce is longer than %d characters", maxNonceLen))
		return
	}
	asked, err := ParseScopes(q.Get("scope"))
	if err != nil {
		fail(oerr("invalid_scope", "%s", ptoy.Message(err)))
		return
	}
	if authErr != nil {
		msg := ptoy.Message(authErr)
		httpError(w, ptoy.E("smart", ptoy.Unauthenticated, "sign in to authorize the app: "+msg), http.StatusUnauthorized)
		return
	}
	p, err := s.cfg.Principal(account)
	if err != nil {
		fail(oerr("access_denied", "%s", ptoy.Message(err)))
		return
	}
	g, oe := s.grantFor(c, p, asked, q.Get("patient"))
	if oe != nil {
		fail(oe)
		return
	}
	code, h := newSecret()
	s.mu.Lock()
	s.sweepLocked()
	s.codes[h] = &authCode{client: c.ID, redirect: redirect, challenge: challenge, nonce: nonce, grant: g,
		expires: s.cfg.Now().Add(codeTTL)}
	s.mu.Unlock()
	v := url.Values{"code": {code}}
	if state != "" {
		v.Set("state", state)
	}
	http.Redirect(w, r, withQuery(redirect, v), http.StatusFound)
}

// grantFor decides what app c gets for principal p who asked scopes
// asked: asked ∩ what c may have; patient/ scopes only with a patient
// context (a patient: themselves; a practitioner: the patient they
// picked with patient=<id>, and only without user/ scopes); user/
// scopes only for practitioners.
func (s *Server) grantFor(c *Client, p Principal, asked Scopes, patientArg string) (Grant, *oauthError) {
	allowed, err := ParseScopes(c.Scopes)
	if err != nil {
		return Grant{}, oerr("server_error", "the app's registered scopes are malformed")
	}
	g := Grant{Client: c.ID, Account: p.Account, Org: p.Org, FHIRUser: p.FHIRUser}
	var kinds []Kind
	if p.Patient {
		g.Kind = KindPatient
		g.Patient = p.Account
		if patientArg != "" && patientArg != p.Account.String() {
			return Grant{}, oerr("access_denied", "a patient can open only their own record with this app")
		}
		kinds = []Kind{KindPatient}
	} else {
		g.Kind = KindUser
		kinds = []Kind{KindUser}
		if patientArg != "" {
			id, err := ptoy.ParseID(patientArg)
			if err != nil {
				return Grant{}, oerr("invalid_request", "patient must be a patient's id (40 hex digits)")
			}
			g.Patient = id
			kinds = append(kinds, KindPatient)
		} else if asked.LaunchPatient {
			return Grant{}, oerr("invalid_request", "launch/patient: choose the patient with patient=<id> (there is no patient picker yet)")
		}
	}
	g.Scopes = asked.only(kinds...).Intersect(allowed)
	if g.Kind == KindUser && g.Scopes.Has(KindUser) {
		// The FHIR API honours one kind of resource scope per token:
		// user/ when there are any (patient/ scopes then add nothing
		// it would honour, so they are not granted).
		g.Scopes = g.Scopes.only(KindUser)
	}
	if g.Patient.IsZero() {
		g.Scopes.LaunchPatient = false
	}
	if !g.Scopes.Has(KindPatient) && !g.Scopes.Has(KindUser) {
		return Grant{}, oerr("invalid_scope", "none of the scopes asked (%s) may be granted to this app for you; it may have %s", asked, allowed)
	}
	return g, nil
}

// withQuery adds v to the query of URL u.
func withQuery(u string, v url.Values) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := pu.Query()
	for k, vs := range v {
		q[k] = vs
	}
	pu.RawQuery = q.Encode()
	return pu.String()
}

func isBase64URL(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// takeCode returns the authorization code's record and forgets it: a
// code is used once, whatever the outcome.
func (s *Server) takeCode(code string) *authCode {
	h := sha256.Sum256([]byte(code))
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[h]
	if !ok {
		return nil
	}
	delete(s.codes, h)
	if !s.cfg.Now().Before(c.expires) {
		return nil
	}
	return c
}

// pkceOK reports whether verifier (RFC 7636: 43 to 128 of
// [A-Za-z0-9-._~]) hashes to challenge.
func pkceOK(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, c := range []byte(verifier) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
