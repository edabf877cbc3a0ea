package ehrsync

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"ptoy"
)

// TokenFunc gets a fresh access token for a FHIR server (SMART Backend
// Services), with when it expires.
type TokenFunc func(ctx context.Context) (string, time.Time, error)

// ServerOptions configure a FHIR server source.
type ServerOptions struct {
	HTTP  *http.Client
	Token TokenFunc // nil: the server needs none
	// Types are the resource types read, in order (default: every type
	// kept as a record, Patient first).
	Types []string
	// Since reads only what changed after it (_since for $export,
	// _lastUpdated=gt for a search); zero: everything.
	Since time.Time
	// PageSize is _count of a search page; 200.
	PageSize int
	// NoExport reads with paged searches even where the server offers
	// Bulk Data $export.
	NoExport bool
	// Retries bounds the attempts of one request that meets 429 or 5xx;
	// 8.
	Retries int
	// Backoff is the first wait between attempts (doubling, with
	// jitter, unless the server says Retry-After); 500 ms.
	Backoff time.Duration
}

// DefaultTypes are the types a server sync reads, Patient first.
var DefaultTypes = []string{"Patient", "Encounter", "Condition", "Procedure", "Observation", "DiagnosticReport",
	"MedicationRequest", "MedicationStatement", "AllergyIntolerance", "Immunization", "DocumentReference",
	"CarePlan", "Goal", "CareTeam", "Coverage", "Claim", "ExplanationOfBenefit"}

// Server is a FHIR R4 server as a source: Bulk Data $export when its
// CapabilityStatement offers it, else paged searches of each type
// following next links.
type Server struct {
	base string
	name string
	o    ServerOptions

	mu      sync.Mutex
	token   string
	expires time.Time

	export bool
	pos    serverPos
	buf    []json.RawMessage // resources read ahead of the position
	ahead  serverPos         // the position after buf
}

// serverPos is a Server's position: the type being read and the URL of
// the next page (search), or the export's manifest outputs and the line
// reached in the current one.
type serverPos struct {
	Type    int      `json:"type"`
	Next    string   `json:"next,omitempty"`
	Outputs []string `json:"outputs,omitempty"`
	Output  int      `json:"output,omitempty"`
	Line    int      `json:"line,omitempty"`
	Export  bool     `json:"export,omitempty"`
	Started bool     `json:"started,omitempty"`
}

// OpenServer connects to the FHIR server at base (its CapabilityStatement
// says whether it offers $export).
func OpenServer(ctx context.Context, base, name string, o ServerOptions) (*Server, error) {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 2 * time.Minute}
	}
	if len(o.Types) == 0 {
		o.Types = DefaultTypes
	}
	if o.PageSize <= 0 {
		o.PageSize = 200
	}
	if o.Retries <= 0 {
		o.Retries = 8
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	base = strings.TrimSuffix(base, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, ptoy.E("ehrsync.OpenServer", ptoy.Invalid, "the FHIR server's base URL must be http(s)://host/path")
	}
	if name == "" {
		name = "fhir:" + base
	}
	s := &Server{base: base, name: name, o: o}
	var cs struct {
		ResourceType string `json:"resourceType"`
		Rest         []struct {
			Operation []struct {
				Name string `json:"name"`
			} `json:"operation"`
		} `json:"rest"`
	}
	if err := s.getJSON(ctx, base+"/metadata", &cs); err != nil {
		return nil, err
	}
	if cs.ResourceType != "CapabilityStatement" {
		return nil, ptoy.E("ehrsync.OpenServer", ptoy.Invalid, base+"/metadata is not a CapabilityStatement: is this a FHIR R4 base URL?")
	}
	for _, r := range cs.Rest {
		for _, op := range r.Operation {
			if op.Name == "export" {
				s.export = !o.NoExport
			}
		}
	}
	return s, nil
}

func (s *Server) Name() string { return s.name }
func (s *Server) Total() int   { return -1 }

// Exports reports whether the source reads with Bulk Data $export.
func (s *Server) Exports() bool { return s.export }

func (s *Server) Seek(_ context.Context, pos Position) error {
	s.pos, s.buf = serverPos{Export: s.export}, nil
	if len(pos) == 0 {
		return nil
	}
	var p serverPos
	if err := json.Unmarshal(pos, &p); err != nil {
		return ptoy.E("ehrsync.Server", ptoy.Invalid, "the checkpoint's position is not a FHIR server position", err)
	}
	s.pos = p
	return nil
}

