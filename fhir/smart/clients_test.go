package smart

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"ptoy"
)

// adminDo sends a /clients request administering org.
func (e *testEnv) adminDo(t *testing.T, org ptoy.ID, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.iss+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if !org.IsZero() {
		req.Header.Set(hdrOrg, org.String())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestClientsAdmin(t *testing.T) {
	e := newEnv(t)
	a, _ := testKeys(t)
	app := map[string]any{"id": "growth-chart", "name": "Growth chart", "kind": "app",
		"redirect_uris": []string{"https://app.example/cb"}, "scope": "patient/*.rs launch/patient openid fhirUser",
		"org": e.otherOrg.String()} // the body's org is ignored
	if st, b := e.adminDo(t, e.org, "POST", "/clients", app); st != http.StatusCreated {
		t.Fatalf("POST app: %d %s", st, b)
	}
	svc := map[string]any{"id": "payer.sync", "name": "Payer sync", "kind": "backend",
		"jwks": json.RawMessage(a.jwks(t)), "scope": "system/*.rs"}
	if st, b := e.adminDo(t, e.org, "POST", "/clients", svc); st != http.StatusCreated {
		t.Fatalf("POST backend: %d %s", st, b)
	}
	if st, _ := e.adminDo(t, e.otherOrg, "POST", "/clients", app); st != http.StatusConflict {
		t.Errorf("a taken id: status %d, want 409", st)
	}
	if st, _ := e.adminDo(t, ptoy.ID{}, "POST", "/clients", app); st != http.StatusUnauthorized {
		t.Errorf("unsigned: status %d, want 401", st)
	}

	st, b := e.adminDo(t, e.org, "GET", "/clients", nil)
	var list []Client
	if err := json.Unmarshal(b, &list); st != http.StatusOK || err != nil {
		t.Fatalf("GET: %d %s %v", st, b, err)
	}
	if len(list) != 2 || list[0].ID != "growth-chart" || list[1].ID != "payer.sync" || list[0].Org != e.org || len(list[1].JWKS) == 0 {
		t.Fatalf("GET lists %+v", list)
	}
	if st, b := e.adminDo(t, e.otherOrg, "GET", "/clients", nil); st != http.StatusOK || string(b) != "[]" {
		t.Errorf("another organisation's list: %d %s", st, b)
	}

	// Another organisation cannot remove it; its own can.
	if st, _ := e.adminDo(t, e.otherOrg, "DELETE", "/clients/growth-chart", nil); st != http.StatusNotFound {
		t.Errorf("DELETE by another organisation: %d, want 404", st)
	}
	if st, b := e.adminDo(t, e.org, "DELETE", "/clients/growth-chart", nil); st != http.StatusNoContent {
		t.Errorf("DELETE: %d %s", st, b)
	}
	if cs, _ := e.srv.Clients(e.org); len(cs) != 1 {
		t.Errorf("after DELETE: %d clients, want 1", len(cs))
	}
}

func TestClientValidation(t *testing.T) {
	e := newEnv(t)
	a, _ := testKeys(t)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	set := func(keys ...jose.JSONWebKey) []byte {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	app := func(f func(*Client)) Client {
		c := Client{ID: "app", Name: "An app", Org: e.org, Kind: KindApp, RedirectURIs: []string{"https://app.example/cb"}, Scopes: "patient/*.rs"}
		f(&c)
		return c
	}
	svc := func(f func(*Client)) Client {
		c := Client{ID: "svc", Name: "A service", Org: e.org, Kind: KindBackend, JWKS: a.jwks(t), Scopes: "system/*.rs"}
		f(&c)
		return c
	}
	for name, c := range map[string]Client{
		"id with a slash":        app(func(c *Client) { c.ID = "a/b" }),
		"id too long":            app(func(c *Client) { c.ID = strings.Repeat("a", 65) }),
		"no name":                app(func(c *Client) { c.Name = " " }),
		"control in name":        app(func(c *Client) { c.Name = "a\nb" }),
		"no organisation":        app(func(c *Client) { c.Org = ptoy.ID{} }),
		"unknown kind":           app(func(c *Client) { c.Kind = "robot" }),
		"relative redirect":      app(func(c *Client) { c.RedirectURIs = []string{"/cb"} }),
		"custom scheme":          app(func(c *Client) { c.RedirectURIs = []string{"javascript:alert(1)"} }),
		"redirect with fragment": app(func(c *Client) { c.RedirectURIs = []string{"https://app.example/cb#x"} }),
		"no redirect":            app(func(c *Client) { c.RedirectURIs = nil }),
		"app with keys":          app(func(c *Client) { c.JWKS = a.jwks(t) }),
		"app with system scope":  app(func(c *Client) { c.Scopes = "system/*.rs" }),
		"app with unknown scope": app(func(c *Client) { c.Scopes = "patient/*.rs patient/Observation.rs?category=x" }),
		"app with bad scope":     app(func(c *Client) { c.Scopes = "patient/*.sr" }),
		"app with EHR launch":    app(func(c *Client) { c.Scopes = "patient/*.rs launch" }),
		"backend with patient/":  svc(func(c *Client) { c.Scopes = "patient/*.rs" }),
		"backend with openid":    svc(func(c *Client) { c.Scopes = "system/*.rs openid" }),
		"backend with redirect":  svc(func(c *Client) { c.RedirectURIs = []string{"https://app.example/cb"} }),
		"backend without keys":   svc(func(c *Client) { c.JWKS = nil }),
		"keys not JSON":          svc(func(c *Client) { c.JWKS = []byte("{") }),
		"empty key set":          svc(func(c *Client) { c.JWKS = []byte(`{"keys":[]}`) }),
		"a private key":          svc(func(c *Client) { c.JWKS = set(jose.JSONWebKey{Key: a.ec, KeyID: "k"}) }),
		"a P-256 key":            svc(func(c *Client) { c.JWKS = set(jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "k"}) }),
		"RSA of 1024 bits":       svc(func(c *Client) { c.JWKS = set(jose.JSONWebKey{Key: &small.PublicKey, KeyID: "k"}) }),
		"a symmetric key": svc(func(c *Client) {
			c.JWKS = set(jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "k"})
		}),
		"a key without kid": svc(func(c *Client) { c.JWKS = set(jose.JSONWebKey{Key: &a.ec.PublicKey}) }),
		"two keys of one kid": svc(func(c *Client) {
			c.JWKS = set(jose.JSONWebKey{Key: &a.ec.PublicKey, KeyID: "k"}, jose.JSONWebKey{Key: &a.rsa.PublicKey, KeyID: "k"})
		}),
		"EC key that says RS384": svc(func(c *Client) { c.JWKS = set(jose.JSONWebKey{Key: &a.ec.PublicKey, KeyID: "k", Algorithm: "RS384"}) }),
		"key for encryption":     svc(func(c *Client) { c.JWKS = set(jose.JSONWebKey{Key: &a.ec.PublicKey, KeyID: "k", Use: "enc"}) }),
	} {
		if err := e.srv.AddClient(context.Background(), c); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("%s: AddClient = %v, want an Invalid error", name, err)
		}
	}
	if cs, _ := e.srv.Clients(e.org); len(cs) != 0 {
		t.Errorf("%d clients stored", len(cs))
	}
	// The base cases are fine.
	for _, c := range []Client{app(func(*Client) {}), svc(func(*Client) {})} {
		if err := e.srv.AddClient(context.Background(), c); err != nil {
			t.Errorf("AddClient(%s): %v", c.ID, err)
		}
	}
}

// Clients are kept in Pebble: a new server on the same database knows
// them.
func TestClientsPersist(t *testing.T) {
	e := newEnv(t)
	e.addApp(t, "growth-chart", "patient/*.rs")
	srv2, err := New(e.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := srv2.Clients(e.org)
	if err != nil || len(cs) != 1 || cs[0].ID != "growth-chart" || cs[0].RedirectURIs[0] != "https://app.example/cb" {
		t.Fatalf("Clients after reopening = %+v, %v", cs, err)
	}
	if err := srv2.RemoveClient(context.Background(), e.otherOrg, "growth-chart"); ptoy.KindOf(err) != ptoy.NotFound {
		t.Errorf("RemoveClient by another organisation = %v, want NotFound", err)
	}
}
