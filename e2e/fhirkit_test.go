package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ptoy/client"
	"ptoy/devnet"
	"ptoy/internal/npmdeps"
	"ptoy/keys"
	"ptoy/node"
)

// kitReads is what testdata/fhirkit.mjs got with one access token.
type kitReads struct {
	FHIRVersion string `json:"fhirVersion"`
	Total       int    `json:"total"`
	Pages       int    `json:"pages"`
	Got         int    `json:"got"`
	Distinct    int    `json:"distinct"`
	Read        struct {
		ID, VersionID, Subject string
	} `json:"read"`
	Vread struct {
		ID, VersionID string
	} `json:"vread"`
	History struct {
		Type    string `json:"type"`
		Entries int    `json:"entries"`
	} `json:"history"`
	Transaction struct {
		Type      string   `json:"type"`
		Statuses  []string `json:"statuses"`
		Locations []string `json:"locations"`
	} `json:"transaction"`
	ReadBack struct {
		Encounter, Observation, ObservationEncounter string
		ObservationValue                             float64
	} `json:"readBack"`
	Update struct {
		VersionID string   `json:"versionId"`
		Value     float64  `json:"value"`
		V1Value   float64  `json:"v1Value"`
		History   []string `json:"history"`
	} `json:"update"`
}

// kitResult is the JSON line testdata/fhirkit.mjs prints.
type kitResult struct {
	Discovery struct {
		FHIRVersion    string   `json:"fhirVersion"`
		CapabilityType string   `json:"capabilityType"`
		AuthorizeURL   string   `json:"authorizeUrl"`
		TokenURL       string   `json:"tokenUrl"`
		WellKnownToken string   `json:"wellKnownToken"`
		Capabilities   []string `json:"capabilities"`
		AuthMethods    []string `json:"authMethods"`
	} `json:"discovery"`
	Practitioner struct {
		AuthorizeStatus int    `json:"authorizeStatus"`
		TokenType       string `json:"tokenType"`
		Scope           string `json:"scope"`
		Patient         string `json:"patient"`
		FHIRUser        string `json:"fhirUser"`
		Refresh         bool   `json:"refresh"`
		CodeReuseStatus int    `json:"codeReuseStatus"`
		Refreshed       struct {
			Scope, Patient string
			Rotated        bool
			Encounters     int
			ReuseStatus    int
		} `json:"refreshed"`
		kitReads
	} `json:"practitioner"`
	Backend struct {
		TokenType    string `json:"tokenType"`
		Scope        string `json:"scope"`
		Refresh      bool   `json:"refresh"`
		ReplayStatus int    `json:"replayStatus"`
		kitReads
	} `json:"backend"`
}

