package fhir

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"ptoy"
	"ptoy/consent"
	"ptoy/door"
	"ptoy/fhir/resource"
	"ptoy/kv"
)

// Bulk Data export (FHIR Bulk Data Access 2.0): a kick-off answers 202
// with a status URL; the export runs on the node, the principal's
// consent decided for every resource as in a search and one audit event
// per patient on disk before any file can be read; the NDJSON files are
// sealed in the node's store under the index key, readable only by the
// principal who asked, and removed when the export is deleted or an
// hour after it ended.
const (
	exportTTL   = time.Hour
	maxExports  = 4       // running at once on a node
	exportChunk = 1 << 20 // bytes of NDJSON per sealed chunk
)

type export struct {
	id       string
	owner    ptoy.ID
	org      ptoy.ID
	request  string
	started  time.Time
	cancel   context.CancelFunc
	mu       sync.Mutex
	done     bool
	err      error
	progress int
	total    int
	ended    time.Time
	outputs  []exportOutput
	deleted  *exportOutput
}

type exportOutput struct {
	Type   string `json:"type"`
	URL    string `json:"url"`
	Count  int    `json:"count"`
	chunks int
}

type exports struct {
	mu sync.Mutex
	m  map[string]*export
}

// exportKick: GET or POST [base]/$export, /Patient/$export,
// /Group/{id}/$export. The only group is the organisation's patient
// list: Group/<organisation id>.
func (s *Server) exportKick(w http.ResponseWriter, r *http.Request, group string) {
	p, err := s.who(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if !strings.Contains(r.Header.Get("Prefer"), "respond-async") {
		s.fail(w, ptoy.E("fhir", ptoy.Invalid, "an export runs asynchronously: send Prefer: respond-async"))
		return
	}
	q := r.URL.Query()
	if f := q.Get("_outputFormat"); f != "" && f != "application/fhir+ndjson" && f != "application/ndjson" && f != "ndjson" {
		s.fail(w, ptoy.E("fhir", ptoy.Invalid, "the only _outputFormat is application/fhir+ndjson"))
		return
	}
	types, err := parseTypes(q.Get("_type"))
	if err != nil {
		s.fail(w, err)
		return
	}
	if len(types) == 0 {
		types = recordTypes()
	}
	var allowed []string
	for _, t := range types {
		if p.allows(t, 'r') {
			allowed = append(allowed, t)
		}
	}
	since, err := parseSince(q.Get("_since"))
	if err != nil {
		s.fail(w, err)
		return
	}
	var patients []ptoy.ID
	switch {
	case group != "":
		gid, err := ptoy.ParseID(group)
		if err != nil || gid != s.cfg.Org {
			s.fail(w, errHidden("Group", group))
			return
		}
		if patients, err = s.cfg.Ledger.PatientsOf(s.cfg.Org); err != nil {
			s.fail(w, err)
			return
		}
	case !p.onlyPatient().IsZero():
		patients = []ptoy.ID{p.onlyPatient()}
	default:
		patients = p.idx.patients()
	}
	now := s.cfg.Now()
	s.exports.mu.Lock()
	running := 0
	for id, x := range s.exports.m {
		x.mu.Lock()
		if x.done && now.Sub(x.ended) > exportTTL {
			delete(s.exports.m, id)
			go s.dropExport(id)
		} else if !x.done {
			running++
		}
		x.mu.Unlock()
	}
	if running >= maxExports {
		s.exports.mu.Unlock()
		w.Header().Set("Retry-After", "30")
		s.fail(w, &resource.Error{Status: http.StatusTooManyRequests, Issues: []resource.Issue{{Severity: "error", Code: "throttled",
			Diagnostics: "this node runs " + strconv.Itoa(maxExports) + " exports at a time; try again shortly"}}})
		return
	}
	var b [16]byte
	rand.Read(b[:])
	ctx, cancel := context.WithCancel(context.Background())
	x := &export{id: base64.RawURLEncoding.EncodeToString(b[:]), owner: p.reader, org: p.org,
		request: s.cfg.Base + strings.TrimPrefix(r.URL.RequestURI(), Mount), started: now, cancel: cancel}
	if s.exports.m == nil {
		s.exports.m = map[string]*export{}
	}
	s.exports.m[x.id] = x
	s.exports.mu.Unlock()
	go s.runExport(ctx, p, x, patients, allowed, since)
	w.Header().Set("Content-Location", s.cfg.Base+"/$export-status/"+x.id)
	w.WriteHeader(http.StatusAccepted)
}

// runExport writes the export's files.
func (s *Server) runExport(ctx context.Context, p *principal, x *export, patients []ptoy.ID, types []string, since time.Time) {
	err := s.writeExport(ctx, p, x, patients, types, since)
	x.mu.Lock()
	x.done, x.err, x.ended = true, err, s.cfg.Now()
	x.mu.Unlock()
	if err != nil {
		s.dropExport(x.id)
		if ctx.Err() == nil {
			s.cfg.Log.Warn("fhir: an export failed", "export", x.id, "err", err)
		}
	}
}

func (s *Server) writeExport(ctx context.Context, p *principal, x *export, patients []ptoy.ID, types []string, since time.Time) error {
	byType := map[string][]recKey{}
	var deleted []tombstone
	var as []door.Access
	var ds []consent.Decision
	total := 0
	for _, pt := range patients {
		if !since.IsZero() {
			for _, tb := range p.idx.tombstones(pt, since) {
				a := p.access(pt, "", "")
				a.Consent = &consent.Request{Categories: tb.Labels}
				if slices.Contains(types, tb.Type) && s.cfg.Door.Decide(a).Allow {
					deleted = append(deleted, tb)
				}
			}
		}
		keys := s.compartment(p, pt, types, since)
		if len(keys) == 0 {
			continue
		}
		var d consent.Decision
		if e := p.idx.get(keys[0]); e != nil {
			a := p.access(pt, "", "")
			a.Consent = &consent.Request{Categories: e.labels}
			d = s.cfg.Door.Decide(a)
		}
		if !d.Allow {
			continue
		}
		for _, k := range keys {
			if e := p.idx.get(k); e != nil {
				byType[e.typ] = append(byType[e.typ], k)
			}
		}
		as = append(as, p.access(pt, "fhir-export", strconv.Itoa(len(keys))+" resources, export "+x.id))
		ds = append(ds, d)
		total += len(keys)
	}
	x.mu.Lock()
	x.total = total
	x.mu.Unlock()
	if err := s.cfg.Door.Record(ctx, as, ds); err != nil {
		return err
	}
	var buf bytes.Buffer
	if len(deleted) > 0 {
		// Deleted resources: Bundles of DELETE requests, as Bulk Data 2.0 says.
		for _, tb := range deleted {
			b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{map[string]any{
				"request": map[string]any{"method": "DELETE", "url": tb.Type + "/" + tb.ID}}}})
			buf.Write(b)
			buf.WriteByte('\n')
		}
		if err := s.putChunk(x.id, "deleted", 0, buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
		x.mu.Lock()
		x.deleted = &exportOutput{Type: "Bundle", URL: s.cfg.Base + "/$export-file/" + x.id + "/deleted.ndjson", Count: len(deleted), chunks: 1}
		x.mu.Unlock()
	}
	for _, t := range types {
		keys := byType[t]
		if len(keys) == 0 {
			continue
		}
		out := exportOutput{Type: t, URL: s.cfg.Base + "/$export-file/" + x.id + "/" + t + ".ndjson"}
		flush := func() error {
			if buf.Len() == 0 {
				return nil
			}
			err := s.putChunk(x.id, t, out.chunks, buf.Bytes())
			out.chunks++
			buf.Reset()
			return err
		}
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := p.idx.get(k)
			if e == nil || !s.mayRead(p, e) {
				continue
			}
			raw, _, err := p.idx.withMeta(e)
			if err != nil {
				if ptoy.KindOf(err) == ptoy.NotFound {
					continue
				}
				return err
			}
			if err := json.Compact(&buf, raw); err != nil {
				return ptoy.E("fhir.export", ptoy.Other, err)
			}
			buf.WriteByte('\n')
			out.Count++
			x.mu.Lock()
			x.progress++
			x.mu.Unlock()
			if buf.Len() >= exportChunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		x.mu.Lock()
		x.outputs = append(x.outputs, out)
		x.mu.Unlock()
	}
	return nil
}

