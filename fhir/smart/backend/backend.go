// Package backend is the client side of SMART Backend Services: a service
// that signs in to a FHIR server with its own key pair (an ES384 client
// assertion, private_key_jwt) and gets a short-lived bearer token under
// the client_credentials grant. It uses only the standard library.
//
//	key, jwk, err := backend.NewKey()        // register jwk with the server
//	tok, exp, err := backend.Token(ctx, http.DefaultClient, tokenURL,
//		clientID, backend.KeyID(&key.PublicKey), key, "system/*.read")
package backend

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AssertionLifetime is how long a client assertion is valid: SMART asks
// for no more than five minutes.
const AssertionLifetime = 4 * time.Minute

var b64 = base64.RawURLEncoding

// NewKey makes an ES384 (P-384) key pair and returns the private key and
// the public key as a JWK (kty, crv, x, y, alg, use and kid, the key's
// RFC 7638 thumbprint as KeyID gives it).
func NewKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("backend: making an ES384 key: %w", err)
	}
	x, y, err := coordinates(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	jwk, err := json.Marshal(map[string]string{
		"kty": "EC",
		"crv": "P-384",
		"x":   x,
		"y":   y,
		"alg": "ES384",
		"use": "sig",
		"kid": KeyID(&key.PublicKey),
	})
	if err != nil {
		return nil, nil, err
	}
	return key, jwk, nil
}

// coordinates gives the base64url x and y of a P-384 public key.
func coordinates(pub *ecdsa.PublicKey) (x, y string, err error) {
	if pub == nil || pub.Curve != elliptic.P384() {
		return "", "", errors.New("backend: the key is not a P-384 key")
	}
	p, err := pub.Bytes() // 0x04 || X || Y, 48 bytes each
	if err != nil {
		return "", "", fmt.Errorf("backend: encoding the public key: %w", err)
	}
	if len(p) != 97 || p[0] != 4 {
		return "", "", errors.New("backend: unexpected P-384 point encoding")
	}
	return b64.EncodeToString(p[1:49]), b64.EncodeToString(p[49:]), nil
}

// KeyID is the RFC 7638 JWK thumbprint (SHA-256, base64url) of a P-384
// public key: the kid NewKey puts in its JWK. It is "" for another curve.
func KeyID(pub *ecdsa.PublicKey) string {
	x, y, err := coordinates(pub)
	if err != nil {
		return ""
	}
	// The required members in lexicographic order, no spaces.
	sum := sha256.Sum256([]byte(`{"crv":"P-384","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	return b64.EncodeToString(sum[:])
}

// Assertion signs a client assertion for the token endpoint tokenURL: a
// JWT with header alg ES384, typ JWT and kid, and claims iss = sub =
// clientID, aud = tokenURL, exp = now + AssertionLifetime and a random jti.
func Assertion(key *ecdsa.PrivateKey, kid, clientID, tokenURL string, now time.Time) (string, error) {
	if key == nil || key.Curve != elliptic.P384() {
		return "", errors.New("backend: the assertion key must be a P-384 private key")
	}
	if clientID == "" {
		return "", errors.New("backend: the client id is empty")
	}
	if u, err := url.Parse(tokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("backend: the token URL %q is not an http(s) URL", tokenURL)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid,omitempty"`
	}{"ES384", "JWT", kid})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Jti string `json:"jti"`
	}{clientID, clientID, tokenURL, now.Add(AssertionLifetime).Unix(), b64.EncodeToString(jti)})
	if err != nil {
		return "", err
	}
	signed := b64.EncodeToString(header) + "." + b64.EncodeToString(claims)
	digest := sha512.Sum384([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("backend: signing the assertion: %w", err)
	}
	// JWS wants R || S, each as 48 big-endian bytes (not ASN.1).
	sig := make([]byte, 96)
	r.FillBytes(sig[:48])
	s.FillBytes(sig[48:])
	return signed + "." + b64.EncodeToString(sig), nil
}

// Token signs a client assertion and exchanges it at tokenURL for an
// access token with the given scope (for example "system/*.read"). It
// returns the token and when it expires. A refusal is an error that
// carries the server's status and its OAuth error and description.
func Token(ctx context.Context, client *http.Client, tokenURL, clientID, kid string, key *ecdsa.PrivateKey, scope string) (string, time.Time, error) {
	if client == nil {
		client = http.DefaultClient
	}
	now := time.Now()
	assertion, err := Assertion(key, kid, clientID, tokenURL, now)
	if err != nil {
		return "", time.Time{}, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("backend: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("backend: token request to %s: %w", tokenURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("backend: reading the token answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", time.Time{}, refusal(resp.StatusCode, body)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return "", time.Time{}, fmt.Errorf("backend: the token endpoint answered %q, not application/json", mt)
	}
	var answer struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Scope       string          `json:"scope"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return "", time.Time{}, fmt.Errorf("backend: the token answer is not JSON: %w", err)
	}
	if answer.AccessToken == "" {
		return "", time.Time{}, errors.New("backend: the token answer has no access_token")
	}
	if !strings.EqualFold(answer.TokenType, "bearer") {
		return "", time.Time{}, fmt.Errorf("backend: the token type is %q, not bearer", answer.TokenType)
	}
	var seconds int64
	if err := json.Unmarshal(answer.ExpiresIn, &seconds); err != nil || seconds <= 0 {
		return "", time.Time{}, fmt.Errorf("backend: the token answer's expires_in %s is not a positive number of seconds", answer.ExpiresIn)
	}
	return answer.AccessToken, now.Add(time.Duration(seconds) * time.Second), nil
}

// RefusedError is a token endpoint's refusal.
type RefusedError struct {
	Status      int    // HTTP status
	Code        string // OAuth error code ("invalid_client"), if the answer had one
	Description string // the server's error_description, or the start of its answer
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("backend: the token endpoint refused (HTTP %d)", e.Status)
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

func refusal(status int, body []byte) error {
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	e := &RefusedError{Status: status}
	if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
		e.Code, e.Description = oe.Error, oe.Description
	} else {
		text := strings.TrimSpace(string(body))
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		e.Description = text
	}
	return e
}
