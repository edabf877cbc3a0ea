package smart

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
	jose "github.com/go-jose/go-jose/v4"

	"ptoy"
)

// Client is an app or a backend service an organisation registered.
type Client struct {
	ID, Name string
	Org      ptoy.ID
	// Kind is "app" (authorization code with PKCE; a public client) or
	// "backend" (client_credentials with a private_key_jwt assertion).
	Kind         string
	RedirectURIs []string // app: the exact redirect URIs
	JWKS         []byte   // backend: the public keys (RS384 / ES384), a JWK Set
	Scopes       string   // the most it may be granted
}

// Client kinds.
const (
	KindApp     = "app"
	KindBackend = "backend"
)

// clientJSON is the wire and storage form of a Client.
type clientJSON struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Org          string          `json:"org,omitempty"`
	Kind         string          `json:"kind"`
	RedirectURIs []string        `json:"redirect_uris,omitempty"`
	JWKS         json.RawMessage `json:"jwks,omitempty"`
	Scope        string          `json:"scope"`
}

// MarshalJSON writes c as {"id", "name", "org" (hex), "kind",
// "redirect_uris", "jwks" (the JWK Set itself), "scope"}.
func (c Client) MarshalJSON() ([]byte, error) {
	j := clientJSON{ID: c.ID, Name: c.Name, Kind: c.Kind, RedirectURIs: c.RedirectURIs, Scope: c.Scopes}
	if !c.Org.IsZero() {
		j.Org = c.Org.String()
	}
	if len(c.JWKS) > 0 {
		j.JWKS = json.RawMessage(c.JWKS)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes; unknown fields are
// refused.
func (c *Client) UnmarshalJSON(b []byte) error {
	var j clientJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return ptoy.E("smart.Client", ptoy.Invalid, "malformed client JSON", err)
	}
	*c = Client{ID: j.ID, Name: j.Name, Kind: j.Kind, RedirectURIs: j.RedirectURIs, Scopes: j.Scope}
	if j.Org != "" {
		id, err := ptoy.ParseID(j.Org)
		if err != nil {
			return err
		}
		c.Org = id
	}
	if len(j.JWKS) > 0 && string(j.JWKS) != "null" {
		c.JWKS = []byte(j.JWKS)
	}
	return nil
}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Limits on a client.
const (
	maxNameLen      = 200
	maxRedirectURIs = 10
	maxURILen       = 2000
	maxJWKSBytes    = 64 << 10
	maxKeys         = 10
)

// validate checks c and returns its allowed scopes and, for a backend,
// its keys.
func (c *Client) validate() (Scopes, *jose.JSONWebKeySet, error) {
	const op = "smart.AddClient"
	bad := func(msg string) (Scopes, *jose.JSONWebKeySet, error) {
		return Scopes{}, nil, ptoy.E(op, ptoy.Invalid, msg)
	}
	if !clientIDPattern.MatchString(c.ID) {
		return bad(fmt.Sprintf("client id %q: use 1 to 64 letters, digits, '.', '_' or '-'", c.ID))
	}
	if n := strings.TrimSpace(c.Name); n == "" || len(c.Name) > maxNameLen || !utf8.ValidString(c.Name) || strings.IndexFunc(c.Name, unicode.IsControl) >= 0 {
		return bad(fmt.Sprintf("the client needs a name of 1 to %d printable characters", maxNameLen))
	}
	if c.Org.IsZero() {
		return bad("the client has no organisation")
	}
	sc, err := ParseScopes(c.Scopes)
	if err != nil {
		return Scopes{}, nil, err
	}
	if len(sc.Other) > 0 {
		return bad(fmt.Sprintf("scope %q is not one this server grants", sc.Other[0]))
	}
	if sc.Launch {
		return bad(`scope "launch" (EHR launch) is not supported: use launch/patient`)
	}
	switch c.Kind {
	case KindApp:
		if len(c.JWKS) > 0 {
			return bad("an app is a public client: give it redirect URIs, not keys")
		}
		if len(c.RedirectURIs) == 0 || len(c.RedirectURIs) > maxRedirectURIs {
			return bad(fmt.Sprintf("an app needs 1 to %d redirect URIs", maxRedirectURIs))
		}
		for _, u := range c.RedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				return Scopes{}, nil, err
			}
		}
		if sc.Has(KindSystem) {
			return bad("system/ scopes are for backend services, not apps")
		}
		if !sc.Has(KindPatient) && !sc.Has(KindUser) {
			return bad("an app needs at least one patient/ or user/ scope")
		}
		return sc, nil, nil
	case KindBackend:
		if len(c.RedirectURIs) > 0 {
			return bad("a backend service has no redirect URIs")
		}
		if sc.Has(KindPatient) || sc.Has(KindUser) || !sc.only().Empty() {
			return bad("a backend service takes only system/ scopes")
		}
		if !sc.Has(KindSystem) {
			return bad("a backend service needs at least one system/ scope")
		}
		ks, err := parseJWKS(c.JWKS)
		if err != nil {
			return Scopes{}, nil, err
		}
		return sc, ks, nil
	}
	return bad(fmt.Sprintf("client kind %q: want %q or %q", c.Kind, KindApp, KindBackend))
}

