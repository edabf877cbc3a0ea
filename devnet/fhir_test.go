package devnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/auth"
	"ptoy/consent"
	"ptoy/fhir/smart"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
	"ptoy/tx"

	abci "github.com/cometbft/cometbft/abci/types"
)

// fhirCall sends a FHIR request to node i signed by k for org, and
// returns the status and the decoded JSON answer.
func fhirCall(t *testing.T, ctx context.Context, n *Net, i int, k *keys.KeyPair, org ptoy.ID, method, path string, body any) (int, map[string]any) {
	t.Helper()
	st, out, _ := fhirCallFor(t, ctx, n, i, k, org, pb.Purpose_PURPOSE_UNSPECIFIED, method, path, body)
	return st, out
}

// fhirCallFor is fhirCall for a purpose of use, with the answer's headers.
func fhirCallFor(t *testing.T, ctx context.Context, n *Net, i int, k *keys.KeyPair, org ptoy.ID, purpose pb.Purpose, method, path string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var raw []byte
	ctype := ""
	if body != nil {
		ctype = "application/fhir+json"
		if b, ok := body.([]byte); ok {
			raw = b
		} else {
			raw, _ = json.Marshal(body)
		}
	}
	return fhirRequest(t, ctx, n, i, k, org, purpose, method, path, ctype, raw)
}

func entries(b map[string]any) []map[string]any {
	var out []map[string]any
	es, _ := b["entry"].([]any)
	for _, e := range es {
		m, _ := e.(map[string]any)
		r, _ := m["resource"].(map[string]any)
		out = append(out, r)
	}
	return out
}

