package auth

import (
	"crypto/ed25519"
	"net/http/httptest"
	"testing"
	"time"

	"ptoy"
)

type key struct{ priv ed25519.PrivateKey }

func (k key) SigningPublic() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }
func (k key) Sign(m []byte) []byte             { return ed25519.Sign(k.priv, m) }

func TestSignVerify(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	k := key{priv}
	now := time.Unix(1_800_000_000, 0)
	r := httptest.NewRequest("GET", "/records/abc?version=2", nil)
	Sign(r, "chain", k, now)
	got, err := Verify(r, "chain", now.Add(30*time.Second))
	if err != nil || !got.Equal(k.SigningPublic()) {
		t.Fatalf("verify: %v", err)
	}
	moved := httptest.NewRequest("GET", "/records/abd?version=2", nil)
	moved.Header = r.Header.Clone()
	if _, err := Verify(moved, "chain", now); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Errorf("signature moved to another path: %v", err)
	}
	if _, err := Verify(httptest.NewRequest("GET", "/records/abd?version=2", nil), "chain", now); err == nil {
		t.Error("unsigned request accepted")
	}
	r2 := httptest.NewRequest("GET", "/records/abc?version=2", nil)
	Sign(r2, "chain", k, now)
	if _, err := Verify(r2, "other-chain", now); err == nil {
		t.Error("other chain accepted")
	}
	if _, err := Verify(r2, "chain", now.Add(3*time.Minute)); err == nil {
		t.Error("stale request accepted")
	}
	r3 := httptest.NewRequest("DELETE", "/records/abc?version=2", nil)
	r3.Header = r2.Header.Clone()
	if _, err := Verify(r3, "chain", now); err == nil {
		t.Error("signature of a GET accepted for a DELETE")
	}
	for _, h := range []string{"", "Bearer x", Scheme + " key=zz, ts=1, sig=AA==", Scheme + " key=" + string(make([]byte, 64)) + ", ts=x, sig=y", Scheme + " nonsense"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		if _, err := Verify(r, "chain", now); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("header %q: %v", h, err)
		}
	}
}