// checkRedirectURI accepts an absolute http or https URL without a
// fragment or user info.
func checkRedirectURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || len(s) > maxURILen || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || u.User != nil || strings.Contains(s, "#") {
		return ptoy.E("smart.AddClient", ptoy.Invalid, fmt.Sprintf("redirect URI %q: want an absolute http(s) URL without a fragment", s))
	}
	return nil
}

// parseJWKS reads a backend's key set: 1 to 10 public keys, each with a
// distinct kid, each able to verify RS384 (RSA of 2048 bits or more) or
// ES384 (ECDSA P-384).
func parseJWKS(b []byte) (*jose.JSONWebKeySet, error) {
	const op = "smart.AddClient"
	if len(b) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "a backend service needs its public keys (a JWK Set)")
	}
	if len(b) > maxJWKSBytes {
		return nil, ptoy.E(op, ptoy.Invalid, "the JWK Set is too large")
	}
	var ks jose.JSONWebKeySet
	if err := json.Unmarshal(b, &ks); err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "the keys are not a JWK Set", err)
	}
	if len(ks.Keys) == 0 || len(ks.Keys) > maxKeys {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the JWK Set needs 1 to %d keys", maxKeys))
	}
	seen := map[string]bool{}
	for _, k := range ks.Keys {
		if k.KeyID == "" || seen[k.KeyID] {
			return nil, ptoy.E(op, ptoy.Invalid, "every key needs its own kid")
		}
		seen[k.KeyID] = true
		if !k.IsPublic() {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("key %q is not a public key: send only the public half", k.KeyID))
		}
		if k.Use != "" && k.Use != "sig" {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("key %q is for %q, not for signatures", k.KeyID, k.Use))
		}
		if keyAlg(k) == "" {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("key %q cannot sign RS384 or ES384: want RSA of 2048 bits or more, or ECDSA P-384", k.KeyID))
		}
		if k.Algorithm != "" && k.Algorithm != string(keyAlg(k)) {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("key %q: alg %q, want %s", k.KeyID, k.Algorithm, keyAlg(k)))
		}
	}
	return &ks, nil
}

// keyAlg is the one algorithm a client key verifies, or "".
func keyAlg(k jose.JSONWebKey) jose.SignatureAlgorithm {
	switch p := k.Key.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() >= 2048 {
			return jose.RS384
		}
	case *ecdsa.PublicKey:
		if p.Curve == elliptic.P384() {
			return jose.ES384
		}
	}
	return ""
}

func (s *Server) clientKey(id string) []byte {
	return append(append(append([]byte(nil), s.cfg.Prefix...), "client/"...), id...)
}

// AddClient registers c. Errors: ptoy.Invalid (what is wrong with it),
// ptoy.Exists (the id is taken, by this or another organisation).
func (s *Server) AddClient(ctx context.Context, c Client) error {
	const op = "smart.AddClient"
	if _, _, err := c.validate(); err != nil {
		return err
	}
	if len(c.JWKS) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, c.JWKS); err != nil {
			return ptoy.E(op, ptoy.Invalid, "the keys are not JSON", err)
		}
		c.JWKS = buf.Bytes()
	}
	b, err := json.Marshal(c)
	if err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	if _, err := s.client(c.ID); err == nil {
		return ptoy.E(op, ptoy.Exists, fmt.Sprintf("client id %q is taken: choose another", c.ID))
	} else if ptoy.KindOf(err) != ptoy.NotFound {
		return err
	}
	if err := s.cfg.DB.Set(s.clientKey(c.ID), b, pebble.Sync); err != nil {
		return ptoy.E(op, ptoy.Unavailable, "cannot store the client", err)
	}
	return nil
}

