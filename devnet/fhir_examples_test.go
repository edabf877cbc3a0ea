package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/auth"
	"ptoy/consent"
	"ptoy/fhir/resource"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/internal/npmdeps"
	"ptoy/keys"
)

// compartmentOf is the element that ties a record of each type to its
// patient (the patient compartment's reference): subject unless listed.
var compartmentOf = map[string]string{
	"AllergyIntolerance": "patient", "Immunization": "patient", "Claim": "patient",
	"ExplanationOfBenefit": "patient", "Coverage": "beneficiary",
}

// compartment is the compartment element of typ.
func compartment(typ string) string {
	if el, ok := compartmentOf[typ]; ok {
		return el
	}
	return "subject"
}

// onlyPatients are the compartment elements whose target can only be a
// Patient (an identifier there names a patient).
var onlyPatients = []string{"AllergyIntolerance.patient", "Immunization.patient", "Claim.patient",
	"ExplanationOfBenefit.patient", "Coverage.beneficiary"}

// invalidExamples are the official examples the validator refuses
// (fhir/resource/examples_test.go), with the element the refusal names.
var invalidExamples = map[string]string{
	"MedicationRequest-medrx0301.json": "MedicationRequest.dispenseRequest.performer",
	"Observation-clinical-gender.json": "Observation.performer[0]",
}

// notAPatients are the official examples that are about no one patient
// the server can identify: they are sent as they are and refused, naming
// the element, with the reason.
var notAPatients = map[string]string{
	"DiagnosticReport-gingival-mass.json": "subject is a display only (Reference(Patient|Group|Device|Location))",
	"Observation-decimal.json":            "no subject",
	"Observation-herd1.json":              "subject is a Group (a herd)",
	"Observation-vp-oyster.json":          "subject is a display only (an oyster farm)",
	"Procedure-education.json":            "subject is a display only (Reference(Patient|Group))",
	"Procedure-ob.json":                   "subject is a display only (Reference(Patient|Group))",
}

// readOnlyTypes are answered from the ledger and the audit log: the API
// writes none of them.
var readOnlyTypes = []string{"AuditEvent", "Consent", "Organization", "Practitioner", "Provenance"}

// example is one official example as the test sends it.
type example struct {
	name, typ, id string
	body          []byte
}