func (s *Server) Next(ctx context.Context, max int) ([]json.RawMessage, Position, error) {
	for len(s.buf) < max {
		more, err := s.fill(ctx)
		if err != nil {
			return nil, nil, err
		}
		if !more {
			break
		}
	}
	n := min(max, len(s.buf))
	out := s.buf[:n:n]
	s.buf = s.buf[n:]
	// While part of what was read is left, the position stays before it:
	// a resume reads it again, and the node finds the sent part unchanged.
	if len(s.buf) == 0 {
		s.pos = s.ahead
	}
	pos, _ := json.Marshal(s.pos)
	if len(s.buf) == 0 && s.done() {
		return out, pos, io.EOF
	}
	return out, pos, nil
}

// done reports whether the position is past the last resource.
func (s *Server) done() bool {
	if s.pos.Export {
		return s.pos.Started && s.pos.Output >= len(s.pos.Outputs)
	}
	return s.pos.Type >= len(s.o.Types)
}

// fill reads the next page (or export file) into buf; false when there
// is nothing more.
func (s *Server) fill(ctx context.Context) (bool, error) {
	p := s.pos
	if len(s.buf) > 0 {
		p = s.ahead
	}
	if p.Export {
		return s.fillExport(ctx, p)
	}
	if p.Type >= len(s.o.Types) {
		return false, nil
	}
	u := p.Next
	if u == "" {
		q := url.Values{"_count": {strconv.Itoa(s.o.PageSize)}}
		if !s.o.Since.IsZero() {
			q.Set("_lastUpdated", "gt"+s.o.Since.UTC().Format(time.RFC3339Nano))
		}
		u = s.base + "/" + s.o.Types[p.Type] + "?" + q.Encode()
	}
	var page struct {
		ResourceType string `json:"resourceType"`
		Link         []struct {
			Relation string `json:"relation"`
			URL      string `json:"url"`
		} `json:"link"`
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
			Search   *struct {
				Mode string `json:"mode"`
			} `json:"search"`
		} `json:"entry"`
	}
	if err := s.getJSON(ctx, u, &page); err != nil {
		return false, err
	}
	if page.ResourceType != "Bundle" {
		return false, ptoy.E("ehrsync.Server", ptoy.Other, "a search answered something else than a Bundle")
	}
	for _, e := range page.Entry {
		if e.Search != nil && e.Search.Mode == "include" || len(e.Resource) == 0 {
			continue
		}
		s.buf = append(s.buf, e.Resource)
	}
	next := ""
	for _, l := range page.Link {
		if l.Relation == "next" {
			next = l.URL
		}
	}
	if next != "" {
		p.Next = next
	} else {
		p.Type, p.Next = p.Type+1, ""
	}
	s.ahead = p
	if len(s.buf) == 0 {
		s.pos = p
	}
	return true, nil
}

// fillExport runs the export (once) and reads its next output file.
func (s *Server) fillExport(ctx context.Context, p serverPos) (bool, error) {
	if !p.Started {
		outs, err := s.runExport(ctx)
		if err != nil {
			return false, err
		}
		p.Outputs, p.Started, p.Output, p.Line = outs, true, 0, 0
		s.pos = p
	}
	if p.Output >= len(p.Outputs) {
		return false, nil
	}
	body, err := s.get(ctx, p.Outputs[p.Output], "application/fhir+ndjson")
	if err != nil {
		return false, err
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if line >= p.Line {
			s.buf = append(s.buf, json.RawMessage(bytes.Clone(b)))
		}
		line++
	}
	if err := sc.Err(); err != nil {
		return false, ptoy.E("ehrsync.Server", ptoy.Other, "an export file is not NDJSON", err)
	}
	p.Output, p.Line = p.Output+1, 0
	s.ahead = p
	if len(s.buf) == 0 {
		s.pos = p
	}
	return true, nil
}

