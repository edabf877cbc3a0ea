package auth

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

type key struct{ priv ed25519.PrivateKey }

func (k key) SigningPublic() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }
func (k key) Sign(m []byte) []byte             { return ed25519.Sign(k.priv, m) }

func newKey() key {
	_, priv, _ := ed25519.GenerateKey(nil)
	return key{priv}
}

func signed(t *testing.T, k key, method, url string, body []byte, now time.Time, hdr map[string]string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for h, v := range hdr {
		r.Header.Set(h, v)
	}
	if err := Sign(r, "chain", k, now); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSignVerify(t *testing.T) {
	k := newKey()
	now := time.Unix(1_800_000_000, 0)
	r := signed(t, k, "GET", "http://node1/records/abc?version=2", nil, now, nil)
	got, err := Verify(r, "chain", now.Add(30*time.Second), nil)
	if err != nil || !got.Equal(k.SigningPublic()) {
		t.Fatalf("verify: %v", err)
	}
	moved := r.Clone(r.Context())
	moved.URL.Path = "/records/abd"
	if _, err := Verify(moved, "chain", now, nil); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Errorf("signature moved to another path: %v", err)
	}
	if _, err := Verify(httptest.NewRequest("GET", "/records/abd?version=2", nil), "chain", now, nil); err == nil {
		t.Error("unsigned request accepted")
	}
	if _, err := Verify(r, "other-chain", now, nil); err == nil {
		t.Error("other chain accepted")
	}
	if _, err := Verify(r, "chain", now.Add(3*time.Minute), nil); err == nil {
		t.Error("stale request accepted")
	}
	del := r.Clone(r.Context())
	del.Method = "DELETE"
	if _, err := Verify(del, "chain", now, nil); err == nil {
		t.Error("signature of a GET accepted for a DELETE")
	}
	for _, h := range []string{"", "Bearer x", Scheme + " key=zz, ts=1, sig=AA==", Scheme + " key=" + string(make([]byte, 64)) + ", ts=x, sig=y", Scheme + " nonsense"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		if _, err := Verify(r, "chain", now, nil); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("header %q: %v", h, err)
		}
	}
}

// A captured request cannot be replayed, sent to another node, or
// changed to another purpose or organisation.
func TestSignatureCoversHostHeadersAndOnce(t *testing.T) {
	k := newKey()
	now := time.Unix(1_800_000_000, 0)
	nonces := NewNonces()
	hdr := map[string]string{HeaderOrg: "aa", HeaderPurpose: "treatment"}
	r := signed(t, k, "GET", "http://node1:8080/v1/records/p/r", nil, now, hdr)
	for name, edit := range map[string]func(*http.Request){
		"purpose": func(r *http.Request) { r.Header.Set(HeaderPurpose, "research") },
		"org":     func(r *http.Request) { r.Header.Set(HeaderOrg, "bb") },
		"host":    func(r *http.Request) { r.Host = "node2:8080" },
		"content": func(r *http.Request) { r.Header.Set(HeaderContent, strings.Repeat("0", 64)) },
	} {
		c := r.Clone(r.Context())
		edit(c)
		if _, err := Verify(c, "chain", now, nonces); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("changed %s accepted: %v", name, err)
		}
	}
	if _, err := Verify(r, "chain", now, nonces); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err := Verify(r, "chain", now.Add(time.Second), nonces)
	if ptoy.KindOf(err) != ptoy.Unauthenticated || !strings.Contains(ptoy.Message(err), "replayed") {
		t.Fatalf("replay: %v", err)
	}
	// Old minutes are forgotten once their time is no longer fresh.
	for i := range 10 {
		signed := signed(t, k, "GET", "http://node1/x", nil, now.Add(time.Duration(i)*time.Minute), nil)
		if _, err := Verify(signed, "chain", now.Add(time.Duration(i)*time.Minute), nonces); err != nil {
			t.Fatal(err)
		}
	}
	nonces.mu.Lock()
	n := nonces.n
	nonces.mu.Unlock()
	if n > 6 {
		t.Errorf("%d signatures remembered after 10 minutes; old ones should be dropped", n)
	}
}

