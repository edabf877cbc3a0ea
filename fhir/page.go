package fhir

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"ptoy"
	"ptoy/fhir/resource"
)

// Page is a Bundle answer (a search, an $everything, a history) as an
// in-process caller takes it: its links and its entries, with each
// resource's JSON as the API would have written it, without the
// encoding and decoding in between.
type Page struct {
	Total *int
	// Links maps a relation (self, next, previous) to its URL.
	Links   map[string]string
	Entries []PageEntry
}

// PageEntry is one entry of a Page.
type PageEntry struct {
	FullURL string
	// JSON is the resource with its ledger meta. It may be shared with
	// other answers: read only.
	JSON []byte
	// memo keeps the decoded resource, in a patient's own view.
	memo *stored
}

// Resource returns the entry's resource decoded as resource.DecodeJSON
// does. In a patient's own view it is decoded once per version and
// shared by the answers of her session (and dropped with it): the
// caller must not change it.
func (e PageEntry) Resource() (map[string]any, error) {
	if e.memo != nil {
		if m := e.memo.decoded.Load(); m != nil {
			return *m, nil
		}
	}
	v, err := resource.DecodeJSON(e.JSON)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, ptoy.E("fhir", ptoy.Other, "a resource is not a JSON object")
	}
	if e.memo != nil {
		e.memo.decoded.Store(&m)
	}
	return m, nil
}

// Resources returns the page's resources decoded, as Resource does each.
func (p *Page) Resources() ([]map[string]any, error) {
	out := make([]map[string]any, 0, len(p.Entries))
	for _, e := range p.Entries {
		r, err := e.Resource()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// PageTaker is a ResponseWriter that takes a Bundle answer as a Page
// instead of its JSON: the patient app and the console call the API in
// process, through the same door as any client.
type PageTaker interface {
	http.ResponseWriter
	TakePage(status int, p *Page)
}

// page is b as a Page.
func (b *bundle) page() *Page {
	p := &Page{Total: b.Total, Links: make(map[string]string, len(b.Link)), Entries: make([]PageEntry, 0, len(b.Entry))}
	for _, l := range b.Link {
		p.Links[l.Relation] = l.URL
	}
	for _, e := range b.Entry {
		if len(e.Resource) > 0 {
			p.Entries = append(p.Entries, PageEntry{FullURL: e.FullURL, JSON: e.Resource, memo: e.memo})
		}
	}
	return p
}

// Recorder is a PageTaker that keeps the answer of an in-process call:
// a Bundle as a Page, anything else (a resource, an OperationOutcome)
// as its bytes.
type Recorder struct {
	h      http.Header
	Status int
	Body   bytes.Buffer
	Page   *Page
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{h: http.Header{}} }

func (r *Recorder) Header() http.Header { return r.h }

func (r *Recorder) WriteHeader(status int) {
	if r.Status == 0 {
		r.Status = status
	}
}

func (r *Recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.Body.Write(b)
}

func (r *Recorder) TakePage(status int, p *Page) {
	r.WriteHeader(status)
	r.Page = p
}

// Next returns the page's next link as a path and query relative to
// the API's mount (as "Observation?_page=…"), or "" on the last page.
func (p *Page) Next(mount string) string {
	u, err := url.Parse(p.Links["next"])
	if err != nil || u.Path == "" {
		return ""
	}
	rel, ok := strings.CutPrefix(u.Path, mount+"/")
	if !ok {
		return ""
	}
	return rel + "?" + u.RawQuery
}
