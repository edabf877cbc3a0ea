package fhir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"ptoy"
	"ptoy/blob"
	"ptoy/consent"
	"ptoy/fhir/resource"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/seal"
	"ptoy/tx"
)

// maxBatch bounds the resources of one transaction Bundle: one
// PutRecords.
const maxBatch = 1000

// pending is one resource version to write.
type pending struct {
	typ, id string
	key     recKey
	version uint32
	raw     []byte // the resource as sealed: the writer's JSON (with the id the server gave a create)
	cat     pb.Category
	labels  uint32 // sensitive labels
	created bool
}

func (w *pending) ref() string { return w.typ + "/" + w.id }

// patientOf finds the patient a resource is about: a Patient's own id,
// else the reference of its compartment element (subject, patient or
// beneficiary), which must name a patient of the network
// ("Patient/<account id>"). A refusal names that element.
func (s *Server) patientOf(r *resource.Resource, id string) (ptoy.ID, error) {
	el := compartment(r.Type)
	var ref string
	if r.Type == "Patient" {
		ref = "Patient/" + id
	} else {
		m, _ := r.Map[el].(map[string]any)
		ref, _ = m["reference"].(string)
	}
	pid, err := ptoy.ParseID(strings.TrimPrefix(ref, "Patient/"))
	if !strings.HasPrefix(ref, "Patient/") || err != nil {
		msg := "a resource is written for a patient of the network: its " + el + " is Patient/<the patient's account id>"
		if r.Type == "Patient" {
			msg = "a Patient resource is written with PUT Patient/<the patient's account id>"
		}
		return ptoy.ID{}, &resource.Error{Status: http.StatusUnprocessableEntity, Issues: []resource.Issue{{Severity: "error", Code: "required",
			Diagnostics: msg, Expression: []string{r.Type + "." + el}}}}
	}
	if a, err := s.cfg.Ledger.Account(pid); err != nil || a == nil || a.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT {
		return ptoy.ID{}, &resource.Error{Status: http.StatusUnprocessableEntity, Issues: []resource.Issue{{Severity: "error", Code: "not-found",
			Diagnostics: ref + " is not a patient of the network", Expression: []string{r.Type + "." + el}}}}
	}
	return pid, nil
}

