package fhir

import (
	"encoding/json"
	"net/http"
)

// metadata: GET /metadata, the CapabilityStatement. It lists what this
// server does and nothing else: the record types with their
// interactions, the search parameters the registry evaluates for each,
// and SMART's endpoints when tokens are taken.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	type param struct {
		Name       string `json:"name"`
		Definition string `json:"definition,omitempty"`
		Type       string `json:"type"`
	}
	type code struct {
		Code string `json:"code"`
	}
	type res struct {
		Type              string   `json:"type"`
		Interaction       []code   `json:"interaction"`
		Versioning        string   `json:"versioning"`
		ReadHistory       bool     `json:"readHistory"`
		UpdateCreate      bool     `json:"updateCreate"`
		ConditionalCreate bool     `json:"conditionalCreate"`
		SearchInclude     []string `json:"searchInclude,omitempty"`
		SearchRevInclude  []string `json:"searchRevInclude,omitempty"`
		SearchParam       []param  `json:"searchParam,omitempty"`
	}
	var resources []res
	for _, t := range recordTypes() {
		x := res{Type: t, Versioning: "versioned", ReadHistory: true, UpdateCreate: true, ConditionalCreate: true,
			Interaction: []code{{"read"}, {"vread"}, {"history-instance"}, {"history-type"}, {"search-type"}, {"create"}, {"update"}, {"delete"}}}
		for _, p := range s.reg.Params(t) {
			x.SearchParam = append(x.SearchParam, param{Name: p.Name, Definition: p.Definition, Type: p.Type})
			if p.Type == "reference" {
				x.SearchInclude = append(x.SearchInclude, t+":"+p.Name)
			}
		}
		resources = append(resources, x)
	}
	for _, t := range networkTypes {
		x := res{Type: t, Versioning: "no-version", Interaction: []code{{"read"}, {"search-type"}}}
		if t == "AuditEvent" {
			x.Interaction = []code{{"search-type"}} // by patient, for privacy officers
		}
		for _, p := range s.reg.Params(t) {
			x.SearchParam = append(x.SearchParam, param{Name: p.Name, Definition: p.Definition, Type: p.Type})
		}
		resources = append(resources, x)
	}
	for i := range resources[:len(resources)-len(networkTypes)] {
		for _, o := range resources {
			for _, inc := range o.SearchInclude {
				resources[i].SearchRevInclude = append(resources[i].SearchRevInclude, inc)
			}
		}
	}
	security := map[string]any{
		"description": "Requests are authorised by SMART on FHIR access tokens (Authorization: Bearer), or signed by a ptoy key. Consent on the ledger decides every resource.",
	}
	if s.cfg.SMART != nil {
		var conf struct {
			Authorize string `json:"authorization_endpoint"`
			Token     string `json:"token_endpoint"`
		}
		json.Unmarshal(s.cfg.SMART.Configuration(), &conf)
		security["service"] = []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}}}}
		security["extension"] = []any{map[string]any{
			"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
			"extension": []any{
				map[string]any{"url": "authorize", "valueUri": conf.Authorize},
				map[string]any{"url": "token", "valueUri": conf.Token},
			},
		}}
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-12-01",
		"kind":         "instance",
		"software":     map[string]any{"name": "ptoy"},
		"implementation": map[string]any{
			"description": "ptoy node " + s.cfg.Node,
			"url":         s.cfg.Base,
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"json"},
		"rest": []any{map[string]any{
			"mode":        "server",
			"security":    security,
			"resource":    resources,
			"interaction": []code{{"transaction"}, {"batch"}},
		}},
	}
	s.send(w, http.StatusOK, cs)
}
