package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ptoy"
	"ptoy/client"
	"ptoy/devnet"
	"ptoy/directory"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
)

// story is the journey of ../shared/STORY.md on a `ptoy dev` network of
// four validators, each run as its own `ptoy node` process.
type story struct {
	t     *testing.T
	root  *testing.T // owns the processes: they outlive the steps
	ctx   context.Context
	bin   string
	home  string
	info  devnet.Info
	nodes []*proc
	env   []string
}

// ptoy runs the CLI against node i (1-based) and returns its stdout; it
// fails the test unless the exit status is as wanted.
func (s *story) ptoy(i int, wantOK bool, stdin string, args ...string) (string, string) {
	s.t.Helper()
	cmd := exec.CommandContext(s.ctx, s.bin, args...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Env = append(cmd.Env, "PTOY_NODE="+s.nodes[i-1].url)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if (err == nil) != wantOK {
		s.t.Fatalf("ptoy %s: err=%v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

func (s *story) client(i int) *client.Client { return client.New(s.nodes[i-1].url, s.nodes[i-1].hc) }

func (s *story) key(name string) *keys.KeyPair {
	s.t.Helper()
	k, _, err := keys.Dir{Path: s.info.KeysDir}.Load(name, []byte(devnet.Passphrase))
	if err != nil {
		s.t.Fatal(err)
	}
	return k
}

func TestStory(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := &story{t: t, root: t, ctx: ctx, bin: buildPtoy(t), home: t.TempDir()}
	ports, err := node.FreePorts("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	// `ptoy dev` makes the network and its demo cast, then stops; its
	// nodes then run as four processes on the same homes.
	dev := exec.CommandContext(ctx, s.bin, "dev", "--validators", "4", "--home", s.home,
		"--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--demo-patients=false")
	dev.Env = append(os.Environ(), "PTOY_TEST_FAST_KDF=1")
	devOut, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	if line := waitLine(t, devOut, "ready", 2*time.Minute); !strings.Contains(line, "validators=4") {
		t.Fatalf("dev said %q", line)
	}
	dev.Process.Signal(syscall.SIGTERM)
	dev.Wait()
	b, err := os.ReadFile(filepath.Join(s.home, "dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s.info); err != nil {
		t.Fatal(err)
	}
	for _, n := range s.info.Nodes {
		s.nodes = append(s.nodes, startNode(t, s.bin, n.Home))
	}
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte(devnet.Passphrase+"\n"), 0o600)
	s.env = []string{"PTOY_KEYS=" + s.info.KeysDir, "PTOY_PASSPHRASE=" + devnet.Passphrase, "PTOY_TEST_FAST_KDF=1"}

	t.Run("1 Alice registers", s.step1)
	t.Run("2 employee lists", s.step2)
	t.Run("3 Alice grants", s.step3)
	t.Run("4 writes", s.step4)
	t.Run("5 reads", s.step5)
	t.Run("6 explain", s.step6)
	t.Run("14 a SMART app reads over FHIR", s.step14)
	t.Run("11 kill -9", s.step11)
	t.Run("7 revoke", s.step7)
	t.Run("14b the app after the revocation", s.step14b)
	t.Run("8 break-glass", s.step8)
	t.Run("9 audit trail", s.step9)
	t.Run("10 storage and PTOY", s.step10)
	t.Run("13 find my records", s.step13)
	t.Run("16 back doors", s.step16)
}

// Step 1: Alice registers with her name and phone; the code arrives in
// the dev outbox; her keys are sealed under her passphrase; the ledger
// shows her id and public keys, and no name or phone.
func (s *story) step1(t *testing.T) {
	const name, phone = "Alice Example", "+15550100001"
	s.t = t
	// The first run sends the code and, with nothing typed, stays pending.
	_, stderr := s.ptoy(1, false, "", "register", "--key", "alice", "--name", name, "--phone", phone)
	if !strings.Contains(stderr, "pending") {
		t.Fatalf("register without a code: %s", stderr)
	}
	code, err := directory.LatestCode(filepath.Join(s.info.Nodes[0].Home, "outbox.jsonl"), phone)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := s.ptoy(1, true, "", "register", "--key", "alice", "--code", code)
	if !strings.Contains(out, "registered patient") {
		t.Fatalf("register: %s", out)
	}
	alice := s.key("alice")
	// Registration published her category keys.
	if _, _, err := s.client(1).As(alice).KeySet(s.ctx, alice.ID(), ptoy.ID{}); err != nil {
		t.Fatalf("Alice's key set: %v", err)
	}
	if _, _, err := (keys.Dir{Path: s.info.KeysDir}).Load("alice", []byte("wrong")); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("wrong passphrase: %v", err)
	}
	// Every node shows her account: id and keys, registrar, nothing else.
	for i := 1; i <= 4; i++ {
		a := s.waitAccount(i, alice.ID())
		if a.Account.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT || !bytes.Equal(a.Account.SigningKey, alice.SigningPublic()) ||
			!bytes.Equal(a.Account.Kem.Key, alice.KEMPublic()) {
			t.Fatalf("node %d account %v", i, a.Account)
		}
		out, _ := s.ptoy(i, true, "", "account", "show", "--json", alice.ID().String())
		for _, pii := range []string{"Alice", "Example", "5550100001", "0100001"} {
			if strings.Contains(out, pii) {
				t.Fatalf("node %d shows %q on the ledger: %s", i, pii, out)
			}
		}
	}
	// Bob registers by typing the code when asked.
	_, stderr = s.ptoy(2, false, "", "register", "--key", "bob", "--name", "Bob Example", "--phone", "+15550100002")
	code, err = directory.LatestCode(filepath.Join(s.info.Nodes[1].Home, "outbox.jsonl"), "+15550100002")
	if err != nil {
		t.Fatal(err, stderr)
	}
	s.ptoy(2, true, "", "register", "--key", "bob", "--code", code)
}

func (s *story) waitAccount(i int, id ptoy.ID) *pb.GetAccountResponse {
	s.t.Helper()
	var a *pb.GetAccountResponse
	eventually(s.t, s.ctx, fmt.Sprintf("account %s on node %d", id, i), func() bool {
		var err error
		a, err = s.client(i).Account(s.ctx, id)
		if err != nil && ptoy.KindOf(err) != ptoy.NotFound {
			s.t.Fatalf("node %d account %s: %v", i, id, err)
		}
		return err == nil
	})
	return a
}

// Step 2: General Hospital's admin adds a new nurse; Riverside's admin
// cannot touch General Hospital's list.
func (s *story) step2(t *testing.T) {
	s.t = t
	gh := s.key("general-hospital").ID().String()
	s.ptoy(1, true, "", "keys", "new", "nurse-kim", "--kem", "x25519")
	s.ptoy(1, true, "", "employee", "add", "--as", "gh-admin", "--org", gh, "--role", "nurse", "nurse-kim")
	_, stderr := s.ptoy(2, false, "", "employee", "remove", "--as", "riverside-admin", "--org", gh, "nurse-kim")
	if !strings.Contains(stderr, "only General Hospital or its admins") {
		t.Fatalf("riverside-admin: %s", stderr)
	}
	out, _ := s.ptoy(3, true, "", "employee", "list", gh)
	if !strings.Contains(out, s.key("nurse-kim").ID().String()) {
		t.Fatalf("nurse-kim missing from the list on node 3:\n%s", out)
	}
}

// Step 11: one node is killed with kill -9 in the middle of all this;
// nothing acknowledged is lost and after its restart every node agrees.
func (s *story) step11(t *testing.T) {
	s.t = t
	victim := s.nodes[1]
	victim.cmd.Process.Signal(syscall.SIGKILL)
	victim.cmd.Wait()
	gh := s.key("general-hospital").ID().String()
	s.ptoy(1, true, "", "keys", "new", "nurse-ito", "--kem", "x25519")
	s.ptoy(1, true, "", "employee", "add", "--as", "gh-admin", "--org", gh, "--role", "nurse", "nurse-ito")
	s.nodes[1] = startNode(s.root, s.bin, victim.home)
	st, err := s.client(1).Status(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.waitAccount(2, s.key("nurse-ito").ID())
	sameHashes(t, s.ctx, s.nodes, st.Height)
}

// waitLine reads lines from r until one starts with prefix.
func waitLine(t *testing.T, r interface{ Read([]byte) (int, error) }, prefix string, d time.Duration) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		var buf []byte
		one := make([]byte, 1)
		for {
			n, err := r.Read(one)
			if n == 1 {
				if one[0] == '\n' {
					if strings.HasPrefix(string(buf), prefix) {
						ch <- string(buf)
						return
					}
					buf = buf[:0]
					continue
				}
				buf = append(buf, one[0])
			}
			if err != nil {
				close(ch)
				return
			}
		}
	}()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatalf("no line starting with %q", prefix)
		}
		return l
	case <-time.After(d):
		t.Fatalf("no line starting with %q within %v", prefix, d)
	}
	return ""
}
