package backend_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"ptoy/fhir/smart/backend"
	"ptoy/internal/ehrserver"
)

// The assertion and the JWK read back with go-jose, a JOSE library not
// written here, and with the standard library from the JWK alone.
func TestAssertionVerifies(t *testing.T) {
	key, jwkJSON, err := backend.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(jwkJSON); err != nil {
		t.Fatalf("go-jose reads the JWK: %v", err)
	}
	if !jwk.IsPublic() || jwk.Algorithm != "ES384" || jwk.Use != "sig" {
		t.Errorf("JWK: public %v, alg %q, use %q", jwk.IsPublic(), jwk.Algorithm, jwk.Use)
	}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	kid := backend.KeyID(&key.PublicKey)
	if want := base64.RawURLEncoding.EncodeToString(thumb); kid != want || jwk.KeyID != want {
		t.Errorf("kid %q, JWK kid %q, go-jose thumbprint %q", kid, jwk.KeyID, want)
	}

	now := time.Unix(1_800_000_000, 0)
	const tokenURL = "https://ehr.example/auth/token"
	a, err := backend.Assertion(key, kid, "client-1", tokenURL, now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.ES384})
	if err != nil {
		t.Fatal(err)
	}
	if h := tok.Headers[0]; h.KeyID != kid || h.Algorithm != "ES384" || h.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("header %+v", h)
	}
	var c jwt.Claims
	if err := tok.Claims(jwk.Key, &c); err != nil {
		t.Fatalf("go-jose verifies the signature: %v", err)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: "client-1", Subject: "client-1", AnyAudience: jwt.Audience{tokenURL}, Time: now}, 0); err != nil {
		t.Error(err)
	}
	if c.Expiry.Time().Sub(now) > 5*time.Minute || c.ID == "" {
		t.Errorf("exp %v after now, jti %q", c.Expiry.Time().Sub(now), c.ID)
	}
	if a2, _ := backend.Assertion(key, kid, "client-1", tokenURL, now); strings.Split(a2, ".")[1] == strings.Split(a, ".")[1] {
		t.Error("two assertions share a jti")
	}

	// The standard library alone: x and y from the JWK, R || S signature.
	var pub struct{ X, Y string }
	if err := json.Unmarshal(jwkJSON, &pub); err != nil {
		t.Fatal(err)
	}
	x, _ := base64.RawURLEncoding.DecodeString(pub.X)
	y, _ := base64.RawURLEncoding.DecodeString(pub.Y)
	parts := strings.Split(a, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if len(sig) != 96 {
		t.Fatalf("signature of %d bytes, want 96", len(sig))
	}
	digest := sha512.Sum384([]byte(parts[0] + "." + parts[1]))
	pk := &ecdsa.PublicKey{Curve: elliptic.P384(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	if !ecdsa.Verify(pk, digest[:], new(big.Int).SetBytes(sig[:48]), new(big.Int).SetBytes(sig[48:])) {
		t.Error("the signature does not verify with the JWK's key")
	}
	sig[10] ^= 1
	if ecdsa.Verify(pk, digest[:], new(big.Int).SetBytes(sig[:48]), new(big.Int).SetBytes(sig[48:])) {
		t.Error("a changed signature verifies")
	}

	if _, err := backend.Assertion(key, kid, "", tokenURL, now); err == nil {
		t.Error("an empty client id is accepted")
	}
	if _, err := backend.Assertion(key, kid, "c", "ehr.example/token", now); err == nil {
		t.Error("a token URL without a scheme is accepted")
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backend.Assertion(p256, kid, "c", tokenURL, now); err == nil {
		t.Error("a P-256 key is accepted")
	}
}

// Token against a real SMART Backend Services token endpoint (the EHR
// server of the sync tests).
func TestToken(t *testing.T) {
	key, jwk, err := backend.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	kid := backend.KeyID(&key.PublicKey)
	s := ehrserver.Start(t, ehrserver.Options{ClientID: "svc", JWK: jwk, TokenTTL: 30 * time.Second})
	ctx := context.Background()

	before := time.Now()
	tok, exp, err := backend.Token(ctx, nil, s.TokenURL, "svc", kid, key, "system/*.read")
	if err != nil {
		t.Fatal(err)
	}
	if tok == "" || exp.Before(before.Add(29*time.Second)) || exp.After(time.Now().Add(30*time.Second)) {
		t.Errorf("token %q expires %v after the request", tok, exp.Sub(before))
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/Patient", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a search with the token: HTTP %d", resp.StatusCode)
	}

	_, _, err = backend.Token(ctx, nil, s.TokenURL, "not-svc", kid, key, "system/*.read")
	var re *backend.RefusedError
	if !errors.As(err, &re) || re.Status != 401 || re.Code != "invalid_client" || !strings.Contains(err.Error(), "iss and sub") {
		t.Errorf("a wrong client: %v", err)
	}
	_, _, err = backend.Token(ctx, nil, s.URL+"/_control/none", "svc", kid, key, "system/*.read")
	if !errors.As(err, &re) || re.Status != 404 || !strings.Contains(err.Error(), "HTTP 404") || !strings.Contains(err.Error(), "no such control path") {
		t.Errorf("a URL that is no token endpoint: %v", err)
	}
	_, _, err = backend.Token(ctx, nil, "http://127.0.0.1:1/auth/token", "svc", kid, key, "system/*.read")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("a closed port: %v", err)
	}
}
