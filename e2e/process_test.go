package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	coretypes "github.com/cometbft/cometbft/rpc/core/types"

	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
)

// proc is one `ptoy node` process.
type proc struct {
	home string
	cmd  *exec.Cmd
	url  string
	out  *bytes.Buffer
	hc   *http.Client // a pool of its own: a restarted node gets fresh connections
}

func buildPtoy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ptoy")
	out, err := exec.Command("go", "build", "-o", bin, "ptoy/cmd/ptoy").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startNode(t *testing.T, bin, home string) *proc {
	t.Helper()
	p := &proc{home: home, out: new(bytes.Buffer),
		hc: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 2 * time.Minute}}
	p.cmd = exec.Command(bin, "node", "--home", home, "--log", "warn")
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "ready" {
				ready <- f[1]
			}
		}
	}()
	select {
	case p.url = <-ready:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("%s did not become ready:\n%s", home, p.out)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.cmd.Wait()
		}
	})
	return p
}

// TestFourProcessesKill9 runs four validators as four processes on
// 127.0.0.1..4, kills one with SIGKILL while transactions flow, restarts
// it, and checks that nothing acknowledged is lost and that every node
// reports the same app hash at every height.
func TestFourProcessesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := buildPtoy(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "testnet", "--validators", "4", "--out", dir, "--free-ports", "--fast", "--chain-id", "e2e").CombinedOutput()
	if err != nil {
		t.Fatalf("testnet: %v\n%s", err, out)
	}
	var procs []*proc
	for i := 1; i <= 4; i++ {
		procs = append(procs, startNode(t, bin, filepath.Join(dir, fmt.Sprintf("node%d", i))))
	}
	pass, err := os.ReadFile(filepath.Join(dir, "node1", "keys", "passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	org, _, err := keys.Dir{Path: filepath.Join(dir, "node1", "keys")}.Load("org", bytes.TrimSpace(pass))
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(procs[0].url, procs[0].hc)

	// Send employees one after another through node 1, remembering the
	// acknowledged ones, while node 3 is killed and restarted.
	var (
		mu    sync.Mutex
		acked []*keys.KeyPair
		stop  = make(chan struct{})
		done  = make(chan error, 1)
	)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			k, err := keys.Generate(keys.KEMX25519)
			if err != nil {
				done <- err
				return
			}
			_, err = c.Send(ctx, &pb.Body{Msg: &pb.Body_AddEmployee{AddEmployee: &pb.AddEmployee{
				Org: org.ID().Bytes(), SigningKey: k.SigningPublic(), Kem: client.KEM(k), Role: pb.Role_ROLE_NURSE,
			}}}, org, k)
			if err != nil {
				done <- err
				return
			}
			mu.Lock()
			acked = append(acked, k)
			mu.Unlock()
		}
	}()
	waitAcked := func(n int) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		eventually(t, wctx, fmt.Sprintf("%d acknowledged transactions", n), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= n
		})
	}
	waitAcked(5)
	victim := procs[2]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.cmd.Wait()
	mu.Lock()
	atKill := len(acked)
	mu.Unlock()
	waitAcked(atKill + 5) // three of four validators keep committing
	procs[2] = startNode(t, bin, victim.home)
	waitAcked(atKill + 10)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	top := st.Height
	for i, p := range procs {
		pc := client.New(p.url, p.hc)
		eventually(t, ctx, fmt.Sprintf("node %d to catch up to height %d", i+1, top), func() bool {
			s, err := pc.Status(ctx)
			return err == nil && s.Height >= top
		})
	}
	// Nothing acknowledged is lost, on the restarted node either.
	es, err := client.New(procs[2].url, procs[2].hc).Employees(ctx, org.ID())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range es {
		have[fmt.Sprintf("%x", e.Practitioner)] = true
	}
	for _, k := range acked {
		if !have[k.ID().String()] {
			t.Errorf("acknowledged employee %s missing on the restarted node", k.ID())
		}
	}
	sameHashes(t, ctx, procs, top)
	t.Logf("%d transactions acknowledged, %d before the kill; %d heights agree", len(acked), atKill, top)
}

// sameHashes checks that every node's block headers carry the same app
// hash at every height up to top.
func sameHashes(t *testing.T, ctx context.Context, procs []*proc, top int64) {
	t.Helper()
	var rpcs []*rpchttp.HTTP
	for _, p := range procs {
		cfg, err := node.LoadConfig(p.home)
		if err != nil {
			t.Fatal(err)
		}
		r, err := rpchttp.New(cfg.RPCAddr, "/websocket")
		if err != nil {
			t.Fatal(err)
		}
		rpcs = append(rpcs, r)
	}
	for h := int64(1); h <= top; h++ {
		var first []byte
		for i, r := range rpcs {
			var hdr *coretypes.ResultHeader
			// A restarted node may still be catching up.
			eventually(t, ctx, fmt.Sprintf("node %d's header at height %d", i+1, h), func() bool {
				var err error
				hdr, err = r.Header(ctx, &h)
				return err == nil
			})
			if i == 0 {
				first = hdr.Header.AppHash
			} else if !bytes.Equal(first, hdr.Header.AppHash) {
				t.Fatalf("height %d: app hash differs between node 1 and node %d", h, i+1)
			}
		}
	}
}
