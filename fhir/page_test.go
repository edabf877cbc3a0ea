package fhir

import (
	"net/http"
	"testing"
)

// TestPage: a Bundle reaches an in-process caller as a Page, its next
// link relative to the API's mount; a resource kept by a patient's view
// is decoded once and shared, any other decoded at each call.
func TestPage(t *testing.T) {
	total := 2
	b := newBundle("searchset")
	b.Total = &total
	b.Link = []bundleLink{{"self", "http://node/fhir/Observation?code=x"}, {"next", "http://node/fhir/Observation?_page=abc.2"}}
	kept := &stored{}
	b.Entry = []bundleEntry{
		{FullURL: "http://node/fhir/Observation/1", Resource: []byte(`{"resourceType":"Observation","id":"1"}`), memo: kept},
		{FullURL: "http://node/fhir/Observation/2", Resource: []byte(`{"resourceType":"Observation","id":"2"}`)},
		{Response: &entryResponse{Status: "200 OK"}}, // no resource: not an entry of the page
	}
	rec := NewRecorder()
	(&Server{}).send(rec, http.StatusOK, b)
	p := rec.Page
	if rec.Status != http.StatusOK || p == nil || rec.Body.Len() != 0 {
		t.Fatalf("status %d, page %v, body %q", rec.Status, p, rec.Body.String())
	}
	if *p.Total != 2 || len(p.Entries) != 2 || p.Entries[1].FullURL != "http://node/fhir/Observation/2" {
		t.Fatalf("page %+v", p)
	}
	if got := p.Next("/fhir"); got != "Observation?_page=abc.2" {
		t.Errorf("next %q", got)
	}
	if got := (&Page{Links: map[string]string{"self": "x"}}).Next("/fhir"); got != "" {
		t.Errorf("no next link gave %q", got)
	}
	if got := (&Page{Links: map[string]string{"next": "http://elsewhere/other/Observation?_page=1"}}).Next("/fhir"); got != "" {
		t.Errorf("a next link outside the mount gave %q", got)
	}
	a, err := p.Entries[0].Resource()
	if err != nil || a["id"] != "1" {
		t.Fatalf("%v %v", a, err)
	}
	again, _ := p.Entries[0].Resource()
	a["marker"] = true // callers must not; here it shows the value is shared
	if again["marker"] != true {
		t.Error("a kept resource was decoded again")
	}
	x, _ := p.Entries[1].Resource()
	x["marker"] = true
	if y, _ := p.Entries[1].Resource(); y["marker"] != nil {
		t.Error("a resource no view keeps was shared")
	}
	if _, err := (PageEntry{JSON: []byte(`[1]`)}).Resource(); err == nil {
		t.Error("a JSON array was taken for a resource")
	}
	// Without a PageTaker, the same bundle is written as JSON.
	w := &plainWriter{h: http.Header{}}
	(&Server{}).send(w, http.StatusOK, b)
	if w.body == "" || w.body[0] != '{' {
		t.Errorf("JSON answer %q", w.body)
	}
}

type plainWriter struct {
	h    http.Header
	body string
}

func (w *plainWriter) Header() http.Header         { return w.h }
func (w *plainWriter) WriteHeader(int)             {}
func (w *plainWriter) Write(b []byte) (int, error) { w.body += string(b); return len(b), nil }
