package smart

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// assertion is a client assertion's parts a test varies.
type assertion struct {
	alg     jose.SignatureAlgorithm
	key     any // the private key that signs
	kid     string
	iss     string
	sub     string
	aud     string
	exp     time.Time
	jti     string
	noExp   bool
	noJTI   bool
	rawHead string // instead of signing: an unsigned JWT with this header
}

func (e *testEnv) assert(t *testing.T, a assertion) string {
	t.Helper()
	if a.aud == "" {
		a.aud = e.iss + "/token"
	}
	if a.sub == "" {
		a.sub = a.iss
	}
	if a.exp.IsZero() && !a.noExp {
		a.exp = e.clock.Now().Add(4 * time.Minute)
	}
	if a.jti == "" && !a.noJTI {
		b := make([]byte, 12)
		rand.Read(b)
		a.jti = base64.RawURLEncoding.EncodeToString(b)
	}
	c := jwt.Claims{Issuer: a.iss, Subject: a.sub, Audience: jwt.Audience{a.aud}, ID: a.jti}
	if !a.noExp {
		c.Expiry = jwt.NewNumericDate(a.exp)
	}
	if a.rawHead != "" {
		payload, err := jwt.Signed(mustSigner(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), "x")).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		// Keep the payload, replace the header and drop the signature.
		var parts [3]string
		copy(parts[:], splitDots(payload))
		return base64.RawURLEncoding.EncodeToString([]byte(a.rawHead)) + "." + parts[1] + "."
	}
	s, err := jwt.Signed(mustSigner(t, a.alg, a.key, a.kid)).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func mustSigner(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string) jose.Signer {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// backendToken asks for a token with client_credentials and assertion
// through golang.org/x/oauth2/clientcredentials.
func (e *testEnv) backendToken(assertion string, scopes ...string) (*oauth2.Token, error) {
	cc := clientcredentials.Config{
		TokenURL:  e.iss + "/token",
		Scopes:    scopes,
		AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		},
	}
	return cc.Token(context.Background())
}

