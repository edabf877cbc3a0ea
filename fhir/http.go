package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"ptoy"
	"ptoy/fhir/resource"
)

const contentType = "application/fhir+json; charset=utf-8"

// Mount is the path of the FHIR base on a node's HTTP server.
const Mount = "/fhir"

// routes: the FHIR REST API under the base, plus the SMART endpoints.
//
// Paths keep the mount prefix (requests are signed over the whole path);
// the SMART server's routes are relative to the base, so it sees them
// without it.
func (s *Server) routes() {
	s.mux = http.NewServeMux()
	m := Mount
	if s.cfg.SMART != nil {
		h := http.StripPrefix(m, s.cfg.SMART.Handler())
		for _, p := range []string{"/authorize", "/token", "/clients", "/clients/", "/.well-known/jwks.json"} {
			s.mux.Handle(m+p, h)
		}
		s.mux.HandleFunc("GET "+m+"/.well-known/smart-configuration", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.Write(s.cfg.SMART.Configuration())
		})
	}
	s.mux.HandleFunc("GET "+m+"/metadata", s.metadata)
	s.mux.HandleFunc(m+"/", s.rest)
	s.mux.HandleFunc(m, s.rest) // a Bundle is posted to the base itself
}

// rest routes the FHIR RESTful interactions by path and method.
func (s *Server) rest(w http.ResponseWriter, r *http.Request) {
	if f := r.URL.Query().Get("_format"); f != "" && !strings.Contains(f, "json") {
		s.fail(w, &resource.Error{Status: http.StatusUnsupportedMediaType, Issues: []resource.Issue{{Severity: "error", Code: "not-supported", Diagnostics: "this server speaks FHIR JSON only"}}})
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, Mount), "/"), "/")
	if len(parts) == 1 && parts[0] == "" {
		parts = nil
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "\x00%") {
			s.fail(w, ptoy.E("fhir", ptoy.Invalid, "the path is malformed"))
			return
		}
	}
	m := r.Method
	switch {
	case len(parts) == 1 && parts[0] == "$export" && (m == http.MethodGet || m == http.MethodPost),
		len(parts) == 2 && parts[0] == "Patient" && parts[1] == "$export" && (m == http.MethodGet || m == http.MethodPost):
		s.exportKick(w, r, "")
	case len(parts) == 3 && parts[0] == "Group" && parts[2] == "$export" && (m == http.MethodGet || m == http.MethodPost):
		s.exportKick(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "$export-status" && (m == http.MethodGet || m == http.MethodDelete):
		s.exportStatus(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "$export-file" && m == http.MethodGet:
		s.exportFile(w, r, parts[1], parts[2])
	case len(parts) == 0 && m == http.MethodPost:
		s.bundle(w, r)
	case len(parts) == 1 && m == http.MethodGet:
		s.search(w, r, parts[0], r.URL.Query())
	case len(parts) == 2 && parts[1] == "_search" && m == http.MethodPost:
		s.searchPost(w, r, parts[0])
	case len(parts) == 1 && m == http.MethodPost:
		s.create(w, r, parts[0])
	case len(parts) == 2 && parts[1] == "_history" && m == http.MethodGet:
		s.typeHistory(w, r, parts[0])
	case len(parts) == 3 && parts[0] == "Patient" && parts[2] == "$everything" && m == http.MethodGet:
		s.everything(w, r, parts[1])
	case len(parts) == 2 && m == http.MethodGet:
		s.read(w, r, parts[0], parts[1])
	case len(parts) == 2 && m == http.MethodPut:
		s.update(w, r, parts[0], parts[1])
	case len(parts) == 2 && m == http.MethodDelete:
		s.delete(w, r, parts[0], parts[1])
	case len(parts) == 3 && parts[2] == "_history" && m == http.MethodGet:
		s.history(w, r, parts[0], parts[1])
	case len(parts) == 4 && parts[2] == "_history" && m == http.MethodGet:
		s.vread(w, r, parts[0], parts[1], parts[3])
	default:
		s.fail(w, &resource.Error{Status: http.StatusNotFound, Issues: []resource.Issue{{Severity: "error", Code: "not-supported",
			Diagnostics: r.Method + " " + r.URL.Path + " is not an interaction this server supports (see /metadata)"}}})
	}
}

func notSupported(msg string) error {
	return &resource.Error{Status: http.StatusNotImplemented, Issues: []resource.Issue{{Severity: "error", Code: "not-supported", Diagnostics: msg}}}
}

// checkType refuses a type the server does not know.
func (s *Server) checkType(t string) error {
	_, record := categoryOf[t]
	if !record && !slices.Contains(networkTypes, t) {
		return &resource.Error{Status: http.StatusNotFound, Issues: []resource.Issue{{Severity: "error", Code: "not-supported",
			Diagnostics: "this server has no resource type " + strconv.Quote(t)}}}
	}
	return nil
}

// fail answers err as an OperationOutcome.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var m *misdirected
	if errors.As(err, &m) {
		w.Header().Set("X-Ptoy-Node", m.base)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusMisdirectedRequest)
		w.Write(resource.Outcome(resource.Issue{Severity: "error", Code: "security", Diagnostics: m.msg}))
		return
	}
	status, body := resource.OutcomeOf(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.cfg.Base+`"`)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(body)
}

