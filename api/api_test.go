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

	"ptoy/devnet"
	"ptoy/keys"
)

// TestBadInputOverHTTP sends malformed requests to a real node with plain
// HTTP and JSON, as curl would: each gets a clear error and the ledger
// state does not change.
func TestBadInputOverHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := devnet.Start(ctx, devnet.Options{Home: t.TempDir(), Validators: 1, KDF: keys.TestKDF, NoDemo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	l := n.Nodes[0].Ledger()
	_, before, err := l.StateSize()
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name, method, body string
		status             int
		want               string // in the response
	}{
		{"garbage tx", "Submit", `{"tx":"` + b64("not a transaction") + `"}`, 200, "malformed transaction envelope"},
		{"empty tx", "Submit", `{}`, 200, "empty transaction"},
		{"not json", "Submit", `{"tx":`, 400, ""},
		{"wrong type", "Submit", `{"tx":42}`, 400, ""},
		{"unknown field", "Submit", `{"tx":"","nonsense":1}`, 400, ""},
		{"bad account id", "GetAccount", `{"id":"` + b64("short") + `"}`, 400, "account id must be 20 bytes"},
		{"absent account", "GetAccount", `{"id":"` + b64(strings.Repeat("x", 20)) + `"}`, 404, "no account"},
		{"bad org id", "ListEmployees", `{"org":""}`, 400, "account id must be 20 bytes"},
		{"bad phone", "StartRegistration", `{"fullName":"Test Person","phone":"12"}`, 400, "international form"},
		{"bad name", "StartRegistration", `{"fullName":"","phone":"+15550100009"}`, 400, ""},
		{"unknown registration", "CompleteRegistration", `{"registrationId":"00","code":"123456","tx":""}`, 400, ""},
	}
	for _, c := range cases {
		req, _ := http.NewRequestWithContext(ctx, "POST", n.Nodes[0].URL()+"/ptoy.v1.NodeService/"+c.method, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, resp.StatusCode, c.status, body)
			continue
		}
		if !json.Valid(body) {
			t.Errorf("%s: response is not JSON: %s", c.name, body)
		}
		if c.want != "" && !strings.Contains(string(body), c.want) {
			t.Errorf("%s: response %s does not say %q", c.name, body, c.want)
		}
	}
	// A body over the size limit is refused before it is read whole.
	big := `{"tx":"` + strings.Repeat("A", 2<<20) + `"}`
	resp, err := http.Post(n.Nodes[0].URL()+"/ptoy.v1.NodeService/Submit", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Errorf("2 MiB request accepted")
	}
	_, after, err := l.StateSize()
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("state changed from %d to %d bytes", before, after)
	}
}