func (e *testEnv) addBackends(t *testing.T) (a, b backendKeys) {
	a, b = testKeys(t)
	for _, c := range []Client{
		{ID: "payer-sync", Name: "Payer sync", Org: e.org, Kind: KindBackend, JWKS: a.jwks(t), Scopes: "system/Observation.rs system/Patient.rs"},
		{ID: "other-svc", Name: "Other", Org: e.otherOrg, Kind: KindBackend, JWKS: b.jwks(t), Scopes: "system/*.cruds"},
	} {
		if err := e.srv.AddClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func TestBackendServices(t *testing.T) {
	e := newEnv(t)
	a, _ := e.addBackends(t)
	for _, alg := range []struct {
		alg jose.SignatureAlgorithm
		key any
		kid string
	}{{jose.ES384, a.ec, "es"}, {jose.RS384, a.rsa, "rs"}} {
		tok, err := e.backendToken(e.assert(t, assertion{alg: alg.alg, key: alg.key, kid: alg.kid, iss: "payer-sync"}), "system/Observation.rs")
		if err != nil {
			t.Fatalf("%s: %v", alg.alg, err)
		}
		if tok.TokenType != "Bearer" || tok.Extra("scope") != "system/Observation.rs" || tok.RefreshToken != "" || tok.Extra("id_token") != nil {
			t.Errorf("%s: token %+v, scope %v", alg.alg, tok, tok.Extra("scope"))
		}
		if exp := tok.Extra("expires_in"); exp != float64(300) {
			t.Errorf("%s: expires_in %v, want 300", alg.alg, exp)
		}
		g, err := e.srv.Verify(bearer(tok.AccessToken))
		if err != nil {
			t.Fatalf("%s: Verify: %v", alg.alg, err)
		}
		if g.Kind != KindSystem || g.Account != e.org || g.Org != e.org || g.Client != "payer-sync" ||
			!g.Scopes.Allows(KindSystem, "Observation", 's') || g.Scopes.Allows(KindSystem, "Observation", 'c') || g.Scopes.Allows(KindSystem, "Patient", 'r') {
			t.Errorf("%s: grant %+v", alg.alg, g)
		}
	}
}

func TestBackendScopes(t *testing.T) {
	e := newEnv(t)
	a, _ := e.addBackends(t)
	as := func() string { return e.assert(t, assertion{alg: jose.ES384, key: a.ec, kid: "es", iss: "payer-sync"}) }
	for _, tc := range []struct {
		ask  []string
		want string // granted scope, or "!code"
	}{
		{nil, "system/Observation.rs system/Patient.rs"}, // no scope: what the service may have
		{[]string{"system/*.cruds"}, "system/Observation.rs system/Patient.rs"},
		{[]string{"system/Observation.read", "system/Condition.rs"}, "system/Observation.read"},
		{[]string{"system/Condition.rs"}, "!invalid_scope"},
		{[]string{"patient/*.rs"}, "!invalid_scope"},
		{[]string{"system/Observation.sr"}, "!invalid_scope"},
	} {
		tok, err := e.backendToken(as(), tc.ask...)
		got := "!" + oauthCode(err)
		if err == nil {
			got = tok.Extra("scope").(string)
		}
		if got != tc.want {
			t.Errorf("asking %q: got %q, want %q", tc.ask, got, tc.want)
		}
	}
}

func TestBackendRefusals(t *testing.T) {
	e := newEnv(t)
	a, b := e.addBackends(t)
	now := e.clock.Now()
	good := assertion{alg: jose.ES384, key: a.ec, kid: "es", iss: "payer-sync"}
	with := func(f func(*assertion)) string {
		x := good
		f(&x)
		return e.assert(t, x)
	}
	why := map[string]string{
		"replayed jti":          "replayed",
		"wrong aud":             "aud",
		"aud of another server": "aud",
		"expired":               "expired",
		"exp too far ahead":     "five minutes",
		"no exp":                "lacks exp",
		"no jti":                "jti",
		"sub is not the client": "sub",
		"alg HS256":             "RS384 or ES384",
		"alg PS384":             "RS384 or ES384",
		"alg none":              "RS384 or ES384",
		"unknown kid":           "no key",
		"no kid":                "lacks kid",
		"kid of the other key":  "signs RS384, not ES384",
		"another client's key":  "does not verify",
		"as another client":     "does not verify",
		"unknown client":        "unknown client",
		"not a JWT":             "not a JWT",
	}
	replayed := with(func(*assertion) {})
	if _, err := e.backendToken(replayed); err != nil {
		t.Fatalf("first use: %v", err)
	}
	for name, as := range map[string]string{ // assertion; the refusal's words are in why
		"replayed jti":          replayed,
		"wrong aud":             with(func(x *assertion) { x.aud = e.iss }),
		"aud of another server": with(func(x *assertion) { x.aud = "https://elsewhere.example/fhir/token" }),
		"expired":               with(func(x *assertion) { x.exp = now.Add(-time.Second) }),
		"exp too far ahead":     with(func(x *assertion) { x.exp = now.Add(10 * time.Minute) }),
		"no exp":                with(func(x *assertion) { x.noExp = true }),
		"no jti":                with(func(x *assertion) { x.noJTI = true }),
		"sub is not the client": with(func(x *assertion) { x.sub = "someone" }),
		"alg HS256":             with(func(x *assertion) { x.alg, x.key = jose.HS256, []byte("0123456789abcdef0123456789abcdef") }),
		"alg PS384":             with(func(x *assertion) { x.alg, x.key, x.kid = jose.PS384, a.rsa, "rs" }),
		"alg none":              with(func(x *assertion) { x.rawHead = `{"alg":"none","kid":"es","typ":"JWT"}` }),
		"unknown kid":           with(func(x *assertion) { x.kid = "nope" }),
		"no kid":                with(func(x *assertion) { x.kid = "" }),
		"kid of the other key":  with(func(x *assertion) { x.kid = "rs" }),
		"another client's key":  with(func(x *assertion) { x.key = b.ec }),
		"as another client":     with(func(x *assertion) { x.iss = "other-svc" }), // signed with a's key, b's kid "es"
		"unknown client":        with(func(x *assertion) { x.iss = "nobody" }),
		"not a JWT":             "not-a-jwt",
	} {
		_, err := e.backendToken(as)
		if got := oauthCode(err); got != "invalid_client" {
			t.Errorf("%s: %q, want invalid_client", name, got)
		} else if d := describe(err); !strings.Contains(d, why[name]) {
			t.Errorf("%s: refused for %q, want a reason with %q", name, d, why[name])
		}
	}
	// Without an assertion, or with another type.
	cc := clientcredentials.Config{TokenURL: e.iss + "/token", ClientID: "payer-sync", AuthStyle: oauth2.AuthStyleInParams}
	if _, err := cc.Token(context.Background()); oauthCode(err) != "invalid_client" {
		t.Errorf("no assertion: %v", err)
	}
	// A replayed jti is accepted again only once the first has expired,
	// when its exp refuses it anyway.
	e.clock.Add(5 * time.Minute)
	if _, err := e.backendToken(replayed); oauthCode(err) != "invalid_client" {
		t.Errorf("replayed after its exp: %v", err)
	}
}

// describe returns the error_description of a token request's error.
func describe(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorDescription
	}
	return ""
}
