package kem

import (
	"crypto/hpke"
	"math/rand/v2"
	"testing"
)

// TestHybridCheckAgreesWithHPKE checks the fast validation of hybrid keys
// against crypto/hpke's full parse, on real keys and on keys with one
// coefficient pushed to or past the modulus, or the wrong length.
func TestHybridCheckAgreesWithHPKE(t *testing.T) {
	h := hpke.MLKEM768X25519()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		k, err := h.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		key := k.PublicKey().Bytes()
		cases := [][]byte{key, key[:len(key)-1], append(append([]byte{}, key...), 0)}
		for range 4 {
			bad := append([]byte{}, key...)
			j := 3 * r.IntN((mlkem768EKSize-32)/3)
			if r.IntN(2) == 0 {
				v := 3329 + uint16(r.IntN(4096-3329))
				if i%2 == 0 {
					v = 3329 // exactly q
				}
				bad[j] = byte(v)
				bad[j+1] = bad[j+1]&0xf0 | byte(v>>8)
			} else {
				bad[j+2] = 0xff // second coefficient >= 3329
			}
			cases = append(cases, bad)
		}
		for n, c := range cases {
			_, herr := h.NewPublicKey(c)
			ferr := ValidPublic(Hybrid, c)
			if (herr == nil) != (ferr == nil) {
				t.Fatalf("key %d case %d: hpke says %v, fast check says %v", i, n, herr, ferr)
			}
		}
	}
}

func BenchmarkValidPublicHybrid(b *testing.B) {
	k, _ := hpke.MLKEM768X25519().GenerateKey()
	key := k.PublicKey().Bytes()
	for b.Loop() {
		if err := ValidPublic(Hybrid, key); err != nil {
			b.Fatal(err)
		}
	}
}