// TestFHIROfficialExamples writes every official R4 example
// (hl7.fhir.r4.examples 4.0.1) of the 17 record types through General
// Hospital's FHIR API as Alice's records and reads each back: what is
// read equals what was sent, but for meta.versionId and lastUpdated.
// Each example's patient-compartment reference (subject, patient or
// beneficiary) is rewritten to Alice when it names a patient (a Patient
// reference, a contained Patient, or an identifier where only a Patient
// may be); a Patient example becomes Patient/<Alice's id>. Examples that
// are about no patient the server can identify (notAPatients) and the
// two the validator refuses (invalidExamples) are refused with a 422
// OperationOutcome whose expression names the element. The examples of
// the five network types (Organization, Practitioner, Consent,
// AuditEvent, Provenance) are read-only here: a PUT of each is refused
// with 405 and an OperationOutcome.
//
// The valid records go in transaction Bundles of up to 50 PUT entries
// (one PutRecords each); the Patient examples, all one record, and the
// refused ones go one by one.
func TestFHIROfficialExamples(t *testing.T) {
	dir := npmdeps.Package(t, "hl7.fhir.r4.examples")
	start := time.Now()
	ctx, n := startNet(t, 3*time.Minute, Options{})
	alice, gh, osei := mustKey(t, n, "alice"), mustKey(t, n, "general-hospital"), mustKey(t, n, "dr-osei")
	gid, pid := gh.ID(), alice.ID().String()
	if err := agent.New(n.Client(0), alice).Grant(ctx, gid, agent.GrantOptions{Categories: consent.Defined,
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE}); err != nil {
		t.Fatal(err)
	}
	tr := n.Nodes[0].Transport() // one, so that connections are reused
	t.Cleanup(tr.CloseIdleConnections)
	call := func(method, path string, body []byte) (int, []byte) {
		return fhirRaw(t, ctx, n, tr, osei, gid, method, path, body)
	}

	written := 0
	var patients, records, invalid, strangers, readOnly []example
	own := map[string]example{} // an example of each type as published, about its own patient
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if d.Decode(&m) != nil {
			continue
		}
		typ, _ := m["resourceType"].(string)
		id, _ := m["id"].(string)
		name := filepath.Base(f)
		if _, ok := own[typ]; !ok && resource.Supported(typ) && !slices.Contains(readOnlyTypes, typ) &&
			invalidExamples[name] == "" && notAPatients[name] == "" {
			own[typ] = example{name, typ, id, b}
		}
		switch {
		case slices.Contains(readOnlyTypes, typ):
			readOnly = append(readOnly, example{name, typ, id, b})
			continue
		case !resource.Supported(typ):
			continue
		case typ == "Patient":
			m["id"] = pid
			patients = append(patients, example{name, typ, pid, asSent(t, m)})
			continue
		}
		_, refused := notAPatients[name]
		if !refused {
			if !aboutAPatient(typ, m) {
				t.Errorf("%s: its %s names no patient, but it is not in notAPatients", name, compartment(typ))
				continue
			}
			m[compartment(typ)] = map[string]any{"reference": "Patient/" + pid}
		}
		ex := example{name, typ, id, asSent(t, m)}
		switch {
		case invalidExamples[name] != "":
			invalid = append(invalid, ex)
		case refused:
			strangers = append(strangers, ex)
		default:
			records = append(records, ex)
		}
	}
	if len(invalid) != len(invalidExamples) || len(strangers) != len(notAPatients) {
		t.Fatalf("found %d of the %d invalid examples and %d of the %d listed as about no patient", len(invalid), len(invalidExamples), len(strangers), len(notAPatients))
	}

	// Each Patient example in turn is Alice's Patient resource.
	for _, ex := range patients {
		if st, out := call("PUT", "Patient/"+pid, ex.body); st != http.StatusOK && st != http.StatusCreated {
			t.Errorf("%s: PUT: %d %s", ex.name, st, out)
			continue
		}
		if readBack(t, call, ex) {
			written++
		}
	}

	// Every version of Alice's Patient is there, as it was sent.
	for i, ex := range patients {
		v := strconv.Itoa(i + 1)
		st, got := call("GET", "Patient/"+pid+"/_history/"+v, nil)
		if st != http.StatusOK || !resource.Equal(resource.Without(got, "meta"), resource.Without(ex.body, "meta")) {
			t.Errorf("%s: GET Patient/<Alice>/_history/%s: %d %s", ex.name, v, st, got)
		}
	}

	// The records, fifty to a transaction.
	want := len(patients) + len(records)
	for len(records) > 0 {
		batch := records[:min(50, len(records))]
		records = records[len(batch):]
		var es []any
		for _, ex := range batch {
			es = append(es, map[string]any{"resource": json.RawMessage(ex.body), "request": map[string]any{"method": "PUT", "url": ex.typ + "/" + ex.id}})
		}
		tx := asSent(t, map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": es})
		st, out := call("POST", "", tx)
		if st != http.StatusOK {
			t.Fatalf("transaction of %s…: %d %s", batch[0].name, st, out)
		}
		var resp struct {
			Entry []struct {
				Response struct{ Status, Location string }
			}
		}
		json.Unmarshal(out, &resp)
		for i, ex := range batch {
			if i >= len(resp.Entry) || resp.Entry[i].Response.Status != "201 Created" ||
				resp.Entry[i].Response.Location != ex.typ+"/"+ex.id+"/_history/1" {
				t.Errorf("%s: the transaction's response entry %d: %+v", ex.name, i, resp.Entry)
				break
			}
		}
		for _, ex := range batch {
			if readBack(t, call, ex) {
				written++
			}
		}
	}

	refusedAt := func(ex example, status int, expr string) {
		t.Helper()
		st, out := call("PUT", ex.typ+"/"+ex.id, ex.body)
		var oo struct {
			ResourceType string
			Issue        []struct{ Expression []string }
		}
		json.Unmarshal(out, &oo)
		if st != status || oo.ResourceType != "OperationOutcome" {
			t.Errorf("%s: PUT answered %d %s, want %d and an OperationOutcome", ex.name, st, out, status)
			return
		}
		if expr == "" {
			return
		}
		for _, is := range oo.Issue {
			if slices.Contains(is.Expression, expr) {
				return
			}
		}
		t.Errorf("%s: refused, but not at %s: %s", ex.name, expr, out)
	}
	stored := func(ex example) {
		t.Helper()
		if st, out := call("GET", ex.typ+"/"+ex.id, nil); st != http.StatusNotFound {
			t.Errorf("%s: refused, yet GET answers %d %s", ex.name, st, out)
		}
	}
	for _, ex := range invalid {
		refusedAt(ex, http.StatusUnprocessableEntity, invalidExamples[ex.name])
		stored(ex)
	}
	for _, ex := range strangers {
		refusedAt(ex, http.StatusUnprocessableEntity, ex.typ+"."+compartment(ex.typ))
		stored(ex)
	}
	for _, ex := range readOnly {
		refusedAt(ex, http.StatusMethodNotAllowed, "")
	}
	// A transaction is all or nothing: a valid entry beside one about no
	// patient, or one the validator refuses, is not written either; the
	// refusal names the entry's element.
	for _, bad := range []struct {
		ex   example
		expr string
	}{{strangers[0], "Bundle.entry[1].resource." + compartment(strangers[0].typ)}, {invalid[0], ""}} {
		probe := own["Observation"]
		var m map[string]any
		json.Unmarshal(probe.body, &m)
		m["id"], m["subject"] = "tx-probe", map[string]any{"reference": "Patient/" + pid}
		tx := mustJSON(t, map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
			map[string]any{"resource": m, "request": map[string]any{"method": "PUT", "url": "Observation/tx-probe"}},
			map[string]any{"resource": json.RawMessage(bad.ex.body), "request": map[string]any{"method": "PUT", "url": bad.ex.typ + "/" + bad.ex.id}},
		}})
		st, out := call("POST", "", tx)
		expr := bad.expr
		if expr == "" {
			expr = "Bundle.entry[1].resource." + strings.SplitN(invalidExamples[bad.ex.name], ".", 2)[1]
		}
		if st != http.StatusUnprocessableEntity || !strings.Contains(string(out), strconv.Quote(expr)) {
			t.Errorf("a transaction with %s: %d %s, want 422 at %s", bad.ex.name, st, out, expr)
		}
		stored(example{"tx-probe", "Observation", "tx-probe", nil})
	}

	// A create, whose id the server assigns, keeps the narrative's
	// XHTML as it was sent.
	{
		var m map[string]any
		json.Unmarshal(own["Observation"].body, &m)
		delete(m, "id")
		m["subject"] = map[string]any{"reference": "Patient/" + pid}
		st, out := call("POST", "Observation", asSent(t, m))
		var created struct{ ID string }
		if json.Unmarshal(out, &created); st != http.StatusCreated {
			t.Errorf("POST Observation: %d %s", st, out)
		}
		st, got := call("GET", "Observation/"+created.ID, nil)
		if st != http.StatusOK || !bytes.Contains(got, []byte(`"div":"<div`)) {
			t.Errorf("POST Observation, then GET: %d %s", st, got)
		}
	}

	// As published, each example is about a patient who is not one of
	// the network's ("Patient/example"): refused at the element that says
	// so, or at the id for a Patient.
	if len(own) != 17 {
		t.Errorf("examples of %d record types, want 17", len(own))
	}
	for typ, ex := range own {
		el := typ + "." + compartment(typ)
		if typ == "Patient" {
			el = "Patient.id"
		}
		refusedAt(ex, http.StatusUnprocessableEntity, el)
	}
	t.Logf("official R4 examples through the API in %s: %d written and read back equal, %d refused as invalid, %d refused as about no patient, %d of read-only types refused",
		time.Since(start).Round(time.Millisecond), written, len(invalid), len(strangers), len(readOnly))
	if written != want || want < 200 || len(readOnly) < 50 {
		t.Errorf("%d of %d examples read back equal; expected at least 200, and at least 50 of the read-only types", written, want)
	}
}

