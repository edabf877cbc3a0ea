package smart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"ptoy"
)

// clock is a settable clock for the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// openDB opens a Pebble database in a temporary directory.
func openDB(t testing.TB) *pebble.DB {
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Test headers: who signs an /authorize request, and which organisation
// a /clients request administers. The node checks real signatures.
const (
	hdrAccount = "X-Test-Account"
	hdrOrg     = "X-Test-Org"
)

// testEnv is a server behind real HTTP, with its people.
type testEnv struct {
	srv   *Server
	http  *httptest.Server
	iss   string
	clock *clock
	db    *pebble.DB

	org, otherOrg ptoy.ID
	patient       ptoy.ID // a patient
	doctor        ptoy.ID // a practitioner of org
	stranger      ptoy.ID // may not use FHIR here
}

func id(n byte) ptoy.ID {
	var i ptoy.ID
	for k := range i {
		i[k] = n
	}
	return i
}

func newEnv(t testing.TB, opts ...func(*testEnv, *Config)) *testEnv {
	e := &testEnv{
		clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		db:    openDB(t),
		org:   id(1), otherOrg: id(2), patient: id(3), doctor: id(4), stranger: id(5),
	}
	var h http.Handler = http.NotFoundHandler()
	e.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.http.Close)
	e.iss = e.http.URL + "/fhir"
	cfg := Config{
		Issuer: e.iss,
		DB:     e.db,
		Prefix: []byte("smart/"),
		Now:    e.clock.Now,
		Authenticate: func(r *http.Request) (ptoy.ID, error) {
			v := r.Header.Get(hdrAccount)
			if v == "" {
				return ptoy.ID{}, ptoy.E("test", ptoy.Unauthenticated, "no signature")
			}
			return ptoy.ParseID(v)
		},
		Principal: func(a ptoy.ID) (Principal, error) {
			switch a {
			case e.patient:
				return Principal{Account: a, Patient: true, FHIRUser: "Patient/" + a.String()}, nil
			case e.doctor:
				return Principal{Account: a, Org: e.org, FHIRUser: "Practitioner/" + a.String()}, nil
			}
			return Principal{}, ptoy.E("test", ptoy.PermissionDenied, "this account may not use FHIR at this node")
		},
		Admin: func(r *http.Request) (ptoy.ID, error) {
			v := r.Header.Get(hdrOrg)
			if v == "" {
				return ptoy.ID{}, ptoy.E("test", ptoy.Unauthenticated, "sign the request")
			}
			return ptoy.ParseID(v)
		},
	}
	for _, o := range opts {
		o(e, &cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	h = http.StripPrefix("/fhir", srv.Handler())
	return e
}

// addApp registers a public app of org with redirect URI
// https://app.example/cb.
func (e *testEnv) addApp(t testing.TB, clientID, scopes string) {
	t.Helper()
	err := e.srv.AddClient(context.Background(), Client{ID: clientID, Name: "App " + clientID, Org: e.org, Kind: KindApp,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) oauthConfig(clientID string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    clientID,
		RedirectURL: "https://app.example/cb",
		Scopes:      scopes,
		Endpoint: oauth2.Endpoint{AuthURL: e.iss + "/authorize", TokenURL: e.iss + "/token",
			AuthStyle: oauth2.AuthStyleInParams},
	}
}

// authorize sends the app's authorization request as account (zero: not
// signed in) and returns the status and the redirect's query.
func (e *testEnv) authorize(t testing.TB, u string, account ptoy.ID) (int, url.Values) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !account.IsZero() {
		req.Header.Set(hdrAccount, account.String())
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return resp.StatusCode, nil
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != "https://app.example/cb" {
		t.Fatalf("redirected to %s", got)
	}
	return resp.StatusCode, loc.Query()
}

// code runs an authorization request of conf as account and returns the
// code; it fails the test on an error.
func (e *testEnv) code(t testing.TB, conf *oauth2.Config, account ptoy.ID, verifier string, extra ...oauth2.AuthCodeOption) string {
	t.Helper()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", e.iss)}, extra...)
	st, q := e.authorize(t, conf.AuthCodeURL("xyz", opts...), account)
	if st != http.StatusFound || q.Get("code") == "" || q.Get("state") != "xyz" {
		t.Fatalf("authorize: status %d, %v", st, q)
	}
	return q.Get("code")
}

// bearer returns a request carrying access token tok.
func bearer(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// oauthCode returns the OAuth error code of a token request's error.
func oauthCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	if err == nil {
		return ""
	}
	return "not an OAuth error: " + err.Error()
}

// backend keys: an ES384 key and an RS384 key.
type backendKeys struct {
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
}

var (
	keysOnce sync.Once
	keysA    backendKeys
	keysB    backendKeys
)

func testKeys(t testing.TB) (a, b backendKeys) {
	keysOnce.Do(func() {
		for _, k := range []*backendKeys{&keysA, &keysB} {
			var err error
			if k.ec, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
				panic(err)
			}
			if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
	})
	return keysA, keysB
}

// jwks is the public JWK Set of k with kids es and rs.
func (k backendKeys) jwks(t testing.TB) []byte {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &k.ec.PublicKey, KeyID: "es", Algorithm: "ES384", Use: "sig"},
		{Key: &k.rsa.PublicKey, KeyID: "rs"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
