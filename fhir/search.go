package fhir

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"ptoy"
	"ptoy/consent"
	"ptoy/door"
	"ptoy/fhir/resource"
	"ptoy/fhir/search"
)

// Bundle is a FHIR Bundle as this server writes it.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *entrySearch    `json:"search,omitempty"`
	Request  *entryRequest   `json:"request,omitempty"`
	Response *entryResponse  `json:"response,omitempty"`
	// memo is where a patient's view keeps the decoded resource (Page).
	memo *stored
}

type entrySearch struct {
	Mode string `json:"mode"`
}

type entryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type entryResponse struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	ETag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

func newBundle(typ string) *bundle { return &bundle{ResourceType: "Bundle", Type: typ} }

// appendJSON appends the bundle as JSON (links keep their & as &). The
// resources go in as they
// are, without encoding/json's check and compaction of every
// json.RawMessage: they are the index's own compact JSON, and a bundle
// of a thousand resources spent a third of its encoding there.
func (b *bundle) appendJSON(dst []byte) ([]byte, error) {
	head := *b
	head.Entry = nil
	h, err := marshal(&head)
	if err != nil {
		return nil, err
	}
	if len(b.Entry) == 0 {
		return append(dst, h...), nil
	}
	dst = append(dst, h[:len(h)-1]...) // without its closing brace
	dst = append(dst, `,"entry":[`...)
	for i := range b.Entry {
		e := b.Entry[i]
		res := e.Resource
		e.Resource = nil
		v, err := marshal(&e)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		if len(res) == 0 {
			dst = append(dst, v...)
			continue
		}
		dst = append(dst, `{"resource":`...)
		dst = append(dst, res...)
		if len(v) > 2 { // more than {}
			dst = append(dst, ',')
			dst = append(dst, v[1:]...)
		} else {
			dst = append(dst, '}')
		}
	}
	return append(dst, "]}"...), nil
}

// pageTTL is how long a search's result list is kept for its next and
// previous links.
const (
	pageTTL  = 10 * time.Minute
	maxPages = 4096
)

// pages keeps each search's ordered result list, so that paging through
// it gives every match once while writes arrive: new resources appear in
// a new search, not between the pages of one. A list is bound to the
// principal that searched; each page is decided again when it is served.
type pages struct {
	mu sync.Mutex
	m  map[string]*result
}

type result struct {
	owner ptoy.ID
	org   ptoy.ID
	typ   string
	query *search.Query
	keys  []recKey
	// versions, for a history: keys[i] at versions[i].
	versions []uint32
	expires  time.Time
}

func newPages() *pages { return &pages{m: map[string]*result{}} }

func (p *pages) put(r *result, now time.Time) string {
	var b [18]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range p.m {
		if now.After(v.expires) || len(p.m) >= maxPages {
			delete(p.m, k)
		}
	}
	r.expires = now.Add(pageTTL)
	p.m[id] = r
	return id
}

func (p *pages) get(id string, now time.Time) *result {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.m[id]
	if r == nil || now.After(r.expires) {
		delete(p.m, id)
		return nil
	}
	return r
}

// searchPost: POST /{type}/_search, the parameters in a form body (and
// the URL).
func (s *Server) searchPost(w http.ResponseWriter, r *http.Request, typ string) {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		s.fail(w, &resource.Error{Status: http.StatusUnsupportedMediaType, Issues: []resource.Issue{{Severity: "error", Code: "not-supported",
			Diagnostics: "POST _search takes application/x-www-form-urlencoded parameters"}}})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.fail(w, ptoy.E("fhir", ptoy.Invalid, "the search parameters do not parse", err))
		return
	}
	s.search(w, r, typ, r.Form)
}

// search: GET /{type}?params. Every match the caller may see, in the
// order asked, paged; nothing about what they may not see, not even its
// count.
func (s *Server) search(w http.ResponseWriter, r *http.Request, typ string, params url.Values) {
	p := s.enter(w, r, typ)
	if p == nil {
		return
	}
	var err error
	if !p.allows(typ, 's') && !p.allows(typ, 'r') {
		s.fail(w, scopeRefused(typ, "search"))
		return
	}
	if slices.Contains(networkTypes, typ) {
		q, err := s.reg.ParseQuery(typ, params)
		if err != nil {
			s.fail(w, err)
			return
		}
		s.searchVirtual(w, r, p, typ, q, params.Encode())
		return
	}
	now := s.cfg.Now()
	var res *result
	offset := 0
	if pg := params.Get("_page"); pg != "" {
		if res, offset, err = s.page(p, typ, pg); err != nil {
			s.fail(w, err)
			return
		}
	} else {
		q, err := s.reg.ParseQuery(typ, params)
		if err != nil {
			s.fail(w, err)
			return
		}
		res = &result{owner: p.reader, org: p.org, typ: typ, query: q, keys: s.match(p, typ, q)}
	}
	q := res.query
	end := min(offset+q.Count, len(res.keys))
	b := newBundle("searchset")
	if q.Total != "none" {
		total := len(res.keys)
		b.Total = &total
	}
	if q.Summary == "count" {
		s.send(w, http.StatusOK, b)
		return
	}
	s.links(b, res, typ, params.Encode(), offset, end, now)
	page := res.keys[offset:end]
	if err := s.answer(r.Context(), p, b, page, q, "fhir-search"); err != nil {
		s.fail(w, err)
		return
	}
	s.send(w, http.StatusOK, b)
}

