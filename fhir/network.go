package fhir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"ptoy"
	"ptoy/audit"
	"ptoy/consent"
	"ptoy/door"
	"ptoy/fhir/resource"
	"ptoy/fhir/search"
	pb "ptoy/gen/ptoy/v1"
)

// Types answered from what the network knows rather than from records:
// Organization (the members), Practitioner (their staff), Consent (the
// grants to this node's organisation: its patient list, read-only) and
// Provenance (who wrote each version of a record the caller sees).
// AuditEvent is this node's access log about a patient, for the
// organisation's privacy officers (and the organisation's own systems),
// and for the patient themselves.
var networkTypes = []string{"AuditEvent", "Consent", "Organization", "Practitioner", "Provenance"}

// virtual is one resource made from the ledger.
type virtual struct {
	patient ptoy.ID // whose, if a person's; zero for an organisation or practitioner
	typ, id string
	raw     []byte
	ix      search.Index
}

const systemAccount = "urn:ptoy:account"

func accountIdentifier(id ptoy.ID) []any {
	return []any{map[string]any{"system": systemAccount, "value": id.String()}}
}

var orgTypes = map[pb.OrgKind][2]string{
	pb.OrgKind_ORG_KIND_HOSPITAL: {"prov", "Healthcare Provider"},
	pb.OrgKind_ORG_KIND_CLINIC:   {"prov", "Healthcare Provider"},
	pb.OrgKind_ORG_KIND_LAB:      {"prov", "Healthcare Provider"},
	pb.OrgKind_ORG_KIND_PHARMACY: {"prov", "Healthcare Provider"},
	pb.OrgKind_ORG_KIND_INSURER:  {"ins", "Insurance Company"},
}

