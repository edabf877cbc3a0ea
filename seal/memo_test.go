package seal

import (
	"bytes"
	"crypto/hpke"
	"strings"
	"testing"

	"ptoy"
)

func memoParty(t *testing.T, alg uint16, id byte) (MemoHolder, hpke.PrivateKey) {
	t.Helper()
	kem, err := hpke.NewKEM(alg)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var a ptoy.ID
	a[0] = id
	return MemoHolder{ID: a, Alg: alg, KEMPublic: sk.PublicKey().Bytes()}, sk
}

// TestMemo seals a memo to a recipient and a sender: both open it, a
// third party and a memo moved to another transfer do not, the text is not
// in the sealed bytes, and the longest memo to two hybrid keys fits.
func TestMemo(t *testing.T) {
	for _, alg := range algs {
		to, toKey := memoParty(t, alg, 1)
		from, fromKey := memoParty(t, alg, 2)
		other, otherKey := memoParty(t, alg, 3)
		text := "copay for HIV clinic visit"
		s, err := SealMemo(from.ID, to.ID, text, []MemoHolder{to, from})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(s, []byte("HIV")) || len(s) > MaxSealedMemo {
			t.Fatalf("sealed memo of %d bytes holds the text or is too large", len(s))
		}
		for _, p := range []struct {
			id  ptoy.ID
			key hpke.PrivateKey
		}{{to.ID, toKey}, {from.ID, fromKey}} {
			got, err := OpenMemo(s, from.ID, to.ID, p.id, p.key)
			if err != nil || got != text {
				t.Fatalf("alg %x: holder %s opened %q, %v", alg, p.id, got, err)
			}
		}
		if _, err := OpenMemo(s, from.ID, to.ID, other.ID, otherKey); ptoy.KindOf(err) != ptoy.PermissionDenied {
			t.Errorf("a third party: %v", err)
		}
		if _, err := OpenMemo(s, from.ID, other.ID, from.ID, fromKey); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("a memo moved to another transfer: %v", err)
		}
		s[len(s)-1] ^= 1
		if _, err := OpenMemo(s, from.ID, to.ID, to.ID, toKey); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("an altered memo: %v", err)
		}
		long, err := SealMemo(from.ID, to.ID, strings.Repeat("é", MaxMemo), []MemoHolder{to, from})
		if err != nil || len(long) > MaxSealedMemo {
			t.Errorf("the longest memo: %d bytes, %v", len(long), err)
		}
	}
	h, _ := memoParty(t, algX25519, 1)
	for _, bad := range []string{strings.Repeat("x", MaxMemo+1), "two\nlines"} {
		if _, err := SealMemo(h.ID, h.ID, bad, []MemoHolder{h}); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("memo %q: %v", bad, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("PTOYMEM1"), []byte("PTOYMEM1\x03"), append([]byte("PTOYMEM1\x01"), make([]byte, 10)...)} {
		if _, err := OpenMemo(bad, h.ID, h.ID, h.ID, nil); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("malformed %q: %v", bad, err)
		}
	}
}