// prepare checks one resource to write as p: the type is stored as
// records, the patient exists, and (for an update) the record is one p
// sees. id is the id from the URL ("" for a create).
//
// fresh, when not nil, is the ledger id of a record a transaction
// creates under an id it chose for it (the id is then in r).
func (s *Server) prepare(ctx context.Context, p *principal, r *resource.Resource, id string, fresh *[16]byte) (*pending, ptoy.ID, error) {
	cat, ok := categoryOf[r.Type]
	if !ok {
		return nil, ptoy.ID{}, &resource.Error{Status: http.StatusMethodNotAllowed, Issues: []resource.Issue{{Severity: "error", Code: "not-supported",
			Diagnostics: r.Type + " is read-only here: it is answered from the ledger and the node's audit log"}}}
	}
	w := &pending{typ: r.Type, id: id, cat: cat, labels: labelsOf(r.Map), raw: r.Raw}
	interaction := byte('u')
	if fresh != nil {
		interaction = 'c'
		w.key.rec, w.created = *fresh, true
	} else if id == "" {
		interaction = 'c'
		if r.Type == "Patient" {
			return nil, ptoy.ID{}, &resource.Error{Status: http.StatusUnprocessableEntity, Issues: []resource.Issue{{Severity: "error", Code: "business-rule",
				Diagnostics: "a Patient resource is written with PUT Patient/<the patient's account id>"}}}
		}
	} else if r.ID != id {
		return nil, ptoy.ID{}, &resource.Error{Status: http.StatusBadRequest, Issues: []resource.Issue{{Severity: "error", Code: "invalid",
			Diagnostics: "the resource's id differs from the id in the URL", Expression: []string{r.Type + ".id"}}}}
	}
	if !p.allows(r.Type, interaction) {
		return nil, ptoy.ID{}, scopeRefused(r.Type, map[byte]string{'c': "create", 'u': "update"}[interaction])
	}
	if r.ID != "" && id == "" && fresh == nil {
		return nil, ptoy.ID{}, &resource.Error{Status: http.StatusBadRequest, Issues: []resource.Issue{{Severity: "error", Code: "invalid",
			Diagnostics: "a create takes no id: the server assigns it (use PUT to choose one)", Expression: []string{r.Type + ".id"}}}}
	}
	if id == "" && fresh == nil {
		rand.Read(w.key.rec[:])
		w.id = hex.EncodeToString(w.key.rec[:])
		w.created = true
		r.Map["id"] = w.id
		raw, err := marshal(r.Map)
		if err != nil {
			return nil, ptoy.ID{}, ptoy.E("fhir", ptoy.Other, err)
		}
		w.raw = raw
	}
	patient, err := s.patientOf(r, w.id)
	if err != nil {
		return nil, ptoy.ID{}, err
	}
	if only := p.onlyPatient(); !only.IsZero() && only != patient {
		return nil, ptoy.ID{}, scopeRefused(r.Type, "write for another patient than your launch context's")
	}
	w.key.patient = patient
	if !w.created && fresh == nil {
		// An update of a record the caller sees takes its next version;
		// a PUT to an id nothing holds creates it.
		var e *entry
		taken := false
		for _, c := range p.idx.byReference(w.ref()) {
			if c.key.patient == patient {
				e = c
			} else {
				taken = true
			}
		}
		if e == nil && taken {
			// One id, one resource: another patient's record holds it.
			return nil, ptoy.ID{}, &resource.Error{Status: http.StatusConflict, Issues: []resource.Issue{{Severity: "error", Code: "conflict",
				Diagnostics: w.ref() + " is another resource here: choose another id, or POST to have one assigned", Expression: []string{r.Type + ".id"}}}}
		}
		if e != nil {
			w.key = e.key
			// The ledger keeps a record's labels from its first version:
			// a version that adds or drops one is refused here, at the
			// element, rather than by the ledger.
			if w.labels|consent.Bit(cat) != e.labels|consent.Bit(e.cat) {
				return nil, ptoy.ID{}, &resource.Error{Status: http.StatusUnprocessableEntity, Issues: []resource.Issue{{Severity: "error", Code: "business-rule",
					Diagnostics: "a new version keeps the sensitivity labels (meta.security) of the first: write a new resource for other labels", Expression: []string{r.Type + ".meta.security"}}}}
			}
		} else {
			rand.Read(w.key.rec[:])
			w.created = true
		}
	}
	a := p.access(patient, "fhir-write", w.ref())
	a.Consent = &consent.Request{Action: consent.Write, Categories: consent.Bit(cat) | w.labels}
	if _, err := s.cfg.Door.Enter(ctx, a); err != nil {
		if ptoy.KindOf(err) == ptoy.PermissionDenied {
			return nil, ptoy.ID{}, &resource.Error{Status: http.StatusForbidden, Issues: []resource.Issue{{Severity: "error", Code: "forbidden",
				Diagnostics: "you may not write " + consent.CategoryName(cat) + " for this patient: " + ptoy.Message(err)}}}
		}
		return nil, ptoy.ID{}, err
	}
	return w, patient, nil
}

