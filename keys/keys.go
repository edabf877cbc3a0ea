// Package keys makes and keeps the key pairs of ptoy identities: an Ed25519
// signing key, from which the account id is derived, and an HPKE KEM key
// that others encrypt to. Key pairs are kept in keystore files sealed with a
// passphrase (Argon2id and XChaCha20-Poly1305), one file per key in a
// directory.
//
// Private keys never appear in the errors or the String output of this
// package.
package keys

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"fmt"

	"ptoy"
	"ptoy/kem"
)

// KEM algorithm identifiers, as registered for HPKE.
const (
	KEMX25519 = kem.X25519 // DHKEM(X25519, HKDF-SHA256)
	KEMHybrid = kem.Hybrid // ML-KEM-768 + X25519 (default)
)

// KeyPair is the private key material of one identity.
type KeyPair struct {
	Signing ed25519.PrivateKey // signs transactions; its public key names the account
	KEM     hpke.PrivateKey    // decapsulates what others encrypt to this identity
}

// Generate makes a new key pair whose KEM key uses kemAlg, one of KEMHybrid
// and KEMX25519.
func Generate(kemAlg uint16) (*KeyPair, error) {
	const op = "keys.Generate"
	kem, err := newKEM(op, kemAlg)
	if err != nil {
		return nil, err
	}
	_, signing, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot generate signing key", err)
	}
	priv, err := kem.GenerateKey()
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot generate KEM key", err)
	}
	return &KeyPair{Signing: signing, KEM: priv}, nil
}

// ID returns the account id of the key pair, derived from its signing
// public key.
func (k *KeyPair) ID() ptoy.ID { return ptoy.IDFromKey(k.SigningPublic()) }

// SigningPublic returns the Ed25519 public key.
func (k *KeyPair) SigningPublic() ed25519.PublicKey {
	return k.Signing.Public().(ed25519.PublicKey)
}

// KEMAlg returns the HPKE KEM identifier of the KEM key.
func (k *KeyPair) KEMAlg() uint16 { return k.KEM.KEM().ID() }

// KEMPublic returns the serialized HPKE public key of the KEM key.
func (k *KeyPair) KEMPublic() []byte { return k.KEM.PublicKey().Bytes() }

// Sign signs msg with the Ed25519 key.
func (k *KeyPair) Sign(msg []byte) []byte { return ed25519.Sign(k.Signing, msg) }

// String describes the key pair by its public parts only.
func (k KeyPair) String() string {
	if len(k.Signing) != ed25519.PrivateKeySize || k.KEM == nil {
		return "keys.KeyPair(incomplete)"
	}
	return fmt.Sprintf("keys.KeyPair(id=%s, kem=%s)", k.ID(), KEMName(k.KEMAlg()))
}

// GoString is String, so that %#v does not print the private keys either.
func (k KeyPair) GoString() string { return k.String() }

// ValidKEMPublic checks that key is a serialized public key of the KEM
// alg (kem.ValidPublic).
func ValidKEMPublic(alg uint16, key []byte) error { return kem.ValidPublic(alg, key) }

// KEMName returns the name of a KEM identifier for people to read.
func KEMName(alg uint16) string { return kem.Name(alg) }

// newKEM returns the KEM of alg if it is one this package accepts.
func newKEM(op string, alg uint16) (hpke.KEM, error) { return kem.New(op, alg) }

// checkKeyPair checks that k is complete and self-consistent before it is
// sealed, so that a sealed file always opens to the same key pair.
func checkKeyPair(op string, k *KeyPair) error {
	if k == nil || len(k.Signing) != ed25519.PrivateKeySize || k.KEM == nil {
		return ptoy.E(op, ptoy.Invalid, "key pair is incomplete")
	}
	if _, err := newKEM(op, k.KEMAlg()); err != nil {
		return err
	}
	derived := ed25519.NewKeyFromSeed(k.Signing.Seed())
	if !derived.Public().(ed25519.PublicKey).Equal(k.SigningPublic()) {
		return ptoy.E(op, ptoy.Invalid, "signing key pair is inconsistent")
	}
	return nil
}