// runExport kicks off a system $export, polls it to completion and
// returns its output files' URLs, in the order of the types asked.
func (s *Server) runExport(ctx context.Context) ([]string, error) {
	const op = "ehrsync.export"
	q := url.Values{"_type": {strings.Join(s.o.Types, ",")}}
	if !s.o.Since.IsZero() {
		q.Set("_since", s.o.Since.UTC().Format(time.RFC3339Nano))
	}
	resp, err := s.do(ctx, http.MethodGet, s.base+"/$export?"+q.Encode(), http.Header{"Prefer": {"respond-async"}, "Accept": {"application/fhir+json"}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	status := resp.Header.Get("Content-Location")
	if resp.StatusCode != http.StatusAccepted || status == "" {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("the export kick-off answered %s without a status URL", resp.Status))
	}
	wait := 200 * time.Millisecond
	for {
		resp, err := s.do(ctx, http.MethodGet, status, http.Header{"Accept": {"application/json"}})
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			d := retryAfter(resp, wait)
			wait = min(2*wait, 10*time.Second)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(d):
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("the export failed: %s %s", resp.Status, bytes.TrimSpace(body)))
		}
		var m struct {
			Output []struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			} `json:"output"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, ptoy.E(op, ptoy.Other, "the export's manifest is not JSON", err)
		}
		var outs []string
		for _, t := range s.o.Types {
			for _, o := range m.Output {
				if o.Type == t {
					outs = append(outs, o.URL)
				}
			}
		}
		return outs, nil
	}
}

// getJSON gets u and decodes it.
func (s *Server) getJSON(ctx context.Context, u string, out any) error {
	b, err := s.get(ctx, u, "application/fhir+json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return ptoy.E("ehrsync.Server", ptoy.Other, u+" did not answer JSON", err)
	}
	return nil
}

func (s *Server) get(ctx context.Context, u, accept string) ([]byte, error) {
	resp, err := s.do(ctx, http.MethodGet, u, http.Header{"Accept": {accept}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 512<<20))
	if err != nil {
		return nil, ptoy.E("ehrsync.Server", ptoy.Unavailable, "reading "+u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, ptoy.E("ehrsync.Server", ptoy.Other, fmt.Sprintf("%s answered %s: %s", u, resp.Status, bytes.TrimSpace(b[:min(len(b), 500)])))
	}
	return b, nil
}

// do sends a request with a live token, retrying 429 and 5xx answers
// and failed connections with backoff (the server's Retry-After when it
// gives one), and a 401 once with a fresh token.
func (s *Server) do(ctx context.Context, method, u string, hdr http.Header) (*http.Response, error) {
	wait := s.o.Backoff
	refreshed := false
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return nil, ptoy.E("ehrsync.Server", ptoy.Invalid, err)
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if s.o.Token != nil {
			tok, err := s.bearer(ctx, false)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := s.o.HTTP.Do(req)
		if err == nil {
			switch {
			case resp.StatusCode == http.StatusUnauthorized && s.o.Token != nil && !refreshed:
				resp.Body.Close()
				refreshed = true
				if _, err := s.bearer(ctx, true); err != nil {
					return nil, err
				}
				attempt--
				continue
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			default:
				return resp, nil
			}
		}
		if attempt >= s.o.Retries {
			if err != nil {
				return nil, ptoy.E("ehrsync.Server", ptoy.Unavailable, fmt.Sprintf("%s: %d attempts failed", u, attempt), err)
			}
			defer resp.Body.Close()
			return nil, ptoy.E("ehrsync.Server", ptoy.Unavailable, fmt.Sprintf("%s still answers %s after %d attempts", u, resp.Status, attempt))
		}
		d := wait/2 + rand.N(wait/2+1)
		if resp != nil {
			d = retryAfter(resp, d)
			resp.Body.Close()
		}
		wait = min(2*wait, 30*time.Second)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
}

// bearer returns a live token, getting a new one when it is about to
// expire (or when fresh is set).
func (s *Server) bearer(ctx context.Context, fresh bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !fresh && s.token != "" && time.Until(s.expires) > 5*time.Second {
		return s.token, nil
	}
	tok, exp, err := s.o.Token(ctx)
	if err != nil {
		return "", err
	}
	s.token, s.expires = tok, exp
	return tok, nil
}

// retryAfter is the wait a 429, 503 or 202 answer asks for (seconds or
// an HTTP date), else def.
func retryAfter(resp *http.Response, def time.Duration) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return def
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return min(time.Duration(n)*time.Second, 2*time.Minute)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), 2*time.Minute)
	}
	return def
}
