package devnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"ptoy"
	"ptoy/client"
	"ptoy/keys"
	"ptoy/ledger"
)

// TestDemoFunds checks what seeding leaves: the treasury, each demo
// patient and organisation funded by the faucet, each organisation with
// the storage plan it paid for; and that a restart funds nobody again.
func TestDemoFunds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	n, err := Start(ctx, Options{Home: home, Validators: 1, KDF: keys.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	l := n.Nodes[0].Ledger()
	p, err := l.Params()
	if err != nil {
		t.Fatal(err)
	}
	if !p.DevFaucet || len(p.Plans) == 0 {
		t.Fatalf("dev params %v", p)
	}
	price := p.Plans[0].Price
	var orgs, patients int
	for _, a := range n.Info.Accounts {
		id, _ := ptoy.ParseID(a.ID)
		bal, err := l.Balance(id)
		if err != nil {
			t.Fatal(err)
		}
		used, quota, plans, err := l.Usage(id)
		if err != nil {
			t.Fatal(err)
		}
		switch a.Kind {
		case "organisation":
			orgs++
			if bal != OrgFunds-price || quota != p.Plans[0].Bytes || len(plans) != 1 || plans[0].Plan != OrgPlan || used != 0 {
				t.Errorf("%s: balance %s, quota %d, plans %v", a.Key, ledger.FormatPTOY(bal), quota, plans)
			}
		case "patient":
			patients++
			if bal != PatientFunds || quota != p.FreeBytes || len(plans) != 0 {
				t.Errorf("%s: balance %s, quota %d, plans %v", a.Key, ledger.FormatPTOY(bal), quota, plans)
			}
		default:
			if bal != 0 {
				t.Errorf("%s: balance %s", a.Key, ledger.FormatPTOY(bal))
			}
		}
	}
	if orgs != len(demoOrgs) || patients != len(DemoPatients) {
		t.Errorf("%d organisations and %d patients in dev.json", orgs, patients)
	}
	tr, _ := l.Balance(ledger.Treasury)
	if want := Treasury + uint64(orgs)*price; tr != want {
		t.Errorf("treasury %s, want %s", ledger.FormatPTOY(tr), ledger.FormatPTOY(want))
	}
	supply, _ := l.Supply()
	n.Close()

	n2, err := Start(ctx, Options{Home: home, Validators: 1, KDF: keys.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if s, _ := n2.Nodes[0].Ledger().Supply(); s != supply {
		t.Errorf("supply after a restart %s, before %s", ledger.FormatPTOY(s), ledger.FormatPTOY(supply))
	}
}

// TestConcurrentTransfers runs transfers on four validators: 20 accounts
// funded by the faucet each send transfers to others chosen at random,
// all accounts at once, each account's transfers in sequence and each
// through a different node than the one before. Every node ends with the
// same balances (those the transfers add up to), the supply is what the
// faucet made, and every node has the same app hash at every height.
func TestConcurrentTransfers(t *testing.T) {
	const (
		accounts = 20
		rounds   = 10
		funds    = 100 * ledger.MicroPTOY
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	n, err := Start(ctx, Options{Home: t.TempDir(), Validators: 4, KDF: keys.TestKDF, NoDemo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cls := make([]*client.Client, len(n.Nodes))
	for i := range cls {
		cls[i] = n.Client(i)
	}
	l0 := n.Nodes[0].Ledger()
	supply0, _ := l0.Supply()
	treasury0, _ := l0.Balance(ledger.Treasury)

	// parallel runs f for every account at once and fails on the first error.
	parallel := func(f func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, accounts)
		for i := range accounts {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = f(i) }()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("account %d: %v", i, err)
			}
		}
	}

	// Register each account through node i mod 2 (a hospital's and a
	// clinic's: only they attest) and fund it through the same node, which
	// has committed the registration (and the keys it publishes) when it
	// returns: another node might not have yet, and would compute the
	// faucet's sequence number from an older state.
	ks := make([]*keys.KeyPair, accounts)
	last := make([]int64, accounts) // height of each account's last transaction
	parallel(func(i int) error {
		k, err := keys.Generate(keys.KEMX25519)
		if err != nil {
			return err
		}
		ks[i] = k
		nd := i % 2
		if _, err := n.Register(ctx, nd, k, fmt.Sprintf("Test Person %d", i), fmt.Sprintf("+1555030%04d", i)); err != nil {
			return err
		}
		r, err := cls[nd].Faucet(ctx, k, funds)
		if err != nil {
			return err
		}
		last[i] = r.Height
		return nil
	})
	t.Logf("%d accounts registered and funded at %v", accounts, time.Since(t0))

	var mu sync.Mutex
	want := make([]uint64, accounts)
	for i := range want {
		want[i] = funds
	}
	parallel(func(i int) error {
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		for r := range rounds {
			nd := (i + r + 1) % len(n.Nodes)
			to := rng.IntN(accounts - 1)
			if to >= i {
				to++
			}
			amount := 1 + rng.Uint64N(5*ledger.MicroPTOY)
			// The node must have committed this account's previous
			// transaction, or the next one's sequence number is early.
			if err := n.Nodes[nd].WaitHeight(ctx, last[i]); err != nil {
				return err
			}
			resp, err := cls[nd].Transfer(ctx, ks[i], ks[to].ID(), amount, fmt.Sprintf("round %d", r))
			if err != nil {
				return fmt.Errorf("transfer %d through node %d: %w", r, nd+1, err)
			}
			last[i] = resp.Height
			mu.Lock()
			want[i] -= amount
			want[to] += amount
			mu.Unlock()
		}
		return nil
	})
	t.Logf("%d transfers committed at %v", accounts*rounds, time.Since(t0))

	var top int64
	for _, nd := range n.Nodes {
		top = max(top, func() int64 { h, _ := nd.Ledger().Height(); return h }())
	}
	for i, nd := range n.Nodes {
		if err := nd.WaitHeight(ctx, top); err != nil {
			t.Fatal(err)
		}
		l := nd.Ledger()
		for a, k := range ks {
			bal, err := l.Balance(k.ID())
			if err != nil {
				t.Fatal(err)
			}
			if bal != want[a] {
				t.Errorf("node %d: account %d has %s, want %s", i+1, a, ledger.FormatPTOY(bal), ledger.FormatPTOY(want[a]))
			}
			if hist, _ := l.History(k.ID(), 0); len(hist) < 1+rounds {
				t.Errorf("node %d: account %d has %d history entries, want at least %d", i+1, a, len(hist), 1+rounds)
			}
		}
		s, _ := l.Supply()
		tr, _ := l.Balance(ledger.Treasury)
		if s != supply0+accounts*funds || tr != treasury0 {
			t.Errorf("node %d: supply %s, treasury %s; want %s and %s", i+1, ledger.FormatPTOY(s), ledger.FormatPTOY(tr),
				ledger.FormatPTOY(supply0+accounts*funds), ledger.FormatPTOY(treasury0))
		}
	}
	var sum uint64
	for _, w := range want {
		sum += w
	}
	if sum != accounts*funds {
		t.Errorf("the accounts hold %s in all, want %s", ledger.FormatPTOY(sum), ledger.FormatPTOY(accounts*funds))
	}
	if err := SameAppHashes(ctx, n, top); err != nil {
		t.Fatal(err)
	}
	t.Logf("every node agrees at height %d, %v", top, time.Since(t0))
}