func (s *Server) chunkKey(id, typ string, n int) []byte {
	k := append([]byte("export/"), id...)
	k = append(k, '/')
	k = append(k, typ...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint32(k, uint32(n))
}

func (s *Server) putChunk(id, typ string, n int, b []byte) error {
	k := s.chunkKey(id, typ, n)
	v := s.idx.sealBytes(k, b)
	if err := s.cfg.DB.Set(k, v, pebble.NoSync); err != nil {
		return ptoy.E("fhir.export", ptoy.Unavailable, "the node's store refused an export file", err)
	}
	return nil
}

func (s *Server) dropExport(id string) {
	lo := []byte("export/" + id + "/")
	s.cfg.DB.DeleteRange(lo, kv.PrefixEnd(lo), pebble.NoSync)
}

// ownExport finds export id for the principal r authenticates, or
// answers the error and returns nil.
func (s *Server) ownExport(w http.ResponseWriter, r *http.Request, id string) *export {
	p := s.enter(w, r, "")
	if p == nil {
		return nil
	}
	s.exports.mu.Lock()
	x := s.exports.m[id]
	s.exports.mu.Unlock()
	if x == nil || x.owner != p.reader || x.org != p.org {
		s.fail(w, &resource.Error{Status: http.StatusNotFound, Issues: []resource.Issue{{Severity: "error", Code: "not-found",
			Diagnostics: "no such export of yours (exports are kept an hour after they end)"}}})
		return nil
	}
	return x
}

// exportStatus: GET (progress or manifest) and DELETE (cancel and
// remove) [base]/$export-status/{id}.
func (s *Server) exportStatus(w http.ResponseWriter, r *http.Request, id string) {
	x := s.ownExport(w, r, id)
	if x == nil {
		return
	}
	if r.Method == http.MethodDelete {
		x.cancel()
		s.exports.mu.Lock()
		delete(s.exports.m, id)
		s.exports.mu.Unlock()
		s.dropExport(id)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case !x.done:
		w.Header().Set("X-Progress", strconv.Itoa(x.progress)+" of "+strconv.Itoa(x.total)+" resources")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusAccepted)
	case x.err != nil:
		s.fail(w, x.err)
	default:
		outs := x.outputs
		if outs == nil {
			outs = []exportOutput{}
		}
		deleted := []exportOutput{}
		if x.deleted != nil {
			deleted = append(deleted, *x.deleted)
		}
		s.send(w, http.StatusOK, map[string]any{
			"transactionTime": x.started.UTC().Format(time.RFC3339), "request": x.request, "requiresAccessToken": true,
			"output": outs, "deleted": deleted, "error": []any{},
		})
	}
}

