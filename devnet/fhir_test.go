package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/auth"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// fhirCall sends a FHIR request to node i signed by k for org, and
// returns the status and the decoded JSON answer.
func fhirCall(t *testing.T, ctx context.Context, n *Net, i int, k *keys.KeyPair, org ptoy.ID, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		switch b := body.(type) {
		case []byte:
			raw = b
		default:
			raw, _ = json.Marshal(b)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.Nodes[i].URL()+"/fhir/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if !org.IsZero() {
		req.Header.Set(auth.HeaderOrg, org.String())
	}
	if k != nil {
		if err := auth.Sign(req, n.Nodes[i].ChainID(), k, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := n.Nodes[i].Transport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
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
		resp, err := n.Nodes[0].Transport().RoundTrip(req)
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
		Output []struct {
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
