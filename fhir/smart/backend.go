package smart

import (
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// maxJTILen bounds a client assertion's jti.
const maxJTILen = 256

// checkAssertion authenticates a backend service by its client
// assertion (SMART Backend Services; RFC 7523): a JWT signed RS384 or
// ES384 by a key of the service's registered JWK Set (picked by kid),
// with iss = sub = the client id, aud = the token endpoint, exp at most
// five minutes ahead, and a jti never seen before (until its exp). Every
// failure is invalid_client.
func (s *Server) checkAssertion(assertion, clientID string) (*Client, *oauthError) {
	bad := func(format string, args ...any) (*Client, *oauthError) {
		return nil, oerr("invalid_client", format, args...)
	}
	if len(assertion) > maxFormBytes {
		return bad("the client assertion is too large")
	}
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS384, jose.ES384})
	if err != nil {
		return bad("the client assertion is not a JWT signed with RS384 or ES384")
	}
	if len(tok.Headers) != 1 {
		return bad("the client assertion must have one signature")
	}
	h := tok.Headers[0]
	if h.KeyID == "" {
		return bad("the client assertion's header lacks kid")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return bad("the client assertion's claims are malformed")
	}
	id := unverified.Issuer
	if clientID != "" && clientID != id {
		return bad("client_id differs from the assertion's iss")
	}
	c, err := s.client(id)
	if err != nil || c.Kind != KindBackend {
		return bad("unknown client %q: a backend service is registered by an organisation first", id)
	}
	ks, err := parseJWKS(c.JWKS)
	if err != nil {
		return nil, oerr("server_error", "the service's registered keys are malformed")
	}
	keys := ks.Key(h.KeyID)
	if len(keys) != 1 {
		return bad("no key %q is registered for client %q", h.KeyID, id)
	}
	k := keys[0]
	if string(keyAlg(k)) != h.Algorithm {
		return bad("key %q signs %s, not %s", h.KeyID, keyAlg(k), h.Algorithm)
	}
	var cl jwt.Claims
	if err := tok.Claims(k.Key, &cl); err != nil {
		return bad("the client assertion's signature does not verify with key %q", h.KeyID)
	}
	now := s.cfg.Now()
	switch {
	case cl.Issuer != c.ID || cl.Subject != c.ID:
		return bad("the assertion's iss and sub must both be the client id")
	case !cl.Audience.Contains(s.tokenURL):
		return bad("the assertion's aud must be the token endpoint, %s", s.tokenURL)
	case cl.Expiry == nil:
		return bad("the assertion lacks exp")
	case !now.Before(cl.Expiry.Time()):
		return bad("the assertion has expired")
	case cl.Expiry.Time().After(now.Add(maxAssertionLife + clockSkew)):
		return bad("the assertion's exp is more than five minutes ahead")
	case cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(clockSkew)):
		return bad("the assertion is not valid yet (nbf)")
	case cl.IssuedAt != nil && cl.IssuedAt.Time().After(now.Add(clockSkew)):
		return bad("the assertion was issued in the future (iat)")
	case cl.ID == "" || len(cl.ID) > maxJTILen:
		return bad("the assertion needs a jti of 1 to %d characters", maxJTILen)
	}
	if !s.useJTI(c.ID, cl.ID, cl.Expiry.Time(), now) {
		return bad("this client assertion was used before (jti replayed)")
	}
	return c, nil
}

// useJTI records a client's assertion id until exp; false if it was
// seen before.
func (s *Server) useJTI(client, jti string, exp, now time.Time) bool {
	k := client + "\x00" + jti
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	if until, ok := s.jtis[k]; ok && !now.After(until) {
		return false
	}
	s.jtis[k] = exp
	return true
}
