package audit

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"ptoy"
)

// Code systems used in FHIR exports.
const (
	systemDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	systemEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	systemActReason   = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	systemSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	systemEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	systemObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	systemAction      = "urn:ptoy:audit-action"
	systemAccount     = "urn:ptoy:account"
	systemNode        = "urn:ptoy:node"
	systemRecord      = "urn:ptoy:record"
	systemConsentScop = "urn:ptoy:consent-scope"
)

type fhirCoding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type fhirConcept struct {
	Coding []fhirCoding `json:"coding,omitempty"`
	Text   string       `json:"text,omitempty"`
}

type fhirIdentifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type fhirReference struct {
	Reference  string          `json:"reference,omitempty"`
	Type       string          `json:"type,omitempty"`
	Identifier *fhirIdentifier `json:"identifier,omitempty"`
	Display    string          `json:"display,omitempty"`
}

type fhirAgent struct {
	Who       fhirReference `json:"who"`
	Requestor bool          `json:"requestor"`
}

type fhirSource struct {
	Site     string        `json:"site,omitempty"`
	Observer fhirReference `json:"observer"`
	Type     []fhirCoding  `json:"type,omitempty"`
}

type fhirEntity struct {
	What        fhirReference `json:"what"`
	Type        *fhirCoding   `json:"type,omitempty"`
	Role        *fhirCoding   `json:"role,omitempty"`
	Description string        `json:"description,omitempty"`
}

