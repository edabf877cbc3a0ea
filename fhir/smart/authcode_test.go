package smart

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"ptoy"
	"ptoy/auth"
	"ptoy/keys"
)

const appScopes = "patient/*.rs user/*.rs launch/patient openid fhirUser offline_access"

func TestAuthCodeRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.addApp(t, "growth-chart", appScopes)
	conf := e.oauthConfig("growth-chart", "launch/patient", "patient/*.rs", "openid", "fhirUser", "offline_access")
	ctx := context.Background()

	verifier := oauth2.GenerateVerifier()
	code := e.code(t, conf, e.patient, verifier, oauth2.SetAuthURLParam("nonce", "n-0S6"))
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if got := tok.Extra("scope"); got != "patient/*.rs launch/patient openid fhirUser offline_access" {
		t.Errorf("granted scope %q", got)
	}
	if got := tok.Extra("patient"); got != e.patient.String() {
		t.Errorf("patient %v, want %s", got, e.patient)
	}
	if got := tok.Extra("need_patient_banner"); got != true {
		t.Errorf("need_patient_banner %v", got)
	}
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Errorf("token %+v", tok)
	}

	g, err := e.srv.Verify(bearer(tok.AccessToken))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if g.Kind != KindPatient || g.Account != e.patient || g.Patient != e.patient || g.Client != "growth-chart" ||
		g.FHIRUser != "Patient/"+e.patient.String() || !g.Scopes.Allows(KindPatient, "Observation", 'r') || g.Scopes.Allows(KindPatient, "Observation", 'c') {
		t.Errorf("grant %+v", g)
	}

	// The id_token is signed by a key of jwks_uri and names the user.
	checkIDToken(t, e, tok.Extra("id_token"), "growth-chart", "n-0S6", "Patient/"+e.patient.String())

	// Refresh: new tokens, and the old refresh token is spent.
	ts := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
	tok2, err := ts.Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.AccessToken == tok.AccessToken || tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh did not rotate: %+v", tok2)
	}
	if got := tok2.Extra("scope"); got != "patient/*.rs launch/patient openid fhirUser offline_access" {
		t.Errorf("refreshed scope %q", got)
	}
	if g, err := e.srv.Verify(bearer(tok2.AccessToken)); err != nil || g.Patient != e.patient {
		t.Errorf("Verify refreshed: %+v, %v", g, err)
	}
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if oauthCode(err) != "invalid_grant" {
		t.Errorf("old refresh token: %v, want invalid_grant", err)
	}
	// The new one works once, and only for its own client.
	e.addApp(t, "other-app", appScopes)
	if _, err := e.oauthConfig("other-app").TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); oauthCode(err) != "invalid_grant" {
		t.Errorf("another app's refresh token: %v, want invalid_grant", err)
	}

	// Removing the app logs it out.
	tok3, err := conf.Exchange(ctx, e.code(t, conf, e.patient, verifier), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.RemoveClient(ctx, e.org, "growth-chart"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Verify(bearer(tok3.AccessToken)); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Errorf("Verify after removal: %v", err)
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok3.RefreshToken}).Token(); oauthCode(err) != "invalid_grant" {
		t.Errorf("refresh after removal: %v", err)
	}
}

func checkIDToken(t *testing.T, e *testEnv, raw any, client, nonce, fhirUser string) {
	t.Helper()
	s, _ := raw.(string)
	idt, err := jwt.ParseSigned(s, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("id_token %q: %v", s, err)
	}
	resp, err := http.Get(e.iss + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ks jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&ks); err != nil {
		t.Fatal(err)
	}
	keys := ks.Key(idt.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("jwks has no key %q", idt.Headers[0].KeyID)
	}
	var c jwt.Claims
	var extra struct {
		FHIRUser string `json:"fhirUser"`
		Nonce    string `json:"nonce"`
	}
	if err := idt.Claims(keys[0].Key, &c, &extra); err != nil {
		t.Fatalf("id_token signature: %v", err)
	}
	if err := c.Validate(jwt.Expected{Issuer: e.iss, AnyAudience: jwt.Audience{client}, Time: e.clock.Now()}); err != nil {
		t.Errorf("id_token claims: %v", err)
	}
	if extra.FHIRUser != fhirUser || extra.Nonce != nonce {
		t.Errorf("id_token fhirUser %q nonce %q", extra.FHIRUser, extra.Nonce)
	}
}

