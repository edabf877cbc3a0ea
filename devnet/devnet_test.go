package devnet

import (
	"context"
	"testing"
	"time"

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