// exportFile: GET [base]/$export-file/{id}/{type}.ndjson.
func (s *Server) exportFile(w http.ResponseWriter, r *http.Request, id, name string) {
	x := s.ownExport(w, r, id)
	if x == nil {
		return
	}
	typ, _ := strings.CutSuffix(name, ".ndjson")
	x.mu.Lock()
	var out *exportOutput
	for i := range x.outputs {
		if x.outputs[i].Type == typ {
			out = &x.outputs[i]
		}
	}
	if typ == "deleted" {
		out = x.deleted
	}
	done := x.done && x.err == nil
	x.mu.Unlock()
	if !done || out == nil {
		s.fail(w, &resource.Error{Status: http.StatusNotFound, Issues: []resource.Issue{{Severity: "error", Code: "not-found", Diagnostics: "no such file in this export"}}})
		return
	}
	w.Header().Set("Content-Type", "application/fhir+ndjson")
	w.Header().Set("Cache-Control", "no-store")
	for i := 0; i < out.chunks; i++ {
		k := s.chunkKey(id, typ, i)
		v, closer, err := s.cfg.DB.Get(k)
		if err != nil {
			return // the export was deleted meanwhile: the body ends short
		}
		b, err := s.idx.openBytes(k, v)
		closer.Close()
		if err != nil {
			return
		}
		w.Write(b)
	}
}