// A practitioner gets user/ scopes, and patient/ scopes only for the
// patient they pick.
func TestAuthCodePractitioner(t *testing.T) {
	e := newEnv(t)
	e.addApp(t, "chart", appScopes)
	ctx := context.Background()
	v := oauth2.GenerateVerifier()

	conf := e.oauthConfig("chart", "user/*.cruds", "patient/*.rs", "openid", "fhirUser")
	tok, err := conf.Exchange(ctx, e.code(t, conf, e.doctor, v), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Extra("scope"); got != "user/*.rs openid fhirUser" {
		t.Errorf("without a patient: scope %q", got)
	}
	if tok.Extra("patient") != nil || tok.RefreshToken != "" {
		t.Errorf("without a patient: patient %v, refresh %q", tok.Extra("patient"), tok.RefreshToken)
	}
	checkIDToken(t, e, tok.Extra("id_token"), "chart", "", "Practitioner/"+e.doctor.String())
	g, err := e.srv.Verify(bearer(tok.AccessToken))
	if err != nil || g.Kind != KindUser || g.Org != e.org || !g.Patient.IsZero() || !g.Scopes.Allows(KindUser, "Condition", 's') || g.Scopes.Allows(KindUser, "Condition", 'u') {
		t.Errorf("grant %+v, %v", g, err)
	}

	conf = e.oauthConfig("chart", "launch/patient", "patient/Observation.rs")
	tok, err = conf.Exchange(ctx, e.code(t, conf, e.doctor, v, oauth2.SetAuthURLParam("patient", e.patient.String())), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("scope") != "patient/Observation.rs launch/patient" || tok.Extra("patient") != e.patient.String() {
		t.Errorf("with patient=: scope %q patient %v", tok.Extra("scope"), tok.Extra("patient"))
	}
	if g, err := e.srv.Verify(bearer(tok.AccessToken)); err != nil || g.Kind != KindUser || g.Patient != e.patient || g.Account != e.doctor {
		t.Errorf("grant %+v, %v", g, err)
	}

	// Asked both, a practitioner gets the user/ scopes: the FHIR API
	// honours one kind of resource scope per token, and the answer says
	// which.
	conf = e.oauthConfig("chart", "launch/patient", "patient/*.rs", "user/*.rs")
	tok, err = conf.Exchange(ctx, e.code(t, conf, e.doctor, v, oauth2.SetAuthURLParam("patient", e.patient.String())), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("scope") != "user/*.rs launch/patient" || tok.Extra("patient") != e.patient.String() {
		t.Errorf("user/ and patient/ asked: scope %q patient %v", tok.Extra("scope"), tok.Extra("patient"))
	}
}

// authError runs an authorization request and returns the status and
// the redirect's error.
func (e *testEnv) authError(t *testing.T, params url.Values, account ptoy.ID) (int, string) {
	t.Helper()
	st, q := e.authorize(t, e.iss+"/authorize?"+params.Encode(), account)
	if q != nil && q.Get("code") != "" {
		return st, "granted " + q.Get("code")
	}
	if q != nil && q.Get("state") != "s" {
		t.Errorf("error redirect without the state: %v", q)
	}
	return st, q.Get("error")
}

func TestAuthorizeRefusals(t *testing.T) {
	e := newEnv(t)
	e.addApp(t, "chart", appScopes)
	base := func(f func(url.Values)) url.Values {
		v := oauth2.GenerateVerifier()
		q := url.Values{"response_type": {"code"}, "client_id": {"chart"}, "redirect_uri": {"https://app.example/cb"},
			"scope": {"patient/*.rs"}, "state": {"s"}, "aud": {e.iss}, "code_challenge": {oauth2.S256ChallengeFromVerifier(v)},
			"code_challenge_method": {"S256"}}
		f(q)
		return q
	}
	for _, tc := range []struct {
		name    string
		q       url.Values
		account ptoy.ID
		status  int
		err     string
	}{
		{"fine", base(func(url.Values) {}), e.patient, 302, "granted"},
		{"unknown client", base(func(q url.Values) { q.Set("client_id", "nope") }), e.patient, 400, ""},
		{"unregistered redirect", base(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }), e.patient, 400, ""},
		{"no redirect", base(func(q url.Values) { q.Del("redirect_uri") }), e.patient, 400, ""},
		{"token response type", base(func(q url.Values) { q.Set("response_type", "token") }), e.patient, 302, "unsupported_response_type"},
		{"wrong aud", base(func(q url.Values) { q.Set("aud", "https://elsewhere.example/fhir") }), e.patient, 302, "invalid_request"},
		{"plain PKCE", base(func(q url.Values) {
			q.Set("code_challenge_method", "plain")
			q.Set("code_challenge", strings.Repeat("a", 43))
		}), e.patient, 302, "invalid_request"},
		{"no PKCE", base(func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }), e.patient, 302, "invalid_request"},
		{"short challenge", base(func(q url.Values) { q.Set("code_challenge", "abc") }), e.patient, 302, "invalid_request"},
		{"EHR launch", base(func(q url.Values) { q.Set("launch", "xyz") }), e.patient, 302, "invalid_request"},
		{"repeated parameter", base(func(q url.Values) { q.Add("scope", "user/*.rs") }), e.patient, 302, "invalid_request"},
		{"malformed scope", base(func(q url.Values) { q.Set("scope", "patient/*.sr") }), e.patient, 302, "invalid_scope"},
		{"a patient asking user/ scopes", base(func(q url.Values) { q.Set("scope", "user/*.rs") }), e.patient, 302, "invalid_scope"},
		{"a scope the app may not have", base(func(q url.Values) { q.Set("scope", "patient/*.cud") }), e.patient, 302, "invalid_scope"},
		{"a patient picking another", base(func(q url.Values) { q.Set("patient", e.doctor.String()) }), e.patient, 302, "access_denied"},
		{"practitioner, patient/ without a patient", base(func(url.Values) {}), e.doctor, 302, "invalid_scope"},
		{"practitioner, launch/patient without a patient", base(func(q url.Values) { q.Set("scope", "launch/patient patient/*.rs") }), e.doctor, 302, "invalid_request"},
		{"practitioner, bad patient id", base(func(q url.Values) { q.Set("patient", "zz") }), e.doctor, 302, "invalid_request"},
		{"not signed in", base(func(url.Values) {}), ptoy.ID{}, 401, ""},
		{"may not use FHIR", base(func(url.Values) {}), e.stranger, 302, "access_denied"},
	} {
		st, errCode := e.authError(t, tc.q, tc.account)
		if tc.err == "granted" && strings.HasPrefix(errCode, "granted") {
			errCode = "granted"
		}
		if st != tc.status || errCode != tc.err {
			t.Errorf("%s: status %d error %q, want %d %q", tc.name, st, errCode, tc.status, tc.err)
		}
	}

	// An unsigned request is told why, in JSON.
	resp, err := http.Get(e.iss + "/authorize?" + base(func(url.Values) {}).Encode())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "sign in") {
		t.Errorf("401 body %s", b)
	}
}

