package ehrserver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"ptoy/fhir/smart/backend"
	"ptoy/internal/ehrserver"
	"ptoy/internal/wait"
)

// uscoreDir is ../shared/data/uscore from the module root: Synthea-made
// US Core transaction Bundles (Apache-2.0, read in place, not copied).
func uscoreDir(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(d)
		if up == d {
			t.Fatal("no go.mod above the test directory")
		}
		d = up
	}
	dir := filepath.Join(filepath.Dir(d), "shared", "data", "uscore")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no US Core bundles in %s: the tests need ../shared/data/uscore beside the repository", dir)
	}
	return dir
}

// loadUSCore loads every bundle of ../shared/data/uscore and returns how
// many resources of each type they hold.
func loadUSCore(t *testing.T, s *ehrserver.Server) map[string]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(uscoreDir(t), "*.json"))
	want := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var bundle struct {
			Entry []struct {
				Resource struct {
					ResourceType string `json:"resourceType"`
				} `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range bundle.Entry {
			want[e.Resource.ResourceType]++
		}
		out := s.Load(t, b)
		if n := len(out["entry"].([]any)); n != len(bundle.Entry) {
			t.Fatalf("%s: %d entries answered for %d sent", filepath.Base(f), n, len(bundle.Entry))
		}
	}
	if len(want) < 20 || want["Patient"] != 3 {
		t.Fatalf("unexpected US Core data: %v", want)
	}
	return want
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer is not JSON (%v): %.300s", err, a.body)
	}
	return m
}

// outcomeText checks that an answer is an OperationOutcome and returns
// its first issue's code and text.
func (a answer) outcome(t *testing.T) string {
	t.Helper()
	m := a.json(t)
	if m["resourceType"] != "OperationOutcome" {
		t.Fatalf("HTTP %d answered a %v, not an OperationOutcome", a.status, m["resourceType"])
	}
	issue := m["issue"].([]any)[0].(map[string]any)
	return fmt.Sprintf("%v: %v", issue["code"], issue["details"].(map[string]any)["text"])
}

func do(t *testing.T, method, u, token string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func get(t *testing.T, u, token string) answer { return do(t, http.MethodGet, u, token, nil) }

// pageAll follows next links from first and returns the ids of the
// matches and the number of pages.
func pageAll(t *testing.T, first, token string) (ids []string, pages int) {
	t.Helper()
	seen := map[string]bool{}
	for u := first; u != ""; pages++ {
		a := get(t, u, token)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d: %.300s", u, a.status, a.body)
		}
		var b struct {
			Type  string `json:"type"`
			Total *int   `json:"total"`
			Link  []struct{ Relation, URL string }
			Entry []struct {
				Resource struct{ ResourceType, ID string }
				Search   struct{ Mode string }
			}
		}
		if err := json.Unmarshal(a.body, &b); err != nil {
			t.Fatal(err)
		}
		if b.Type != "searchset" || b.Total == nil {
			t.Fatalf("GET %s: type %q, total %v", u, b.Type, b.Total)
		}
		for _, e := range b.Entry {
			key := e.Resource.ResourceType + "/" + e.Resource.ID
			if seen[key] {
				t.Fatalf("%s came twice while paging %s", key, first)
			}
			seen[key] = true
			ids = append(ids, key)
		}
		u = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				u = l.URL
			}
		}
		if pages > 1000 {
			t.Fatalf("paging %s does not end", first)
		}
	}
	return ids, pages
}

type manifest struct {
	TransactionTime     string `json:"transactionTime"`
	Request             string `json:"request"`
	RequiresAccessToken bool   `json:"requiresAccessToken"`
	Output              []struct {
		Type  string `json:"type"`
		URL   string `json:"url"`
		Count int    `json:"count"`
	} `json:"output"`
	Error []any `json:"error"`
}

// export kicks off an export at path (with its query), polls its status
// URL until the manifest, and returns the manifest, the number of
// resources per type read from the NDJSON files, and how many times the
// status URL answered 202.
func export(t *testing.T, s *ehrserver.Server, path, token string) (manifest, map[string]int, int) {
	t.Helper()
	kick := do(t, http.MethodGet, s.URL+path, token, map[string]string{"Prefer": "respond-async"})
	if kick.status != http.StatusAccepted {
		t.Fatalf("GET %s: HTTP %d: %.300s", path, kick.status, kick.body)
	}
	status := kick.header.Get("Content-Location")
	if !strings.HasPrefix(status, s.URL+"/") {
		t.Fatalf("Content-Location %q", status)
	}
	var m manifest
	accepted := 0
	for {
		a := get(t, status, token)
		if a.status == http.StatusAccepted {
			if a.header.Get("X-Progress") == "" {
				t.Fatal("a 202 from the status URL without X-Progress")
			}
			accepted++
			if accepted > 100 {
				t.Fatal("the export never completes")
			}
			continue
		}
		if a.status != http.StatusOK {
			t.Fatalf("status URL: HTTP %d: %.300s", a.status, a.body)
		}
		if err := json.Unmarshal(a.body, &m); err != nil {
			t.Fatal(err)
		}
		break
	}
	if m.Request != s.URL+path {
		t.Errorf("manifest request %q, want %q", m.Request, s.URL+path)
	}
	if _, err := time.Parse(time.RFC3339Nano, m.TransactionTime); err != nil {
		t.Errorf("transactionTime %q: %v", m.TransactionTime, err)
	}
	if m.Error == nil {
		t.Error("the manifest has no error array")
	}
	got := map[string]int{}
	for _, o := range m.Output {
		if got[o.Type] != 0 {
			t.Fatalf("two files of %s", o.Type)
		}
		a := get(t, o.URL, token)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d: %.300s", o.URL, a.status, a.body)
		}
		if ct := a.header.Get("Content-Type"); ct != "application/fhir+ndjson" {
			t.Errorf("%s: Content-Type %q", o.URL, ct)
		}
		sc := bufio.NewScanner(bytes.NewReader(a.body))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var r struct{ ResourceType, ID string }
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: a line is not JSON: %v", o.Type, err)
			}
			if r.ResourceType != o.Type || r.ID == "" {
				t.Fatalf("%s file holds a %s %q", o.Type, r.ResourceType, r.ID)
			}
			got[o.Type]++
		}
		if got[o.Type] != o.Count {
			t.Errorf("%s: %d lines, the manifest says %d", o.Type, got[o.Type], o.Count)
		}
	}
	return m, got, accepted
}

func sameCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	var diff []string
	for k, n := range want {
		if got[k] != n {
			diff = append(diff, fmt.Sprintf("%s: %d, want %d", k, got[k], n))
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s: %d, want none", k, n))
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("%s:\n%s", what, strings.Join(diff, "\n"))
	}
}

func TestSearchPagingAndExport(t *testing.T) {
	s := ehrserver.Start(t, ehrserver.Options{Export: true, PageSize: 10, ExportPolls: 2})
	want := loadUSCore(t, s)

	cs := get(t, s.URL+"/metadata", "").json(t)
	if ops, _ := json.Marshal(cs["rest"].([]any)[0].(map[string]any)["operation"]); !strings.Contains(string(ops), `"export"`) {
		t.Errorf("the CapabilityStatement lists no export operation: %s", ops)
	}

	// Every type paged 7 at a time: each loaded resource exactly once.
	searched := map[string]int{}
	for typ, n := range want {
		ids, pages := pageAll(t, s.URL+"/"+typ+"?_count=7", "")
		searched[typ] = len(ids)
		if wantPages := max(1, (n+6)/7); pages != wantPages {
			t.Errorf("%s: %d pages for %d resources, want %d", typ, pages, n, wantPages)
		}
	}
	sameCounts(t, "paging with _count=7", searched, want)
	if want["Observation"] != 99 {
		t.Errorf("Observation: %d loaded, the data holds 99", want["Observation"])
	}

	// Without _count a page holds the configured page size.
	first := get(t, s.URL+"/Observation", "").json(t)
	if n := len(first["entry"].([]any)); n != 10 {
		t.Errorf("a search without _count gave %d entries, want the page size 10", n)
	}
	if bad := get(t, s.URL+"/Observation?_count=seven", ""); bad.status != http.StatusBadRequest {
		t.Errorf("_count=seven: HTTP %d", bad.status)
	} else if !strings.Contains(bad.outcome(t), "_count") {
		t.Errorf("_count=seven: %s", bad.outcome(t))
	}

	// A system export: one file per type, every resource once.
	m, got, accepted := export(t, s, "/$export", "")
	if accepted != 2 {
		t.Errorf("the status URL answered 202 %d times, want 2", accepted)
	}
	sameCounts(t, "system export", got, want)
	if m.RequiresAccessToken {
		t.Error("requiresAccessToken without authorization")
	}

	_, got, _ = export(t, s, "/$export?_type=Patient,Observation", "")
	sameCounts(t, "export of _type=Patient,Observation", got, map[string]int{"Patient": want["Patient"], "Observation": want["Observation"]})

	_, got, _ = export(t, s, "/Patient/$export", "")
	if got["Patient"] != want["Patient"] || got["Observation"] != want["Observation"] || got["Encounter"] != want["Encounter"] {
		t.Errorf("patient export: %v", got)
	}
	for _, typ := range []string{"Organization", "Practitioner", "Location", "Medication"} {
		if got[typ] != 0 {
			t.Errorf("patient export holds %d %s, outside the Patient compartment", got[typ], typ)
		}
	}

	// _since: only what changed after the last export's transactionTime.
	since := m.TransactionTime
	s.Load(t, []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:0b5a4f6e-9c1d-4a43-9d2c-6f1e2a3b4c5d","resource":{"resourceType":"Patient","gender":"unknown"},
		 "request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Observation","status":"final","code":{"text":"test"},
		 "subject":{"reference":"urn:uuid:0b5a4f6e-9c1d-4a43-9d2c-6f1e2a3b4c5d"}},
		 "request":{"method":"POST","url":"Observation"}}]}`))
	_, got, _ = export(t, s, "/$export?_since="+url.QueryEscape(since), "")
	sameCounts(t, "export _since the last one", got, map[string]int{"Patient": 1, "Observation": 1})
	_, got, _ = export(t, s, "/Patient/$export?_since="+url.QueryEscape(since), "")
	sameCounts(t, "patient export _since the last one", got, map[string]int{"Patient": 1, "Observation": 1})

	// DELETE cancels.
	kick := do(t, http.MethodGet, s.URL+"/$export", "", map[string]string{"Prefer": "respond-async"})
	status := kick.header.Get("Content-Location")
	if a := do(t, http.MethodDelete, status, "", nil); a.status != http.StatusAccepted {
		t.Errorf("DELETE of the status URL: HTTP %d", a.status)
	}
	if a := get(t, status, ""); a.status != http.StatusNotFound {
		t.Errorf("status of a cancelled export: HTTP %d", a.status)
	}

	// Bad kick-offs are refused with an OperationOutcome.
	for _, c := range []struct {
		path, prefer, want string
	}{
		{"/$export", "", "respond-async"},
		{"/$export?_since=yesterday", "respond-async", "_since"},
		{"/$export?_type=Nope", "respond-async", "Nope"},
		{"/$export?_typeFilter=Patient%3Factive%3Dtrue", "respond-async", "_typeFilter"},
		{"/$export?_outputFormat=text/csv", "respond-async", "_outputFormat"},
	} {
		a := do(t, http.MethodGet, s.URL+c.path, "", map[string]string{"Prefer": c.prefer})
		if a.status != http.StatusBadRequest || !strings.Contains(a.outcome(t), c.want) {
			t.Errorf("GET %s: HTTP %d %s", c.path, a.status, a.body)
		}
	}

	st := s.Stats(t)
	if st.ExportKickoffs != 6 || st.ExportCancels != 1 || st.SearchPages == 0 || st.Metadata != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestExportOff(t *testing.T) {
	s := ehrserver.Start(t, ehrserver.Options{})
	a := do(t, http.MethodGet, s.URL+"/$export", "", map[string]string{"Prefer": "respond-async"})
	if a.status != http.StatusNotFound || !strings.Contains(a.outcome(t), "$export") {
		t.Errorf("$export when off: HTTP %d %s", a.status, a.body)
	}
	a = do(t, http.MethodGet, s.URL+"/Patient/$export", "", map[string]string{"Prefer": "respond-async"})
	if a.status != http.StatusNotFound {
		t.Errorf("Patient/$export when off: HTTP %d", a.status)
	}
	cs := get(t, s.URL+"/metadata", "")
	if strings.Contains(string(cs.body), "bulkdata") || strings.Contains(string(cs.body), "oauth-uris") {
		t.Error("the CapabilityStatement offers export or SMART when neither is on")
	}
	if a := get(t, s.URL+"/.well-known/smart-configuration", ""); a.status != http.StatusNotFound {
		t.Errorf("smart-configuration without a client: HTTP %d", a.status)
	}
	if a := get(t, s.URL+"/Patient", ""); a.status != http.StatusOK {
		t.Errorf("a search without authorization configured: HTTP %d", a.status)
	}

	// A transaction Bundle posted to the FHIR base, as a client would.
	b, err := os.ReadFile(filepath.Join(uscoreDir(t), "uscore_bundle_patient_85.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(s.URL+"/", "application/fhir+json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tr struct {
		Type  string
		Entry []struct {
			Response struct{ Status, Location string }
		}
	}
	if err := json.Unmarshal(body, &tr); err != nil || resp.StatusCode != http.StatusOK || tr.Type != "transaction-response" || len(tr.Entry) != 267 {
		t.Fatalf("POST /: HTTP %d, %v, type %q, %d entries", resp.StatusCode, err, tr.Type, len(tr.Entry))
	}
	// urn:uuid references now name the resources the server made.
	enc := get(t, s.URL+"/Encounter?patient=Patient/85&_count=1", "").json(t)
	ref := enc["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["subject"].(map[string]any)["reference"]
	if ref != "Patient/85" || enc["total"].(float64) != 60 {
		t.Errorf("Encounter subject %v, %v encounters of Patient/85", ref, enc["total"])
	}
	if st := s.Stats(t); st.Transactions != 1 {
		t.Errorf("stats: %+v", st)
	}
}

// An RSA client key (RS384) works as the ES384 one does.
func TestRS384Client(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding
	jwk, _ := json.Marshal(map[string]string{
		"kty": "RSA", "kid": "rsa-1", "alg": "RS384",
		"n": b64.EncodeToString(key.N.Bytes()),
		"e": b64.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	})
	s := ehrserver.Start(t, ehrserver.Options{ClientID: "rsa-client", JWK: jwk})
	sign := func(claims map[string]any) string {
		h, _ := json.Marshal(map[string]string{"alg": "RS384", "typ": "JWT", "kid": "rsa-1"})
		c, _ := json.Marshal(claims)
		in := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
		d := sha512.Sum384([]byte(in))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA384, d[:])
		if err != nil {
			t.Fatal(err)
		}
		return in + "." + b64.EncodeToString(sig)
	}
	token := func(jti string) (int, map[string]any) {
		as := sign(map[string]any{"iss": "rsa-client", "sub": "rsa-client", "aud": s.TokenURL, "exp": time.Now().Add(time.Minute).Unix(), "jti": jti})
		resp, err := http.PostForm(s.TokenURL, url.Values{
			"grant_type": {"client_credentials"}, "scope": {"system/*.read"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {as},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, m
	}
	status, m := token("one")
	if status != http.StatusOK || m["token_type"] != "bearer" || m["expires_in"].(float64) != 300 {
		t.Fatalf("RS384 token: HTTP %d %v", status, m)
	}
	if a := get(t, s.URL+"/Patient", m["access_token"].(string)); a.status != http.StatusOK {
		t.Errorf("a search with the RS384 client's token: HTTP %d", a.status)
	}
	if status, m := token("one"); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("a replayed RS384 assertion: HTTP %d %v", status, m)
	}
}

func TestBackendServicesAuth(t *testing.T) {
	key, jwk, err := backend.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	kid := backend.KeyID(&key.PublicKey)
	const client = "sync-test"
	s := ehrserver.Start(t, ehrserver.Options{ClientID: client, JWK: jwk, TokenTTL: 2 * time.Second, Export: true})
	loadUSCore(t, s)
	ctx := context.Background()

	// Discovery needs no token.
	conf := get(t, s.URL+"/.well-known/smart-configuration", "").json(t)
	if conf["token_endpoint"] != s.TokenURL {
		t.Errorf("token_endpoint %v, want %s", conf["token_endpoint"], s.TokenURL)
	}
	if b, _ := json.Marshal(conf); !strings.Contains(string(b), `"token_endpoint_auth_methods_supported":["private_key_jwt"]`) ||
		!strings.Contains(string(b), `"token_endpoint_auth_signing_alg_values_supported":["ES384","RS384"]`) ||
		!strings.Contains(string(b), `"client_credentials"`) {
		t.Errorf("smart-configuration: %s", b)
	}
	cs := get(t, s.URL+"/metadata", "")
	if cs.status != http.StatusOK || !strings.Contains(string(cs.body), `"valueUri":"`+s.TokenURL+`"`) {
		t.Errorf("the CapabilityStatement does not name the token endpoint (HTTP %d)", cs.status)
	}

	// No token, no FHIR.
	if a := get(t, s.URL+"/Patient", ""); a.status != http.StatusUnauthorized {
		t.Fatalf("a search without a token: HTTP %d", a.status)
	} else {
		a.outcome(t)
	}
	if a := get(t, s.URL+"/Patient", "made-up"); a.status != http.StatusUnauthorized {
		t.Fatalf("a search with a made-up token: HTTP %d", a.status)
	}

	tok, exp, err := backend.Token(ctx, s.Client, s.TokenURL, client, kid, key, "system/*.read")
	if err != nil {
		t.Fatal(err)
	}
	if !exp.After(time.Now()) {
		t.Errorf("the token expires at %v", exp)
	}
	if a := get(t, s.URL+"/Patient", tok); a.status != http.StatusOK {
		t.Fatalf("a search with a token: HTTP %d %.300s", a.status, a.body)
	}
	m, got, _ := export(t, s, "/$export?_type=Patient", tok)
	if !m.RequiresAccessToken || got["Patient"] != 3 {
		t.Errorf("an export with a token: requiresAccessToken %v, %v", m.RequiresAccessToken, got)
	}
	if a := get(t, m.Output[0].URL, ""); a.status != http.StatusUnauthorized {
		t.Errorf("an export file without a token: HTTP %d", a.status)
	}

	// The token expires; a fresh one works.
	if !wait.For(60*time.Second, func() bool { return get(t, s.URL+"/Patient", tok).status == http.StatusUnauthorized }) {
		t.Fatal("the 2 s token still works after a minute")
	}
	if a := get(t, s.URL+"/Patient", tok); !strings.Contains(a.outcome(t), "expired") {
		t.Errorf("an expired token: %s", a.body)
	}
	tok2, _, err := backend.Token(ctx, s.Client, s.TokenURL, client, kid, key, "system/*.read")
	if err != nil {
		t.Fatal(err)
	}
	if a := get(t, s.URL+"/Patient", tok2); a.status != http.StatusOK {
		t.Fatalf("a search with a fresh token: HTTP %d", a.status)
	}

	// The token endpoint's checks.
	other, _, err := backend.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	refused := func(what string, err error, want string) {
		t.Helper()
		var re *backend.RefusedError
		if !errors.As(err, &re) || re.Status != http.StatusUnauthorized || re.Code != "invalid_client" || !strings.Contains(re.Description, want) {
			t.Errorf("%s: %v, want 401 invalid_client about %q", what, err, want)
		}
	}
	_, _, err = backend.Token(ctx, s.Client, s.TokenURL, "someone-else", kid, key, "system/*.read")
	refused("another client id", err, "client id")
	_, _, err = backend.Token(ctx, s.Client, s.TokenURL, client, kid, other, "system/*.read")
	refused("another key", err, "signature")
	_, _, err = backend.Token(ctx, s.Client, s.TokenURL, client, "not-the-kid", key, "system/*.read")
	refused("another kid", err, "kid")

	post := func(assertion, scope string) answer {
		form := url.Values{
			"grant_type":            {"client_credentials"},
			"scope":                 {scope},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		}
		resp, err := http.PostForm(s.TokenURL, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header, b}
	}
	as, err := backend.Assertion(key, kid, client, s.TokenURL, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a := post(as, "system/Patient.read"); a.status != http.StatusOK {
		t.Fatalf("an assertion: HTTP %d %s", a.status, a.body)
	} else if sc := a.json(t)["scope"]; sc != "system/Patient.read" {
		t.Errorf("granted scope %v", sc)
	}
	if a := post(as, "system/Patient.read"); a.status != http.StatusUnauthorized || !strings.Contains(string(a.body), "jti") {
		t.Errorf("a replayed assertion: HTTP %d %s", a.status, a.body)
	}
	as, _ = backend.Assertion(key, kid, client, s.URL+"/token", time.Now())
	if a := post(as, "system/*.read"); a.status != http.StatusUnauthorized || !strings.Contains(string(a.body), "aud") {
		t.Errorf("an assertion for another audience: HTTP %d %s", a.status, a.body)
	}
	as, _ = backend.Assertion(key, kid, client, s.TokenURL, time.Now().Add(-10*time.Minute))
	if a := post(as, "system/*.read"); a.status != http.StatusUnauthorized || !strings.Contains(string(a.body), "expired") {
		t.Errorf("an expired assertion: HTTP %d %s", a.status, a.body)
	}
	as, _ = backend.Assertion(key, kid, client, s.TokenURL, time.Now().Add(10*time.Minute))
	if a := post(as, "system/*.read"); a.status != http.StatusUnauthorized || !strings.Contains(string(a.body), "5 minutes") {
		t.Errorf("an assertion valid too long: HTTP %d %s", a.status, a.body)
	}
	as, _ = backend.Assertion(key, kid, client, s.TokenURL, time.Now())
	if a := post(as, "patient/*.read"); a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "invalid_scope") {
		t.Errorf("a patient scope: HTTP %d %s", a.status, a.body)
	}

	st := s.Stats(t)
	if st.Tokens != 3 || st.TokensRefused != 8 || st.Unauthorized < 4 {
		t.Errorf("stats: %+v", st)
	}
}

func TestFaults(t *testing.T) {
	s := ehrserver.Start(t, ehrserver.Options{})
	s.Faults(t, 429, 3, 1)
	// Control paths are not faulted.
	files, _ := filepath.Glob(filepath.Join(uscoreDir(t), "carin_bundle_patient_888.json"))
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	s.Load(t, b)
	if st := s.Stats(t); st.Faults != 0 {
		t.Fatalf("control paths were faulted: %+v", st)
	}
	for i := range 3 {
		a := get(t, s.URL+"/Patient", "")
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "1" {
			t.Fatalf("request %d: HTTP %d, Retry-After %q", i, a.status, a.header.Get("Retry-After"))
		}
		if o := a.outcome(t); !strings.HasPrefix(o, "throttled") {
			t.Errorf("a 429's outcome: %s", o)
		}
	}
	if a := get(t, s.URL+"/Patient", ""); a.status != http.StatusOK {
		t.Fatalf("after the faults: HTTP %d", a.status)
	}
	s.Faults(t, 503, 1, 2)
	if a := get(t, s.URL+"/Patient/888", ""); a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "2" {
		t.Errorf("503: HTTP %d, Retry-After %q", a.status, a.header.Get("Retry-After"))
	}
	s.Faults(t, 500, 1, 0)
	if a := get(t, s.URL+"/Patient/888", ""); a.status != http.StatusInternalServerError || a.header.Get("Retry-After") != "" {
		t.Errorf("500: HTTP %d, Retry-After %q", a.status, a.header.Get("Retry-After"))
	}
	if a := get(t, s.URL+"/Patient/888", ""); a.status != http.StatusOK {
		t.Errorf("after the faults: HTTP %d", a.status)
	}
	st := s.Stats(t)
	if st.Faults != 5 || st.Reads != 1 || st.SearchPages != 1 || st.Requests != 7 {
		t.Errorf("stats: %+v", st)
	}
	if err := s.SetFaults(context.Background(), 404, 1, 0); err == nil || !strings.Contains(err.Error(), "429, 500 or 503") {
		t.Errorf("a 404 fault: %v", err)
	}
}

func TestStartProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), ehrserver.ReadyTimeout)
	defer cancel()
	s, err := ehrserver.StartProcess(ctx, ehrserver.Options{PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	if a := get(t, s.URL+"/metadata", ""); a.status != http.StatusOK {
		t.Errorf("metadata: HTTP %d", a.status)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(s.URL + "/metadata"); err == nil {
		t.Error("the server still answers after Close")
	}
	if _, err := ehrserver.StartProcess(ctx, ehrserver.Options{ClientID: "x"}); err == nil || !strings.Contains(err.Error(), "give both") {
		t.Errorf("a client id without a key: %v", err)
	}
	if _, err := ehrserver.StartProcess(ctx, ehrserver.Options{ClientID: "x", JWK: []byte(`{"kty":"oct","k":"c2VjcmV0"}`)}); err == nil || !strings.Contains(err.Error(), "P-384") {
		t.Errorf("a symmetric key: %v", err)
	}
}
