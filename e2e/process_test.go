package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	coretypes "github.com/cometbft/cometbft/rpc/core/types"

	"ptoy"
	"ptoy/agent"
	"ptoy/auth"
	"ptoy/blob"
	"ptoy/client"
	"ptoy/directory"
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
	return startCmd(t, home, exec.Command(bin, "node", "--home", home, "--log", "warn"))
}

// startCmd starts cmd, which runs `ptoy node --home home`, and waits for
// the node to say it is ready.
func startCmd(t *testing.T, home string, cmd *exec.Cmd) *proc {
	t.Helper()
	p, err := tryStartCmd(t, home, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// errPortTaken is a node that could not bind a port its configuration
// names: another process took it since the ports were picked (test
// packages pick at random at the same time, and cannot see each other's
// choice until they bind).
var errPortTaken = errors.New("a port of the node was taken")

// tryStartCmd is startCmd that returns what went wrong.
func tryStartCmd(t *testing.T, home string, cmd *exec.Cmd) (*proc, error) {
	t.Helper()
	p := &proc{home: home, out: new(bytes.Buffer), cmd: cmd,
		hc: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 2 * time.Minute}}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	gone := make(chan struct{}) // its output ended: it exited
	go func() {
		defer close(gone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "ready" {
				ready <- f[1]
			}
		}
	}()
	select {
	case p.url = <-ready:
	case <-gone:
		p.cmd.Wait()
		if strings.Contains(p.out.String(), "address already in use") {
			return nil, fmt.Errorf("%s: %w:\n%s", home, errPortTaken, p.out)
		}
		return nil, fmt.Errorf("%s exited before it was ready:\n%s", home, p.out)
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		p.cmd.Wait()
		return nil, fmt.Errorf("%s did not become ready:\n%s", home, p.out)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.cmd.Wait()
		}
	})
	return p, nil
}

// startTestnet writes a four-validator testnet on free ports and starts
// its nodes. A port taken by another process between the pick and the
// bind makes it pick again, a few times.
func startTestnet(t *testing.T, bin string) (string, []*proc) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		dir := t.TempDir()
		out, err := exec.Command(bin, "testnet", "--validators", "4", "--out", dir, "--free-ports", "--fast", "--dev", "--chain-id", "e2e").CombinedOutput()
		if err != nil {
			t.Fatalf("testnet: %v\n%s", err, out)
		}
		var procs []*proc
		for i := 1; i <= 4 && err == nil; i++ {
			var p *proc
			if p, err = tryStartCmd(t, filepath.Join(dir, fmt.Sprintf("node%d", i)), exec.Command(bin, "node", "--home", filepath.Join(dir, fmt.Sprintf("node%d", i)), "--log", "warn")); err == nil {
				procs = append(procs, p)
			}
		}
		if err == nil {
			return dir, procs
		}
		for _, p := range procs {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v; picking other ports", attempt, errPortTaken)
	}
}