func TestPKCE(t *testing.T) {
	e := newEnv(t)
	e.addApp(t, "chart", appScopes)
	e.addApp(t, "other", appScopes)
	ctx := context.Background()
	conf := e.oauthConfig("chart", "patient/*.rs")
	v := oauth2.GenerateVerifier()

	code := e.code(t, conf, e.patient, v)
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthCode(err) != "invalid_grant" {
		t.Errorf("wrong verifier: %v", err)
	}
	// The failed attempt spent the code.
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v)); oauthCode(err) != "invalid_grant" {
		t.Errorf("code after a failed exchange: %v", err)
	}

	code = e.code(t, conf, e.patient, v)
	if _, err := conf.Exchange(ctx, code); oauthCode(err) != "invalid_grant" {
		t.Errorf("no verifier: %v", err)
	}

	code = e.code(t, conf, e.patient, v)
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v)); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v)); oauthCode(err) != "invalid_grant" {
		t.Errorf("reused code: %v", err)
	}

	code = e.code(t, conf, e.patient, v)
	if _, err := e.oauthConfig("other").Exchange(ctx, code, oauth2.VerifierOption(v)); oauthCode(err) != "invalid_grant" {
		t.Errorf("another client's code: %v", err)
	}

	code = e.code(t, conf, e.patient, v)
	other := e.oauthConfig("chart")
	other.RedirectURL = "https://app.example/other"
	if _, err := other.Exchange(ctx, code, oauth2.VerifierOption(v)); oauthCode(err) != "invalid_grant" {
		t.Errorf("another redirect_uri: %v", err)
	}

	// A secret where there is none.
	code = e.code(t, conf, e.patient, v)
	withSecret := e.oauthConfig("chart")
	withSecret.ClientSecret = "guess"
	withSecret.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if _, err := withSecret.Exchange(ctx, code, oauth2.VerifierOption(v)); oauthCode(err) != "invalid_client" {
		t.Errorf("a client secret: %v", err)
	}
	// HTTP Basic with the client id and an empty secret is a public client.
	code = e.code(t, conf, e.patient, v)
	basic := e.oauthConfig("chart")
	basic.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if _, err := basic.Exchange(ctx, code, oauth2.VerifierOption(v)); err != nil {
		t.Errorf("HTTP Basic public client: %v", err)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		form url.Values
		code string
	}{
		{url.Values{}, "invalid_request"},
		{url.Values{"grant_type": {"password"}, "username": {"a"}}, "unsupported_grant_type"},
		{url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, "invalid_client"},
		{url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"c"}}, "invalid_grant"},
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"c"}}, "invalid_grant"},
		{url.Values{"grant_type": {"client_credentials"}}, "invalid_client"},
	} {
		resp, err := http.PostForm(e.iss+"/token", tc.form)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if out.Error != tc.code || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%v: %d %q, want %q", tc.form, resp.StatusCode, out.Error, tc.code)
		}
	}
	resp, err := http.Get(e.iss + "/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET /token: %d", resp.StatusCode)
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	e.addApp(t, "chart", appScopes)
	a, _ := e.addBackends(t)
	ctx := context.Background()
	conf := e.oauthConfig("chart", "patient/*.rs", "offline_access")
	v := oauth2.GenerateVerifier()

	// A code lives 60 seconds.
	code := e.code(t, conf, e.patient, v)
	e.clock.Add(61 * time.Second)
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v)); oauthCode(err) != "invalid_grant" {
		t.Errorf("code after 61 s: %v", err)
	}

	// An access token lives AccessTTL (5 minutes).
	tok, err := conf.Exchange(ctx, e.code(t, conf, e.patient, v), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	sys, err := e.backendToken(e.assert(t, assertion{alg: jose.ES384, key: a.ec, kid: "es", iss: "payer-sync"}))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(4*time.Minute + 59*time.Second)
	for _, at := range []string{tok.AccessToken, sys.AccessToken} {
		if _, err := e.srv.Verify(bearer(at)); err != nil {
			t.Errorf("Verify before 5 minutes: %v", err)
		}
	}
	e.clock.Add(time.Second)
	for _, at := range []string{tok.AccessToken, sys.AccessToken} {
		if _, err := e.srv.Verify(bearer(at)); ptoy.KindOf(err) != ptoy.Unauthenticated || !strings.Contains(err.Error(), "expired") {
			t.Errorf("Verify after 5 minutes: %v", err)
		}
	}
	// Swept: the expired token is gone from memory.
	e.clock.Add(time.Minute)
	if _, err := e.srv.IssueToken(Grant{Kind: KindPatient, Account: e.patient, Patient: e.patient}, 0); err != nil {
		t.Fatal(err)
	}
	e.srv.mu.Lock()
	n := len(e.srv.access)
	e.srv.mu.Unlock()
	if n != 1 {
		t.Errorf("%d access tokens in memory after the sweep, want 1", n)
	}

	// A refresh token lives RefreshTTL (24 hours).
	ts := func(rt string) (*oauth2.Token, error) {
		return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	}
	tok2, err := ts(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh within a day: %v", err)
	}
	e.clock.Add(24 * time.Hour)
	if _, err := ts(tok2.RefreshToken); oauthCode(err) != "invalid_grant" {
		t.Errorf("refresh after a day: %v", err)
	}
}

