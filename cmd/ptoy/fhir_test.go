package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/cockroachdb/pebble/v2"
	jose "github.com/go-jose/go-jose/v4"

	"ptoy"
	"ptoy/auth"
	"ptoy/fhir/smart"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/gen/ptoy/v1/ptoyv1connect"
	"ptoy/keys"
)

// statusNode answers only Status, with its chain id.
type statusNode struct {
	ptoyv1connect.UnimplementedNodeServiceHandler
	chain string
}

func (n statusNode) Status(context.Context, *connect.Request[pb.StatusRequest]) (*connect.Response[pb.StatusResponse], error) {
	return connect.NewResponse(&pb.StatusResponse{ChainId: n.chain}), nil
}

type discardLogger struct{}

func (discardLogger) Infof(string, ...any)         {}
func (discardLogger) Errorf(string, ...any)        {}
func (discardLogger) Fatalf(f string, args ...any) { panic(f) }

// TestFHIRClientCommands runs ptoy fhir client add, list and remove
// against a node's SMART server (its /fhir/clients behind real HTTP),
// which accepts requests signed by the organisation's key only.
func TestFHIRClientCommands(t *testing.T) {
	const chain = "fhir-test"
	dir := t.TempDir()
	kd := keys.Dir{Path: filepath.Join(dir, "keys"), KDF: keys.TestKDF}
	org, _, err := kd.Create("org", keys.KEMX25519, []byte("pw"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := kd.Create("nurse", keys.KEMX25519, []byte("pw"), time.Now()); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(filepath.Join(dir, "db"), &pebble.Options{Logger: discardLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var h http.Handler = http.NotFoundHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer ts.Close()
	nonces := auth.NewNonces()
	srv, err := smart.New(smart.Config{
		Issuer: ts.URL + "/fhir", DB: db, Prefix: []byte("smart/"),
		Authenticate: func(*http.Request) (ptoy.ID, error) { return ptoy.ID{}, ptoy.E("", ptoy.Unauthenticated, "no") },
		Principal: func(ptoy.ID) (smart.Principal, error) {
			return smart.Principal{}, ptoy.E("", ptoy.PermissionDenied, "no")
		},
		Admin: func(r *http.Request) (ptoy.ID, error) {
			key, err := auth.Verify(r, chain, time.Now(), nonces)
			if err != nil {
				return ptoy.ID{}, err
			}
			if !bytes.Equal(key, org.SigningPublic()) {
				return ptoy.ID{}, ptoy.E("", ptoy.PermissionDenied, "only the organisation's key or one of its admins manages its FHIR clients")
			}
			auth.CheckBody(r, 1<<20)
			return org.ID(), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(ptoyv1connect.NewNodeServiceHandler(statusNode{chain: chain}))
	mux.Handle("/fhir/", http.StripPrefix("/fhir", srv.Handler()))
	h = mux

	ptoyRun := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		vars := map[string]string{envNode: ts.URL, envKeys: kd.Path, envFastKDF: "1"}
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
		code := run(e, append(args, "--passphrase-file", pass))
		return code, out.String(), errb.String()
	}

	code, out, stderr := ptoyRun("fhir", "client", "add", "--org-key", "org", "--name", "Growth chart", "--id", "growth-chart",
		"--redirect", "https://app.example/cb", "--redirect", "http://localhost:9000/cb",
		"--scope", "patient/*.rs launch/patient openid fhirUser")
	if code != 0 || !strings.Contains(out, "registered app \"Growth chart\" as client id growth-chart") {
		t.Fatalf("add app: %d %q %q", code, out, stderr)
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ec.PublicKey, KeyID: "k1"}}})
	jwksFile := filepath.Join(dir, "jwks.json")
	os.WriteFile(jwksFile, jwks, 0o600)
	code, out, stderr = ptoyRun("fhir", "client", "add", "--org-key", "org", "--name", "Payer sync!", "--jwks", jwksFile, "--scope", "system/*.rs")
	if code != 0 || !strings.Contains(out, "registered backend \"Payer sync!\" as client id payer-sync-") {
		t.Fatalf("add backend: %d %q %q", code, out, stderr)
	}

	cs, err := srv.Clients(org.ID())
	if err != nil || len(cs) != 2 || cs[0].ID != "growth-chart" || len(cs[0].RedirectURIs) != 2 || cs[1].Kind != "backend" || len(cs[1].JWKS) == 0 {
		t.Fatalf("the server holds %+v, %v", cs, err)
	}

	code, out, _ = ptoyRun("fhir", "client", "list", "--org-key", "org")
	if code != 0 || !strings.Contains(out, "growth-chart") || !strings.Contains(out, cs[1].ID) || !strings.Contains(out, "https://app.example/cb") {
		t.Errorf("list: %d %q", code, out)
	}
	code, out, _ = ptoyRun("fhir", "client", "list", "--org-key", "org", "--json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || len(listed) != 2 || listed[1]["jwks"] == nil {
		t.Errorf("list --json: %d %q %v", code, out, err)
	}

	// Refusals reach the user in plain words.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fhir", "client", "add", "--org-key", "org", "--name", "X", "--redirect", "/cb", "--scope", "patient/*.rs"}, `redirect URI "/cb"`},
		{[]string{"fhir", "client", "add", "--org-key", "org", "--name", "X", "--redirect", "https://a.example/cb", "--scope", "patient/*.sr"}, "order c, r, u, d, s"},
		{[]string{"fhir", "client", "add", "--org-key", "org", "--name", "X", "--id", "growth-chart", "--redirect", "https://a.example/cb", "--scope", "patient/*.rs"}, "is taken"},
		{[]string{"fhir", "client", "add", "--org-key", "org", "--name", "X", "--scope", "patient/*.rs"}, "needs --redirect URI"},
		{[]string{"fhir", "client", "add", "--org-key", "nurse", "--name", "X", "--redirect", "https://a.example/cb", "--scope", "patient/*.rs"}, "only the organisation's key"},
		{[]string{"fhir", "client", "add", "--name", "X", "--redirect", "https://a.example/cb", "--scope", "patient/*.rs"}, "needs --org-key"},
		{[]string{"fhir", "client", "remove", "--org-key", "org", "nope"}, `has no client "nope"`},
		{[]string{"fhir", "client", "frobnicate"}, "unknown fhir client subcommand"},
	} {
		code, out, stderr := ptoyRun(tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: %d %q %q, want an error with %q", tc.args, code, out, stderr, tc.want)
		}
	}

	code, out, stderr = ptoyRun("fhir", "client", "remove", "--org-key", "org", "growth-chart")
	if code != 0 || out != "removed client growth-chart\n" {
		t.Fatalf("remove: %d %q %q", code, out, stderr)
	}
	if cs, _ := srv.Clients(org.ID()); len(cs) != 1 {
		t.Errorf("after remove the server holds %+v", cs)
	}
}