// virtuals builds the resources of a network type that p may see: for
// Provenance, those of the records named by target or of the patient.
func (s *Server) virtuals(ctx context.Context, p *principal, typ string, q *search.Query) ([]*virtual, error) {
	var out []*virtual
	add := func(patient ptoy.ID, id string, res map[string]any) error {
		res["resourceType"], res["id"] = typ, id
		raw, err := json.Marshal(res)
		if err != nil {
			return ptoy.E("fhir", ptoy.Other, err)
		}
		m, _ := decodeMap(raw)
		ix, err := s.reg.Extract(typ, m)
		if err != nil {
			return err
		}
		out = append(out, &virtual{patient: patient, typ: typ, id: id, raw: raw, ix: ix})
		return nil
	}
	switch typ {
	case "Organization":
		orgs, err := s.cfg.Ledger.Orgs()
		if err != nil {
			return nil, err
		}
		for _, o := range orgs {
			id := ptoy.ID(o.Id)
			kind := orgTypes[o.Kind]
			if err := add(ptoy.ID{}, id.String(), map[string]any{"identifier": accountIdentifier(id), "active": true, "name": o.Name,
				"type": []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": kind[0], "display": kind[1]}}}}}); err != nil {
				return nil, err
			}
		}
	case "Practitioner":
		orgs, err := s.cfg.Ledger.Orgs()
		if err != nil {
			return nil, err
		}
		seen := map[ptoy.ID]bool{}
		for _, o := range orgs {
			es, err := s.cfg.Ledger.Employees(ptoy.ID(o.Id))
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				id := ptoy.ID(e.Practitioner)
				if e.Role == pb.Role_ROLE_NODE || seen[id] {
					continue
				}
				seen[id] = true
				if err := add(ptoy.ID{}, id.String(), map[string]any{"identifier": accountIdentifier(id), "active": true}); err != nil {
					return nil, err
				}
			}
		}
	case "Consent":
		if self := p.self(); !self.IsZero() {
			// A patient: every grant of theirs.
			gs, err := s.cfg.Ledger.GrantsOf(self)
			if err != nil {
				return nil, err
			}
			now := s.cfg.Ledger.BlockTime().Unix()
			for _, g := range gs {
				status := "active"
				if g.Grant.Expires != 0 && now >= g.Grant.Expires {
					status = "expired"
				}
				if err := add(self, consentID(self, ptoy.ID(g.Grant.Grantee)), consentResource(self, g, status)); err != nil {
					return nil, err
				}
			}
			break
		}
		list, err := s.cfg.Ledger.PatientList(s.cfg.Org)
		if err != nil {
			return nil, err
		}
		for _, pe := range list {
			if only := p.onlyPatient(); !only.IsZero() && pe.Patient != only {
				continue
			}
			if err := add(pe.Patient, consentID(pe.Patient, s.cfg.Org), consentResource(pe.Patient, pe.Grant, pe.Status)); err != nil {
				return nil, err
			}
		}
	case "AuditEvent":
		if !s.mayAudit(p) {
			return nil, &resource.Error{Status: http.StatusForbidden, Issues: []resource.Issue{{Severity: "error", Code: "forbidden",
				Diagnostics: "only the organisation's privacy officers read its audit trail"}}}
		}
		refs := q.References("patient")
		if len(refs) != 1 || !strings.HasPrefix(refs[0], "Patient/") {
			return nil, ptoy.E("fhir", ptoy.Invalid, "search AuditEvent for one patient: patient=Patient/<id>")
		}
		pid, err := ptoy.ParseID(strings.TrimPrefix(refs[0], "Patient/"))
		if err != nil {
			return nil, ptoy.E("fhir", ptoy.Invalid, "patient is not a patient's id")
		}
		if self := p.self(); !self.IsZero() && self != pid {
			return nil, &resource.Error{Status: http.StatusForbidden, Issues: []resource.Issue{{Severity: "error", Code: "forbidden",
				Diagnostics: "you read your own audit trail only"}}}
		}
		evs, err := s.cfg.Audit.ForPatient(ctx, pid, time.Time{}, time.Time{})
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			raw, err := audit.FHIRAuditEvent(ev)
			if err != nil {
				continue
			}
			m, err := decodeMap(raw)
			if err != nil {
				return nil, err
			}
			id, _ := m["id"].(string)
			if err := add(pid, id, m); err != nil {
				return nil, err
			}
		}
	case "Provenance":
		var targets []*entry
		for _, ref := range q.References("target") {
			targets = append(targets, p.idx.byReference(strings.SplitN(ref, "/_history", 2)[0])...)
		}
		for _, ref := range q.References("patient") {
			if id, ok := strings.CutPrefix(ref, "Patient/"); ok {
				if pid, err := ptoy.ParseID(id); err == nil {
					for _, k := range s.compartment(p, pid, nil, time.Time{}) {
						targets = append(targets, p.idx.get(k))
					}
				}
			}
		}
		if len(targets) == 0 && !q.HasParam("target") && !q.HasParam("patient") {
			return nil, ptoy.E("fhir", ptoy.Invalid, "search Provenance by target or patient")
		}
		for _, e := range targets {
			if e == nil || !s.mayRead(p, e) || !p.allows(e.typ, 'r') {
				continue
			}
			hist, err := s.cfg.Ledger.RecordHistory(e.key.patient, e.key.rec[:])
			if err != nil {
				return nil, err
			}
			for _, st := range hist {
				v := st.Entry.Version
				who := "Organization/" + ptoy.ID(st.Writer).String()
				if a, err := s.cfg.Ledger.Account(ptoy.ID(st.Writer)); err == nil && a.Kind == pb.AccountKind_ACCOUNT_KIND_PATIENT {
					who = "Patient/" + ptoy.ID(st.Writer).String()
				} else if err == nil && a.Kind == pb.AccountKind_ACCOUNT_KIND_PRACTITIONER {
					who = "Practitioner/" + ptoy.ID(st.Writer).String()
				}
				agent := map[string]any{"type": map[string]any{"coding": []any{map[string]any{
					"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author"}}},
					"who": map[string]any{"reference": who}}
				if len(st.Org) == ptoy.IDLen {
					agent["onBehalfOf"] = map[string]any{"reference": "Organization/" + ptoy.ID(st.Org).String()}
				}
				activity := "CREATE"
				if v > 1 {
					activity = "UPDATE"
				}
				if err := add(e.key.patient, hex.EncodeToString(e.key.rec[:])+"-"+strconv.FormatUint(uint64(v), 10), map[string]any{
					"target":   []any{map[string]any{"reference": e.ref() + "/_history/" + strconv.FormatUint(uint64(v), 10)}},
					"recorded": time.Unix(st.Time, 0).UTC().Format(time.RFC3339),
					"activity": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": activity}}},
					"agent":    []any{agent},
				}); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// mayAudit reports whether p reads the organisation's audit trail: its
// privacy officers, and the organisation itself.
func (s *Server) mayAudit(p *principal) bool {
	if p.reader == s.cfg.Org && p.org.IsZero() {
		return true
	}
	if self := p.self(); !self.IsZero() {
		return true // their own trail only: the search names them (below)
	}
	e, err := s.cfg.Ledger.Employee(s.cfg.Org, p.reader)
	return err == nil && e != nil && p.org == s.cfg.Org && e.Role == pb.Role_ROLE_PRIVACY_OFFICER
}

// consentID is the id of the Consent of patient's grant to grantee.
func consentID(patient, grantee ptoy.ID) string {
	h := sha256.Sum256(append(patient.Bytes(), grantee[:]...))
	return hex.EncodeToString(h[:20])
}

// consentResource renders a grant as an R4 Consent.
func consentResource(patient ptoy.ID, gs *pb.GrantState, status string) map[string]any {
	g := gs.Grant
	st := "active"
	switch {
	case gs.Status == pb.GrantStatus_GRANT_STATUS_REVOKED:
		st = "inactive"
	case status != "active":
		st = "inactive"
	}
	period := map[string]any{"start": time.Unix(max(g.NotBefore, gs.CreatedTime), 0).UTC().Format(time.RFC3339)}
	if g.Expires != 0 {
		period["end"] = time.Unix(g.Expires, 0).UTC().Format(time.RFC3339)
	}
	var classes []any
	for c := pb.Category(1); c < 32; c++ {
		if g.Categories&consent.Bit(c) != 0 {
			classes = append(classes, map[string]any{"system": "urn:ptoy:category", "code": consent.CategoryName(c)})
		}
	}
	var actions []any
	if g.Permission == pb.Permission_PERMISSION_READ || g.Permission == pb.Permission_PERMISSION_READ_WRITE {
		actions = append(actions, map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access"}}})
	}
	if g.Permission == pb.Permission_PERMISSION_WRITE || g.Permission == pb.Permission_PERMISSION_READ_WRITE {
		actions = append(actions, map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "correct"}}})
	}
	provision := map[string]any{"type": "permit", "period": period,
		"actor": []any{map[string]any{"role": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}}},
			"reference": map[string]any{"reference": "Organization/" + ptoy.ID(g.Grantee).String()}}},
		"purpose": []any{map[string]any{"system": "urn:ptoy:purpose", "code": consent.PurposeName(g.Purpose)}}}
	if len(actions) > 0 {
		provision["action"] = actions
	}
	if len(classes) > 0 {
		provision["class"] = classes
	}
	return map[string]any{
		"status":    st,
		"scope":     map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
		"category":  []any{map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "59284-0"}}}},
		"patient":   map[string]any{"reference": "Patient/" + patient.String()},
		"dateTime":  time.Unix(gs.CreatedTime, 0).UTC().Format(time.RFC3339),
		"policy":    []any{map[string]any{"uri": "urn:ptoy:consent"}},
		"provision": provision,
	}
}