func TestIssueTokenAndVerify(t *testing.T) {
	e := newEnv(t)
	sc, _ := ParseScopes("patient/*.rs")
	tok, err := e.srv.IssueToken(Grant{Client: "dev", Kind: KindPatient, Account: e.patient, Patient: e.patient, Scopes: sc}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.srv.Verify(bearer(tok))
	if err != nil || g.Expires != e.clock.Now().Add(time.Hour) || !g.Scopes.Allows(KindPatient, "Goal", 'r') {
		t.Fatalf("Verify = %+v, %v", g, err)
	}
	for _, h := range []string{"", "Bearer", "Bearer nope", "Basic " + tok, "PTOY-Session " + tok} {
		r := bearer("")
		r.Header.Set("Authorization", h)
		if _, err := e.srv.Verify(r); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("Authorization %q: %v", h, err)
		}
	}
	if _, err := e.srv.IssueToken(Grant{}, 0); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("IssueToken without a kind: %v", err)
	}
}

func TestConfiguration(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.iss + "/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct {
		Issuer, JWKSURI, AuthorizationEndpoint, TokenEndpoint string
		Auth                                                  []string `json:"token_endpoint_auth_methods_supported"`
		Grants                                                []string `json:"grant_types_supported"`
		Challenge                                             []string `json:"code_challenge_methods_supported"`
		Capabilities                                          []string `json:"capabilities"`
	}
	var raw map[string]json.RawMessage
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw["issuer"], &c.Issuer)
	json.Unmarshal(raw["jwks_uri"], &c.JWKSURI)
	json.Unmarshal(raw["authorization_endpoint"], &c.AuthorizationEndpoint)
	json.Unmarshal(raw["token_endpoint"], &c.TokenEndpoint)
	json.Unmarshal(b, &c)
	if c.Issuer != e.iss || c.AuthorizationEndpoint != e.iss+"/authorize" || c.TokenEndpoint != e.iss+"/token" || c.JWKSURI != e.iss+"/.well-known/jwks.json" {
		t.Errorf("endpoints %+v", c)
	}
	if strings.Join(c.Challenge, " ") != "S256" || strings.Join(c.Auth, " ") != "private_key_jwt none" ||
		strings.Join(c.Grants, " ") != "authorization_code refresh_token client_credentials" {
		t.Errorf("configuration %s", b)
	}
	for _, want := range []string{"launch-standalone", "client-public", "client-confidential-asymmetric", "context-standalone-patient", "permission-v2", "sso-openid-connect"} {
		if !contains(c.Capabilities, want) {
			t.Errorf("capabilities lack %s", want)
		}
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("no CORS header")
	}
}