// commit seals each resource to the patient's category key, stores the
// ciphertext on this node and commits them in one PutRecords signed by
// the organisation: all or nothing. On success the index has them.
func (s *Server) commit(ctx context.Context, p *principal, patient ptoy.ID, ws []*pending) error {
	const op = "fhir.commit"
	pubs, err := s.PublicKeys(ctx, patient)
	if err != nil {
		return err
	}
	m := &pb.PutRecords{Patient: patient.Bytes()}
	cts := make([][]byte, 0, len(ws))
	sealers := map[seal.Category]*seal.Sealer{}
	for _, w := range ws {
		if w.version == 0 {
			w.version = 1
			if !w.created {
				st, err := s.cfg.Ledger.Record(patient, w.key.rec[:], 0)
				if err != nil {
					return err
				}
				w.version = st.Entry.Version + 1
			}
		}
		sc := consent.SealCategory(w.cat, w.labels)
		pub, ok := seal.Latest(pubs, seal.Category(sc))
		if !ok {
			return &resource.Error{Status: http.StatusUnprocessableEntity, Issues: []resource.Issue{{Severity: "error", Code: "processing",
				Diagnostics: "the patient has published no key for " + consent.CategoryName(sc)}}}
		}
		se := sealers[pub.Category]
		if se == nil {
			if se, err = seal.NewSealer(pub); err != nil {
				return err
			}
			sealers[pub.Category] = se
		}
		ct, err := se.SealBytes(w.raw, seal.Ref{ID: w.key.rec, Version: w.version})
		if err != nil {
			return err
		}
		h := blob.Sum(ct)
		cts = append(cts, ct)
		m.Records = append(m.Records, &pb.RecordEntry{Id: w.key.rec[:], Version: w.version, Category: sc,
			Labels: w.labels | consent.Bit(w.cat), Hash: h[:], Size: uint64(len(ct))})
	}
	if err := s.putBlobs(ctx, cts, m.Records); err != nil {
		return err
	}
	resp, err := p.submit(ctx, &pb.Body{Msg: &pb.Body_PutRecords{PutRecords: m}})
	if err != nil {
		return err
	}
	if resp.Code != 0 {
		err := tx.Err(op, resp.Code, resp.Log)
		if ptoy.KindOf(err) == ptoy.PermissionDenied {
			return &resource.Error{Status: http.StatusForbidden, Issues: []resource.Issue{{Severity: "error", Code: "forbidden", Diagnostics: resp.Log}}}
		}
		return &resource.Error{Status: http.StatusUnprocessableEntity, Issues: []resource.Issue{{Severity: "error", Code: "processing",
			Diagnostics: "the ledger refused the write: " + resp.Log}}}
	}
	for _, w := range ws {
		st, err := s.cfg.Ledger.Record(patient, w.key.rec[:], w.version)
		if err != nil {
			return err
		}
		if _, err := p.idx.put(w.key, &stored{Version: w.version, Hash: blob.Hash(st.Entry.Hash), Type: w.typ, ID: w.id,
			Cat: st.Entry.Category, Labels: st.Entry.Labels | consent.Bit(st.Entry.Category), Updated: st.Time * int64(time.Second), Raw: w.raw}); err != nil {
			return err
		}
	}
	return nil
}

// PublicKeys returns the patient's published category keys.
func (s *Server) PublicKeys(ctx context.Context, patient ptoy.ID) ([]seal.PublicKey, error) {
	ks, err := s.cfg.Ledger.KeySet(patient)
	if err != nil || ks == nil || len(ks.KeySet) != blob.HashLen {
		return nil, &resource.Error{Status: http.StatusUnprocessableEntity, Issues: []resource.Issue{{Severity: "error", Code: "processing",
			Diagnostics: "the patient has published no keys yet"}}}
	}
	raw, err := s.cfg.Vault.KeyMaterial(ctx, patient, blob.Hash(ks.KeySet))
	if err != nil {
		return nil, err
	}
	return seal.DecodeKeySet(patient, raw)
}

// written answers a write: 201 (created) or 200 with the resource as
// stored, its location and version.
func (s *Server) written(w http.ResponseWriter, p *principal, pw *pending) {
	e := p.idx.get(pw.key)
	if e == nil {
		s.fail(w, ptoy.E("fhir", ptoy.Unavailable, "the resource was written but left the index; read it again"))
		return
	}
	raw, err := versioned(pw.raw, e.version, e.updated)
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Location", s.cfg.Base+"/"+pw.ref()+"/_history/"+strconv.FormatUint(uint64(e.version), 10))
	etag(w, e.version, e.updated)
	status := http.StatusOK
	if e.version == 1 {
		status = http.StatusCreated
	}
	s.send(w, status, raw)
}