// aboutAPatient reports whether the compartment element of m names a
// patient: a Patient reference, a contained Patient, a reference typed
// Patient, or an identifier where only a Patient may be.
func aboutAPatient(typ string, m map[string]any) bool {
	el := compartment(typ)
	ref, _ := m[el].(map[string]any)
	if ref == nil {
		return false
	}
	r, _ := ref["reference"].(string)
	switch {
	case strings.HasPrefix(r, "Patient/"), ref["type"] == "Patient":
		return true
	case strings.HasPrefix(r, "#"):
		cs, _ := m["contained"].([]any)
		for _, c := range cs {
			c, _ := c.(map[string]any)
			if c["id"] == r[1:] && c["resourceType"] == "Patient" {
				return true
			}
		}
		return false
	case r == "" && ref["identifier"] != nil:
		return slices.Contains(onlyPatients, typ+"."+el)
	}
	return false
}

// readBack reads ex back and reports whether it equals what was sent as
// JSON, but for meta.versionId and meta.lastUpdated.
func readBack(t *testing.T, call func(method, path string, body []byte) (int, []byte), ex example) bool {
	t.Helper()
	st, got := call("GET", ex.typ+"/"+ex.id, nil)
	if st != http.StatusOK {
		t.Errorf("%s: GET %s/%s: %d %s", ex.name, ex.typ, ex.id, st, got)
		return false
	}
	if !resource.Equal(resource.Without(got, "meta"), resource.Without(ex.body, "meta")) ||
		!resource.Equal(metaOf(t, got), metaOf(t, ex.body)) {
		t.Errorf("%s: read back differs from what was sent:\nsent %s\ngot  %s", ex.name, ex.body, got)
		return false
	}
	// What the writer sent is what is stored: the bytes, not only their
	// meaning, but for meta.
	if !bytes.Equal(resource.Without(got, "meta"), resource.Without(ex.body, "meta")) {
		t.Errorf("%s: read back equal as JSON, but not the bytes sent:\nsent %s\ngot  %s", ex.name, ex.body, got)
		return false
	}
	return true
}