// TestFourProcessesFaults runs four validators as four processes on
// 127.0.0.1..4 while a client sends transactions through node 1 and
// checks, after each fault, that every node reports the same app hash at
// every height and that nothing acknowledged is lost:
//   - node 3 is killed with SIGKILL mid-write and restarted;
//   - node 4 is stopped (three of four go on) and restarted;
//   - nodes 3 and 4 are stopped: the network halts (consensus goes
//     round after round at one height without committing) and resumes
//     when node 3 returns;
//   - node 2 is paused (SIGSTOP) for longer than the consensus timeouts,
//     then continued: it catches up;
//   - node 4's blob store (data/blobs) is wiped while it is stopped: on
//     restart it fetches back what is placed on it;
//   - node 3's whole data directory is wiped but for its validator's
//     last-signed state: it block-syncs from genesis and fetches back
//     what every node keeps;
//   - node 4's blob store fills up (a small tmpfs, where the machine
//     lets an unprivileged user mount one): an upload fails clearly,
//     leaves nothing, and succeeds once space returns.
func TestFourProcessesFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildPtoy(t)
	dir, procs := startTestnet(t, bin)
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
	// acknowledged ones. A send that fails (the network halted) is not
	// acknowledged; the writer goes on with a new one.
	var (
		mu     sync.Mutex
		acked  []*keys.KeyPair
		failed int
		stop   = make(chan struct{})
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			k, err := keys.Generate(keys.KEMX25519)
			if err != nil {
				t.Error(err)
				return
			}
			sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
			_, err = c.Send(sctx, &pb.Body{Msg: &pb.Body_AddEmployee{AddEmployee: &pb.AddEmployee{
				Org: org.ID().Bytes(), SigningKey: k.SigningPublic(), Kem: client.KEM(k), Role: pb.Role_ROLE_NURSE,
			}}}, org, k)
			scancel()
			mu.Lock()
			if err != nil {
				failed++
			} else {
				acked = append(acked, k)
			}
			mu.Unlock()
			if err != nil && ctx.Err() == nil {
				select { // a halted network: do not spin
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
	}()
	defer func() {
		select {
		case <-done:
		default:
			close(stop)
			<-done
		}
	}()
	nAcked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitAcked := func(n int) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		eventually(t, wctx, fmt.Sprintf("%d acknowledged transactions", n), func() bool { return nAcked() >= n })
	}
	height := func(p *proc) int64 {
		s, err := client.New(p.url, p.hc).Status(ctx)
		if err != nil {
			return -1
		}
		return s.Height
	}
	// check waits for every node to reach node 1's height, then compares
	// app hashes and reads every acknowledged employee back from each.
	check := func(what string) {
		t.Helper()
		mu.Lock()
		want := slices.Clone(acked) // committed at or below node 1's height now
		mu.Unlock()
		top := height(procs[0])
		for i, p := range procs {
			eventually(t, ctx, fmt.Sprintf("after %s: node %d to catch up to height %d", what, i+1, top), func() bool {
				return height(p) >= top
			})
		}
		sameHashes(t, ctx, procs, top)
		for i, p := range procs {
			es, err := client.New(p.url, p.hc).Employees(ctx, org.ID())
			if err != nil {
				t.Fatalf("after %s: node %d: %v", what, i+1, err)
			}
			have := map[string]bool{}
			for _, e := range es {
				have[fmt.Sprintf("%x", e.Practitioner)] = true
			}
			for _, k := range want {
				if !have[k.ID().String()] {
					t.Fatalf("after %s: acknowledged employee %s missing on node %d", what, k.ID(), i+1)
				}
			}
		}
		t.Logf("after %s: %d transactions acknowledged, %d heights agree on every node", what, len(want), top)
	}
	signal := func(i int, sig syscall.Signal) {
		t.Helper()
		if err := procs[i].cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
			procs[i].cmd.Wait()
		}
	}

	waitAcked(5)

	// kill -9 a validator mid-write, and restart it.
	signal(2, syscall.SIGKILL)
	at := nAcked()
	waitAcked(at + 5) // three of four validators keep committing
	procs[2] = startNode(t, bin, procs[2].home)
	waitAcked(at + 10)
	check("kill -9 and restart")

	// Stop one validator: the network goes on.
	signal(3, syscall.SIGTERM)
	at = nAcked()
	waitAcked(at + 5)
	procs[3] = startNode(t, bin, procs[3].home)
	waitAcked(at + 10)
	check("one validator stopped and restarted")

	// Stop two of four: the network halts. Consensus on the other two
	// waits at one height without committing (for votes that cannot
	// come), far longer than the consensus timeouts.
	signal(2, syscall.SIGTERM)
	signal(3, syscall.SIGTERM)
	var stuck int64
	eventually(t, ctx, "nodes 1 and 2 to wait at one height for 3 s", func() bool {
		for _, p := range procs[:2] {
			h, _, since, ok := roundState(ctx, p)
			if !ok || time.Since(since) < 3*time.Second {
				return false
			}
			stuck = h
		}
		return true
	})
	halted := nAcked()
	for i, p := range procs[:2] {
		if h := height(p); h >= stuck {
			t.Fatalf("node %d committed height %d while two of four validators were down", i+1, h)
		}
	}
	procs[2] = startNode(t, bin, procs[2].home)
	waitAcked(halted + 5)
	procs[3] = startNode(t, bin, procs[3].home)
	check("two of four stopped, one back")

	// Pause a node for longer than the consensus timeouts.
	signal(1, syscall.SIGSTOP)
	paused := height(procs[0])
	at = nAcked()
	waitAcked(at + 5)
	eventually(t, ctx, "ten blocks without node 2", func() bool { return height(procs[0]) >= paused+10 })
	signal(1, syscall.SIGCONT)
	check("a node paused and continued")

	// Wipe one node's blob store: on restart it fetches back what is
	// placed on it. A patient's key set (key material, which every node
	// keeps) is the blob.
	const phone = "+15550199001"
	start, err := c.StartRegistration(ctx, "Fault Test", phone)
	if err != nil {
		t.Fatal(err)
	}
	code, err := directory.LatestCode(filepath.Join(procs[0].home, "outbox.jsonl"), phone)
	if err != nil {
		t.Fatal(err)
	}
	patient, err := keys.Generate(keys.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Register(ctx, c, start, code, patient); err != nil { // publishes her key set
		t.Fatal(err)
	}
	ks, _, err := c.As(patient).KeySet(ctx, patient.ID(), ptoy.ID{})
	if err != nil {
		t.Fatal(err)
	}
	h := blob.Hash(ks.KeySet)
	eventually(t, ctx, "node 4 to hold the key set", func() bool { return holds(ctx, procs[3], org, h, patient.ID()) })
	signal(3, syscall.SIGTERM)
	if err := os.RemoveAll(filepath.Join(procs[3].home, "data", "blobs")); err != nil {
		t.Fatal(err)
	}
	// Where the machine allows it (a mount namespace of an unprivileged
	// user), node 4's blob store comes back on a small tmpfs of its own,
	// for the full-disk fault below.
	blobsDir := filepath.Join(procs[3].home, "data", "blobs")
	tmpfs := tmpfsAllowed()
	if tmpfs {
		if err := os.MkdirAll(blobsDir, 0o700); err != nil {
			t.Fatal(err)
		}
		procs[3] = startCmd(t, procs[3].home, exec.Command("unshare", "-rm", "sh", "-c",
			`mount -t tmpfs -o size=64m tmpfs "$1" && exec "$2" node --home "$3" --log warn`,
			"sh", blobsDir, bin, procs[3].home))
	} else {
		procs[3] = startNode(t, bin, procs[3].home)
	}
	eventually(t, ctx, "node 4 to fetch the key set back after its blob store was wiped", func() bool {
		return holds(ctx, procs[3], org, h, patient.ID())
	})
	check("a wiped blob store")

	// Wipe node 3's whole data directory (ledger state, blocks, audit log,
	// blobs) but its validator's last-signed state, which an operator
	// keeps so that it never signs twice at one height: on restart it
	// block-syncs from genesis to the same app hash and fetches back what
	// every node keeps.
	signal(2, syscall.SIGTERM)
	dataDir := filepath.Join(procs[2].home, "data")
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "priv_validator_state.json" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	procs[2] = startNode(t, bin, procs[2].home)
	eventually(t, ctx, "node 3 to fetch the key set back after its data directory was wiped", func() bool {
		return holds(ctx, procs[2], org, h, patient.ID())
	})
	check("a wiped data directory")

	if !tmpfs {
		t.Log("no full-disk fault: this machine does not let an unprivileged user mount a tmpfs (unshare -rm)")
	} else {
		// Fill node 4's blob store: an upload through it fails with a
		// clear error and leaves nothing behind; when space returns, the
		// same upload succeeds.
		filler := filepath.Join("/proc", strconv.Itoa(procs[3].cmd.Process.Pid), "root", blobsDir, "filler")
		fill(t, filler)
		data := make([]byte, 2<<20) // kept as a file, not inside Pebble
		rand.Read(data)
		c4 := client.New(procs[3].url, procs[3].hc)
		_, err := c4.Upload(ctx, org, data)
		if ptoy.KindOf(err) != ptoy.Unavailable || !strings.Contains(err.Error(), "disk is full") {
			t.Fatalf("an upload to a full disk: %v; want it refused as unavailable, saying the disk is full", err)
		}
		t.Logf("an upload to a full disk: %v", err)
		if holds(ctx, procs[3], org, blob.Sum(data), patient.ID()) {
			t.Fatal("a failed upload left a blob behind")
		}
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		if got, err := c4.Upload(ctx, org, data); err != nil || got != blob.Sum(data) {
			t.Fatalf("upload once space returned: %v, %v", got, err)
		}
		check("a full disk")
	}

	close(stop)
	<-done
	mu.Lock()
	t.Logf("%d transactions acknowledged, %d sends failed", len(acked), failed)
	mu.Unlock()
}