// TestFHIR: an organisation's staff read and write a patient's records
// through the FHIR API of the organisation's node, within the patient's
// grant and their role, every read in the patient's audit trail.
func TestFHIR(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{})
	alice, gh, osei, park := mustKey(t, n, "alice"), mustKey(t, n, "general-hospital"), mustKey(t, n, "dr-osei"), mustKey(t, n, "park")
	gid := gh.ID()
	call := func(k *keys.KeyPair, method, path string, body any) (int, map[string]any) {
		return fhirCall(t, ctx, n, 0, k, gid, method, path, body)
	}
	pid := alice.ID().String()

	// Before any grant, Dr Osei may write nothing for Alice.
	obs := map[string]any{"resourceType": "Observation", "status": "final",
		"code":    map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}}},
		"subject": map[string]any{"reference": "Patient/" + pid}, "effectiveDateTime": "2026-03-01T09:00:00Z",
		"valueQuantity": map[string]any{"value": 95, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}}
	if st, out := call(osei, "POST", "Observation", obs); st != http.StatusForbidden {
		t.Fatalf("write before a grant: %d %v", st, out)
	}
	if err := agent.New(n.Client(0), alice).Grant(ctx, gid, agent.GrantOptions{Categories: consent.Clinical,
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE}); err != nil {
		t.Fatal(err)
	}
	st, out := call(osei, "PUT", "Patient/"+pid, map[string]any{"resourceType": "Patient", "id": pid,
		"name": []any{map[string]any{"family": "Example", "given": []any{"Alice"}}}, "birthDate": "1980-04-02", "gender": "female"})
	if st != http.StatusCreated {
		t.Fatalf("PUT Patient: %d %v", st, out)
	}
	st, out = call(osei, "POST", "Observation", obs)
	if st != http.StatusCreated {
		t.Fatalf("POST Observation: %d %v", st, out)
	}
	oid, _ := out["id"].(string)
	if meta, _ := out["meta"].(map[string]any); meta["versionId"] != "1" {
		t.Fatalf("created resource's meta: %v", out["meta"])
	}
	if st, out = call(osei, "GET", "Observation/"+oid, nil); st != http.StatusOK || out["id"] != oid {
		t.Fatalf("read: %d %v", st, out)
	}
	obs["id"], obs["status"] = oid, "amended"
	if st, out = call(osei, "PUT", "Observation/"+oid, obs); st != http.StatusOK {
		t.Fatalf("update: %d %v", st, out)
	}
	if st, out = call(osei, "GET", "Observation/"+oid+"/_history/1", nil); st != http.StatusOK || out["status"] != "final" {
		t.Fatalf("vread 1: %d %v", st, out)
	}
	if st, out = call(osei, "GET", "Observation/"+oid+"/_history", nil); st != http.StatusOK || len(entries(out)) != 2 {
		t.Fatalf("history: %d %v", st, out)
	}

	// The type's history, paged: both versions, newest first.
	if st, out = call(osei, "GET", "Observation/_history?_count=1", nil); st != http.StatusOK || out["total"] != float64(2) || len(entries(out)) != 1 ||
		entries(out)[0]["meta"].(map[string]any)["versionId"] != "2" {
		t.Fatalf("type history: %d %v", st, out)
	}

	// A transaction: an encounter and a condition that references it
	// by its urn:uuid, in one PutRecords.
	tx := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
			"resource": map[string]any{"resourceType": "Encounter", "status": "finished",
				"class":   map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
				"subject": map[string]any{"reference": "Patient/" + pid}},
			"request": map[string]any{"method": "POST", "url": "Encounter"}},
		map[string]any{"fullUrl": "urn:uuid:a5a6b2b6-8a2b-4a7e-9d1c-0b1e0f7a7c11",
			"resource": map[string]any{"resourceType": "Condition",
				"code":      map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "44054006"}}},
				"subject":   map[string]any{"reference": "Patient/" + pid},
				"encounter": map[string]any{"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}},
			"request": map[string]any{"method": "POST", "url": "Condition"}},
	}}
	st, out = call(osei, "POST", "", tx)
	if st != http.StatusOK {
		t.Fatalf("transaction: %d %v", st, out)
	}
	es, _ := out["entry"].([]any)
	if len(es) != 2 {
		t.Fatalf("transaction response: %v", out)
	}
	loc := es[1].(map[string]any)["response"].(map[string]any)["location"].(string)
	cid := strings.Split(loc, "/")[1]
	st, out = call(osei, "GET", "Condition/"+cid, nil)
	encRef, _ := out["encounter"].(map[string]any)["reference"].(string)
	if st != http.StatusOK || !strings.HasPrefix(encRef, "Encounter/") {
		t.Fatalf("the condition's encounter reference was not rewritten: %d %v", st, out)
	}

	// Bad input gets a 4xx OperationOutcome and changes nothing.
	_, cnt := call(osei, "GET", "Observation?patient=Patient/"+pid+"&_summary=count", nil)
	bad := []struct {
		name, method, path, ctype string
		body                      []byte
		want                      int
	}{
		{"invalid JSON", "POST", "Observation", "application/fhir+json", []byte(`{"resourceType":`), 400},
		{"invalid UTF-8", "POST", "Observation", "application/fhir+json", []byte("{\"resourceType\":\"Observation\",\"status\":\"fin\xffal\"}"), 400},
		{"duplicate keys", "POST", "Observation", "application/fhir+json", []byte(`{"resourceType":"Observation","status":"final","status":"final"}`), 400},
		{"too deep", "POST", "Observation", "application/fhir+json", []byte(`{"resourceType":"Observation","extension":` + strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100) + `}`), 400},
		{"number out of range", "POST", "Observation", "application/fhir+json", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + pid + `"},"valueInteger":99999999999}`), 422},
		{"unknown type", "POST", "Spaceship", "application/fhir+json", []byte(`{"resourceType":"Spaceship"}`), 404},
		{"wrong type for the path", "POST", "Condition", "application/fhir+json", obsBody(pid), 400},
		{"id with %00", "PUT", "Observation/a%2500b", "application/fhir+json", obsBody(pid), 400},
		{"wrong content type", "POST", "Observation", "text/xml", []byte(`<Observation/>`), 415},
		{"body over the limit", "POST", "Observation", "application/fhir+json", bytes.Repeat([]byte(" "), 33<<20), 413},
	}
	for _, b := range bad {
		st, out := fhirSend(t, ctx, n, 0, osei, gid, b.method, b.path, b.ctype, b.body)
		if st != b.want || out["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: %d %v, want %d and an OperationOutcome", b.name, st, out, b.want)
		}
	}
	// A path with a ".." segment is cleaned by the HTTP server, which
	// redirects rather than answering anything.
	if st, _ := fhirSend(t, ctx, n, 0, osei, gid, "GET", "Observation/../Patient", "", nil); st != http.StatusTemporaryRedirect && st != http.StatusMovedPermanently {
		t.Errorf("a path with ..: %d", st)
	}
	if _, after := call(osei, "GET", "Observation?patient=Patient/"+pid+"&_summary=count", nil); after["total"] != cnt["total"] {
		t.Fatalf("bad input changed what is stored: %v then %v", cnt["total"], after["total"])
	}

	// Search, as the doctor; the billing clerk sees no clinical data and
	// no count of it.
	st, out = call(osei, "GET", "Observation?patient=Patient/"+pid, nil)
	if st != http.StatusOK || len(entries(out)) != 1 || out["total"] != float64(1) {
		t.Fatalf("search: %d %v", st, out)
	}
	st, out = call(park, "GET", "Observation?patient=Patient/"+pid, nil)
	if st != http.StatusOK || len(entries(out)) != 0 || out["total"] != float64(0) {
		t.Fatalf("billing clerk's search: %d %v", st, out)
	}
	if st, _ = call(park, "GET", "Observation/"+oid, nil); st != http.StatusNotFound {
		t.Fatalf("billing clerk's read: %d", st)
	}

	// Her whole compartment, paged two by two.
	st, out = call(osei, "GET", "Patient/"+pid+"/$everything?_count=2", nil)
	if st != http.StatusOK || out["total"] != float64(4) || len(entries(out)) != 2 {
		t.Fatalf("$everything: %d %v", st, out)
	}
	next := ""
	for _, l := range out["link"].([]any) {
		if l.(map[string]any)["relation"] == "next" {
			next = l.(map[string]any)["url"].(string)
		}
	}
	if st, out = call(osei, "GET", strings.TrimPrefix(next, n.Nodes[0].Config().FHIRBase()), nil); st != http.StatusOK || len(entries(out)) != 2 {
		t.Fatalf("$everything's next page (%s): %d %v", next, st, out)
	}

	// A bulk export of the organisation's patients.
	gotExport := exportAll(t, ctx, n, osei, gid, "Group/"+gid.String()+"/$export")
	if gotExport["Observation"] != 1 || gotExport["Patient"] != 1 || gotExport["Condition"] != 1 || gotExport["Encounter"] != 1 {
		t.Fatalf("export: %v", gotExport)
	}

	// What the network knows: the members, the hospital's patient list as
	// Consents, who wrote each version, and for the privacy officer the
	// node's access log about Alice.
	if st, out = call(osei, "GET", "Organization?name=general", nil); st != http.StatusOK || out["total"] != float64(1) {
		t.Fatalf("Organization search: %d %v", st, out)
	}
	if st, out = call(osei, "GET", "Consent?patient=Patient/"+pid, nil); st != http.StatusOK || len(entries(out)) != 1 || entries(out)[0]["status"] != "active" {
		t.Fatalf("Consent search: %d %v", st, out)
	}
	if st, out = call(osei, "GET", "Provenance?target=Observation/"+oid, nil); st != http.StatusOK || len(entries(out)) != 2 {
		t.Fatalf("Provenance search: %d %v", st, out)
	}
	if st, out = call(mustKey(t, n, "ruiz"), "GET", "AuditEvent?patient=Patient/"+pid, nil); st != http.StatusOK || len(entries(out)) < 5 {
		t.Fatalf("the privacy officer's AuditEvent search: %d %v", st, out)
	}
	if st, out = call(osei, "GET", "AuditEvent?patient=Patient/"+pid, nil); st != http.StatusForbidden {
		t.Fatalf("a doctor's AuditEvent search: %d %v", st, out)
	}
	if st, out = call(osei, "DELETE", "Observation/"+oid, nil); st != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d %v", st, out)
	}

	// Every search and read is in Alice's audit trail.
	evs, err := n.Nodes[0].Audit().ForPatient(ctx, alice.ID(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		if strings.HasPrefix(e.Action, "fhir-") {
			seen[e.Action+" "+string(e.Decision)]++
		}
	}
	for _, want := range []string{"fhir-read allow", "fhir-search allow", "fhir-vread allow", "fhir-history allow", "fhir-write allow", "fhir-read deny", "fhir-everything allow", "fhir-export allow"} {
		if seen[want] == 0 {
			t.Errorf("no %q event in Alice's audit trail: %v", want, seen)
		}
	}

	// Revoked: the next search finds nothing, the next read nothing.
	if err := agent.New(n.Client(0), alice).Revoke(ctx, gid); err != nil {
		t.Fatal(err)
	}
	st, out = call(osei, "GET", "Observation?patient=Patient/"+pid, nil)
	if st != http.StatusOK || len(entries(out)) != 0 || out["total"] != float64(0) {
		t.Fatalf("search after the revocation: %d %v", st, out)
	}
	if st, _ = call(osei, "GET", "Observation/"+oid, nil); st != http.StatusNotFound {
		t.Fatalf("read after the revocation: %d", st)
	}
	waitFor(t, ctx, "the index to purge Alice's records", func() bool {
		st, out := call(osei, "GET", "Condition?patient=Patient/"+pid, nil)
		return st == http.StatusOK && len(entries(out)) == 0
	})
}