// The node mounts the handler under /fhir with http.StripPrefix, and its
// hooks check ptoy request signatures, which cover the path as sent and
// the body: a signed GET and a signed POST of /authorize are accepted,
// a POST whose form was changed after signing is not.
func TestSignedAuthorizeUnderStripPrefix(t *testing.T) {
	const chain = "smart-test"
	k, err := keys.Generate(keys.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	nonces := auth.NewNonces()
	var patient ptoy.ID
	e := newEnv(t, func(e *testEnv, c *Config) {
		patient = e.patient
		c.Authenticate = func(r *http.Request) (ptoy.ID, error) {
			key, err := auth.Verify(r, chain, time.Now(), nonces)
			if err != nil {
				return ptoy.ID{}, err
			}
			if !bytes.Equal(key, k.SigningPublic()) {
				return ptoy.ID{}, ptoy.E("test", ptoy.Unauthenticated, "unknown key")
			}
			auth.CheckBody(r, 1<<16)
			return patient, nil
		}
	})
	e.addApp(t, "chart", appScopes)
	v := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {"chart"}, "redirect_uri": {"https://app.example/cb"},
		"scope": {"patient/*.rs"}, "state": {"s"}, "aud": {e.iss}, "code_challenge": {oauth2.S256ChallengeFromVerifier(v)},
		"code_challenge_method": {"S256"}}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method string, body string, tamper bool) (int, url.Values) {
		t.Helper()
		target := e.iss + "/authorize"
		var req *http.Request
		if method == http.MethodGet {
			req, _ = http.NewRequest(method, target+"?"+q.Encode(), nil)
		} else {
			req, _ = http.NewRequest(method, target, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if err := auth.Sign(req, chain, k, time.Now()); err != nil {
			t.Fatal(err)
		}
		if tamper {
			changed := strings.Replace(body, "patient%2F%2A.rs", "patient%2F%2A.r", 1)
			req.Body = io.NopCloser(strings.NewReader(changed))
			req.ContentLength = int64(len(changed))
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return resp.StatusCode, loc.Query()
	}
	if st, got := send(http.MethodGet, "", false); st != http.StatusFound || got.Get("code") == "" {
		t.Errorf("signed GET: %d %v", st, got)
	}
	if st, got := send(http.MethodPost, q.Encode(), false); st != http.StatusFound || got.Get("code") == "" {
		t.Errorf("signed POST: %d %v", st, got)
	}
	if st, got := send(http.MethodPost, q.Encode(), true); st == http.StatusFound && got.Get("code") != "" {
		t.Errorf("POST with a changed form was granted: %d %v", st, got)
	}
}
