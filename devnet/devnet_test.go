package devnet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/keys"
)

func TestDevOneValidator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	n, err := Start(ctx, Options{Home: home, Validators: 1, KDF: keys.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	st, err := n.Client(0).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("height %d chain %s validators %d", st.Height, st.ChainId, st.Validators)
	alice, err := n.Key("alice")
	if err != nil {
		t.Fatal(err)
	}
	a, err := n.Client(0).Account(ctx, alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("alice: %v", a.Account)
	n.Close()
	n2, err := Start(ctx, Options{Home: home, Validators: 1, KDF: keys.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if _, err := n2.Client(0).Account(ctx, alice.ID()); err != nil {
		t.Fatal(err)
	}
}

// TestStartAfterUnfinishedCreation: a home whose creation was cut short
// (the process killed before dev.json) is made afresh; a home holding
// keys that no unfinished creation left is refused with the reason, not
// overwritten; a home is run by one network at a time.
func TestStartAfterUnfinishedCreation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(home, "keys"), 0o700))
	must(os.WriteFile(filepath.Join(home, "keys", "general-hospital.key"), []byte("left over"), 0o600))

	_, err := Start(ctx, Options{Home: home, Validators: 1, KDF: keys.TestKDF, NoDemo: true})
	if ptoy.KindOf(err) != ptoy.Exists || !strings.Contains(err.Error(), "no dev.json") {
		t.Fatalf("a home with foreign keys: %v", err)
	}

	must(os.WriteFile(filepath.Join(home, creatingFile), nil, 0o600))
	n, err := Start(ctx, Options{Home: home, Validators: 1, KDF: keys.TestKDF, NoDemo: true})
	if err != nil {
		t.Fatalf("after an unfinished creation: %v", err)
	}
	defer n.Close()
	if _, err := os.Stat(filepath.Join(home, creatingFile)); !os.IsNotExist(err) {
		t.Errorf("the creation marker is still there: %v", err)
	}
	if _, err := Start(ctx, Options{Home: home, Validators: 1, KDF: keys.TestKDF, NoDemo: true}); ptoy.KindOf(err) != ptoy.Unavailable ||
		!strings.Contains(err.Error(), "is in use by another process") {
		t.Fatalf("a second start while it runs: %v", err)
	}
}