// match returns, in the query's order, every record of typ that matches
// q and that p may see now.
func (s *Server) match(p *principal, typ string, q *search.Query) []recKey {
	narrow := p.onlyPatient()
	if narrow.IsZero() {
		for _, param := range []string{"patient", "subject"} {
			if refs := q.References(param); len(refs) == 1 {
				if id, ok := strings.CutPrefix(refs[0], "Patient/"); ok {
					narrow, _ = ptoy.ParseID(id)
				}
			}
		}
	}
	type decided struct {
		patient ptoy.ID
		labels  uint32
	}
	allowed := map[decided]bool{}
	var hits []*entry
	p.idx.candidates(typ, narrow, func(e *entry) {
		if only := p.onlyPatient(); !only.IsZero() && e.key.patient != only {
			return
		}
		if !q.Match(&e.ix) {
			return
		}
		k := decided{e.key.patient, e.labels}
		ok, known := allowed[k]
		if !known {
			ok = s.mayRead(p, e)
			allowed[k] = ok
		}
		if ok {
			hits = append(hits, e)
		}
	})
	slices.SortFunc(hits, func(a, b *entry) int {
		if c := q.Compare(&a.ix, &b.ix); c != 0 {
			return c
		}
		if c := b.updated.Compare(a.updated); c != 0 {
			return c
		}
		return strings.Compare(a.ref(), b.ref())
	})
	keys := make([]recKey, len(hits))
	for i, e := range hits {
		keys[i] = e.key
	}
	return keys
}

// answer fills b with the page's resources (and what _include and
// _revinclude add), each decided again, after the door has recorded one
// event per patient whose records are answered.
func (s *Server) answer(ctx context.Context, p *principal, b *bundle, page []recKey, q *search.Query, action string) error {
	type hit struct {
		e    *entry
		mode string
		d    consent.Decision
	}
	var hits []hit
	seen := map[recKey]bool{}
	add := func(e *entry, mode string) {
		if e == nil || seen[e.key] {
			return
		}
		a := p.access(e.key.patient, "", "")
		a.Consent = &consent.Request{Categories: e.labels}
		d := s.cfg.Door.Decide(a)
		if !d.Allow {
			return
		}
		seen[e.key] = true
		hits = append(hits, hit{e, mode, d})
	}
	for _, k := range page {
		add(p.idx.get(k), "match")
	}
	matches := hits[:len(hits):len(hits)]
	for _, inc := range q.Include {
		for _, h := range matches {
			if h.e.typ != inc.SourceType {
				continue
			}
			for _, ref := range h.e.ix.References(inc.Param) {
				for _, t := range p.idx.byReference(ref) {
					if t.key.patient == h.e.key.patient && (inc.TargetType == "" || inc.TargetType == t.typ) && p.allows(t.typ, 'r') {
						add(t, "include")
					}
				}
			}
		}
	}
	for _, inc := range q.RevInclude {
		if !p.allows(inc.SourceType, 'r') {
			continue
		}
		var found []*entry
		for _, h := range matches {
			ref := h.e.ref()
			p.idx.candidates(inc.SourceType, h.e.key.patient, func(c *entry) {
				if slices.Contains(c.ix.References(inc.Param), ref) {
					found = append(found, c)
				}
			})
		}
		for _, c := range found {
			add(c, "include")
		}
	}

	// One audit event per patient answered about, on disk before the
	// answer, with the decision that let the first of them through.
	var as []door.Access
	var ds []consent.Decision
	objs := map[ptoy.ID][]string{}
	for _, h := range hits {
		pt := h.e.key.patient
		if _, ok := objs[pt]; !ok {
			as = append(as, p.access(pt, action, ""))
			ds = append(ds, h.d)
		}
		objs[pt] = append(objs[pt], h.e.ref()+"@"+strconv.FormatUint(uint64(h.e.version), 10))
	}
	for i := range as {
		as[i].Object = objectList(objs[as[i].Patient])
	}
	if err := s.cfg.Door.Record(ctx, as, ds); err != nil {
		return err
	}
	for _, h := range hits {
		raw, memo, err := s.shape(p.idx, h.e, q)
		if err != nil {
			return err
		}
		b.Entry = append(b.Entry, bundleEntry{FullURL: s.cfg.Base + "/" + h.e.ref(), Resource: raw, Search: &entrySearch{Mode: h.mode}, memo: memo})
	}
	return nil
}

// shape gives a resource its ledger meta and applies _elements or
// _summary. For a whole resource of a patient's view it also returns
// where the view keeps it decoded (see Page).
func (s *Server) shape(x *index, e *entry, q *search.Query) ([]byte, *stored, error) {
	subset := q != nil && (len(q.Elements) > 0 || q.Summary == "true" || q.Summary == "text" || q.Summary == "data")
	if !subset {
		return x.withMeta(e)
	}
	raw, _, err := x.withMeta(e)
	if err != nil {
		return nil, nil, err
	}
	m, err := decodeMap(raw)
	if err != nil {
		return nil, nil, err
	}
	if len(q.Elements) > 0 {
		m = search.Elements(m, q.Elements)
	} else {
		m = search.Summary(m, q.Summary)
	}
	b, err := json.Marshal(m)
	return b, nil, err
}

// mayRead decides, without recording, whether p may read e now.
func (s *Server) mayRead(p *principal, e *entry) bool {
	a := p.access(e.key.patient, "", "")
	a.Consent = &consent.Request{Categories: e.labels}
	return s.cfg.Door.Decide(a).Allow
}

// maxObject is what an audit event's object may hold (audit.MaxFieldLen,
// with room to spare).
const maxObject = 1000

// objectList names the resources an answer gives in one audit event:
// their count and references, as many as fit, then how many more.
func objectList(refs []string) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(refs)) + " resources:")
	for i, r := range refs {
		more := " (+" + strconv.Itoa(len(refs)-i) + " more)"
		if b.Len()+1+len(r)+len(more) > maxObject {
			b.WriteString(more)
			break
		}
		b.WriteString(" " + r)
	}
	return b.String()
}
