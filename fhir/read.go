package fhir

import (
	"bytes"
	"cmp"
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
	"ptoy/fhir/search"
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
	raw, _, err := p.idx.withMeta(e)
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

// typeHistory: GET /{type}/_history — every version of every record of
// the type the caller may see, newest first, paged like a search
// (`_count`, `_since`). Each page is decided and recorded again.
func (s *Server) typeHistory(w http.ResponseWriter, r *http.Request, typ string) {
	p := s.enter(w, r, typ)
	if p == nil {
		return
	}
	if _, ok := categoryOf[typ]; !ok {
		s.fail(w, notSupported(typ+" has no history here: it is answered from the ledger"))
		return
	}
	if !p.allows(typ, 'r') {
		s.fail(w, scopeRefused(typ, "read"))
		return
	}
	params := r.URL.Query()
	path := typ + "/_history"
	var res *result
	offset := 0
	var err error
	if pg := params.Get("_page"); pg != "" {
		if res, offset, err = s.page(p, path, pg); err != nil {
			s.fail(w, err)
			return
		}
	} else {
		since, count, err := sinceAndCount(params)
		if err != nil {
			s.fail(w, err)
			return
		}
		type version struct {
			k  recKey
			v  uint32
			at int64
		}
		var vs []version
		var es []*entry
		p.idx.candidates(typ, p.onlyPatient(), func(e *entry) { es = append(es, e) })
		for _, e := range es {
			if !s.mayRead(p, e) {
				continue
			}
			hist, err := s.cfg.Ledger.RecordHistory(e.key.patient, e.key.rec[:])
			if err != nil {
				s.fail(w, err)
				return
			}
			for _, st := range hist {
				if st.Entry.Version <= e.version && !st.Erased && !time.Unix(st.Time, 0).Before(since) {
					vs = append(vs, version{e.key, st.Entry.Version, st.Time})
				}
			}
		}
		slices.SortFunc(vs, func(a, b version) int {
			if a.at != b.at {
				return cmp.Compare(b.at, a.at)
			}
			if c := bytes.Compare(a.k.rec[:], b.k.rec[:]); c != 0 {
				return c
			}
			return cmp.Compare(b.v, a.v)
		})
		res = &result{owner: p.reader, org: p.org, typ: path, query: &search.Query{Type: typ, Count: count}}
		for _, v := range vs {
			res.keys, res.versions = append(res.keys, v.k), append(res.versions, v.v)
		}
	}
	b := newBundle("history")
	total := len(res.keys)
	b.Total = &total
	end := min(offset+res.query.Count, len(res.keys))
	s.links(b, res, path, r.URL.RawQuery, offset, end, s.cfg.Now())
	// Decided again, and recorded, for what this page answers.
	byPatient := map[ptoy.ID][]string{}
	var as []door.Access
	var ds []consent.Decision
	type item struct {
		e *entry
		v uint32
	}
	var items []item
	for i := offset; i < end; i++ {
		e := p.idx.get(res.keys[i])
		if e == nil {
			continue
		}
		a := p.access(e.key.patient, "", "")
		a.Consent = &consent.Request{Categories: e.labels}
		d := s.cfg.Door.Decide(a)
		if !d.Allow {
			continue
		}
		if _, ok := byPatient[e.key.patient]; !ok {
			as, ds = append(as, p.access(e.key.patient, "fhir-history", "")), append(ds, d)
		}
		byPatient[e.key.patient] = append(byPatient[e.key.patient], e.ref()+"@"+strconv.FormatUint(uint64(res.versions[i]), 10))
		items = append(items, item{e, res.versions[i]})
	}
	for i := range as {
		as[i].Object = objectList(byPatient[as[i].Patient])
	}
	if err := s.cfg.Door.Record(r.Context(), as, ds); err != nil {
		s.fail(w, err)
		return
	}
	for _, it := range items {
		raw, at, err := s.version(r.Context(), p, it.e, it.v)
		if err == nil {
			raw, err = versioned(raw, it.v, at)
		}
		if err != nil {
			s.fail(w, err)
			return
		}
		method := "PUT"
		if it.v == 1 {
			method = "POST"
		}
		b.Entry = append(b.Entry, bundleEntry{FullURL: s.cfg.Base + "/" + it.e.ref(), Resource: raw,
			Request:  &entryRequest{Method: method, URL: it.e.ref()},
			Response: &entryResponse{Status: "200 OK", LastModified: at.Format(time.RFC3339)}})
	}
	s.send(w, http.StatusOK, b)
}
