package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"ptoy/auth"
	"ptoy/internal/wait"
)

// storyApp is Dr Osei's SMART app of step 14: its access token, and the
// FHIR base that answers it.
var storyApp struct {
	token, base string
}

// fhirGet sends a FHIR GET with a bearer token and decodes the answer.
func (s *story) fhirGet(t *testing.T, url string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequestWithContext(s.ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+storyApp.token)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

// Step 14: Dr Osei's app, a SMART app General Hospital registered, signs
// her in with the authorization code flow and PKCE and reads Alice's
// labs over FHIR. Asked at node 3, which holds none of her keys, the
// network says which node does: General Hospital's. (After Alice revokes,
// step 14b.)
func (s *story) step14(t *testing.T) {
	s.t = t
	alice := s.key("alice").ID()
	const redirect = "http://127.0.0.1:9/callback"
	s.ptoy(1, true, "", "fhir", "client", "add", "--org-key", "general-hospital", "--name", "Chart viewer", "--id", "story-app",
		"--redirect", redirect, "--scope", "user/*.rs openid fhirUser")

	// At node 3 the app learns where Dr Osei's organisation answers.
	base3 := s.nodes[2].url + "/fhir"
	resp, err := http.Get(base3 + "/.well-known/smart-configuration")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("node 3's SMART configuration: %v %v", resp, err)
	}
	resp.Body.Close()

	// Dr Osei signs in at General Hospital's node; her session signs the
	// authorization.
	base := s.nodes[0].url + "/fhir"
	session, err := s.client(1).Session(s.ctx, s.key("dr-osei"))
	if err != nil {
		t.Fatal(err)
	}
	verifier := make([]byte, 32)
	rand.Read(verifier)
	v := base64.RawURLEncoding.EncodeToString(verifier)
	sum := sha256.Sum256([]byte(v))
	q := url.Values{"response_type": {"code"}, "client_id": {"story-app"}, "redirect_uri": {redirect}, "scope": {"user/*.rs openid fhirUser"},
		"state": {"s14"}, "aud": {base}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequestWithContext(s.ctx, http.MethodGet, base+"/authorize?"+q.Encode(), nil)
	req.Header.Set("Authorization", auth.SessionScheme+" "+session)
	resp, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if resp.StatusCode != http.StatusFound || code == "" || loc.Query().Get("state") != "s14" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.PostForm(base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirect}, "client_id": {"story-app"}, "code_verifier": {v}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if json.Unmarshal(b, &tok); resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, b)
	}
	storyApp.token = tok.AccessToken

	// A token of General Hospital's node is not node 3's to honour.
	st, out, _ := s.fhirGet(t, base3+"/Observation?patient="+alice.String())
	if st != http.StatusUnauthorized {
		t.Fatalf("node 3 with another node's token: %d %v", st, out)
	}
	// Alice's labs at General Hospital's node: City Lab's cholesterol
	// result of step 4, filed without any FHIR id, among them.
	storyApp.base = base
	var labs []map[string]any
	// The node indexes the records it may read as they commit: wait for
	// City Lab's result of step 4.
	wait.For(time.Minute, func() bool {
		st, out, _ = s.fhirGet(t, base+"/Observation?patient="+alice.String())
		es, _ := out["entry"].([]any)
		labs = labs[:0]
		for _, e := range es {
			r, _ := e.(map[string]any)["resource"].(map[string]any)
			labs = append(labs, r)
		}
		return st == http.StatusOK && strings.Contains(toJSON(labs), "cholesterol")
	})
	if st != http.StatusOK || len(labs) == 0 || !strings.Contains(toJSON(labs), "cholesterol") {
		t.Fatalf("Alice's labs over FHIR: %d %v", st, out)
	}
	id, _ := labs[0]["id"].(string)
	if st, out, _ = s.fhirGet(t, base+"/Observation/"+id); st != http.StatusOK {
		t.Fatalf("read: %d %v", st, out)
	}
}

// Step 14b: after Alice revokes (step 7), the app's next request finds
// nothing, and each of its searches is in Alice's audit list.
func (s *story) step14b(t *testing.T) {
	s.t = t
	alice := s.key("alice")
	st, out, _ := s.fhirGet(t, storyApp.base+"/Observation?patient="+alice.ID().String())
	if st != http.StatusOK || out["total"] != float64(0) {
		t.Fatalf("the app after the revocation: %d %v", st, out)
	}
	trail, err := s.client(1).AuditEventsVia(s.ctx, s.client(2), alice, alice.ID(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	searches := 0
	for _, e := range append(trail.Verified, trail.Pending...) {
		if e.Action == "fhir-search" && e.Decision == "allow" {
			searches++
		}
	}
	if searches == 0 {
		t.Fatalf("no FHIR search in Alice's audit list: %+v", trail)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
