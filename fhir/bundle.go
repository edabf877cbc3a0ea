package fhir

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"ptoy"
	"ptoy/fhir/resource"
)

// bundle: POST / with a transaction or batch Bundle. A transaction is
// one PutRecords: every entry is written, or none. Its entries create
// (POST, conditionally with ifNoneExist) or update (PUT) the resources
// of one patient, and references to an entry's urn:uuid fullUrl are
// rewritten to the id the server gives it. A batch runs each entry on
// its own.
func (s *Server) bundle(w http.ResponseWriter, r *http.Request) {
	p := s.enter(w, r, "")
	if p == nil {
		return
	}
	res := s.parsed(w, r, "Bundle")
	if res == nil {
		return
	}
	entries, _ := res.Map["entry"].([]any)
	if len(entries) > maxBatch {
		s.fail(w, &resource.Error{Status: http.StatusRequestEntityTooLarge, Issues: []resource.Issue{{Severity: "error", Code: "too-costly",
			Diagnostics: "a Bundle carries at most " + strconv.Itoa(maxBatch) + " entries"}}})
		return
	}
	switch t, _ := res.Map["type"].(string); t {
	case "transaction":
		s.transaction(w, r, p, entries, res.Raw)
	case "batch":
		s.batch(w, r, p, entries)
	default:
		s.fail(w, &resource.Error{Status: http.StatusBadRequest, Issues: []resource.Issue{{Severity: "error", Code: "invalid",
			Diagnostics: "POST to the base takes a transaction or batch Bundle", Expression: []string{"Bundle.type"}}}})
	}
}

// txEntry is one entry of a transaction as it is processed.
type txEntry struct {
	i        int
	method   string
	url      string
	fullURL  string
	cond     string
	res      map[string]any
	typ, id  string
	fresh    *[16]byte
	existing *entry // ifNoneExist matched
	w        *pending
}

func entryErr(i int, msg, expr string) error {
	is := resource.Issue{Severity: "error", Code: "invalid", Diagnostics: "entry " + strconv.Itoa(i) + ": " + msg}
	if expr != "" {
		is.Expression = []string{"Bundle.entry[" + strconv.Itoa(i) + "]." + expr}
	}
	return &resource.Error{Status: http.StatusBadRequest, Issues: []resource.Issue{is}}
}

// parseEntries reads a Bundle's entries: request method and url, and
// the resource.
func parseEntries(entries []any, methods string) ([]*txEntry, error) {
	out := make([]*txEntry, 0, len(entries))
	for i, x := range entries {
		m, _ := x.(map[string]any)
		req, _ := m["request"].(map[string]any)
		e := &txEntry{i: i}
		e.method, _ = req["method"].(string)
		e.url, _ = req["url"].(string)
		e.fullURL, _ = m["fullUrl"].(string)
		e.cond, _ = req["ifNoneExist"].(string)
		e.res, _ = m["resource"].(map[string]any)
		if !strings.Contains(methods, e.method) {
			return nil, entryErr(i, "request.method "+strconv.Quote(e.method)+" is not supported here (use "+methods+")", "request.method")
		}
		if e.method == "GET" {
			out = append(out, e)
			continue
		}
		if e.res == nil {
			return nil, entryErr(i, "a "+e.method+" entry carries a resource", "resource")
		}
		e.typ, _ = e.res["resourceType"].(string)
		path := strings.SplitN(strings.Trim(strings.SplitN(e.url, "?", 2)[0], "/"), "/", 3)
		if path[0] != e.typ {
			return nil, entryErr(i, "request.url names another type than the resource", "request.url")
		}
		switch e.method {
		case "POST":
			if len(path) != 1 {
				return nil, entryErr(i, "a POST entry's url is the type", "request.url")
			}
		case "PUT":
			if len(path) != 2 {
				return nil, entryErr(i, "a PUT entry's url is Type/id", "request.url")
			}
			e.id = path[1]
		}
		out = append(out, e)
	}
	return out, nil
}