// exportAll runs a bulk export as k and counts the resources of each
// type in its files.
func exportAll(t *testing.T, ctx context.Context, n *Net, k *keys.KeyPair, org ptoy.ID, path string) map[string]int {
	t.Helper()
	base := n.Nodes[0].Config().FHIRBase()
	do := func(method, url string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, method, url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		req.Header.Set(auth.HeaderOrg, org.String())
		if err := auth.Sign(req, n.Nodes[0].ChainID(), k, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := transportOf(n.Nodes[0]).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := do("GET", base+"/"+path, map[string]string{"Prefer": "respond-async", "Accept": "application/fhir+json"})
	resp.Body.Close()
	status := resp.Header.Get("Content-Location")
	if resp.StatusCode != http.StatusAccepted || status == "" {
		t.Fatalf("export kick-off: %d", resp.StatusCode)
	}
	var manifest struct {
		Output, Deleted []struct {
			Type, URL string
			Count     int
		}
	}
	waitFor(t, ctx, "the export to end", func() bool {
		resp := do("GET", status, nil)
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			json.NewDecoder(resp.Body).Decode(&manifest)
			return true
		}
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("export status: %d", resp.StatusCode)
		}
		return false
	})
	got := map[string]int{}
	for _, d := range manifest.Deleted {
		resp := do("GET", d.URL, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var b struct {
				ResourceType string
				Entry        []struct{ Request struct{ Method, URL string } }
			}
			if json.Unmarshal([]byte(line), &b) != nil || b.ResourceType != "Bundle" || len(b.Entry) != 1 || b.Entry[0].Request.Method != "DELETE" {
				t.Fatalf("export's deleted file %s: %q", d.URL, line)
			}
			got["deleted "+b.Entry[0].Request.URL]++
		}
	}
	for _, o := range manifest.Output {
		resp := do("GET", o.URL, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil || r["resourceType"] != o.Type {
				t.Fatalf("export file %s: %q", o.URL, line)
			}
			got[o.Type]++
		}
		if got[o.Type] != o.Count {
			t.Fatalf("export file %s holds %d resources, the manifest says %d", o.URL, got[o.Type], o.Count)
		}
	}
	return got
}