// metaOf is the meta of a resource without versionId and lastUpdated
// ({} if there is none).
func metaOf(t *testing.T, b []byte) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["meta"] == nil {
		return []byte(`{}`)
	}
	return resource.Without(m["meta"], "versionId", "lastUpdated")
}

// asSent encodes an example as a writer would, narrative XHTML as it is
// (<div>, not \u003cdiv\u003e).
func asSent(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fhirRaw sends a FHIR request to node 0 over tr, signed by k for org,
// and returns the status and the body as it came.
func fhirRaw(t *testing.T, ctx context.Context, n *Net, tr http.RoundTripper, k *keys.KeyPair, org ptoy.ID, method, path string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.Nodes[0].URL()+"/fhir/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	req.Header.Set(auth.HeaderOrg, org.String())
	if err := auth.Sign(req, n.Nodes[0].ChainID(), k, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestFHIRUpdateKeepsLabels: a record's sensitivity labels are those of
// its first version (the ledger keeps them). An update that adds a label
// in meta.security, or drops one, is refused with a 422 at
// meta.security, and the record stays as it was.
func TestFHIRUpdateKeepsLabels(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(npmdeps.Package(t, "hl7.fhir.r4.examples"), "Observation-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, n := startNet(t, 2*time.Minute, Options{})
	alice, gh, osei := mustKey(t, n, "alice"), mustKey(t, n, "general-hospital"), mustKey(t, n, "dr-osei")
	if err := agent.New(n.Client(0), alice).Grant(ctx, gh.ID(), agent.GrantOptions{Categories: consent.Defined,
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE}); err != nil {
		t.Fatal(err)
	}
	tr := n.Nodes[0].Transport()
	t.Cleanup(tr.CloseIdleConnections)
	call := func(method, path string, body []byte) (int, []byte) {
		return fhirRaw(t, ctx, n, tr, osei, gh.ID(), method, path, body)
	}
	// version returns the example as Alice's Observation/id, with the
	// meta.security codes given.
	version := func(id string, codes ...string) []byte {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		m["id"], m["subject"] = id, map[string]any{"reference": "Patient/" + alice.ID().String()}
		var sec []any
		for _, c := range codes {
			sec = append(sec, map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": c})
		}
		if sec != nil {
			m["meta"] = map[string]any{"security": sec}
		}
		return mustJSON(t, m)
	}
	refused := func(what, id string, body []byte) {
		t.Helper()
		st, out := call("PUT", "Observation/"+id, body)
		if st != http.StatusUnprocessableEntity || !strings.Contains(string(out), `"Observation.meta.security"`) {
			t.Errorf("%s: %d %s, want 422 at Observation.meta.security", what, st, out)
		}
	}
	unchanged := func(id string, want []byte) {
		t.Helper()
		st, got := call("GET", "Observation/"+id, nil)
		if st != http.StatusOK || !strings.Contains(string(got), `"versionId":"1"`) || !resource.Equal(metaOf(t, got), metaOf(t, want)) {
			t.Errorf("Observation/%s after the refused updates: %d %s", id, st, got)
		}
	}
	plain, psy := version("plain"), version("psy", "PSY")
	for id, body := range map[string][]byte{"plain": plain, "psy": psy} {
		if st, out := call("PUT", "Observation/"+id, body); st != http.StatusCreated {
			t.Fatalf("PUT Observation/%s: %d %s", id, st, out)
		}
	}
	refused("a label added", "plain", version("plain", "PSY"))
	refused("a label dropped", "psy", version("psy"))
	refused("a label replaced", "psy", version("psy", "HIV"))
	unchanged("plain", plain)
	unchanged("psy", psy)
	if st, out := call("PUT", "Observation/psy", version("psy", "PSY", "PSYTHPN")); st != http.StatusOK {
		t.Errorf("an update with the same labels, by another code: %d %s", st, out)
	}
}

// TestFHIRIdOfAnotherPatient: a PUT that would create a resource under
// the type and id of another patient's resource is refused (409), so
// that Type/id names one resource; the same id in another type is
// another resource.
func TestFHIRIdOfAnotherPatient(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(npmdeps.Package(t, "hl7.fhir.r4.examples"), "Observation-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, n := startNet(t, 2*time.Minute, Options{})
	alice, bob, gh, osei := mustKey(t, n, "alice"), mustKey(t, n, "bob"), mustKey(t, n, "general-hospital"), mustKey(t, n, "dr-osei")
	for _, k := range []*keys.KeyPair{alice, bob} {
		if err := agent.New(n.Client(0), k).Grant(ctx, gh.ID(), agent.GrantOptions{Categories: consent.Clinical,
			Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE}); err != nil {
			t.Fatal(err)
		}
	}
	tr := n.Nodes[0].Transport()
	t.Cleanup(tr.CloseIdleConnections)
	call := func(method, path string, body []byte) (int, []byte) {
		return fhirRaw(t, ctx, n, tr, osei, gh.ID(), method, path, body)
	}
	// of returns the example as k's.
	of := func(k *keys.KeyPair) []byte {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		m["subject"] = map[string]any{"reference": "Patient/" + k.ID().String()}
		return mustJSON(t, m)
	}
	if st, out := call("PUT", "Observation/example", of(alice)); st != http.StatusCreated {
		t.Fatalf("Alice's Observation/example: %d %s", st, out)
	}
	st, out := call("PUT", "Observation/example", of(bob))
	if st != http.StatusConflict || !strings.Contains(string(out), `"OperationOutcome"`) {
		t.Errorf("Bob's Observation/example: %d %s, want 409", st, out)
	}
	st, out = call("GET", "Observation/example", nil)
	if st != http.StatusOK || !strings.Contains(string(out), "Patient/"+alice.ID().String()) {
		t.Errorf("GET Observation/example: %d %s, want Alice's", st, out)
	}
	if st, out := call("GET", "Observation?patient=Patient/"+bob.ID().String(), nil); st != http.StatusOK || strings.Contains(string(out), `"entry"`) {
		t.Errorf("Bob's observations: %d %s, want none", st, out)
	}
	// The same id in another type is another resource.
	cond := []byte(`{"resourceType":"Condition","id":"example","subject":{"reference":"Patient/` + bob.ID().String() + `"},` +
		`"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]}}`)
	if st, out := call("PUT", "Condition/example", cond); st != http.StatusCreated {
		t.Errorf("Bob's Condition/example: %d %s", st, out)
	}
}