func (s *Server) transaction(w http.ResponseWriter, r *http.Request, p *principal, entries []any, body []byte) {
	ctx := r.Context()
	// The writer's bytes of each entry's resource: what is stored when
	// the transaction changes nothing in it (body has passed Parse).
	var sent struct {
		Entry []struct{ Resource json.RawMessage }
	}
	if err := json.Unmarshal(body, &sent); err != nil || len(sent.Entry) != len(entries) {
		s.fail(w, ptoy.E("fhir", ptoy.Invalid, "the Bundle's entries do not decode"))
		return
	}
	es, err := parseEntries(entries, "POST, PUT")
	if err != nil {
		s.fail(w, err)
		return
	}
	// Ids for the creates, conditional creates resolved, then every
	// reference to a urn:uuid rewritten.
	refs := map[string]string{}
	for _, e := range es {
		if e.method == "POST" && e.cond != "" {
			ex, n, err := s.existing(ctx, p, e.typ, e.cond)
			if err != nil {
				s.fail(w, err)
				return
			}
			if n > 1 {
				s.fail(w, &resource.Error{Status: http.StatusPreconditionFailed, Issues: []resource.Issue{{Severity: "error", Code: "multiple-matches",
					Diagnostics: "entry " + strconv.Itoa(e.i) + ": ifNoneExist matches " + strconv.Itoa(n) + " resources"}}})
				return
			}
			e.existing = ex
		}
		var id string
		switch {
		case e.existing != nil:
			id = e.existing.id
		case e.method == "POST":
			var rec [16]byte
			rand.Read(rec[:])
			e.fresh, e.id = &rec, hex.EncodeToString(rec[:])
			id = e.id
		default:
			id = e.id
		}
		if strings.HasPrefix(e.fullURL, "urn:uuid:") || strings.HasPrefix(e.fullURL, "urn:oid:") {
			refs[e.fullURL] = e.typ + "/" + id
		}
	}
	var patient ptoy.ID
	var ws []*pending
	for _, e := range es {
		if e.existing != nil {
			continue
		}
		raw := []byte(sent.Entry[e.i].Resource)
		if rewrite(e.res, refs) || e.fresh != nil {
			if e.fresh != nil {
				e.res["id"] = e.id
			}
			var err error
			if raw, err = marshal(e.res); err != nil {
				s.fail(w, ptoy.E("fhir", ptoy.Other, err))
				return
			}
		}
		res, err := resource.ParseAs(e.typ, raw)
		if err != nil {
			s.fail(w, prefixed(err, e.i))
			return
		}
		pw, pt, err := s.prepare(ctx, p, res, e.id, e.fresh)
		if err != nil {
			s.fail(w, prefixed(err, e.i))
			return
		}
		if !patient.IsZero() && pt != patient {
			s.fail(w, entryErr(e.i, "a transaction writes the records of one patient", "resource"))
			return
		}
		patient, e.w = pt, pw
		ws = append(ws, pw)
	}
	if len(ws) > 0 {
		if err := s.commit(ctx, p, patient, ws); err != nil {
			s.fail(w, err)
			return
		}
	}
	out := newBundle("transaction-response")
	for _, e := range es {
		var ent *entry
		status := "200 OK"
		if e.existing != nil {
			ent = e.existing
		} else {
			ent = p.idx.get(e.w.key)
			if ent != nil && ent.version == 1 {
				status = "201 Created"
			}
		}
		if ent == nil {
			s.fail(w, ptoy.E("fhir", ptoy.Unavailable, "the transaction was committed but a resource left the index; read it again"))
			return
		}
		out.Entry = append(out.Entry, bundleEntry{FullURL: s.cfg.Base + "/" + ent.ref(), Response: &entryResponse{
			Status: status, Location: ent.ref() + "/_history/" + strconv.FormatUint(uint64(ent.version), 10),
			ETag: `W/"` + strconv.FormatUint(uint64(ent.version), 10) + `"`, LastModified: ent.updated.Format("2006-01-02T15:04:05Z07:00")}})
	}
	s.send(w, http.StatusOK, out)
}

// prefixed names the entry an error is about.
func prefixed(err error, i int) error {
	if re, ok := err.(*resource.Error); ok {
		out := &resource.Error{Status: re.Status}
		for _, is := range re.Issues {
			is.Diagnostics = "entry " + strconv.Itoa(i) + ": " + is.Diagnostics
			for j, x := range is.Expression {
				is.Expression[j] = "Bundle.entry[" + strconv.Itoa(i) + "].resource." + strings.SplitN(x, ".", 2)[len(strings.SplitN(x, ".", 2))-1]
			}
			out.Issues = append(out.Issues, is)
		}
		return out
	}
	return err
}

// rewrite replaces, everywhere in v, a reference to a key of refs, and
// reports whether it replaced any.
func rewrite(v any, refs map[string]string) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "reference" {
				if to, ok := refs[s]; ok {
					x[k], changed = to, true
				}
				continue
			}
			changed = rewrite(c, refs) || changed
		}
	case []any:
		for _, c := range x {
			changed = rewrite(c, refs) || changed
		}
	}
	return changed
}

// marshal encodes a resource the transaction changed, leaving <, > and
// & as they are (narrative XHTML stays readable).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// batch runs each entry on its own and answers each entry's outcome.
func (s *Server) batch(w http.ResponseWriter, r *http.Request, p *principal, entries []any) {
	ctx := r.Context()
	es, err := parseEntries(entries, "POST, PUT")
	if err != nil {
		s.fail(w, err)
		return
	}
	out := newBundle("batch-response")
	for _, e := range es {
		resp := &entryResponse{}
		err := func() error {
			if e.method == "POST" && e.cond != "" {
				ex, n, err := s.existing(ctx, p, e.typ, e.cond)
				if err != nil {
					return err
				}
				if n > 1 {
					return &resource.Error{Status: http.StatusPreconditionFailed, Issues: []resource.Issue{{Severity: "error", Code: "multiple-matches", Diagnostics: "ifNoneExist matches several resources"}}}
				}
				if ex != nil {
					resp.Status, resp.Location = "200 OK", ex.ref()+"/_history/"+strconv.FormatUint(uint64(ex.version), 10)
					return nil
				}
			}
			raw, err := marshal(e.res)
			if err != nil {
				return err
			}
			res, err := resource.ParseAs(e.typ, raw)
			if err != nil {
				return err
			}
			pw, pt, err := s.prepare(ctx, p, res, e.id, nil)
			if err != nil {
				return err
			}
			if err := s.commit(ctx, p, pt, []*pending{pw}); err != nil {
				return err
			}
			ent := p.idx.get(pw.key)
			resp.Status = "200 OK"
			if ent != nil {
				if ent.version == 1 {
					resp.Status = "201 Created"
				}
				resp.Location = ent.ref() + "/_history/" + strconv.FormatUint(uint64(ent.version), 10)
			}
			return nil
		}()
		if err != nil {
			status, body := resource.OutcomeOf(err)
			resp.Status, resp.Outcome = strconv.Itoa(status)+" "+http.StatusText(status), body
		}
		out.Entry = append(out.Entry, bundleEntry{Response: resp})
	}
	s.send(w, http.StatusOK, out)
}