// RemoveClient removes org's client id, its refresh tokens and its
// access tokens. Errors: ptoy.NotFound (org has no such client).
func (s *Server) RemoveClient(ctx context.Context, org ptoy.ID, id string) error {
	const op = "smart.RemoveClient"
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	c, err := s.client(id)
	if err != nil || c.Org != org {
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("your organisation has no client %q", id))
	}
	if err := s.cfg.DB.Delete(s.clientKey(id), pebble.Sync); err != nil {
		return ptoy.E(op, ptoy.Unavailable, "cannot remove the client", err)
	}
	s.revokeClient(id)
	if err := s.dropRefresh(func(r *refreshRecord) bool { return r.Client == id }); err != nil {
		return err
	}
	return nil
}

// Clients lists org's clients by id.
func (s *Server) Clients(org ptoy.ID) ([]Client, error) {
	var out []Client
	err := s.scan("client/", func(_, v []byte) error {
		var c Client
		if err := json.Unmarshal(v, &c); err != nil {
			return ptoy.E("smart.Clients", ptoy.Other, "a stored client is malformed", err)
		}
		if c.Org == org {
			out = append(out, c)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// client loads client id. Errors: ptoy.NotFound.
func (s *Server) client(id string) (*Client, error) {
	const op = "smart.client"
	if !clientIDPattern.MatchString(id) {
		return nil, ptoy.E(op, ptoy.NotFound, "no such client")
	}
	v, closer, err := s.cfg.DB.Get(s.clientKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no client %q is registered here", id))
	}
	if err != nil {
		return nil, ptoy.E(op, ptoy.Unavailable, err)
	}
	defer closer.Close()
	var c Client
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, ptoy.E(op, ptoy.Other, "a stored client is malformed", err)
	}
	return &c, nil
}

// scan calls f on each key-value under the server's prefix + sub.
func (s *Server) scan(sub string, f func(k, v []byte) error) error {
	lo := append(append([]byte(nil), s.cfg.Prefix...), sub...)
	hi := append(append([]byte(nil), lo[:len(lo)-1]...), lo[len(lo)-1]+1)
	it, err := s.cfg.DB.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return ptoy.E("smart", ptoy.Unavailable, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := f(it.Key(), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return ptoy.E("smart", ptoy.Unavailable, err)
	}
	return nil
}

// serveClients answers POST (register a client of the signer's
// organisation) and GET (list them) on /clients.
func (s *Server) serveClients(w http.ResponseWriter, r *http.Request) {
	r = asSent(r)
	org, err := s.cfg.Admin(r)
	if err != nil {
		httpError(w, err, 0)
		return
	}
	switch r.Method {
	case http.MethodGet:
		cs, err := s.Clients(org)
		if err != nil {
			httpError(w, err, 0)
			return
		}
		if cs == nil {
			cs = []Client{}
		}
		writeJSON(w, http.StatusOK, cs)
	case http.MethodPost:
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		if err != nil {
			httpError(w, ptoy.E("smart", ptoy.Invalid, "cannot read the request", err), 0)
			return
		}
		if len(b) > maxBodyBytes {
			httpError(w, ptoy.E("smart", ptoy.Invalid, "the client is too large"), http.StatusRequestEntityTooLarge)
			return
		}
		var c Client
		if err := json.Unmarshal(b, &c); err != nil {
			httpError(w, ptoy.E("smart", ptoy.Invalid, "the body is not a client: "+ptoy.Message(err)), 0)
			return
		}
		c.Org = org
		if err := s.AddClient(r.Context(), c); err != nil {
			httpError(w, err, 0)
			return
		}
		stored, err := s.client(c.ID)
		if err != nil {
			httpError(w, err, 0)
			return
		}
		writeJSON(w, http.StatusCreated, stored)
	default:
		httpError(w, ptoy.E("smart", ptoy.Invalid, "use GET or POST"), http.StatusMethodNotAllowed)
	}
}

// serveClient answers DELETE /clients/{id}.
func (s *Server) serveClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	r = asSent(r)
	org, err := s.cfg.Admin(r)
	if err != nil {
		httpError(w, err, 0)
		return
	}
	if r.Method != http.MethodDelete {
		httpError(w, ptoy.E("smart", ptoy.Invalid, "use DELETE"), http.StatusMethodNotAllowed)
		return
	}
	if err := s.RemoveClient(r.Context(), org, id); err != nil {
		httpError(w, err, 0)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