// answerVirtual records one audit event per patient whose network
// resources are answered (who granted what to whom is about them) and
// fills b.
func (s *Server) answerVirtual(ctx context.Context, p *principal, b *bundle, vs []*virtual, action string) error {
	var as []door.Access
	var ds []consent.Decision
	objs := map[ptoy.ID][]string{}
	for _, v := range vs {
		if v.patient.IsZero() {
			continue
		}
		if _, ok := objs[v.patient]; !ok {
			as = append(as, p.access(v.patient, action, ""))
			ds = append(ds, consent.Decision{Allow: true, Via: "organisation concerned"})
		}
		objs[v.patient] = append(objs[v.patient], v.typ+"/"+v.id)
	}
	for i := range as {
		as[i].Object = objectList(objs[as[i].Patient])
	}
	if err := s.cfg.Door.Record(ctx, as, ds); err != nil {
		return err
	}
	for _, v := range vs {
		b.Entry = append(b.Entry, bundleEntry{FullURL: s.cfg.Base + "/" + v.typ + "/" + v.id, Resource: v.raw, Search: &entrySearch{Mode: "match"}})
	}
	return nil
}

// searchVirtual answers a search of a network type, paged in memory.
func (s *Server) searchVirtual(w http.ResponseWriter, r *http.Request, p *principal, typ string, q *search.Query, params string) {
	vs, err := s.virtuals(r.Context(), p, typ, q)
	if err != nil {
		s.fail(w, err)
		return
	}
	vs = slices.DeleteFunc(vs, func(v *virtual) bool { return !q.Match(&v.ix) })
	slices.SortStableFunc(vs, func(a, b *virtual) int {
		if c := q.Compare(&a.ix, &b.ix); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	b := newBundle("searchset")
	total := len(vs)
	if q.Total != "none" {
		b.Total = &total
	}
	if q.Summary == "count" {
		s.send(w, http.StatusOK, b)
		return
	}
	// Network resources are few; a page beyond the first is asked again
	// with _offset.
	off := 0
	if o := r.URL.Query().Get("_offset"); o != "" {
		if off, err = strconv.Atoi(o); err != nil || off < 0 {
			s.fail(w, ptoy.E("fhir", ptoy.Invalid, "_offset is a number from 0"))
			return
		}
	}
	end := min(off+q.Count, len(vs))
	off = min(off, end)
	b.Link = append(b.Link, bundleLink{"self", s.cfg.Base + "/" + typ + "?" + params})
	if end < len(vs) {
		b.Link = append(b.Link, bundleLink{"next", s.cfg.Base + "/" + typ + "?" + params + "&_offset=" + strconv.Itoa(end)})
	}
	if err := s.answerVirtual(r.Context(), p, b, vs[off:end], "fhir-search"); err != nil {
		s.fail(w, err)
		return
	}
	s.send(w, http.StatusOK, b)
}

// readVirtual answers a read of a network type.
func (s *Server) readVirtual(w http.ResponseWriter, r *http.Request, p *principal, typ, id string) {
	q, err := s.reg.ParseQuery(typ, map[string][]string{"_id": {id}})
	if typ == "Provenance" {
		rec, _, ok := strings.Cut(id, "-")
		if b, err2 := hex.DecodeString(rec); ok && err2 == nil && len(b) == 16 {
			for _, e := range p.idx.byRecord(b) {
				q, err = s.reg.ParseQuery(typ, map[string][]string{"target": {e.ref()}, "_id": {id}})
			}
		}
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	vs, err := s.virtuals(r.Context(), p, typ, q)
	if err != nil {
		if ptoy.KindOf(err) == ptoy.Invalid {
			err = errHidden(typ, id)
		}
		s.fail(w, err)
		return
	}
	for _, v := range vs {
		if v.id == id {
			b := newBundle("searchset")
			if err := s.answerVirtual(r.Context(), p, b, []*virtual{v}, "fhir-read"); err != nil {
				s.fail(w, err)
				return
			}
			s.send(w, http.StatusOK, v.raw)
			return
		}
	}
	s.fail(w, errHidden(typ, id))
}
