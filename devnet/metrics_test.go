package devnet

import (
	"bufio"
	"bytes"
	"log/slog"
	"net/http"
	"ptoy/internal/wait"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ptoy/keys"
	"ptoy/node"
)

// scrape reads node nd's /metrics over HTTP: each series as the text
// format writes it, with its value.
func scrape(t *testing.T, nd *node.Node) map[string]float64 {
	t.Helper()
	c := &http.Client{Transport: nd.Transport(), Timeout: 20 * time.Second}
	resp, err := c.Get(nd.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET /metrics: %s", nd.Moniker(), resp.Status)
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
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestMetricsFourNodes: four validators in one process each serve their
// own metrics, CometBFT's consensus, mempool and p2p metrics among them,
// without a panic from registering CometBFT's metrics more than once in
// the process.
func TestMetricsFourNodes(t *testing.T) {
	t0 := time.Now()
	_, n := startNet(t, 3*time.Minute, Options{Validators: 4})
	t.Logf("started at %v", time.Since(t0))
	chain := `{chain_id="` + n.Nodes[0].ChainID() + `"}`
	check := func(i int) {
		t.Helper()
		nd := n.Nodes[i]
		var m map[string]float64
		if !wait.For(30*time.Second, func() bool {
			m = scrape(t, nd)
			_, ok := m["cometbft_consensus_height"+chain]
			_, mempool := m["cometbft_mempool_size"+chain]
			return ok && m["cometbft_consensus_height"+chain] > 1 && m["cometbft_p2p_peers"+chain] == 3 && mempool && m["ptoy_ledger_height"] >= 1
		}) {
			_, ok := m["cometbft_consensus_height"+chain]
			_, mempool := m["cometbft_mempool_size"+chain]
			t.Fatalf("node %d: cometbft_consensus_height %v (present %v), cometbft_p2p_peers %v, mempool size present %v, ptoy_ledger_height %v",
				i+1, m["cometbft_consensus_height"+chain], ok, m["cometbft_p2p_peers"+chain], mempool, m["ptoy_ledger_height"])
		}
	}
	for i := range n.Nodes {
		check(i)
	}
}

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsHoldNoPHI: a patient registers (name and phone go to the
// node) and the node logs, at every level CometBFT's included, neither.
func TestLogsHoldNoPHI(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug - 4}))
	ctx, n := startNet(t, 2*time.Minute, Options{Validators: 1, Logger: log, NoPatients: true})
	k, err := keys.Generate(keys.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	id, err := n.Register(ctx, 0, k, "Zelda Quixote-Testpatient", "+1 555 010 9876")
	if err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, id.String()) {
		t.Fatalf("the registration is not in the node's log (%d bytes) by the patient's id", len(out))
	}
	for _, phi := range []string{"Zelda", "Quixote", "Testpatient", "5550109876", "555 010 9876", "010 9876"} {
		if strings.Contains(out, phi) {
			i := strings.Index(out, phi)
			t.Errorf("the log holds %q: …%s…", phi, out[max(0, i-200):min(len(out), i+100)])
		}
	}
}
