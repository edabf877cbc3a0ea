package devnet

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/auth"
	"ptoy/consent"
	"ptoy/fhir/smart"
	pb "ptoy/gen/ptoy/v1"
)

// The demo records are Synthea-generated US Core and CARIN Blue Button
// bundles from the Inferno reference server (Apache-2.0; LICENSE and
// NOTICE.md beside them in demo/): eight years of one patient's visits,
// conditions, labs with reference ranges, medications, immunisations,
// documents and care plans, and claims' explanations of benefit. They
// are filed as Alice's by General Hospital through its node's FHIR API.
//
//go:embed demo/uscore_bundle_patient_85.json demo/carin_bundle_patient_888.json
var demoBundles embed.FS

// storedTypes are the resource types the FHIR API stores as records: the
// demo keeps those entries.
var storedTypes = map[string]bool{
	"Patient": true, "Encounter": true, "Condition": true, "Observation": true, "MedicationRequest": true,
	"MedicationStatement": true, "AllergyIntolerance": true, "Immunization": true, "Procedure": true,
	"DiagnosticReport": true, "DocumentReference": true, "CarePlan": true, "Goal": true, "CareTeam": true,
	"Coverage": true, "Claim": true, "ExplanationOfBenefit": true,
}

// demoTransaction turns a bundle into a transaction of the stored types
// for patient: its Patient becomes PUT Patient/<patient> (named name),
// and every reference to it points there.
func demoTransaction(file string, patient ptoy.ID, name string) ([]byte, error) {
	raw, err := demoBundles.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var b struct {
		Entry []struct {
			FullURL  string         `json:"fullUrl"`
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	pref := "Patient/" + patient.String()
	var patientURL, patientID string
	for _, e := range b.Entry {
		if e.Resource["resourceType"] == "Patient" {
			patientURL, _ = e.FullURL, 0
			patientID, _ = e.Resource["id"].(string)
		}
	}
	var entries []any
	for _, e := range b.Entry {
		typ, _ := e.Resource["resourceType"].(string)
		if !storedTypes[typ] {
			continue
		}
		res := e.Resource
		req := map[string]any{"method": "POST", "url": typ}
		if typ == "Patient" {
			given, family, _ := strings.Cut(name, " ")
			res["id"] = patient.String()
			res["name"] = []any{map[string]any{"use": "official", "family": family, "given": []any{given}}}
			delete(res, "telecom")
			req = map[string]any{"method": "PUT", "url": pref}
		} else {
			delete(res, "id")
		}
		ent := map[string]any{"resource": res, "request": req}
		if e.FullURL != "" {
			ent["fullUrl"] = e.FullURL
		}
		entries = append(entries, ent)
	}
	out, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	if err != nil {
		return nil, err
	}
	for _, from := range []string{patientURL, "Patient/" + patientID} {
		if from != "" && from != "Patient/" {
			out = bytes.ReplaceAll(out, []byte(`"reference":"`+from+`"`), []byte(`"reference":"`+pref+`"`))
		}
	}
	return out, nil
}

// seedRecords gives the demo its records: Alice grants General Hospital
// her clinical records for treatment, and Dr Osei files her history
// through the hospital's FHIR API.
func (n *Net) seedRecords(ctx context.Context) error {
	alice, err := n.Key("alice")
	if err != nil {
		return err
	}
	gh, err := n.Key("general-hospital")
	if err != nil {
		return err
	}
	osei, err := n.Key("dr-osei")
	if err != nil {
		return err
	}
	if err := agent.New(n.Client(0), alice).Grant(ctx, gh.ID(), agent.GrantOptions{Categories: consent.Clinical,
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ_WRITE}); err != nil {
		return err
	}
	nd := n.Nodes[0]
	labs, err := demoLabs(alice.ID(), gh.ID())
	if err != nil {
		return err
	}
	for _, f := range []string{"demo/uscore_bundle_patient_85.json", "demo/carin_bundle_patient_888.json", "labs"} {
		body := labs
		if f != "labs" {
			if body, err = demoTransaction(f, alice.ID(), "Alice Example"); err != nil {
				return err
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, nd.Config().FHIRBase(), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set(auth.HeaderOrg, gh.ID().String())
		if err := auth.Sign(req, nd.ChainID(), osei, time.Now()); err != nil {
			return err
		}
		resp, err := nd.Transport().RoundTrip(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return ptoy.E("devnet.seedRecords", ptoy.Other, fmt.Sprintf("filing %s: %d %s", f, resp.StatusCode, msg))
		}
	}
	return nil
}

// issueTokens gives each demo person and organisation a SMART access
// token at their organisation's node, valid while the network runs (12
// hours at most): the staff with user/ scopes, the organisations as
// backend services with system/ scopes.
func (n *Net) issueTokens() error {
	nodeOf := map[ptoy.ID]int{}
	for i := range n.Info.Nodes {
		nodeOf[n.Nodes[i].Org()] = i
		n.Info.Nodes[i].FHIR = n.Nodes[i].Config().FHIRBase()
	}
	n.Info.FHIR = n.Info.Nodes[0].FHIR
	orgByKey := map[string]ptoy.ID{}
	for _, a := range n.Info.Accounts {
		if a.Kind == "organisation" {
			orgByKey[a.Key], _ = ptoy.ParseID(a.ID)
		}
	}
	for i := range n.Info.Accounts {
		a := &n.Info.Accounts[i]
		a.FHIRToken = ""
		id, err := ptoy.ParseID(a.ID)
		if err != nil {
			continue
		}
		var g smart.Grant
		org := id
		if a.Kind == "practitioner" {
			org = orgByKey[a.Org]
		}
		node, ok := nodeOf[org]
		switch {
		case !ok:
			continue
		case a.Kind == "practitioner":
			scopes, _ := smart.ParseScopes("user/*.cruds openid fhirUser")
			g = smart.Grant{Client: "ptoy-dev", Kind: smart.KindUser, Account: id, Org: org, Scopes: scopes, FHIRUser: "Practitioner/" + a.ID}
		case a.Kind == "organisation":
			scopes, _ := smart.ParseScopes("system/*.cruds")
			g = smart.Grant{Client: "ptoy-dev", Kind: smart.KindSystem, Account: id, Org: id, Scopes: scopes}
		default:
			continue
		}
		tok, err := n.Nodes[node].SMART().IssueToken(g, 12*time.Hour)
		if err != nil {
			return err
		}
		a.FHIRToken = tok
	}
	return nil
}

// demoLabs are eight years of Alice's yearly labs with their reference
// ranges (LDL cholesterol, HbA1c, fasting glucose), and a claim for her
// last visit: a transaction for General Hospital to file.
func demoLabs(patient, org ptoy.ID) ([]byte, error) {
	subject := map[string]any{"reference": "Patient/" + patient.String()}
	type lab struct {
		code, display, unit string
		low, high           float64
		values              []float64
	}
	labs := []lab{
		{"18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "mg/dL", 0, 100, []float64{96, 104, 112, 121, 118, 109, 101, 94}},
		{"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4, 5.6, []float64{5.2, 5.3, 5.5, 5.8, 5.9, 5.7, 5.6, 5.4}},
		{"1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 99, []float64{88, 91, 95, 103, 106, 99, 96, 92}},
	}
	var entries []any
	for _, l := range labs {
		for i, v := range l.values {
			when := fmt.Sprintf("%d-03-%02dT09:30:00Z", 2018+i, 4+i)
			interp := "N"
			if v > l.high {
				interp = "H"
			} else if v < l.low {
				interp = "L"
			}
			entries = append(entries, map[string]any{"request": map[string]any{"method": "POST", "url": "Observation"}, "resource": map[string]any{
				"resourceType": "Observation", "status": "final", "subject": subject, "effectiveDateTime": when, "issued": when,
				"category":      []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory", "display": "Laboratory"}}}},
				"code":          map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": l.code, "display": l.display}}, "text": l.display},
				"valueQuantity": map[string]any{"value": v, "unit": l.unit, "system": "http://unitsofmeasure.org", "code": l.unit},
				"interpretation": []any{map[string]any{"coding": []any{map[string]any{
					"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": interp}}}},
				"referenceRange": []any{map[string]any{
					"low":  map[string]any{"value": l.low, "unit": l.unit, "system": "http://unitsofmeasure.org", "code": l.unit},
					"high": map[string]any{"value": l.high, "unit": l.unit, "system": "http://unitsofmeasure.org", "code": l.unit}}},
			}})
		}
	}
	entries = append(entries, map[string]any{"request": map[string]any{"method": "POST", "url": "Claim"}, "resource": map[string]any{
		"resourceType": "Claim", "status": "active", "use": "claim", "patient": subject, "created": "2025-03-11",
		"type":      map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}}},
		"provider":  map[string]any{"reference": "Organization/" + org.String(), "display": "General Hospital"},
		"priority":  map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}}},
		"insurance": []any{map[string]any{"sequence": 1, "focal": true, "coverage": map[string]any{"display": "Acme Insurance PPO"}}},
		"item": []any{map[string]any{"sequence": 1, "servicedDate": "2025-03-11",
			"productOrService": map[string]any{"coding": []any{map[string]any{"system": "http://www.ama-assn.org/go/cpt", "code": "99213", "display": "Office visit, established patient"}}},
			"unitPrice":        map[string]any{"value": 142.5, "currency": "USD"}, "net": map[string]any{"value": 142.5, "currency": "USD"}}},
		"total": map[string]any{"value": 142.5, "currency": "USD"},
	}})
	return json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
}
