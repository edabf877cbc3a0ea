package smart

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"ptoy"
)

// Config is what a Server needs from its node.
type Config struct {
	// Issuer is the FHIR base URL, e.g. "https://127.0.0.2:26660/fhir".
	// An app's aud must equal it; the endpoints are under it.
	Issuer string
	// DB keeps the registered clients and the refresh tokens, under Prefix
	// only.
	DB     *pebble.DB
	Prefix []byte
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Authenticate returns the person signed in on an /authorize request;
	// an error means: not signed in. It and Admin see the request's URL as
	// the client sent it (as it signed it), even when the handler is
	// mounted with http.StripPrefix. Both are called before the body is
	// read, so that they may check it (auth.CheckBody).
	Authenticate func(r *http.Request) (ptoy.ID, error)
	// Principal says who an account is; an error: the account may not use
	// FHIR at this node.
	Principal func(account ptoy.ID) (Principal, error)
	// Admin says which organisation a signed request to /clients
	// administers.
	Admin func(r *http.Request) (org ptoy.ID, err error)
	// AccessTTL is the life of an access token (default 5 minutes, for
	// backend services too); RefreshTTL of a refresh token (default 24 h).
	AccessTTL  time.Duration
	RefreshTTL time.Duration
}

// Principal says who an account is at this node.
type Principal struct {
	Account  ptoy.ID
	Org      ptoy.ID // zero for a patient
	Patient  bool    // the account is a patient using their own data
	FHIRUser string  // "Patient/<hex id>" or "Practitioner/<hex id>"
}

// Grant is what an access token stands for.
type Grant struct {
	Client   string
	Kind     Kind    // KindPatient, KindUser or KindSystem
	Account  ptoy.ID // the person; for KindSystem, the organisation
	Org      ptoy.ID
	Patient  ptoy.ID // the launch context's patient (zero if none)
	Scopes   Scopes
	FHIRUser string
	Expires  time.Time
}

// Lifetimes.
const (
	defaultAccessTTL  = 5 * time.Minute
	defaultRefreshTTL = 24 * time.Hour
	codeTTL           = 60 * time.Second
	// maxAssertionLife is how far ahead a client assertion's exp may be.
	maxAssertionLife = 5 * time.Minute
	// clockSkew is the leeway given to a client's clock.
	clockSkew = 30 * time.Second
	// sweepEvery is how often expired entries are collected.
	sweepEvery = time.Minute
)

// Limits on what comes from outside.
const (
	maxFormBytes = 64 << 10
	maxBodyBytes = 256 << 10
)

// Server is the SMART authorization server of one node.
type Server struct {
	cfg      Config
	tokenURL string

	mu        sync.Mutex
	access    map[[32]byte]*Grant    // access tokens by SHA-256
	codes     map[[32]byte]*authCode // authorization codes by SHA-256
	jtis      map[string]time.Time   // seen client assertion ids ("client\x00jti") until their exp
	lastSweep time.Time

	clientMu         sync.Mutex // serialises the adding and removing of clients
	refreshMu        sync.Mutex // makes the use of a refresh token once only
	lastRefreshSweep time.Time  // guarded by mu

	idKeyOnce sync.Once
	idKey     *idKey
	idKeyErr  error
}

// New returns a server. Issuer and DB are required; so are
// Authenticate and Principal (for apps) and Admin (for /clients).
func New(cfg Config) (*Server, error) {
	const op = "smart.New"
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, ptoy.E(op, ptoy.Invalid, "the issuer must be the absolute http(s) URL of the FHIR base")
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.DB == nil {
		return nil, ptoy.E(op, ptoy.Invalid, "no database")
	}
	if cfg.Authenticate == nil || cfg.Principal == nil || cfg.Admin == nil {
		return nil, ptoy.E(op, ptoy.Invalid, "Authenticate, Principal and Admin are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = defaultAccessTTL
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = defaultRefreshTTL
	}
	cfg.Prefix = append([]byte(nil), cfg.Prefix...)
	return &Server{
		cfg:      cfg,
		tokenURL: cfg.Issuer + "/token",
		access:   map[[32]byte]*Grant{},
		codes:    map[[32]byte]*authCode{},
		jtis:     map[string]time.Time{},
	}, nil
}

// Handler serves the endpoints, relative to the FHIR base: /authorize,
// /token, /.well-known/smart-configuration, /.well-known/jwks.json and
// /clients.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", s.serveAuthorize)
	mux.HandleFunc("/token", cors(s.serveToken))
	mux.HandleFunc("/.well-known/smart-configuration", cors(s.serveConfiguration))
	mux.HandleFunc("/.well-known/jwks.json", cors(s.serveJWKS))
	mux.HandleFunc("/clients", s.serveClients)
	mux.HandleFunc("/clients/{id}", s.serveClient)
	return mux
}

// cors lets browser apps of any origin call h: these endpoints use no
// cookies, and their answers are for whoever holds the request's
// credentials.
func cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h(w, r)
	}
}