func TestCheckBody(t *testing.T) {
	k := newKey()
	now := time.Unix(1_800_000_000, 0)
	r := signed(t, k, "POST", "http://node1/api", []byte(`{"patient":"alice"}`), now, nil)
	if _, err := Verify(r, "chain", now, nil); err != nil {
		t.Fatal(err)
	}
	r.Body = io.NopCloser(strings.NewReader(`{"patient":"bob"}`))
	CheckBody(r, 1<<20)
	if _, err := io.ReadAll(r.Body); err != ErrBody {
		t.Fatalf("a swapped body read as %v", err)
	}
	r = signed(t, k, "POST", "http://node1/api", []byte(`{"patient":"alice"}`), now, nil)
	CheckBody(r, 1<<20)
	if b, err := io.ReadAll(r.Body); err != nil || string(b) != `{"patient":"alice"}` {
		t.Fatalf("the signed body: %q %v", b, err)
	}
	r = signed(t, k, "POST", "http://node1/api", bytes.Repeat([]byte("x"), 100), now, nil)
	CheckBody(r, 99)
	if _, err := io.ReadAll(r.Body); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("an oversized body: %v", err)
	}
}

type accounts map[string]*pb.Account

func (a accounts) AccountByKey(k []byte) (*pb.Account, error) {
	if x, ok := a[string(k)]; ok {
		return x, nil
	}
	return nil, ptoy.E("test", ptoy.NotFound, "no account")
}

func (a accounts) Account(id ptoy.ID) (*pb.Account, error) {
	for _, x := range a {
		if ptoy.ID(x.Id) == id {
			return x, nil
		}
	}
	return nil, ptoy.E("test", ptoy.NotFound, "no account")
}

func TestSessions(t *testing.T) {
	k, other := newKey(), newKey()
	acct := &pb.Account{Id: bytes.Repeat([]byte{1}, 20), SigningKey: k.SigningPublic()}
	acct2 := &pb.Account{Id: bytes.Repeat([]byte{2}, 20), SigningKey: other.SigningPublic()}
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	a := &Authenticator{ChainID: "chain", Now: clock, Accounts: accounts{string(k.SigningPublic()): acct, string(other.SigningPublic()): acct2},
		Nonces: NewNonces(), Sessions: NewSessions()}
	bearer := func(tok string) *http.Request {
		r := httptest.NewRequest("GET", "/v1/x", nil)
		r.Header.Set("Authorization", SessionScheme+" "+tok)
		return r
	}
	signIn := func(k key) string {
		t.Helper()
		_, tok, _, err := a.SignIn(signed(t, k, "POST", "http://node1/v1/session", nil, now, nil))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// One signature, one session: a replayed sign-in is refused.
	r := signed(t, k, "POST", "http://node1/v1/session", nil, now, nil)
	if _, _, _, err := a.SignIn(r); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := a.SignIn(r); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("a replayed sign-in: %v", err)
	}
	// A session does not beget sessions.
	tok := signIn(k)
	if _, _, _, err := a.SignIn(bearer(tok)); err == nil {
		t.Fatal("a session signed in for another")
	}
	// A flood of sign-ins by one account drops its own oldest sessions,
	// never another account's.
	tok2 := signIn(other)
	for range 3 * SessionsPerAccount {
		signIn(k)
	}
	if _, err := a.Caller(bearer(tok)); err == nil {
		t.Error("the flooding account's oldest session survived")
	}
	if got, err := a.Caller(bearer(tok2)); err != nil || ptoy.ID(got.Id) != ptoy.ID(acct2.Id) {
		t.Fatalf("another account's session: %v", err)
	}
	// Idle timeout, and activity keeps a session alive up to its maximum age.
	now = now.Add(SessionIdle - time.Second)
	if _, err := a.Caller(bearer(tok2)); err != nil {
		t.Fatalf("a used session: %v", err)
	}
	now = now.Add(SessionIdle + time.Second)
	if _, err := a.Caller(bearer(tok2)); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("an idle session: %v", err)
	}
	// Logout.
	tok3 := signIn(other)
	if !a.SignOut(bearer(tok3)) {
		t.Fatal("logout found no session")
	}
	if _, err := a.Caller(bearer(tok3)); err == nil {
		t.Fatal("a logged-out session")
	}
	// A key rotation ends the sessions signed in with the old key.
	tok4 := signIn(other)
	acct2.SigningKey = newKey().SigningPublic()
	if _, err := a.Caller(bearer(tok4)); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("a session after rotation: %v", err)
	}
	if n := a.Sessions.Len(); n > SessionsPerAccount+1 {
		t.Errorf("%d sessions held", n)
	}
}