// TestFHIRConsentFourValidators: consent holds through FHIR on four
// validators. General Hospital's doctor writes Alice's records through its
// node; its billing clerk's search for clinical notes returns nothing and
// no count; Riverside's emergency physician, breaking the glass, sees
// through Riverside's node only the emergency set; a request at a node
// that holds none of the caller's keys is told which node does; once
// Alice revokes General Hospital its next search finds nothing; every
// search and read is in Alice's audit trail on the node that answered.
func TestFHIRConsentFourValidators(t *testing.T) {
	ctx, n := startNet(t, 4*time.Minute, Options{Validators: 4})
	alice, gh, osei, park := mustKey(t, n, "alice"), mustKey(t, n, "general-hospital"), mustKey(t, n, "dr-osei"), mustKey(t, n, "park")
	riverside, novak := mustKey(t, n, "riverside-clinic"), mustKey(t, n, "dr-novak")
	if n.Nodes[0].Org() != gh.ID() || n.Nodes[1].Org() != riverside.ID() {
		t.Fatal("nodes 1 and 2 are not General Hospital's and Riverside's")
	}
	pid := alice.ID().String()
	if err := agent.New(n.Client(0), alice).Grant(ctx, gh.ID(), agent.GrantOptions{Categories: consent.Clinical,
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE}); err != nil {
		t.Fatal(err)
	}
	subject := map[string]any{"reference": "Patient/" + pid}
	entry := func(res map[string]any) map[string]any {
		res["subject"] = subject
		if res["resourceType"] == "AllergyIntolerance" {
			delete(res, "subject")
			res["patient"] = subject
		}
		return map[string]any{"resource": res, "request": map[string]any{"method": "POST", "url": res["resourceType"]}}
	}
	st, out := fhirCall(t, ctx, n, 0, osei, gh.ID(), "POST", "", map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		entry(map[string]any{"resourceType": "AllergyIntolerance", "code": map[string]any{"text": "penicillin"}}),
		entry(map[string]any{"resourceType": "DocumentReference", "status": "current",
			"content": []any{map[string]any{"attachment": map[string]any{"contentType": "text/plain", "data": "Tm90ZXM="}}}}),
		entry(map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "glucose"}}),
	}})
	if st != http.StatusOK {
		t.Fatalf("transaction: %d %v", st, out)
	}
	search := func(i int, k, org *keys.KeyPair, purpose pb.Purpose, typ string) (int, map[string]any) {
		st, out, _ := fhirCallFor(t, ctx, n, i, k, org.ID(), purpose, "GET", typ+"?patient=Patient/"+pid, nil)
		return st, out
	}
	if st, out := search(0, osei, gh, 0, "DocumentReference"); st != http.StatusOK || out["total"] != float64(1) {
		t.Fatalf("Dr Osei's search: %d %v", st, out)
	}
	if st, out := search(0, park, gh, 0, "DocumentReference"); st != http.StatusOK || out["total"] != float64(0) || len(entries(out)) != 0 {
		t.Fatalf("the billing clerk's search for notes: %d %v", st, out)
	}

	// Dr Osei asking Riverside's node is sent to General Hospital's.
	st, out, hdr := fhirCallFor(t, ctx, n, 1, osei, gh.ID(), 0, "GET", "Observation?patient=Patient/"+pid, nil)
	if st != http.StatusMisdirectedRequest || hdr.Get("X-Ptoy-Node") != n.Nodes[0].Config().FHIRBase() {
		t.Fatalf("at another organisation's node: %d %v %v", st, out, hdr)
	}

	// Break-glass at Riverside: the emergency set, nothing else.
	if _, err := n.Client(1).Send(ctx, &pb.Body{Msg: &pb.Body_BreakGlass{BreakGlass: &pb.BreakGlass{
		Patient: alice.ID().Bytes(), ReasonHash: make([]byte, 32), Org: riverside.ID().Bytes()}}}, novak); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "Riverside's node to hold Alice's emergency set", func() bool {
		st, out := search(1, novak, riverside, pb.Purpose_PURPOSE_EMERGENCY, "AllergyIntolerance")
		return st == http.StatusOK && len(entries(out)) == 1
	})
	for _, typ := range []string{"DocumentReference", "Observation"} {
		if st, out := search(1, novak, riverside, pb.Purpose_PURPOSE_EMERGENCY, typ); st != http.StatusOK || len(entries(out)) != 0 || out["total"] != float64(0) {
			t.Fatalf("break-glass search of %s: %d %v", typ, st, out)
		}
	}
	if st, out := search(1, mustKey(t, n, "riverside-admin"), riverside, pb.Purpose_PURPOSE_EMERGENCY, "AllergyIntolerance"); st != http.StatusOK || len(entries(out)) != 0 {
		t.Fatalf("another Riverside employee saw the break-glass records: %d %v", st, out)
	}

	// Revoked: General Hospital's next search finds nothing.
	if err := agent.New(n.Client(0), alice).Revoke(ctx, gh.ID()); err != nil {
		t.Fatal(err)
	}
	if st, out := search(0, osei, gh, 0, "Observation"); st != http.StatusOK || out["total"] != float64(0) {
		t.Fatalf("search after the revocation: %d %v", st, out)
	}

	for i, want := range map[int][]string{0: {"fhir-write allow", "fhir-search allow"}, 1: {"fhir-search allow"}} {
		evs, err := n.Nodes[i].Audit().ForPatient(ctx, alice.ID(), time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range evs {
			seen[e.Action+" "+string(e.Decision)] = true
		}
		for _, w := range want {
			if !seen[w] {
				t.Errorf("node %d: no %q event in Alice's audit trail", i+1, w)
			}
		}
	}
}

