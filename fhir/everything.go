package fhir

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"ptoy"
	"ptoy/fhir/resource"
	"ptoy/fhir/search"
)

// compartment returns, in a stable order (type, then newest first),
// every record of the patient p may see now, of the types asked (all
// if none) and changed since since (any time if zero).
func (s *Server) compartment(p *principal, patient ptoy.ID, types []string, since time.Time) []recKey {
	var hits []*entry
	p.idx.mu.RLock()
	for _, e := range p.idx.byPatient[patient] {
		if (len(types) == 0 || slices.Contains(types, e.typ)) && !e.updated.Before(since) && p.allows(e.typ, 'r') {
			hits = append(hits, e)
		}
	}
	p.idx.mu.RUnlock()
	hits = slices.DeleteFunc(hits, func(e *entry) bool { return !s.mayRead(p, e) })
	slices.SortFunc(hits, func(a, b *entry) int {
		if c := strings.Compare(a.typ, b.typ); c != 0 {
			return c
		}
		if c := b.updated.Compare(a.updated); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	keys := make([]recKey, len(hits))
	for i, e := range hits {
		keys[i] = e.key
	}
	return keys
}

// parseTypes reads a _type list: resource types this server stores.
func parseTypes(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var out []string
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if _, ok := categoryOf[t]; !ok {
			return nil, ptoy.E("fhir", ptoy.Invalid, "_type names "+strconv.Quote(t)+", which this server does not store")
		}
		out = append(out, t)
	}
	return out, nil
}

// parseSince reads _since: an instant.
func parseSince(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, ptoy.E("fhir", ptoy.Invalid, "_since is an instant such as 2026-01-02T03:04:05Z")
	}
	return t, nil
}

// everything: GET /Patient/{id}/$everything — every resource of the
// patient's compartment the caller may see, paged like a search.
func (s *Server) everything(w http.ResponseWriter, r *http.Request, id string) {
	p, err := s.who(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	params := r.URL.Query()
	path := "Patient/" + id + "/$everything"
	now := s.cfg.Now()
	var res *result
	offset := 0
	if pg := params.Get("_page"); pg != "" {
		if res, offset, err = s.page(p, path, pg); err != nil {
			s.fail(w, err)
			return
		}
	} else {
		patient, err := ptoy.ParseID(id)
		if err != nil || (!p.onlyPatient().IsZero() && p.onlyPatient() != patient) {
			s.fail(w, errHidden("Patient", id))
			return
		}
		types, err := parseTypes(params.Get("_type"))
		if err != nil {
			s.fail(w, err)
			return
		}
		since, count, err := sinceAndCount(params)
		if err != nil {
			s.fail(w, err)
			return
		}
		res = &result{owner: p.reader, org: p.org, typ: path, query: &search.Query{Type: "Patient", Count: count},
			keys: s.compartment(p, patient, types, since)}
		if len(res.keys) == 0 {
			s.fail(w, errHidden("Patient", id))
			return
		}
	}
	b := newBundle("searchset")
	total := len(res.keys)
	b.Total = &total
	end := min(offset+res.query.Count, len(res.keys))
	s.links(b, res, path, r.URL.RawQuery, offset, end, now)
	if err := s.answer(r.Context(), p, b, res.keys[offset:end], res.query, "fhir-everything"); err != nil {
		s.fail(w, err)
		return
	}
	s.send(w, http.StatusOK, b)
}

// page finds the result list a _page cursor names, for the same
// principal and path.
func (s *Server) page(p *principal, path, pg string) (*result, int, error) {
	id, off, _ := strings.Cut(pg, ".")
	res := s.pages.get(id, s.cfg.Now())
	if res == nil || res.owner != p.reader || res.org != p.org || res.typ != path {
		return nil, 0, &resource.Error{Status: http.StatusGone, Issues: []resource.Issue{{Severity: "error", Code: "not-found",
			Diagnostics: "this page of results has expired; search again"}}}
	}
	offset, err := strconv.Atoi(off)
	if err != nil || offset < 0 || offset > len(res.keys) {
		return nil, 0, ptoy.E("fhir", ptoy.Invalid, "the page cursor is malformed")
	}
	return res, offset, nil
}

// links adds self, next and previous to a page of res.
func (s *Server) links(b *bundle, res *result, path, rawQuery string, offset, end int, now time.Time) {
	self := s.cfg.Base + "/" + path
	if rawQuery != "" {
		self += "?" + rawQuery
	}
	b.Link = append(b.Link, bundleLink{"self", self})
	if offset == 0 && end >= len(res.keys) {
		return
	}
	id := s.pages.put(res, now)
	link := func(rel string, off int) {
		b.Link = append(b.Link, bundleLink{rel, s.cfg.Base + "/" + path + "?_page=" + id + "." + strconv.Itoa(off)})
	}
	if end < len(res.keys) {
		link("next", end)
	}
	if offset > 0 {
		link("previous", max(0, offset-res.query.Count))
	}
}

// sinceAndCount reads the _since and _count of a history or an
// $everything.
func sinceAndCount(params url.Values) (time.Time, int, error) {
	since, err := parseSince(params.Get("_since"))
	if err != nil {
		return since, 0, err
	}
	count := search.DefaultCount
	if c := params.Get("_count"); c != "" {
		if count, err = strconv.Atoi(c); err != nil || count < 1 || count > search.MaxCount {
			return since, 0, ptoy.E("fhir", ptoy.Invalid, "_count is a number from 1 to "+strconv.Itoa(search.MaxCount))
		}
	}
	return since, count, nil
}
