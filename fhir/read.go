package fhir

import (
	"context"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"time"

	"ptoy"
	"ptoy/consent"
	"ptoy/door"
	"ptoy/fhir/resource"
	"ptoy/seal"
)

// errHidden is the answer for a resource that does not exist or that the
// caller may not see: the two look the same.
func errHidden(typ, id string) error {
	return &resource.Error{Status: http.StatusNotFound, Issues: []resource.Issue{{Severity: "error", Code: "not-found",
		Diagnostics: typ + "/" + id + " does not exist, or you may not see it"}}}
}

// object names a record version in an audit event: its FHIR reference
// and its ledger id, never its content.
func object(e *entry, version uint32) string {
	return e.typ + "/" + e.id + " record:" + hex.EncodeToString(e.key.rec[:]) + "@" + strconv.FormatUint(uint64(version), 10)
}

// visible finds the record typ/id that p may see and passes it through
// the door (decide, audit durably) as action.
func (s *Server) visible(ctx context.Context, p *principal, typ, id, action string, version uint32) (*entry, error) {
	if err := s.checkType(typ); err != nil {
		return nil, err
	}
	if err := resource.ValidID(id); err != nil {
		return nil, err
	}
	if !p.allows(typ, 'r') {
		return nil, scopeRefused(typ, "read")
	}
	only := p.onlyPatient()
	for _, e := range p.idx.byReference(typ + "/" + id) {
		if !only.IsZero() && e.key.patient != only {
			continue
		}
		v := version
		if v == 0 {
			v = e.version
		}
		a := p.access(e.key.patient, action, object(e, v))
		a.Consent = &consent.Request{Categories: e.labels}
		if _, err := s.cfg.Door.Enter(ctx, a); err != nil {
			if ptoy.KindOf(err) == ptoy.PermissionDenied {
				continue
			}
			return nil, err
		}
		return e, nil
	}
	return nil, errHidden(typ, id)
}

func scopeRefused(typ, what string) error {
	return &resource.Error{Status: http.StatusForbidden, Issues: []resource.Issue{{Severity: "error", Code: "forbidden",
		Diagnostics: "your access token's scopes do not allow you to " + what + " " + typ}}}
}

// read: GET /{type}/{id}.
func (s *Server) read(w http.ResponseWriter, r *http.Request, typ, id string) {
	p, err := s.who(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if slices.Contains(networkTypes, typ) {
		if !p.allows(typ, 'r') {
			s.fail(w, scopeRefused(typ, "read"))
			return
		}
		s.readVirtual(w, r, p, typ, id)
		return
	}
	e, err := s.visible(r.Context(), p, typ, id, "fhir-read", 0)
	if err != nil {
		s.fail(w, err)
		return
	}
	raw, err := p.idx.raw(e)
	if err == nil {
		raw, err = versioned(raw, e.version, e.updated)
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	etag(w, e.version, e.updated)
	s.send(w, http.StatusOK, raw)
}

// version returns one version of an indexed record, decrypted with the
// principal's keys (the latest from the index).
func (s *Server) version(ctx context.Context, p *principal, e *entry, v uint32) ([]byte, time.Time, error) {
	if v == e.version {
		raw, err := p.idx.raw(e)
		return raw, e.updated, err
	}
	st, err := s.cfg.Ledger.Record(e.key.patient, e.key.rec[:], v)
	if err != nil || st == nil || st.Erased {
		return nil, time.Time{}, errHidden(e.typ, e.id+"/_history/"+strconv.FormatUint(uint64(v), 10))
	}
	keys, err := p.keys(ctx, e.key.patient)
	if err != nil {
		return nil, time.Time{}, err
	}
	ct, err := s.cfg.Vault.Ciphertext(ctx, e.key.patient, st)
	if err != nil {
		return nil, time.Time{}, err
	}
	plain, err := seal.OpenBytes(ct, seal.Ref{ID: e.key.rec, Version: v}, finder(keys))
	if err != nil {
		return nil, time.Time{}, err
	}
	return plain, time.Unix(st.Time, 0).UTC(), nil
}

// finder looks a category key up in keys.
func finder(keys []seal.PrivateKey) seal.KeyFinder {
	return func(c seal.Category, epoch uint32) (seal.PrivateKey, error) {
		for _, k := range keys {
			if k.Category == c && k.Epoch == epoch {
				return k, nil
			}
		}
		return seal.PrivateKey{}, ptoy.E("fhir", ptoy.PermissionDenied, "the organisation holds no key for this record")
	}
}

// vread: GET /{type}/{id}/_history/{vid}.
func (s *Server) vread(w http.ResponseWriter, r *http.Request, typ, id, vid string) {
	p, err := s.who(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	v, err := strconv.ParseUint(vid, 10, 32)
	if err != nil || v == 0 {
		s.fail(w, ptoy.E("fhir", ptoy.Invalid, "a version id is a number from 1"))
		return
	}
	e, err := s.visible(r.Context(), p, typ, id, "fhir-vread", uint32(v))
	if err != nil {
		s.fail(w, err)
		return
	}
	if uint32(v) > e.version {
		s.fail(w, errHidden(typ, id+"/_history/"+vid))
		return
	}
	raw, at, err := s.version(r.Context(), p, e, uint32(v))
	if err == nil {
		raw, err = versioned(raw, uint32(v), at)
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	etag(w, uint32(v), at)
	s.send(w, http.StatusOK, raw)
}

// history: GET /{type}/{id}/_history, newest first.
func (s *Server) history(w http.ResponseWriter, r *http.Request, typ, id string) {
	p, err := s.who(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	e, err := s.visible(r.Context(), p, typ, id, "fhir-history", 0)
	if err != nil {
		s.fail(w, err)
		return
	}
	b := newBundle("history")
	for v := e.version; v >= 1; v-- {
		raw, at, err := s.version(r.Context(), p, e, v)
		if err == nil {
			raw, err = versioned(raw, v, at)
		}
		if err != nil {
			s.fail(w, err)
			return
		}
		method := "PUT"
		if v == 1 {
			method = "POST"
		}
		b.Entry = append(b.Entry, bundleEntry{FullURL: s.cfg.Base + "/" + e.ref(), Resource: raw,
			Request:  &entryRequest{Method: method, URL: e.ref()},
			Response: &entryResponse{Status: "200 OK", LastModified: at.Format(time.RFC3339)}})
	}
	total := len(b.Entry)
	b.Total = &total
	s.send(w, http.StatusOK, b)
}

var _ = door.Access{}