// TestFHIRDemo: ptoy dev's demo records, read with the ready SMART token
// dev.json gives Dr Osei: Alice's eight years at General Hospital,
// searched by code and date, paged, and her explanations of benefit.
func TestFHIRDemo(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{DemoRecords: true})
	var token, pid string
	for _, a := range n.Info.Accounts {
		switch a.Key {
		case "dr-osei":
			token = a.FHIRToken
		case "alice":
			pid = a.ID
		}
	}
	if token == "" || n.Info.Nodes[0].FHIR == "" {
		t.Fatalf("dev.json has no FHIR base or token for Dr Osei: %+v", n.Info)
	}
	tr := &http.Transport{} // the network serves plain HTTP
	get := func(path string) (int, map[string]any) {
		return authDo(t, ctx, tr, "GET", n.Info.Nodes[0].FHIR+"/"+path, "Bearer "+token, nil)
	}
	counts := map[string]float64{"Observation": 66 + 24, "Claim": 1, "Encounter": 60, "Immunization": 20, "DocumentReference": 25, "ExplanationOfBenefit": 5, "MedicationRequest": 13}
	for typ, want := range counts {
		if st, out := get(typ + "?patient=" + pid + "&_count=10"); st != http.StatusOK || out["total"] != want || len(entries(out)) != 10 && want >= 10 {
			t.Errorf("%s: %d, total %v, want %v", typ, st, out["total"], want)
		}
	}
	st, out := get("Observation?patient=" + pid + "&code=http://loinc.org|72166-2&_sort=-date")
	if st != http.StatusOK || len(entries(out)) == 0 {
		t.Fatalf("smoking status: %d %v", st, out)
	}
	last := ""
	for _, e := range entries(out) {
		d, _ := e["effectiveDateTime"].(string)
		if last != "" && d > last {
			t.Fatalf("not newest first: %s after %s", d, last)
		}
		last = d
	}
	// _summary=true keeps the summary elements, tagged SUBSETTED.
	st, out = get("Observation?patient=" + pid + "&code=http://loinc.org|4548-4&_summary=true&_count=1")
	if es := entries(out); st != http.StatusOK || len(es) != 1 || es[0]["referenceRange"] != nil || !strings.Contains(fmt.Sprint(es[0]["meta"]), "SUBSETTED") {
		t.Fatalf("_summary=true: %d %v", st, out)
	}
	// Labs with reference ranges over the years, by code and date range.
	st, out = get("Observation?patient=" + pid + "&code=http://loinc.org|4548-4&date=ge2020-01-01&date=lt2023-01-01&_sort=date")
	if st != http.StatusOK || out["total"] != float64(3) || entries(out)[0]["referenceRange"] == nil {
		t.Fatalf("HbA1c 2020-2022: %d %v", st, out)
	}
	if st, out = get("Patient/" + pid); st != http.StatusOK || out["birthDate"] == nil {
		t.Fatalf("Alice's Patient: %d %v", st, out)
	}
	if st, out = get("metadata"); st != http.StatusOK || out["resourceType"] != "CapabilityStatement" {
		t.Fatalf("metadata: %d %v", st, out)
	}
	if st, _ = get("Observation?patient=" + pid + "&unknown-param=1"); st != http.StatusBadRequest {
		t.Fatalf("an unknown search parameter: %d", st)
	}

	// An employee removed from the staff list is refused at her next
	// request, her token still unexpired.
	var lee string
	for _, a := range n.Info.Accounts {
		if a.Key == "nurse-lee" {
			lee = a.FHIRToken
		}
	}
	osei := token
	token = lee
	if st, out := get("Immunization?patient=" + pid + "&_summary=count"); st != http.StatusOK || out["total"] != float64(20) {
		t.Fatalf("nurse Lee's search: %d %v", st, out)
	}
	gh, admin := mustKey(t, n, "general-hospital"), mustKey(t, n, "gh-admin")
	if _, err := n.Client(0).Send(ctx, &pb.Body{Msg: &pb.Body_RemoveEmployee{RemoveEmployee: &pb.RemoveEmployee{
		Org: gh.ID().Bytes(), Employee: mustKey(t, n, "nurse-lee").ID().Bytes()}}}, admin); err != nil {
		t.Fatal(err)
	}
	if st, out := get("Immunization?patient=" + pid + "&_summary=count"); st != http.StatusOK || out["total"] != float64(0) {
		t.Fatalf("nurse Lee's search once removed: %d %v", st, out)
	}
	token = osei

	// Nothing of the plaintext is on the node's disk in clear: its FHIR
	// index is sealed.
	home := n.Info.Nodes[0].Home
	n.StopNode(0)
	filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, clear := range []string{"Tobacco smoking status", "Alice"} {
			if bytes.Contains(b, []byte(clear)) {
				t.Errorf("%s holds %q in clear", path, clear)
			}
		}
		return nil
	})
	// Dropped, the index is rebuilt from the ledger at the next start.
	dropped, err := node.ReindexFHIR(home)
	if err != nil || dropped < 250 {
		t.Fatalf("reindex dropped %d: %v", dropped, err)
	}
	if err := n.StartNode(0); err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections()
	// Access tokens live in the node's memory: a restart ends them.
	if st, _ := get("metadata"); st != http.StatusOK {
		t.Fatalf("metadata after the restart: %d", st)
	}
	if st, _ := get("Observation?patient=" + pid); st != http.StatusUnauthorized {
		t.Fatalf("a token from before the restart: %d", st)
	}
	if err := n.issueTokens(); err != nil {
		t.Fatal(err)
	}
	for _, a := range n.Info.Accounts {
		if a.Key == "dr-osei" {
			token = a.FHIRToken
		}
	}
	waitFor(t, ctx, "the index to be rebuilt", func() bool {
		st, out := get("Observation?patient=" + pid + "&_summary=count")
		return st == http.StatusOK && out["total"] == counts["Observation"]
	})
}

