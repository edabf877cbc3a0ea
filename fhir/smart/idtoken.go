package smart

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"ptoy"
)

// idKey signs id_tokens (RS256, which every OpenID Connect client
// accepts). It lives in memory: a node restart makes a new one, as it
// logs apps out.
type idKey struct {
	signer jose.Signer
	public jose.JSONWebKey
}

func (s *Server) signingKey() (*idKey, error) {
	s.idKeyOnce.Do(func() {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			s.idKeyErr = ptoy.E("smart", ptoy.Other, "cannot make the id_token key", err)
			return
		}
		pub := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
		tp, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			s.idKeyErr = ptoy.E("smart", ptoy.Other, err)
			return
		}
		pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: pub.KeyID}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			s.idKeyErr = ptoy.E("smart", ptoy.Other, err)
			return
		}
		s.idKey = &idKey{signer: sig, public: pub}
	})
	return s.idKey, s.idKeyErr
}

// idToken makes the OpenID Connect id_token of g for its client.
func (s *Server) idToken(g *Grant, nonce string) (string, error) {
	k, err := s.signingKey()
	if err != nil {
		return "", err
	}
	now := s.cfg.Now()
	claims := struct {
		jwt.Claims
		FHIRUser string `json:"fhirUser,omitempty"`
		Nonce    string `json:"nonce,omitempty"`
	}{
		Claims: jwt.Claims{
			Issuer:   s.cfg.Issuer,
			Subject:  g.Account.String(),
			Audience: jwt.Audience{g.Client},
			IssuedAt: jwt.NewNumericDate(now),
			Expiry:   jwt.NewNumericDate(g.Expires),
		},
		Nonce: nonce,
	}
	if g.Scopes.FHIRUser {
		claims.FHIRUser = g.FHIRUser
	}
	tok, err := jwt.Signed(k.signer).Claims(claims).Serialize()
	if err != nil {
		return "", ptoy.E("smart", ptoy.Other, "cannot sign the id_token", err)
	}
	return tok, nil
}

// JWKS returns the public keys that sign id_tokens, a JWK Set.
func (s *Server) JWKS() (jose.JSONWebKeySet, error) {
	k, err := s.signingKey()
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.public}}, nil
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		httpError(w, ptoy.E("smart", ptoy.Invalid, "use GET"), http.StatusMethodNotAllowed)
		return
	}
	ks, err := s.JWKS()
	if err != nil {
		httpError(w, err, 0)
		return
	}
	writeJSON(w, http.StatusOK, ks)
}
