package devnet

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ptoy"
	"ptoy/client"
	"ptoy/directory"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
)

// wantErr fails unless err is of kind k and its message says msg.
func wantErr(t *testing.T, what string, err error, k ptoy.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error; want %v %q", what, k, msg)
	}
	if ptoy.KindOf(err) != k || !strings.Contains(err.Error(), msg) {
		t.Fatalf("%s: %v (%v); want %v %q", what, err, ptoy.KindOf(err), k, msg)
	}
}

func newPatientKey(t *testing.T) *keys.KeyPair {
	t.Helper()
	k, err := keys.Generate(keys.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// registered reports whether k founded an account.
func registered(ctx context.Context, c *client.Client, k *keys.KeyPair) bool {
	_, err := c.AccountByKey(ctx, k.SigningPublic())
	return err == nil
}

// TestRegistration runs the registration rules over HTTP on four
// validators (General Hospital, Riverside Clinic, City Lab, Acme
// Insurance): one code registers one key however many requests race with
// it; a phone registered through one node is refused through another;
// only a hospital or a clinic attests; StartRegistration is rate limited
// per client.
func TestRegistration(t *testing.T) {
	ctx, n := startNet(t, 4*time.Minute, Options{Validators: 4})
	c0, c1 := n.Client(0), n.Client(1)

	t.Run("one code, one patient", func(t *testing.T) {
		const phone = "+15550100010"
		start, err := c0.StartRegistration(ctx, "Carol Example", phone)
		if err != nil {
			t.Fatal(err)
		}
		code, err := n.OutboxCode(phone)
		if err != nil {
			t.Fatal(err)
		}
		const racers = 6
		ks := make([]*keys.KeyPair, racers)
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range ks {
			ks[i] = newPatientKey(t)
			wg.Go(func() { _, errs[i] = c0.CompleteRegistration(ctx, start, code, ks[i]) })
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			if err == nil {
				wins++
				continue
			}
			wantErr(t, "racing CompleteRegistration", err, ptoy.PermissionDenied, "this registration was already used")
			if registered(ctx, c0, ks[i]) {
				t.Errorf("key %d was refused but registered", i)
			}
		}
		if wins != 1 {
			t.Fatalf("%d of %d registrations with one code succeeded; want 1", wins, racers)
		}
		// Replayed afterwards, with the same code and a new key.
		_, err = c0.CompleteRegistration(ctx, start, code, newPatientKey(t))
		wantErr(t, "replayed code", err, ptoy.PermissionDenied, "this registration was already used; start again for a new code")
	})

	t.Run("one phone, one patient, across nodes", func(t *testing.T) {
		// Alice registered through General Hospital's node; Riverside
		// Clinic's node refuses her phone before it sends a code.
		_, err := c1.StartRegistration(ctx, "Alice Again", "+1 555 010 0001")
		wantErr(t, "alice's phone at node 2", err, ptoy.Exists, "this phone number is already registered")

		// Two registrations of one new phone under way at two nodes at
		// once: the ledger takes the first and refuses the second.
		const phone = "+15550100011"
		s0, err := c0.StartRegistration(ctx, "Dan Example", phone)
		if err != nil {
			t.Fatal(err)
		}
		s1, err := c1.StartRegistration(ctx, "Dan Example", phone)
		if err != nil {
			t.Fatal(err)
		}
		code0, err := n.OutboxCode(phone)
		if err != nil {
			t.Fatal(err)
		}
		code1, err := latestCode(n, 1, phone)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c0.CompleteRegistration(ctx, s0, code0, newPatientKey(t)); err != nil {
			t.Fatal(err)
		}
		second := newPatientKey(t)
		_, err = c1.CompleteRegistration(ctx, s1, code1, second)
		wantErr(t, "same phone through node 2", err, ptoy.Exists, "this phone number is already registered")
		if registered(ctx, c1, second) {
			t.Error("the second registration of one phone made an account")
		}
	})

	t.Run("only hospitals and clinics attest", func(t *testing.T) {
		// Acme Insurance co-signs a registration as registrar, with no
		// code at all: the ledger refuses it.
		acme := mustKey(t, n, "acme-insurance")
		k := newPatientKey(t)
		tag := make([]byte, 32)
		rand.Read(tag)
		_, err := c0.Send(ctx, &pb.Body{Sequence: 1, Msg: &pb.Body_RegisterPatient{RegisterPatient: &pb.RegisterPatient{
			Kem: client.KEM(k), Registrar: acme.ID().Bytes(), PhoneTag: tag,
		}}}, k, acme)
		wantErr(t, "insurer attestation", err, ptoy.PermissionDenied, "Acme Insurance is an insurer: only a hospital or a clinic may attest")
		if registered(ctx, c0, k) {
			t.Error("an insurer attested a patient")
		}
		// Nor do the lab's and the insurer's nodes send codes.
		for i := 2; i < 4; i++ {
			_, err := n.Client(i).StartRegistration(ctx, "Erin Example", "+15550100012")
			wantErr(t, "StartRegistration at "+demoOrgs[i].name, err, ptoy.PermissionDenied, "does not register patients: only a hospital or a clinic may")
		}
	})

	t.Run("rate limited per client", func(t *testing.T) {
		// Riverside Clinic's node, restarted with 2 codes per client and
		// one more an hour.
		n.StopNode(1)
		home := n.Info.Nodes[1].Home
		cfg, err := node.LoadConfig(home)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RegisterLimits = node.RegisterLimits{ClientBurst: 2, ClientEvery: "1h", NodeBurst: 100, NodeEvery: "1s"}
		if err := node.SaveConfig(home, cfg); err != nil {
			t.Fatal(err)
		}
		if err := n.StartNode(1); err != nil {
			t.Fatal(err)
		}
		c := n.Client(1)
		for i, phone := range []string{"+15550100020", "+15550100021"} {
			if _, err := c.StartRegistration(ctx, "Fay Example", phone); err != nil {
				t.Fatalf("start %d: %v", i+1, err)
			}
		}
		_, err = c.StartRegistration(ctx, "Fay Example", "+15550100022")
		wantErr(t, "third start", err, ptoy.Unavailable, "too many registrations from your address; try again in ")
	})
}

// latestCode is the newest code node i sent to phone.
func latestCode(n *Net, i int, phone string) (string, error) {
	return directory.LatestCode(filepath.Join(n.Info.Nodes[i].Home, "outbox.jsonl"), phone)
}