// Configuration returns the smart-configuration JSON (SMART App Launch
// 2.0, §Discovery).
func (s *Server) Configuration() []byte {
	iss := s.cfg.Issuer
	c := map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              iss + "/.well-known/jwks.json",
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        s.tokenURL,
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt", "none"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS384", "ES384"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token", "client_credentials"},
		"response_types_supported":                         []string{"code"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"id_token_signing_alg_values_supported":            []string{"RS256"},
		"scopes_supported": []string{"openid", "fhirUser", "launch/patient", "offline_access", "online_access",
			"patient/*.cruds", "patient/*.rs", "user/*.cruds", "user/*.rs", "system/*.cruds", "system/*.rs",
			"patient/*.read", "patient/*.write", "user/*.read", "user/*.write", "system/*.read"},
		"capabilities": []string{"launch-standalone", "authorize-post", "client-public", "client-confidential-asymmetric",
			"context-standalone-patient", "context-banner", "sso-openid-connect",
			"permission-offline", "permission-online", "permission-patient", "permission-user",
			"permission-v1", "permission-v2"},
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return b
}

func (s *Server) serveConfiguration(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		httpError(w, ptoy.E("smart", ptoy.Invalid, "use GET"), http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(s.Configuration())
}

// Verify returns the grant of the request's "Authorization: Bearer
// <access token>". Errors: ptoy.Unauthenticated when the token is
// missing, unknown or expired.
func (s *Server) Verify(r *http.Request) (*Grant, error) {
	const op = "smart.Verify"
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "send an access token (Authorization: Bearer …)")
	}
	now := s.cfg.Now()
	k := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.access[k]
	if !ok {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "unknown access token (it may have been issued before the node restarted): sign in again")
	}
	if !now.Before(g.Expires) {
		delete(s.access, k)
		return nil, ptoy.E(op, ptoy.Unauthenticated, "the access token has expired: refresh it or sign in again")
	}
	c := *g
	return &c, nil
}

// IssueToken makes an access token for g directly, valid for ttl
// (0: AccessTTL), for ready-made tokens of a dev network and tests.
func (s *Server) IssueToken(g Grant, ttl time.Duration) (string, error) {
	if g.Kind < KindPatient || g.Kind > KindSystem {
		return "", ptoy.E("smart.IssueToken", ptoy.Invalid, "the grant has no kind")
	}
	if ttl <= 0 {
		ttl = s.cfg.AccessTTL
	}
	g.Expires = s.cfg.Now().Add(ttl)
	return s.newAccess(&g), nil
}

// newAccess stores g under a new access token and returns it.
func (s *Server) newAccess(g *Grant) string {
	tok, h := newSecret()
	s.mu.Lock()
	s.sweepLocked()
	s.access[h] = g
	s.mu.Unlock()
	return tok
}

// sweepLocked drops the expired access tokens, codes and assertion ids,
// at most once a minute. s.mu is held.
func (s *Server) sweepLocked() {
	now := s.cfg.Now()
	if now.Sub(s.lastSweep) < sweepEvery && !now.Before(s.lastSweep) {
		return
	}
	s.lastSweep = now
	for k, g := range s.access {
		if !now.Before(g.Expires) {
			delete(s.access, k)
		}
	}
	for k, c := range s.codes {
		if !now.Before(c.expires) {
			delete(s.codes, k)
		}
	}
	for k, exp := range s.jtis {
		if now.After(exp) {
			delete(s.jtis, k)
		}
	}
}

// revokeClient forgets the access tokens of client id.
func (s *Server) revokeClient(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, g := range s.access {
		if g.Client == id {
			delete(s.access, k)
		}
	}
	for k, c := range s.codes {
		if c.client == id {
			delete(s.codes, k)
		}
	}
}

// newSecret returns a random token and its SHA-256.
func newSecret() (string, [32]byte) {
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, sha256.Sum256([]byte(tok))
}

// asSent returns r with the URL the client sent (r.RequestURI), for
// the hooks that check a request signature over the path: a mount with
// http.StripPrefix has shortened r.URL. It is a shallow copy of r: read
// the body from it, as the hooks may wrap it.
func asSent(r *http.Request) *http.Request {
	if r.RequestURI == "" {
		return r
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return r
	}
	r2 := r.WithContext(r.Context())
	r2.URL = u
	return r2
}

// status is the one map of error kinds to HTTP status of this package.
func status(err error) int { return ptoy.HTTPStatus(err) }

// httpError answers err as JSON {"error": kind, "error_description":
// message}; code 0 takes the status from err's kind.
func httpError(w http.ResponseWriter, err error, code int) {
	if code == 0 {
		code = status(err)
	}
	word := "server_error"
	switch code {
	case http.StatusBadRequest, http.StatusMethodNotAllowed:
		word = "invalid_request"
	case http.StatusUnauthorized:
		word = "unauthenticated"
	case http.StatusForbidden:
		word = "access_denied"
	case http.StatusNotFound:
		word = "not_found"
	case http.StatusConflict:
		word = "exists"
	case http.StatusServiceUnavailable:
		word = "temporarily_unavailable"
	}
	writeJSON(w, code, map[string]string{"error": word, "error_description": ptoy.Message(err)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b)
}
