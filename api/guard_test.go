package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	"ptoy/consent"
	"ptoy/devnet"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// TestPersonalQueriesOverHTTP asks every query about a person of a real
// node three ways: unsigned (refused as unauthenticated, with plain HTTP
// and JSON as curl would, and through the client), signed by an account
// with no business asking (refused as permission denied), and signed by
// the party concerned (answered). What is answered to someone other than
// the patient appears in the patient's audit trail.
func TestPersonalQueriesOverHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
	alice, bob, gh, river := key("alice"), key("bob"), key("general-hospital"), key("riverside-clinic")
	osei, lee, park, ruiz := key("dr-osei"), key("nurse-lee"), key("park"), key("ruiz")
	novak, riverAdmin := key("dr-novak"), key("riverside-admin")
	cl := n.Client(0)

	// Alice grants General Hospital her clinical records; Nurse Lee
	// writes a note for her.
	if err := agent.New(cl, alice).Grant(ctx, gh.ID(), agent.GrantOptions{Categories: consent.Clinical,
		Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ | pb.Permission_PERMISSION_WRITE}); err != nil {
		t.Fatal(err)
	}
	note, err := cl.PutRecords(ctx, lee, alice.ID(), gh.ID(), []client.NewRecord{{Category: pb.Category_CATEGORY_NOTES, Data: []byte(`{"resourceType":"DocumentReference"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	noteID := note[0].Id

	// Each query: the call, who may ask it, and someone who may not.
	type query struct {
		name          string
		call          func(c *client.Client) error
		right, wrong  *keys.KeyPair
		rightOrg      ptoy.ID // the organisation the right party asks for
		method, input string  // the same query as JSON, unsigned
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	pat := `{"patient":"` + b64(alice.ID().Bytes()) + `"}`
	acct := `{"account":"` + b64(alice.ID().Bytes()) + `"}`
	explain := func(reader *keys.KeyPair, org ptoy.ID) func(c *client.Client) error {
		return func(c *client.Client) error {
			req := &pb.ExplainRequest{Reader: reader.ID().Bytes(), Patient: alice.ID().Bytes(), Categories: consent.Bit(pb.Category_CATEGORY_NOTES)}
			if !org.IsZero() {
				req.Org = org.Bytes()
			}
			_, err := c.Explain(ctx, req)
			return err
		}
	}
	queries := []query{
		{"access", func(c *client.Client) error { _, err := c.Access(ctx, alice.ID()); return err }, alice, bob, ptoy.ID{}, "ConsentService/Access", pat},
		{"notifications", func(c *client.Client) error { _, err := c.Notifications(ctx, alice.ID()); return err }, alice, osei, ptoy.ID{}, "ConsentService/Notifications", pat},
		{"break-glass of a patient", func(c *client.Client) error { _, err := c.BreakGlassOf(ctx, alice.ID()); return err }, alice, bob, ptoy.ID{}, "ConsentService/BreakGlassQueue", pat},
		{"review queue", func(c *client.Client) error { _, err := c.BreakGlassQueue(ctx, river.ID()); return err }, riverAdmin, novak, ptoy.ID{},
			"ConsentService/BreakGlassQueue", `{"org":"` + b64(river.ID().Bytes()) + `"}`},
		{"review queue, privacy officer", func(c *client.Client) error { _, err := c.BreakGlassQueue(ctx, gh.ID()); return err }, ruiz, osei, ptoy.ID{}, "", ""},
		{"patient list", func(c *client.Client) error { _, err := c.Patients(ctx, gh.ID()); return err }, lee, riverAdmin, ptoy.ID{},
			"ConsentService/Patients", `{"grantee":"` + b64(gh.ID().Bytes()) + `"}`},
		{"explain, the reader", explain(park, gh.ID()), park, bob, ptoy.ID{}, "ConsentService/Explain",
			`{"reader":"` + b64(park.ID().Bytes()) + `","patient":"` + b64(alice.ID().Bytes()) + `","categories":512}`},
		{"explain, a privacy officer", explain(park, gh.ID()), ruiz, novak, ptoy.ID{}, "", ""},
		{"records", func(c *client.Client) error {
			rs, err := c.Records(ctx, alice.ID())
			if err == nil && len(rs) != 1 {
				t.Errorf("Dr Osei sees %d records, want the note", len(rs))
			}
			return err
		}, osei, bob, gh.ID(), "RecordService/Records", pat},
		{"record", func(c *client.Client) error { _, err := c.Record(ctx, alice.ID(), noteID, 0); return err }, osei, riverAdmin, gh.ID(),
			"RecordService/Record", `{"patient":"` + b64(alice.ID().Bytes()) + `","id":"` + b64(noteID) + `"}`},
		{"record history", func(c *client.Client) error { _, err := c.RecordHistory(ctx, alice.ID(), noteID); return err }, alice, bob, ptoy.ID{},
			"RecordService/RecordHistory", `{"patient":"` + b64(alice.ID().Bytes()) + `","id":"` + b64(noteID) + `"}`},
		{"key set", func(c *client.Client) error { _, _, err := c.KeySet(ctx, alice.ID(), ptoy.ID{}); return err }, lee, bob, ptoy.ID{}, "RecordService/KeySet", pat},
		{"payments", func(c *client.Client) error { _, err := c.History(ctx, alice.ID(), 0); return err }, alice, bob, ptoy.ID{}, "TokenService/History", acct},
		{"balance", func(c *client.Client) error { _, err := c.Balance(ctx, alice.ID()); return err }, alice, park, ptoy.ID{}, "TokenService/Balance", acct},
		{"storage use", func(c *client.Client) error { _, err := c.Usage(ctx, alice.ID()); return err }, alice, bob, ptoy.ID{}, "TokenService/Usage", acct},
		{"an organisation's payments", func(c *client.Client) error { _, err := c.History(ctx, gh.ID(), 0); return err }, park, osei, ptoy.ID{}, "", ""},
	}
	for _, q := range queries {
		if err := q.call(cl); ptoy.KindOf(err) != ptoy.Unauthenticated || !strings.Contains(ptoy.Message(err), "sign the request") {
			t.Errorf("%s, unsigned: %v", q.name, err)
		}
		if err := q.call(cl.As(q.wrong)); ptoy.KindOf(err) != ptoy.PermissionDenied {
			t.Errorf("%s, asked by an unrelated account: %v", q.name, err)
		}
		if err := q.call(cl.As(q.right).For(q.rightOrg, 0)); err != nil {
			t.Errorf("%s, asked by the party concerned: %v", q.name, err)
		}
		if q.method == "" {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", n.Nodes[0].URL()+"/ptoy.v1."+q.method, strings.NewReader(q.input))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !bytes.Contains(body, []byte("unauthenticated")) {
			t.Errorf("%s over plain HTTP: %d %s", q.name, resp.StatusCode, body)
		}
	}

	// What was answered to (or refused) others than Alice is in her
	// audit trail: Dr Osei's record list, Park's explanation, Bob's try.
	evs, err := n.Nodes[0].Audit().ForPatient(ctx, alice.ID(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if e.Action == "query" {
			seen[e.Actor.String()+" "+e.Record+" "+e.Decision] = true
		}
	}
	for _, want := range []string{osei.ID().String() + " records allow", park.ID().String() + " explain allow", bob.ID().String() + " access deny"} {
		if !seen[want] {
			t.Errorf("Alice's audit trail lacks %q; it has %v", want, seen)
		}
	}
}

// TestSealedMemo sends PTOY with a memo: Bob reads it in his history and
// Alice in hers, a stranger may not read Alice's history, and the memo is
// nowhere in the node's files in clear (ledger, blocks, logs).
func TestSealedMemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := devnet.Start(ctx, devnet.Options{Home: t.TempDir(), Validators: 1, KDF: keys.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	alice, err := n.Key("alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := n.Key("bob")
	if err != nil {
		t.Fatal(err)
	}
	cl := n.Client(0)
	const memo = "copay for HIV clinic visit"
	if _, err := cl.Transfer(ctx, alice, bob.ID(), 1_000_000, memo); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*keys.KeyPair{bob, alice} {
		es, err := cl.As(p).History(ctx, p.ID(), 1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := client.OpenMemo(p, p.ID(), es[0])
		if err != nil || got != memo {
			t.Errorf("%s's history: memo %q, %v", p.ID(), got, err)
		}
		if es[0].Memo != "" {
			t.Errorf("the node answers a memo in clear: %q", es[0].Memo)
		}
	}
	if _, err := cl.As(bob).History(ctx, alice.ID(), 0); ptoy.KindOf(err) != ptoy.PermissionDenied {
		t.Errorf("Bob read Alice's payments: %v", err)
	}
	if _, err := client.OpenMemo(bob, alice.ID(), &pb.HistoryEntry{}); err != nil {
		t.Errorf("an entry without a memo: %v", err)
	}
	home := n.Info.Nodes[0].Home
	n.Close() // flush every store to its files
	filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("HIV clinic")) {
			t.Errorf("the memo is in clear in %s", p)
		}
		return nil
	})
}
