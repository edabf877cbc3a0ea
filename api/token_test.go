package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/auth"
	"ptoy/client"
	"ptoy/devnet"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/ledger"
)

// TestTokenOverHTTP asks the token service of a real node (one validator,
// the demo cast funded by the faucet) with plain HTTP and JSON, as curl
// would, then moves PTOY through the client and reads the result back.
func TestTokenOverHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := devnet.Start(ctx, devnet.Options{Home: t.TempDir(), Validators: 1, KDF: keys.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	key := func(name string) *keys.KeyPair {
		k, err := n.Key(name)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	alice, bob, gh := key("alice"), key("bob"), key("general-hospital")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	url := n.Nodes[0].URL() + "/ptoy.v1.TokenService/"

	// postAs sends a JSON body signed by k (nil: unsigned) and returns the
	// status and the decoded answer.
	postAs := func(k *keys.KeyPair, method, body string) (int, map[string]any, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", url+method, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if k != nil {
			if err := auth.Sign(req, n.Nodes[0].Ledger().ChainID(), k, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: response is not JSON: %s", method, raw)
		}
		return resp.StatusCode, m, string(raw)
	}
	okAs := func(k *keys.KeyPair, method, body string) map[string]any {
		t.Helper()
		st, m, raw := postAs(k, method, body)
		if st != 200 {
			t.Fatalf("%s %s: status %d: %s", method, body, st, raw)
		}
		return m
	}
	ok := func(method, body string) map[string]any { t.Helper(); return okAs(nil, method, body) }
	acct := func(k *keys.KeyPair) string { return `{"account":"` + b64(k.ID().Bytes()) + `"}` }

	// What the demo seeding left: each patient and organisation funded by
	// the faucet, each organisation with storage plan 1 paid to the treasury.
	m := okAs(alice, "Balance", acct(alice))
	if m["balance"] != "100000000" || m["formatted"] != "100 PTOY" {
		t.Errorf("alice's balance: %v", m)
	}
	m = okAs(gh, "Balance", acct(gh))
	if m["formatted"] != "990 PTOY" {
		t.Errorf("General Hospital's balance: %v", m)
	}
	wantTreasury := devnet.Treasury + 4*10*ledger.MicroPTOY
	m = ok("Params", `{}`)
	params, _ := m["params"].(map[string]any)
	if params["devFaucet"] != true || params["freeBytes"] != "10000000" || len(params["plans"].([]any)) != 2 {
		t.Errorf("params: %v", m)
	}
	if m["treasuryFormatted"] != ledger.FormatPTOY(wantTreasury) || m["treasury"] != b64(ledger.Treasury.Bytes()) {
		t.Errorf("treasury: %v", m)
	}
	m = ok("Supply", `{}`)
	wantSupply := devnet.Treasury + 4*devnet.OrgFunds + 2*devnet.PatientFunds
	if m["formatted"] != ledger.FormatPTOY(wantSupply) {
		t.Errorf("supply: %v, want %s", m, ledger.FormatPTOY(wantSupply))
	}
	m = okAs(gh, "Usage", acct(gh))
	if m["quota"] != "100000000" || m["formatted"] != "0 bytes of 100 MB used" || len(m["plans"].([]any)) != 1 || m["freeBytes"] != nil {
		t.Errorf("General Hospital's usage: %v", m)
	}
	m = okAs(alice, "Usage", acct(alice))
	if m["quota"] != "10000000" || m["freeBytes"] != "10000000" || m["formatted"] != "0 bytes of 10 MB used" || m["plans"] != nil {
		t.Errorf("alice's usage: %v", m)
	}
	m = okAs(gh, "History", `{"account":"`+b64(gh.ID().Bytes())+`","limit":5}`)
	es, _ := m["entries"].([]any)
	if len(es) != 2 || es[0].(map[string]any)["kind"] != "HISTORY_KIND_PLAN" || es[1].(map[string]any)["kind"] != "HISTORY_KIND_FAUCET" {
		t.Errorf("General Hospital's history: %v", m)
	}
	if m := ok("Balance", `{"account":"`+b64(ledger.Treasury.Bytes())+`"}`); m["formatted"] != ledger.FormatPTOY(wantTreasury) {
		t.Errorf("treasury balance: %v", m)
	}

	// Bad input: clear errors with the right status.
	nobody := b64(make([]byte, 20))
	for _, c := range []struct {
		name, method, body string
		status             int
		want               string
	}{
		{"short id", "Balance", `{"account":"` + b64([]byte("short")) + `"}`, 400, "account: an account id is 20 bytes, got 5"},
		{"no id", "Balance", `{}`, 400, "account: an account id is 20 bytes, got 0"},
		{"bad id history", "History", `{"account":"AAAA"}`, 400, "account id is 20 bytes"},
		{"bad id usage", "Usage", `{"account":""}`, 400, "account id is 20 bytes"},
		{"unknown account", "Balance", `{"account":"` + nobody + `"}`, 404, "no account 0000000000000000000000000000000000000000 on this network"},
		{"unknown history", "History", `{"account":"` + nobody + `"}`, 404, "no account"},
		{"unknown usage", "Usage", `{"account":"` + nobody + `"}`, 404, "no account"},
		{"limit too large", "History", `{"account":"` + b64(gh.ID().Bytes()) + `","limit":5000}`, 400, "limit: at most 1000 entries"},
		{"negative limit", "History", `{"account":"` + b64(gh.ID().Bytes()) + `","limit":-1}`, 400, ""},
		{"not base64", "Balance", `{"account":"%%%"}`, 400, ""},
		{"unknown field", "Supply", `{"nonsense":1}`, 400, ""},
		{"not json", "Params", `{`, 400, ""},
	} {
		st, m, raw := postAs(gh, c.method, c.body)
		if st != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, st, c.status, raw)
			continue
		}
		if c.want != "" && !strings.Contains(m["message"].(string), c.want) {
			t.Errorf("%s: message %q does not say %q", c.name, m["message"], c.want)
		}
	}

	// Through the client: a transfer, a plan bought for someone else, the
	// faucet, and refusals that change nothing.
	cl := client.New(n.Nodes[0].URL(), nil)
	r, err := cl.Transfer(ctx, alice, bob.ID(), 5*ledger.MicroPTOY, "lunch")
	if err != nil {
		t.Fatal(err)
	}
	balance := func(k *keys.KeyPair) uint64 {
		t.Helper()
		b, err := cl.As(k).Balance(ctx, k.ID())
		if err != nil {
			t.Fatal(err)
		}
		if b.Height < r.Height {
			t.Errorf("balance of height %d, before the transfer's %d", b.Height, r.Height)
		}
		return b.Balance
	}
	if a, b := balance(alice), balance(bob); a != 95*ledger.MicroPTOY || b != 105*ledger.MicroPTOY {
		t.Errorf("after the transfer alice has %d, bob %d", a, b)
	}
	hist, err := cl.As(bob).History(ctx, bob.ID(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 {
		t.Fatalf("bob's history: %v", hist)
	}
	if memo, err := client.OpenMemo(bob, bob.ID(), hist[0]); err != nil || memo != "lunch" {
		t.Errorf("bob's memo: %q, %v", memo, err)
	}
	if hist[0].Kind != pb.HistoryKind_HISTORY_KIND_TRANSFER_IN ||
		ptoy.ID(hist[0].Counterparty) != alice.ID() || hist[0].Balance != 105*ledger.MicroPTOY || hist[0].Height != r.Height {
		t.Errorf("bob's newest entry: %v", hist)
	}
	_, err = cl.Transfer(ctx, alice, bob.ID(), 1000*ledger.MicroPTOY, "")
	if ptoy.KindOf(err) != ptoy.Invalid || ptoy.Message(err) != "insufficient funds: balance 95 PTOY, transfer 1000 PTOY" {
		t.Errorf("overdraft: %v", err)
	}
	_, err = cl.Transfer(ctx, alice, ptoy.ID{1}, 1, "")
	if ptoy.KindOf(err) != ptoy.NotFound || !strings.Contains(ptoy.Message(err), "check the recipient's id") {
		t.Errorf("unknown recipient: %v", err)
	}
	if _, err := cl.BuyPlan(ctx, bob, 1, alice.ID()); err != nil {
		t.Fatal(err)
	}
	u, err := cl.As(alice).Usage(ctx, alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	if u.Quota != 110*ledger.MB || len(u.Plans) != 1 || ptoy.ID(u.Plans[0].PaidBy) != bob.ID() || u.Formatted != "0 bytes of 110 MB used" {
		t.Errorf("alice's usage after bob bought her a plan: %v", u)
	}
	if _, err := cl.Faucet(ctx, alice, 7*ledger.MicroPTOY); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Faucet(ctx, alice, 5000*ledger.MicroPTOY); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("faucet over its maximum: %v", err)
	}
	s, err := cl.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Supply != wantSupply+7*ledger.MicroPTOY || s.Treasury != wantTreasury+10*ledger.MicroPTOY {
		t.Errorf("supply %s, treasury %s", ledger.FormatPTOY(s.Supply), ledger.FormatPTOY(s.Treasury))
	}
	p, err := cl.Params(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Params.DevFaucet || p.TreasuryBalance != s.Treasury {
		t.Errorf("params %v", p)
	}
	if _, err := cl.As(alice).Balance(ctx, ptoy.ID{1}); ptoy.KindOf(err) != ptoy.NotFound {
		t.Errorf("balance of an unknown id: %v", err)
	}
	if _, err := cl.As(alice).History(ctx, alice.ID(), 2000); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("history with limit 2000: %v", err)
	}
}