// send answers a resource or Bundle.
func (s *Server) send(w http.ResponseWriter, status int, v any) {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	case *bundle:
		if t, ok := w.(PageTaker); ok {
			t.TakePage(status, x.page())
			return
		}
		var err error
		if b, err = x.appendJSON(nil); err != nil {
			s.fail(w, ptoy.E("fhir", ptoy.Other, err))
			return
		}
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // links keep their & as &
		if err := enc.Encode(v); err != nil {
			s.fail(w, ptoy.E("fhir", ptoy.Other, err))
			return
		}
		b = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// body reads a request body of at most resource.MaxBody bytes, as FHIR
// JSON.
func body(r *http.Request) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.Contains(ct, "json") {
		return nil, &resource.Error{Status: http.StatusUnsupportedMediaType, Issues: []resource.Issue{{Severity: "error", Code: "not-supported",
			Diagnostics: "send FHIR JSON (Content-Type: application/fhir+json)"}}}
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, resource.MaxBody+1))
	if err != nil {
		return nil, ptoy.E("fhir", ptoy.Invalid, "reading the request body", err)
	}
	if len(b) > resource.MaxBody {
		return nil, &resource.Error{Status: http.StatusRequestEntityTooLarge, Issues: []resource.Issue{{Severity: "error", Code: "too-costly",
			Diagnostics: "the body is larger than " + strconv.Itoa(resource.MaxBody>>20) + " MiB"}}}
	}
	return b, nil
}

// versioned returns raw as answered: meta.versionId and lastUpdated from
// the ledger.
func versioned(raw []byte, version uint32, updated time.Time) ([]byte, error) {
	return resource.WithMeta(raw, strconv.FormatUint(uint64(version), 10), updated)
}

func etag(w http.ResponseWriter, version uint32, updated time.Time) {
	w.Header().Set("ETag", `W/"`+strconv.FormatUint(uint64(version), 10)+`"`)
	w.Header().Set("Last-Modified", updated.UTC().Format(http.TimeFormat))
}

// enter authenticates r and, for an interaction on a type, checks the
// type: the principal, or nil once it answered the error.
func (s *Server) enter(w http.ResponseWriter, r *http.Request, typ string) *principal {
	p, err := s.who(r)
	if err == nil && typ != "" {
		err = s.checkType(typ)
	}
	if err != nil {
		s.fail(w, err)
		return nil
	}
	return p
}

// parsed reads and validates the body as a resource of typ, or answers
// the error and returns nil.
func (s *Server) parsed(w http.ResponseWriter, r *http.Request, typ string) *resource.Resource {
	b, err := body(r)
	var res *resource.Resource
	if err == nil {
		res, err = resource.ParseAs(typ, b)
	}
	if err != nil {
		s.fail(w, err)
		return nil
	}
	return res
}