// create: POST /{type}; with If-None-Exist, a conditional create.
func (s *Server) create(w http.ResponseWriter, r *http.Request, typ string) {
	p := s.enter(w, r, typ)
	if p == nil {
		return
	}
	res := s.parsed(w, r, typ)
	if res == nil {
		return
	}
	if cond := r.Header.Get("If-None-Exist"); cond != "" {
		if done := s.conditional(w, r, p, typ, cond); done {
			return
		}
	}
	pw, patient, err := s.prepare(r.Context(), p, res, "", nil)
	if err == nil {
		err = s.commit(r.Context(), p, patient, []*pending{pw})
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	s.written(w, p, pw)
}

// conditional answers a create whose If-None-Exist query matches what
// the caller sees: one match, 200 with it; more, 412. It reports whether
// it answered.
func (s *Server) conditional(w http.ResponseWriter, r *http.Request, p *principal, typ, cond string) bool {
	e, n, err := s.existing(r.Context(), p, typ, cond)
	switch {
	case err != nil:
		s.fail(w, err)
	case n > 1:
		s.fail(w, &resource.Error{Status: http.StatusPreconditionFailed, Issues: []resource.Issue{{Severity: "error", Code: "multiple-matches",
			Diagnostics: "If-None-Exist matches " + strconv.Itoa(n) + " resources"}}})
	case n == 1:
		raw, _ := p.idx.raw(e)
		s.written(w, p, &pending{typ: e.typ, id: e.id, key: e.key, raw: raw})
	default:
		return false
	}
	return true
}

// existing runs a conditional's query as p: the first match, and how
// many there are.
func (s *Server) existing(ctx context.Context, p *principal, typ, cond string) (*entry, int, error) {
	vals, err := url.ParseQuery(strings.TrimPrefix(cond, "?"))
	if err != nil {
		return nil, 0, ptoy.E("fhir", ptoy.Invalid, "the conditional query does not parse", err)
	}
	q, err := s.reg.ParseQuery(typ, vals)
	if err != nil {
		return nil, 0, err
	}
	keys := s.match(p, typ, q)
	if len(keys) == 0 {
		return nil, 0, nil
	}
	e := p.idx.get(keys[0])
	if e == nil {
		return nil, 0, nil
	}
	a := p.access(e.key.patient, "fhir-read", object(e, e.version))
	a.Consent = &consent.Request{Categories: e.labels}
	if _, err := s.cfg.Door.Enter(ctx, a); err != nil {
		return nil, 0, err
	}
	return e, len(keys), nil
}

// update: PUT /{type}/{id}: a new version of the record, or a create
// with the caller's id.
func (s *Server) update(w http.ResponseWriter, r *http.Request, typ, id string) {
	p := s.enter(w, r, typ)
	if p == nil {
		return
	}
	if err := resource.ValidID(id); err != nil {
		s.fail(w, err)
		return
	}
	res := s.parsed(w, r, typ)
	if res == nil {
		return
	}
	pw, patient, err := s.prepare(r.Context(), p, res, id, nil)
	if err == nil {
		err = s.commit(r.Context(), p, patient, []*pending{pw})
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	s.written(w, p, pw)
}

// delete: DELETE /{type}/{id}, where the erasure rules allow it: a
// patient, in their session, erases a record they wrote themselves
// (every version's ciphertext goes; the ledger keeps a tombstone). A
// provider's record is kept under the network's retention rule.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, typ, id string) {
	p, err := s.who(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if !p.allows(typ, 'd') {
		s.fail(w, scopeRefused(typ, "delete"))
		return
	}
	retained := &resource.Error{Status: http.StatusMethodNotAllowed, Issues: []resource.Issue{{Severity: "error", Code: "not-supported",
		Diagnostics: "this record is kept under the network's retention rule: only a patient erases the records they wrote themselves"}}}
	if p.self().IsZero() {
		s.fail(w, retained)
		return
	}
	e, err := s.visible(r.Context(), p, typ, id, "fhir-delete", 0)
	if err != nil {
		s.fail(w, err)
		return
	}
	resp, err := p.submit(r.Context(), &pb.Body{Msg: &pb.Body_EraseRecord{EraseRecord: &pb.EraseRecord{Patient: e.key.patient.Bytes(), Id: e.key.rec[:]}}})
	if err != nil {
		s.fail(w, err)
		return
	}
	if resp.Code != 0 {
		retained.Issues[0].Diagnostics = resp.Log
		s.fail(w, retained)
		return
	}
	p.idx.remove(e.key)
	w.WriteHeader(http.StatusNoContent)
}

// putWorkers is how many of a write's ciphertexts are put in the blob
// store at once where it cannot take them in one batch: each put is
// synced, and puts made together share their syncs.
const putWorkers = 16

// putBlobs puts each ciphertext in cts (its hash in recs) in the blob
// store durably, with one synced write where the store can (blob.PutAll).
func (s *Server) putBlobs(ctx context.Context, cts [][]byte, recs []*pb.RecordEntry) error {
	bs := make([]blob.Content, len(cts))
	for i := range cts {
		bs[i] = blob.Content{Hash: blob.Hash(recs[i].Hash), Data: cts[i]}
	}
	return blob.PutAll(ctx, s.cfg.Blobs, bs, putWorkers)
}