// tmpfsAllowed reports whether this process may mount a tmpfs in a
// mount namespace of its own.
func tmpfsAllowed() bool {
	dir, err := os.MkdirTemp("", "tmpfs")
	if err != nil {
		return false
	}
	defer os.Remove(dir)
	return exec.Command("unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).Run() == nil
}

// fill writes name until its file system is full.
func fill(t *testing.T, name string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// holds asks node p, as the storage node of org signer, whether it holds
// blob h of patient.
func holds(ctx context.Context, p *proc, signer *keys.KeyPair, h blob.Hash, patient ptoy.ID) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, p.url+"/v1/replica/"+h.String()+"?patient="+patient.String(), nil)
	if err != nil || auth.Sign(req, "e2e", signer, time.Now()) != nil {
		return false
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// roundState returns the height and round node p's consensus is at, and
// when the round started.
func roundState(ctx context.Context, p *proc) (height int64, round int, start time.Time, ok bool) {
	cfg, err := node.LoadConfig(p.home)
	if err != nil {
		return 0, 0, time.Time{}, false
	}
	r, err := rpchttp.New(cfg.RPCAddr, "/websocket")
	if err != nil {
		return 0, 0, time.Time{}, false
	}
	cs, err := r.ConsensusState(ctx)
	if err != nil {
		return 0, 0, time.Time{}, false
	}
	var rs struct {
		HRS   string    `json:"height/round/step"`
		Start time.Time `json:"start_time"`
	}
	if json.Unmarshal(cs.RoundState, &rs) != nil {
		return 0, 0, time.Time{}, false
	}
	f := strings.Split(rs.HRS, "/")
	if len(f) != 3 {
		return 0, 0, time.Time{}, false
	}
	height, err1 := strconv.ParseInt(f[0], 10, 64)
	round, err2 := strconv.Atoi(f[1])
	return height, round, rs.Start, err1 == nil && err2 == nil
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