// TestFHIRPatientSession: Alice keeps her keystore at her home node and
// signs in there with her passphrase; during that session the node
// answers her FHIR requests with her own keys, in memory only: her
// records (which she wrote herself and General Hospital wrote), a record
// she adds; at log-out the keys and the view are gone. A wrong passphrase
// opens nothing, and guesses are limited.
func TestFHIRPatientSession(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{DemoRecords: true})
	alice := mustKey(t, n, "alice")
	pid := alice.ID().String()
	file, err := os.ReadFile(filepath.Join(n.Info.KeysDir, "alice.key"))
	if err != nil {
		t.Fatal(err)
	}
	c := n.Client(0)
	if _, err := c.Unseal(ctx, alice.ID(), Passphrase); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("unseal before the keystore is kept: %v", err)
	}
	if err := c.KeepKeystore(ctx, mustKey(t, n, "bob"), file); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("Bob keeping Alice's keystore: %v", err)
	}
	if err := c.KeepKeystore(ctx, alice, file); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Unseal(ctx, alice.ID(), "not her passphrase"); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("a wrong passphrase: %v", err)
	}
	tok, err := c.Unseal(ctx, alice.ID(), Passphrase)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	call := func(method, path string, body any) (int, map[string]any) {
		return authDo(t, ctx, tr, method, n.Info.Nodes[0].FHIR+"/"+path, auth.SessionScheme+" "+tok, body)
	}
	if st, out := call("GET", "Immunization?patient="+pid, nil); st != http.StatusOK || out["total"] != float64(20) {
		t.Fatalf("Alice's immunizations: %d %v", st, out)
	}
	st, out := call("POST", "Observation", map[string]any{"resourceType": "Observation", "status": "final",
		"code":    map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}}},
		"subject": map[string]any{"reference": "Patient/" + pid}, "effectiveDateTime": "2026-11-30T08:00:00Z"})
	if st != http.StatusCreated {
		t.Fatalf("Alice adds a home reading: %d %v", st, out)
	}
	rid, _ := out["id"].(string)
	if st, out = call("GET", "Observation?code=http://loinc.org|85354-9", nil); st != http.StatusOK || out["total"] != float64(1) {
		t.Fatalf("her reading: %d %v", st, out)
	}
	// General Hospital, which she granted her labs, indexes her reading.
	gh, osei := mustKey(t, n, "general-hospital"), mustKey(t, n, "dr-osei")
	waitFor(t, ctx, "General Hospital's node to index her reading", func() bool {
		st, out := fhirCall(t, ctx, n, 0, osei, gh.ID(), "GET", "Observation?code=http://loinc.org|85354-9", nil)
		return st == http.StatusOK && out["total"] == float64(1)
	})
	// She erases what she wrote, not what the hospital wrote.
	_, imms := call("GET", "Immunization?patient="+pid+"&_count=1", nil)
	if st, out = call("DELETE", "Immunization/"+entries(imms)[0]["id"].(string), nil); st != http.StatusMethodNotAllowed {
		t.Fatalf("erasing the hospital's record: %d %v", st, out)
	}
	if st, out = call("DELETE", "Observation/"+rid, nil); st != http.StatusNoContent {
		t.Fatalf("erasing her reading: %d %v", st, out)
	}
	if st, _ = call("GET", "Observation/"+rid, nil); st != http.StatusNotFound {
		t.Fatalf("her erased reading: %d", st)
	}
	// General Hospital's next export since then reports it deleted.
	waitFor(t, ctx, "the erasure to reach General Hospital's export", func() bool {
		got := exportAll(t, ctx, n, osei, gh.ID(), "Patient/$export?_since=2020-01-01T00:00:00Z&_type=Observation")
		return got["deleted Observation/"+rid] == 1
	})
	// An app she opens (SMART standalone patient launch) signs her in with
	// her session, and reads her records, her grants and her audit trail.
	if err := n.Nodes[0].SMART().AddClient(ctx, smart.Client{ID: "alice-app", Name: "Health diary", Org: gh.ID(), Kind: smart.KindApp,
		RedirectURIs: []string{"http://127.0.0.1:9/cb"}, Scopes: "patient/*.rs launch/patient openid fhirUser"}); err != nil {
		t.Fatal(err)
	}
	bearer := patientLaunch(t, ctx, n.Info.Nodes[0].FHIR, tok, "alice-app", "http://127.0.0.1:9/cb", "patient/*.rs launch/patient")
	sessionTok := tok
	tok = ""
	bcall := func(path string) (int, map[string]any) {
		return authDo(t, ctx, tr, "GET", n.Info.Nodes[0].FHIR+"/"+path, "Bearer "+bearer, nil)
	}
	if st, out := bcall("Immunization?patient=" + pid); st != http.StatusOK || out["total"] != float64(20) {
		t.Fatalf("the app's search: %d %v", st, out)
	}
	if st, out := bcall("Consent?patient=" + pid); st != http.StatusOK || out["total"] != float64(1) {
		t.Fatalf("her grants through the app: %d %v", st, out)
	}
	if st, out := bcall("AuditEvent?patient=" + pid); st != http.StatusOK || len(entries(out)) == 0 {
		t.Fatalf("her audit trail through the app: %d %v", st, out)
	}
	if st, out := bcall("AuditEvent?patient=Patient/" + mustKey(t, n, "bob").ID().String()); st != http.StatusForbidden {
		t.Fatalf("Bob's audit trail through her app: %d %v", st, out)
	}
	tok = sessionTok

	// Her records are hers alone: Bob's are not answered.
	if st, _ = call("GET", "Observation?patient=Patient/"+mustKey(t, n, "bob").ID().String(), nil); st != http.StatusOK {
		t.Fatalf("search for Bob: %d", st)
	}
	if err := c.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if st, _ = call("GET", "Immunization?patient="+pid, nil); st != http.StatusUnauthorized {
		t.Fatalf("after log-out: %d", st)
	}
	if _, ok := n.Nodes[0].FHIR().ViewOf(alice.ID()); ok {
		t.Fatal("the view of Alice's records outlived her session")
	}
	for range 5 {
		c.Unseal(ctx, alice.ID(), "guess")
	}
	if _, err := c.Unseal(ctx, alice.ID(), Passphrase); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("after many guesses: %v", err)
	}
}

