package devnet

import (
	"testing"
	"time"
)

// TestKeepKeystores: with KeepKeystores (what ptoy dev sets), every demo
// patient can sign in at node 1 with the demo passphrase right away,
// and still after the network is started again; so can General
// Hospital's staff to its console.
func TestKeepKeystores(t *testing.T) {
	home := t.TempDir()
	for start := range 2 {
		ctx, n := startNet(t, 2*time.Minute, Options{Home: home, KeepKeystores: true})
		for _, p := range DemoPatients {
			k := mustKey(t, n, p.Key)
			tok, err := n.Client(0).Unseal(ctx, k.ID(), Passphrase)
			if err != nil {
				t.Fatalf("start %d: %s signs in: %v", start+1, p.Key, err)
			}
			if err := n.Client(0).Logout(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range demoStaff {
			k := mustKey(t, n, s.key)
			tok, _, err := n.Nodes[0].UnsealStaff(ctx, k.ID(), Passphrase)
			if s.org != "general-hospital" {
				if err == nil {
					t.Errorf("start %d: %s of %s signs in at General Hospital's node", start+1, s.key, s.org)
				}
				continue
			}
			if err != nil {
				t.Fatalf("start %d: %s signs in to the console: %v", start+1, s.key, err)
			}
			n.Nodes[0].EndSession(tok)
		}
		n.Close()
	}
}