// fhirAuditEvent is an R4 AuditEvent, its fields in the specification's order.
type fhirAuditEvent struct {
	ResourceType   string        `json:"resourceType"`
	ID             string        `json:"id"`
	Type           fhirCoding    `json:"type"`
	Subtype        []fhirCoding  `json:"subtype,omitempty"`
	Action         string        `json:"action"`
	Recorded       string        `json:"recorded"`
	Outcome        string        `json:"outcome"`
	OutcomeDesc    string        `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []fhirConcept `json:"purposeOfEvent,omitempty"`
	Agent          []fhirAgent   `json:"agent"`
	Source         fhirSource    `json:"source"`
	Entity         []fhirEntity  `json:"entity"`
}

// FHIRAuditEvent renders e as a FHIR R4 AuditEvent resource in JSON, with
// a stable field order:
//
//   - id: the node moniker (characters outside [A-Za-z0-9.-] as "-") and Seq;
//   - type: DICOM 110110 "Patient Record" for read, write, update, create,
//     erase and break-glass; audit-event-type "rest" otherwise (consent
//     changes, expiries); subtype: the ptoy action (urn:ptoy:audit-action);
//   - action: R for read and break-glass, C for write and create, U for
//     update, D for erase and delete, E for everything else;
//   - recorded: Time, RFC 3339 in UTC with nanoseconds;
//   - outcome: "0" (success) for allow, "4" (minor failure) for deny;
//     outcomeDesc: Reason;
//   - purposeOfEvent: HL7 v3 PurposeOfUse (ActReason) — treatment TREAT,
//     payment HPAYMT, operations HOPERAT, research HRESCH, emergency and
//     every break-glass ETREAT — with the purpose as text;
//   - agent.who: Patient/<id> if the actor is the patient,
//     Practitioner/<id> for any other actor (an event does not say which
//     kind of account acted; the id is also given as an urn:ptoy:account
//     identifier), the node itself if Actor is zero;
//   - source.observer: the node (urn:ptoy:node identifier);
//   - entity: Patient/<id>, and the record (urn:ptoy:record identifier)
//     or, for a Record that is not hexadecimal such as a grant's scope,
//     the consent scope (urn:ptoy:consent-scope).
//
// An event with a zero Time or Patient is ptoy.Invalid.
func FHIRAuditEvent(e Event) ([]byte, error) {
	const op = "audit.FHIRAuditEvent"
	if e.Time.IsZero() || e.Patient.IsZero() {
		return nil, ptoy.E(op, ptoy.Invalid, "audit event has no time or no patient")
	}
	r := fhirAuditEvent{
		ResourceType: "AuditEvent",
		ID:           fhirID(e.Node, e.Seq),
		Subtype:      []fhirCoding{{System: systemAction, Code: e.Action, Display: e.Action}},
		Action:       fhirAction(e.Action),
		Recorded:     e.Time.UTC().Format(time.RFC3339Nano),
		Outcome:      "0",
		OutcomeDesc:  e.Reason,
		Source: fhirSource{
			Site:     "ptoy",
			Observer: fhirReference{Identifier: &fhirIdentifier{System: systemNode, Value: e.Node}, Display: e.Node},
			Type:     []fhirCoding{{System: systemSourceType, Code: "4", Display: "Application Server"}},
		},
	}
	if e.Decision != Allow {
		r.Outcome = "4"
	}
	switch e.Action {
	case ActionRead, ActionWrite, "create", "update", ActionErase, "delete", ActionBreakGlass:
		r.Type = fhirCoding{System: systemDICOM, Code: "110110", Display: "Patient Record"}
	default:
		r.Type = fhirCoding{System: systemEventType, Code: "rest", Display: "RESTful Operation"}
	}
	if p := fhirPurpose(e.Purpose, e.Action); p.Text != "" || len(p.Coding) > 0 {
		r.PurposeOfEvent = []fhirConcept{p}
	}
	switch {
	case e.Actor.IsZero():
		r.Agent = []fhirAgent{{Who: fhirReference{Identifier: &fhirIdentifier{System: systemNode, Value: e.Node}, Display: "node " + e.Node}, Requestor: true}}
	case e.Actor == e.Patient:
		r.Agent = []fhirAgent{{Who: accountRef("Patient", e.Actor), Requestor: true}}
	default:
		r.Agent = []fhirAgent{{Who: accountRef("Practitioner", e.Actor), Requestor: true}}
	}
	r.Entity = []fhirEntity{{
		What: accountRef("Patient", e.Patient),
		Type: &fhirCoding{System: systemEntityType, Code: "1", Display: "Person"},
		Role: &fhirCoding{System: systemObjectRole, Code: "1", Display: "Patient"},
	}}
	if e.Record != "" {
		// A record is its hex id, with "@version" when the version is known.
		id, _, _ := strings.Cut(e.Record, "@")
		if isHex(id) {
			r.Entity = append(r.Entity, fhirEntity{
				What: fhirReference{Identifier: &fhirIdentifier{System: systemRecord, Value: e.Record}},
				Type: &fhirCoding{System: systemEntityType, Code: "2", Display: "System Object"},
				Role: &fhirCoding{System: systemObjectRole, Code: "4", Display: "Domain Resource"},
			})
		} else {
			r.Entity = append(r.Entity, fhirEntity{
				What:        fhirReference{Identifier: &fhirIdentifier{System: systemConsentScop, Value: e.Record}},
				Type:        &fhirCoding{System: systemEntityType, Code: "2", Display: "System Object"},
				Role:        &fhirCoding{System: systemObjectRole, Code: "13", Display: "Security Resource"},
				Description: "consent scope",
			})
		}
	}
	out, err := json.Marshal(r)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	return out, nil
}

func accountRef(kind string, id ptoy.ID) fhirReference {
	return fhirReference{
		Reference:  kind + "/" + id.String(),
		Type:       kind,
		Identifier: &fhirIdentifier{System: systemAccount, Value: id.String()},
	}
}

func fhirAction(action string) string {
	switch action {
	case ActionRead, ActionBreakGlass:
		return "R"
	case ActionWrite, "create":
		return "C"
	case "update":
		return "U"
	case ActionErase, "delete":
		return "D"
	}
	return "E"
}

func fhirPurpose(purpose, action string) fhirConcept {
	c := fhirConcept{Text: purpose}
	code, display := "", ""
	switch strings.ToLower(strings.TrimSpace(purpose)) {
	case "treatment":
		code, display = "TREAT", "treatment"
	case "payment":
		code, display = "HPAYMT", "healthcare payment"
	case "operations", "healthcare operations":
		code, display = "HOPERAT", "healthcare operations"
	case "research":
		code, display = "HRESCH", "healthcare research"
	case "emergency", "emergency treatment":
		code, display = "ETREAT", "emergency treatment"
	}
	if action == ActionBreakGlass {
		code, display = "ETREAT", "emergency treatment"
	}
	if code != "" {
		c.Coding = []fhirCoding{{System: systemActReason, Code: code, Display: display}}
	}
	return c
}

// fhirID makes a resource id ([A-Za-z0-9\-\.]{1,64}) from node and seq.
func fhirID(node string, seq uint64) string {
	s := strconv.FormatUint(seq, 10)
	var b strings.Builder
	for _, r := range node {
		if b.Len() >= 64-1-len(s) {
			break
		}
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return s
	}
	return b.String() + "-" + s
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}