// TestFHIRKit: fhir-kit-client, a FHIR client not written for ptoy,
// reads and writes through a running `ptoy dev`, once as Dr Osei signed
// in to a SMART app (authorization code + PKCE, patient context Alice)
// and once as a backend service of General Hospital (private_key_jwt),
// both registered with `ptoy fhir client add` as an operator would.
func TestFHIRKit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ptoy dev and node")
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node (Node.js 20 or later) is not installed: install it (Debian: apt-get install nodejs npm)")
	}
	modules := npmdeps.Dir(t)
	script, err := filepath.Abs(filepath.Join("testdata", "fhirkit.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildPtoy(t)
	home := filepath.Join(t.TempDir(), "dev")
	info := startDev(t, ctx, bin, home)

	var alice, osei string
	for _, a := range info.Accounts {
		switch a.Key {
		case "alice":
			alice = a.ID
		case "dr-osei":
			osei = a.ID
		}
	}
	gh := info.Nodes[0]
	if gh.Org != "General Hospital" || gh.FHIR == "" || alice == "" || osei == "" {
		t.Fatalf("dev.json: node 1 %+v, alice %q, dr-osei %q", gh, alice, osei)
	}
	base := gh.FHIR

	// General Hospital's operator registers the app and the backend
	// service, signing with the organisation's key.
	work := t.TempDir()
	be, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const kid = "kit-backend-1"
	jwks := filepath.Join(work, "jwks.json")
	if err := os.WriteFile(jwks, jwkSet(t, &be.PublicKey, kid), 0o600); err != nil {
		t.Fatal(err)
	}
	const redirect = "http://127.0.0.1:9/callback"
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "PTOY_KEYS="+info.KeysDir, "PTOY_PASSPHRASE="+devnet.Passphrase, "PTOY_NODE="+gh.API, "PTOY_TEST_FAST_KDF=1")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("ptoy %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String()
	}
	cli("fhir", "client", "add", "--org-key", "general-hospital", "--name", "fhir-kit chart", "--id", "kit-app",
		"--redirect", redirect, "--scope", "patient/*.cruds user/*.rs launch/patient openid fhirUser offline_access")
	cli("fhir", "client", "add", "--org-key", "general-hospital", "--name", "fhir-kit backend", "--id", "kit-backend",
		"--jwks", jwks, "--scope", "system/*.cruds")
	var listed []client.SMARTClient
	if err := json.Unmarshal([]byte(cli("fhir", "client", "list", "--org-key", "general-hospital", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(listed, func(c client.SMARTClient) bool { return c.ID == "kit-app" && c.Kind == "app" }) ||
		!slices.ContainsFunc(listed, func(c client.SMARTClient) bool { return c.ID == "kit-backend" && c.Kind == "backend" }) {
		t.Fatalf("fhir client list: %+v", listed)
	}

	// Dr Osei signs in to the node; her session signs the /authorize
	// request (until the web app brings a sign-in page).
	k, _, err := keys.Dir{Path: info.KeysDir}.Load("dr-osei", []byte(devnet.Passphrase))
	if err != nil {
		t.Fatal(err)
	}
	session, err := client.New(gh.API, &http.Client{Timeout: time.Minute}).Session(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(be)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{
		"base": base, "patient": alice, "session": session,
		"app": map[string]string{"client_id": "kit-app", "redirect_uri": redirect,
			"scope": "launch/patient patient/*.cruds openid fhirUser offline_access"},
		"backend": map[string]string{"client_id": "kit-backend", "kid": kid, "scope": "system/*.cruds",
			"key_pem": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))},
	})
	cfgFile := filepath.Join(work, "config.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}

	// An ES module finds its packages beside it, not through NODE_PATH:
	// the script runs from a directory whose node_modules is npm's.
	run := t.TempDir()
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, "fhirkit.mjs"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(run, "node_modules")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, nodeBin, "fhirkit.mjs", cfgFile)
	cmd.Dir = run
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node fhirkit.mjs: %v\n%s", err, stderr.String())
	}
	var got kitResult
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("the script's answer is not JSON: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("%s", stdout.Bytes())

	d := got.Discovery
	if d.CapabilityType != "CapabilityStatement" || d.FHIRVersion != "4.0.1" {
		t.Errorf("CapabilityStatement: %q, FHIR %q", d.CapabilityType, d.FHIRVersion)
	}
	if d.AuthorizeURL != base+"/authorize" || d.TokenURL != base+"/token" || d.WellKnownToken != base+"/token" {
		t.Errorf("SMART endpoints: authorize %q, token %q, smart-configuration's token %q", d.AuthorizeURL, d.TokenURL, d.WellKnownToken)
	}
	for _, c := range []string{"launch-standalone", "client-public", "client-confidential-asymmetric", "context-standalone-patient"} {
		if !slices.Contains(d.Capabilities, c) {
			t.Errorf("smart-configuration lacks capability %s: %v", c, d.Capabilities)
		}
	}
	if !slices.Contains(d.AuthMethods, "private_key_jwt") {
		t.Errorf("token endpoint auth methods: %v", d.AuthMethods)
	}

	p := got.Practitioner
	if p.AuthorizeStatus != http.StatusFound || p.TokenType != "Bearer" || p.Patient != alice || p.FHIRUser != "Practitioner/"+osei || !p.Refresh {
		t.Errorf("practitioner's token: /authorize %d, type %q, patient %q, fhirUser %q, refresh token %v",
			p.AuthorizeStatus, p.TokenType, p.Patient, p.FHIRUser, p.Refresh)
	}
	if f := strings.Fields(p.Scope); !slices.Contains(f, "patient/*.cruds") || !slices.Contains(f, "launch/patient") {
		t.Errorf("practitioner's scope %q", p.Scope)
	}
	if p.CodeReuseStatus != http.StatusBadRequest {
		t.Errorf("a code used twice: %d", p.CodeReuseStatus)
	}
	checkKitReads(t, "practitioner", p.kitReads, alice)
	if r := p.Refreshed; r.Scope != p.Scope || r.Patient != alice || !r.Rotated || r.Encounters < 1 || r.ReuseStatus != http.StatusBadRequest {
		t.Errorf("refresh: %+v (scope first granted %q)", r, p.Scope)
	}

	b := got.Backend
	if b.TokenType != "Bearer" || b.Scope != "system/*.cruds" || b.Refresh {
		t.Errorf("backend's token: type %q, scope %q, refresh token %v", b.TokenType, b.Scope, b.Refresh)
	}
	if b.ReplayStatus != http.StatusBadRequest && b.ReplayStatus != http.StatusUnauthorized {
		t.Errorf("a client assertion used twice: %d", b.ReplayStatus)
	}
	checkKitReads(t, "backend", b.kitReads, alice)
	// The backend service sees the Observation the practitioner wrote.
	if b.Total != p.Total+1 {
		t.Errorf("backend found %d observations, practitioner %d before writing one", b.Total, p.Total)
	}
}

// checkKitReads checks what the script read and wrote with one token.
func checkKitReads(t *testing.T, who string, r kitReads, patient string) {
	t.Helper()
	if r.FHIRVersion != "4.0.1" {
		t.Errorf("%s: CapabilityStatement FHIR %q", who, r.FHIRVersion)
	}
	// Alice's demo history has tens of observations: ten a page pages.
	if r.Total < 20 || r.Got != r.Total || r.Distinct != r.Total || r.Pages != (r.Total+9)/10 {
		t.Errorf("%s: search total %d, got %d (%d distinct) in %d pages of 10", who, r.Total, r.Got, r.Distinct, r.Pages)
	}
	if r.Read.ID == "" || r.Read.VersionID == "" || r.Read.Subject != "Patient/"+patient {
		t.Errorf("%s: read %+v", who, r.Read)
	}
	if r.Vread.ID != r.Read.ID || r.Vread.VersionID != r.Read.VersionID {
		t.Errorf("%s: vread %+v after read %+v", who, r.Vread, r.Read)
	}
	if r.History.Type != "history" || r.History.Entries < 1 {
		t.Errorf("%s: history %+v", who, r.History)
	}
	tx := r.Transaction
	if tx.Type != "transaction-response" || len(tx.Statuses) != 2 || len(tx.Locations) != 2 ||
		!strings.HasPrefix(tx.Statuses[0], "201") || !strings.HasPrefix(tx.Statuses[1], "201") ||
		!strings.HasPrefix(tx.Locations[0], "Encounter/") || !strings.HasPrefix(tx.Locations[1], "Observation/") {
		t.Fatalf("%s: transaction %+v", who, tx)
	}
	rb := r.ReadBack
	enc, _, _ := strings.Cut(tx.Locations[0], "/_history")
	obs, _, _ := strings.Cut(tx.Locations[1], "/_history")
	if rb.Encounter != enc || rb.Observation != obs || rb.ObservationEncounter != enc || rb.ObservationValue != 72 {
		t.Errorf("%s: read back %+v after the transaction made %s and %s", who, rb, enc, obs)
	}
	if u := r.Update; u.VersionID != "2" || u.Value != 74 || u.V1Value != 72 || !slices.Equal(u.History, []string{"2", "1"}) {
		t.Errorf("%s: after an update: %+v", who, u)
	}
}

// startDev runs `ptoy dev` with one validator in home, waits for its
// ready file and returns its dev.json; the process is stopped when the
// test ends.
func startDev(t *testing.T, ctx context.Context, bin, home string) devnet.Info {
	t.Helper()
	ports, err := node.FreePorts("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	out := new(lockedBuffer)
	dev := exec.Command(bin, "dev", "--validators", "1", "--home", home, "--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]))
	dev.Env = append(os.Environ(), "PTOY_TEST_FAST_KDF=1")
	dev.Stdout, dev.Stderr = out, out
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- dev.Wait() }()
	t.Cleanup(func() {
		dev.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			dev.Process.Kill()
			<-exited
		}
	})
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	eventually(t, wctx, "ptoy dev's ready file", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("ptoy dev exited: %v\n%s", err, out.String())
		default:
		}
		_, err := os.Stat(devnet.ReadyFile(home))
		return err == nil
	})
	b, err := os.ReadFile(filepath.Join(home, "dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info devnet.Info
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Nodes) != 1 {
		t.Fatalf("dev.json lists %d nodes", len(info.Nodes))
	}
	return info
}

// jwkSet is the JWK Set of one ES384 public key.
func jwkSet(t *testing.T, pub *ecdsa.PublicKey, kid string) []byte {
	t.Helper()
	pt, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	n := (len(pt) - 1) / 2
	b64 := base64.RawURLEncoding.EncodeToString
	b, _ := json.Marshal(map[string]any{"keys": []any{map[string]string{
		"kty": "EC", "crv": "P-384", "x": b64(pt[1 : 1+n]), "y": b64(pt[1+n:]), "kid": kid, "alg": "ES384", "use": "sig",
	}}})
	return b
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
