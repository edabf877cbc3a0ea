package tx_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"testing"

	"google.golang.org/protobuf/proto"

	"ptoy"
	"ptoy/keys"
	"ptoy/tx"
)

// fuzzKey is a fixed key pair, so that the seed corpus is the same on
// every run.
func fuzzKey(seed byte) *keys.KeyPair {
	s := bytes.Repeat([]byte{seed}, ed25519.SeedSize)
	kem, err := hpke.DHKEM(ecdh.X25519()).DeriveKeyPair(s)
	if err != nil {
		panic(err)
	}
	return &keys.KeyPair{Signing: ed25519.NewKeyFromSeed(s), KEM: kem}
}

// FuzzDecode: Decode never panics; what it accepts is within the limits,
// and its envelope, encoded again deterministically, decodes to an equal
// envelope and body (and that encoding is a fixed point). Verify of an
// accepted transaction never panics either.
func FuzzDecode(f *testing.F) {
	k, c1, c2 := fuzzKey(1), fuzzKey(2), fuzzKey(3)
	for i, body := range sampleBodies(k, c1) {
		cos := []tx.Signer{c1, c2}[:i%3]
		raw, err := tx.Sign(chainID, body, k, cos...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := tx.Decode(raw)
		if err != nil {
			if got != nil {
				t.Fatal("a Tx along with an error")
			}
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("Decode error of kind %v: %v", ptoy.KindOf(err), err)
			}
			return
		}
		if len(raw) == 0 || len(raw) > tx.MaxTxBytes {
			t.Fatalf("accepted %d bytes", len(raw))
		}
		if got.Hash != sha256.Sum256(raw) || !bytes.Equal(got.Raw, raw) {
			t.Fatal("Hash or Raw do not match the input")
		}
		if got.Body.Sequence == 0 || got.Body.Msg == nil || len(got.Envelope.Cosignatures) > tx.MaxCosignatures {
			t.Fatal("accepted a body Decode should refuse")
		}
		_ = tx.Name(got.Body)
		_ = got.Verify(chainID) // must not panic

		again, err := proto.MarshalOptions{Deterministic: true}.Marshal(got.Envelope)
		if err != nil {
			t.Fatalf("re-encoding an accepted envelope: %v", err)
		}
		got2, err := tx.Decode(again)
		if err != nil {
			t.Fatalf("the re-encoded envelope does not decode: %v", err)
		}
		if !proto.Equal(got.Envelope, got2.Envelope) {
			t.Fatal("re-encoded envelope differs")
		}
		if !proto.Equal(got.Body, got2.Body) {
			t.Fatal("re-encoded body differs")
		}
		again2, err := proto.MarshalOptions{Deterministic: true}.Marshal(got2.Envelope)
		if err != nil || !bytes.Equal(again, again2) {
			t.Fatal("deterministic encoding is not a fixed point")
		}
		// The signatures are over the body bytes, which re-encoding the
		// envelope keeps: a transaction that verified still verifies.
		if got.Verified() && got2.Verify(chainID) != nil {
			t.Fatal("re-encoding broke the signatures")
		}
	})
}