// TestFHIRPractitionerPatientScopes: a practitioner who opened a SMART
// app for one patient (launch/patient with patient=<id>) and was granted
// patient/ scopes reads and writes that patient's records with them, and
// no other patient's.
func TestFHIRPractitionerPatientScopes(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{DemoRecords: true})
	alice, bob, osei := mustKey(t, n, "alice"), mustKey(t, n, "bob"), mustKey(t, n, "dr-osei")
	org := n.Nodes[0].Org()
	token := func(patient ptoy.ID) string {
		sc, err := smart.ParseScopes("patient/*.cruds launch/patient")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := n.Nodes[0].SMART().IssueToken(smart.Grant{Client: "chart", Kind: smart.KindUser, Account: osei.ID(), Org: org,
			Patient: patient, Scopes: sc, FHIRUser: "Practitioner/" + osei.ID().String()}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	call := func(tok, method, path string, body any) (int, map[string]any) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, n.Info.Nodes[0].FHIR+"/"+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/fhir+json")
		}
		resp, err := transportOf(n.Nodes[0]).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	pid := alice.ID().String()
	forAlice, forBob := token(alice.ID()), token(bob.ID())

	st, out := call(forAlice, "GET", "Observation?patient="+pid+"&_count=5", nil)
	if st != http.StatusOK || out["total"] != float64(90) || len(entries(out)) != 5 {
		t.Fatalf("Alice's observations with her patient context: %d total %v", st, out["total"])
	}
	oid, _ := entries(out)[0]["id"].(string)
	if st, _ := call(forAlice, "GET", "Observation/"+oid, nil); st != http.StatusOK {
		t.Fatalf("read with her patient context: %d", st)
	}
	obs := map[string]any{"resourceType": "Observation", "status": "final",
		"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4"}}},
		"subject":           map[string]any{"reference": "Patient/" + pid},
		"effectiveDateTime": "2026-03-02T09:10:00Z"}
	if st, out := call(forAlice, "POST", "Observation", obs); st != http.StatusCreated {
		t.Fatalf("write with her patient context: %d %v", st, out)
	}

	// Another patient's context opens none of Alice's records.
	if st, out := call(forBob, "GET", "Observation?patient="+pid, nil); st != http.StatusOK || out["total"] != float64(0) {
		t.Fatalf("Alice's observations with Bob's context: %d total %v", st, out["total"])
	}
	if st, _ := call(forBob, "GET", "Observation/"+oid, nil); st != http.StatusNotFound {
		t.Fatalf("read of Alice's with Bob's context: %d", st)
	}
	if st, _ := call(forBob, "POST", "Observation", obs); st != http.StatusForbidden {
		t.Fatalf("write for Alice with Bob's context: %d", st)
	}
}

// transports keeps one transport per node for the tests' FHIR calls:
// node.Transport makes a new one each call, whose idle connections would
// pile up against the node's per-address connection limit.
var transports sync.Map

func transportOf(nd *node.Node) *http.Transport {
	if t, ok := transports.Load(nd); ok {
		return t.(*http.Transport)
	}
	t, _ := transports.LoadOrStore(nd, nd.Transport())
	return t.(*http.Transport)
}

// obsBody is a valid Observation of the patient.
func obsBody(pid string) []byte {
	return []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + pid + `"}}`)
}

// fhirSend sends body as it is, with content type ctype, signed by k for org.
func fhirSend(t *testing.T, ctx context.Context, n *Net, i int, k *keys.KeyPair, org ptoy.ID, method, path, ctype string, body []byte) (int, map[string]any) {
	t.Helper()
	st, out, _ := fhirRequest(t, ctx, n, i, k, org, pb.Purpose_PURPOSE_UNSPECIFIED, method, path, ctype, body)
	return st, out
}

