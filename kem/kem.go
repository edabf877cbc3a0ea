// Package kem names the HPKE key encapsulation mechanisms ptoy accepts for
// identity and category keys, and checks public keys of them. It is what
// the ledger needs of the keys: no private key and no keystore.
package kem

import (
	"crypto/hpke"
	"fmt"

	"ptoy"
)

// KEM algorithm identifiers, as registered for HPKE.
const (
	X25519 uint16 = 0x0020 // DHKEM(X25519, HKDF-SHA256)
	Hybrid uint16 = 0x647a // ML-KEM-768 + X25519 (default)
)

// Name is the name of a KEM for people.
func Name(alg uint16) string {
	switch alg {
	case Hybrid:
		return "ML-KEM-768+X25519"
	case X25519:
		return "X25519"
	}
	return fmt.Sprintf("unknown(0x%04x)", alg)
}

// New returns the KEM of alg if it is one ptoy accepts.
func New(op string, alg uint16) (hpke.KEM, error) {
	if alg != Hybrid && alg != X25519 {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown KEM algorithm 0x%04x", alg))
	}
	k, err := hpke.NewKEM(alg)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("KEM algorithm 0x%04x is not available", alg), err)
	}
	return k, nil
}

// mlkem768EKSize is the size of an ML-KEM-768 encapsulation key: 3
// polynomials of 256 12-bit coefficients, then the 32-byte matrix seed.
const mlkem768EKSize = 1184

// ValidPublic checks that key is a serialized public key of the KEM alg,
// cheaply enough for the ledger to check every registration. It is
// ptoy.Invalid otherwise.
func ValidPublic(alg uint16, key []byte) error {
	const op = "kem.ValidPublic"
	k, err := New(op, alg)
	if err != nil {
		return err
	}
	if alg == Hybrid {
		// FIPS 203's input checks (length and modulus) without expanding
		// the key's matrix, which is what makes parsing slow; the X25519
		// half is any 32 bytes, as crypto/ecdh accepts.
		if len(key) != mlkem768EKSize+32 || !modulusOK(key[:mlkem768EKSize-32]) {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("not a valid %s public key", Name(alg)))
		}
		return nil
	}
	if _, err := k.NewPublicKey(key); err != nil {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("not a valid %s public key", Name(alg)))
	}
	return nil
}

// modulusOK is FIPS 203's modulus check (section 7.2): every 12-bit
// coefficient of the encoded polynomials is less than q = 3329.
func modulusOK(b []byte) bool {
	for i := 0; i+3 <= len(b); i += 3 {
		c0 := uint16(b[i]) | uint16(b[i+1]&0x0f)<<8
		c1 := uint16(b[i+1])>>4 | uint16(b[i+2])<<4
		if c0 >= 3329 || c1 >= 3329 {
			return false
		}
	}
	return true
}
