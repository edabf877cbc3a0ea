package abciapp

import (
	"crypto/ed25519"
	"testing"

	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

type signer struct{ priv ed25519.PrivateKey }

func (s signer) SigningPublic() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }
func (s signer) Sign(m []byte) []byte             { return ed25519.Sign(s.priv, m) }

func newSigner(seed byte) signer {
	return signer{ed25519.NewKeyFromSeed(append(make([]byte, 31), seed))}
}

func mk(t *testing.T, s signer, seq uint64) []byte {
	raw, err := tx.Sign("c", &pb.Body{Sequence: seq, Msg: &pb.Body_Faucet{Faucet: &pb.Faucet{Amount: 1}}}, s)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestOrderBySequence(t *testing.T) {
	a, b := newSigner(1), newSigner(2)
	a1, a2, a3, b1, b2 := mk(t, a, 1), mk(t, a, 2), mk(t, a, 3), mk(t, b, 1), mk(t, b, 2)
	junk := []byte("junk")
	in := [][]byte{a3, b2, junk, a1, b1, a2}
	want := [][]byte{a1, b1, junk, a2, b2, a3}
	got := orderBySequence(in, tx.Decode)
	for i := range want {
		if string(got[i]) != string(want[i]) {
			t.Fatalf("slot %d: got the wrong transaction", i)
		}
	}
}