// fhirRequest sends a FHIR request to node i, signed by k (if not nil)
// for org and purpose, and returns the status, the decoded JSON answer
// and its headers.
func fhirRequest(t *testing.T, ctx context.Context, n *Net, i int, k *keys.KeyPair, org ptoy.ID, purpose pb.Purpose, method, path, ctype string, body []byte) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.Nodes[i].URL()+"/fhir/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if !org.IsZero() {
		req.Header.Set(auth.HeaderOrg, org.String())
	}
	if purpose != pb.Purpose_PURPOSE_UNSPECIFIED {
		req.Header.Set(auth.HeaderPurpose, consent.PurposeName(purpose))
	}
	if k != nil {
		if err := auth.Sign(req, n.Nodes[i].ChainID(), k, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := transportOf(n.Nodes[i]).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 && json.Unmarshal(b, &out) != nil && resp.Header.Get("Content-Type") != "" && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, out, resp.Header
}

// patientLaunch runs SMART's standalone launch for the person whose
// PTOY-Session signs the authorization: code with PKCE, then the token.
func patientLaunch(t *testing.T, ctx context.Context, base, session, clientID, redirect, scope string) string {
	t.Helper()
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {scope},
		"state": {"st"}, "aud": {base}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/authorize?"+q.Encode(), nil)
	req.Header.Set("Authorization", auth.SessionScheme+" "+session)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if resp.StatusCode != http.StatusFound || code == "" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.PostForm(base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirect}, "client_id": {clientID}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Patient     string `json:"patient"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return out.AccessToken
}

// TestFHIRConcurrentWrites: many clients writing through one node's FHIR
// API at once all commit, the node signing for its organisation without
// waiting for each write's block, so that writes share blocks.
func TestFHIRConcurrentWrites(t *testing.T) {
	ctx, n := startNet(t, 3*time.Minute, Options{})
	alice, gh, osei := mustKey(t, n, "alice"), mustKey(t, n, "general-hospital"), mustKey(t, n, "dr-osei")
	if err := agent.New(n.Client(0), alice).Grant(ctx, gh.ID(), agent.GrantOptions{Categories: consent.Clinical,
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE}); err != nil {
		t.Fatal(err)
	}
	pid := alice.ID().String()
	const writers, each = 8, 4
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				st, out := fhirCall(t, ctx, n, 0, osei, gh.ID(), "POST", "Observation", map[string]any{"resourceType": "Observation", "status": "final",
					"code": map[string]any{"text": fmt.Sprintf("writer %d, reading %d", w, i)}, "subject": map[string]any{"reference": "Patient/" + pid}})
				if st != http.StatusCreated {
					errs <- fmt.Errorf("writer %d: %d %v", w, st, out)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, out := fhirCall(t, ctx, n, 0, osei, gh.ID(), "GET", "Observation?patient=Patient/"+pid+"&_summary=count", nil)
	if st != http.StatusOK || out["total"] != float64(writers*each) {
		t.Fatalf("after %d writes: %d %v", writers*each, st, out)
	}
	recs, err := n.Nodes[0].Ledger().Records(alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	heights := map[int64]bool{}
	for _, r := range recs {
		heights[r.Height] = true
	}
	t.Logf("%d writes committed in %d blocks", len(recs), len(heights))
	if len(recs) != writers*each || len(heights) >= writers*each {
		t.Errorf("%d writes took %d blocks: the writes did not share blocks", len(recs), len(heights))
	}
}

// TestDroppedTransactionAnswered: a transaction CheckTx took but that a
// recheck after a block drops (its sequence now skips ahead, because one
// before it failed) is answered to whoever waits for it at once, with
// the reason, rather than never: the node then signs again.
func TestDroppedTransactionAnswered(t *testing.T) {
	ctx, n := startNet(t, time.Minute, Options{NoDemo: true})
	gh := mustKey(t, n, "general-hospital")
	acct, err := n.Nodes[0].Ledger().Account(gh.ID())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tx.Sign(n.Nodes[0].ChainID(), &pb.Body{Sequence: acct.Sequence + 5, Msg: &pb.Body_Faucet{Faucet: &pb.Faucet{Amount: 1}}}, gh)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := tx.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	ch := n.Nodes[0].App().Wait(decoded.Hash)
	// Through the connection CometBFT itself uses (one call at a time).
	res, err := n.Nodes[0].Comet().ProxyApp().Mempool().CheckTx(ctx, &abci.RequestCheckTx{Tx: raw, Type: abci.CheckTxType_Recheck})
	if err != nil || res.Code == 0 {
		t.Fatalf("recheck of a transaction that skips ahead: %v %v", res, err)
	}
	select {
	case r := <-ch:
		if r.Code != res.Code || !strings.Contains(r.Log, "dropped") {
			t.Fatalf("the waiter was told %+v", r)
		}
	case <-ctx.Done():
		t.Fatal("the waiter was never told")
	}
}

// authDo sends a FHIR request with the Authorization header authz (and
// body as JSON, if any) and decodes the JSON answer.
func authDo(t *testing.T, ctx context.Context, tr http.RoundTripper, method, url, authz string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, url, rd)
	req.Header.Set("Authorization", authz)
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
