package node

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"ptoy/internal/faultfs"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ptoy/audit"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// scrape reads the node's /metrics over HTTP: each series, as the text
// format writes it (`name{label="value",…}`), with its value.
func scrape(t *testing.T, client *http.Client, base string) map[string]float64 {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics: the node serves its metrics at /metrics: the ledger's
// height as it advances, CometBFT's own, HTTP requests by route pattern
// and outcome (no id from a request's path in any label), audit writes
// with their latency, and committed transactions by result code.
func TestMetrics(t *testing.T) {
	n, org := startNode(t, nil, Options{})
	c := http.DefaultClient
	m := scrape(t, c, n.URL())
	h1 := m["ptoy_ledger_height"]
	if h1 < 1 {
		t.Fatalf("ptoy_ledger_height %v, want at least 1", h1)
	}
	for _, name := range []string{`ptoy_replication_backlog_blobs`, `ptoy_storage_bytes{store="blobs"}`, `ptoy_storage_bytes{store="ledger"}`, `go_goroutines`} {
		if _, ok := m[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if m[`ptoy_storage_bytes{store="ledger"}`] <= 0 {
		t.Errorf("ptoy_storage_bytes{store=\"ledger\"} = %v", m[`ptoy_storage_bytes{store="ledger"}`])
	}
	waitUntil(t, "the height gauge to advance", func() bool { return scrape(t, c, n.URL())["ptoy_ledger_height"] > h1 })
	chain := n.ChainID()
	waitUntil(t, "CometBFT's consensus height", func() bool {
		return scrape(t, c, n.URL())[`cometbft_consensus_height{chain_id="`+chain+`"}`] > 1
	})

	// A gateway read without credentials: refused, and counted by its
	// route's pattern, never by the ids in its path.
	patient := org.ID().String()
	resp, err := c.Get(n.URL() + "/v1/records/" + patient + "/secret-record-id")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned read: %s", resp.Status)
	}
	resp, err = c.Get(n.URL() + "/no/such/" + patient)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m = scrape(t, c, n.URL())
	route := `route="GET /v1/records/{patient}/{id}"`
	if v := m[`ptoy_http_requests_total{outcome="deny",`+route+`}`]; v != 1 {
		t.Errorf("denied reads counted %v, want 1", v)
	}
	if v := m[`ptoy_http_request_seconds_count{`+route+`}`]; v != 1 {
		t.Errorf("timed reads %v, want 1", v)
	}
	if v := m[`ptoy_http_requests_total{outcome="allow",route="GET /metrics"}`]; v < 3 {
		t.Errorf("answered scrapes counted %v, want at least 3", v)
	}
	if v := m[`ptoy_http_requests_total{outcome="deny",route="unmatched"}`]; v != 1 {
		t.Errorf("unmatched requests counted %v, want 1", v)
	}
	for s := range m {
		if strings.Contains(s, patient) || strings.Contains(s, "secret-record-id") {
			t.Errorf("a series names what a request's path held: %s", s)
		}
	}

	// An audit write is timed; the node anchors it with a transaction,
	// counted by its result code.
	ctx := context.Background()
	if _, err := n.audit.Append(ctx, audit.Event{Time: time.Now(), Node: n.cfg.Moniker, Actor: org.ID(),
		Patient: org.ID(), Action: "read", Record: "test", Decision: audit.Allow, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	m = scrape(t, c, n.URL())
	if m[`ptoy_audit_append_seconds_count{result="ok"}`] < 1 || m[`ptoy_audit_append_seconds_sum{result="ok"}`] <= 0 {
		t.Errorf("audit appends: count %v, sum %v", m[`ptoy_audit_append_seconds_count{result="ok"}`], m[`ptoy_audit_append_seconds_sum{result="ok"}`])
	}
	waitUntil(t, "the anchor transaction to be counted", func() bool {
		return scrape(t, c, n.URL())[`ptoy_ledger_transactions_total{code="0"}`] >= 1
	})
}

// readyz returns the status and body of GET /readyz.
func readyz(t *testing.T, n *Node) (int, string) {
	t.Helper()
	resp, err := http.Get(n.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadyz: /readyz says 503 while the node has no committed block
// (its one fellow validator is down, so nothing commits) and while its
// audit log cannot write, with the reason, and 200 once it has caught up
// and the log works again; /healthz answers throughout. Two nodes in one
// process also show that CometBFT's metrics do not collide.
func TestReadyz(t *testing.T) {
	dir := t.TempDir()
	homes := []string{filepath.Join(dir, "node1"), filepath.Join(dir, "node2")}
	spec := NetworkSpec{HomeDirs: homes, Validators: 2, FreePorts: true, FastBlocks: true, KDF: keys.TestKDF,
		Orgs: []OrgSpec{{Name: "General Hospital", Kind: pb.OrgKind_ORG_KIND_HOSPITAL}, {Name: "City Clinic", Kind: pb.OrgKind_ORG_KIND_HOSPITAL}}}
	if _, err := CreateNetwork(spec); err != nil {
		t.Fatal(err)
	}
	var full atomic.Bool
	n1, err := Open(homes[0], Options{AuditFS: faultfs.FullDisk(&full)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n1.Close() })
	if err := n1.Start(); err != nil {
		t.Fatal(err)
	}
	code, body := readyz(t, n1)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "no block committed yet") {
		t.Fatalf("readyz with half the validators down: %d %q", code, body)
	}
	t.Logf("before catch-up: %d %s", code, body)
	if resp, err := http.Get(n1.URL() + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz before catch-up: %v %v", resp, err)
	}

	n2, err := Open(homes[1], Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n2.Close() })
	if err := n2.Start(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{n1, n2} {
		waitUntil(t, n.Moniker()+" to be ready", func() bool { code, _ := readyz(t, n); return code == http.StatusOK })
	}
	chain := n1.ChainID()
	for _, n := range []*Node{n1, n2} {
		if v := scrape(t, http.DefaultClient, n.URL())[`cometbft_consensus_height{chain_id="`+chain+`"}`]; v < 1 {
			t.Errorf("%s: cometbft_consensus_height %v", n.Moniker(), v)
		}
	}

	// The audit log's disk fills: a read fails to be recorded, and the
	// node is not ready until the log writes again.
	full.Store(true)
	_, err = n1.audit.Append(context.Background(), audit.Event{Time: time.Now(), Node: n1.cfg.Moniker, Actor: n1.Org(),
		Patient: n1.Org(), Action: "read", Record: "test", Decision: audit.Allow, Reason: "test"})
	if err == nil {
		t.Fatal("an audit write on a full disk succeeded")
	}
	code, body = readyz(t, n1)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "audit log cannot write") {
		t.Fatalf("readyz with the audit log broken: %d %q", code, body)
	}
	t.Logf("audit log broken: %d %s", code, body)
	if v := scrape(t, http.DefaultClient, n1.URL())[`ptoy_audit_append_seconds_count{result="error"}`]; v < 1 {
		t.Errorf("failed audit writes observed: %v", v)
	}
	full.Store(false)
	waitUntil(t, "node1 to be ready again", func() bool { code, _ := readyz(t, n1); return code == http.StatusOK })
}
