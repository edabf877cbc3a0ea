package seal

import (
	"crypto/hpke"
	"crypto/sha256"
	"fmt"
	"sync"

	"ptoy"
)

// Category is a kind of health data (medications, imaging, mental health,
// ...). Its values are opaque to this package; the consent package names
// them. A category key belongs to exactly one category.
type Category uint8

// Ref names the record version a blob holds: the record's id and its
// version number. Both are bound into the blob's encryption, so that a blob
// cannot be passed off as another record or another version of the same
// record.
type Ref struct {
	ID      [16]byte
	Version uint32
}

// KEM algorithm identifiers (HPKE KEM ids). They are the same values as
// keys.KEMX25519 and keys.KEMHybrid; this package does not import keys.
const (
	algX25519 uint16 = 0x0020 // DHKEM(X25519, HKDF-SHA256)
	algHybrid uint16 = 0x647a // ML-KEM-768 + X25519 (X-Wing)
)

// PublicKey is the public half of a category key: what a writer seals new
// records to. Alg is the HPKE KEM id (0x647a, ML-KEM-768+X25519, or 0x0020,
// X25519) and Key the serialized HPKE public key. Knowing it lets one write
// records of the category, never read them.
type PublicKey struct {
	Category Category
	Epoch    uint32
	Alg      uint16
	Key      []byte
}

// PrivateKey is the private half of a category key: it opens every record
// sealed to the same category and epoch. Key is the serialized HPKE private
// key (32 bytes for both supported KEMs). PrivateKey formats itself without
// the key material, whatever the verb.
type PrivateKey struct {
	Category Category
	Epoch    uint32
	Alg      uint16
	Key      []byte
	// parsed is Key parsed, kept by the keys a bundle opens: expanding
	// an ML-KEM key costs as much as a decapsulation, and a view of a
	// patient's records opens each with the same few keys. It lives as
	// long as the key does.
	parsed *parsedKey
}

type parsedKey struct {
	mu  sync.Mutex
	sum [32]byte // SHA-256 of the Key it parsed: a copy whose Key changed parses again
	sk  hpke.PrivateKey
}

// NewCategoryKey makes a fresh category key pair for category c and epoch
// using the KEM alg (0x647a, ML-KEM-768+X25519, the default of keys.Generate;
// or 0x0020, X25519). It is ptoy.Invalid for any other alg.
func NewCategoryKey(c Category, epoch uint32, alg uint16) (PrivateKey, PublicKey, error) {
	const op = "seal.NewCategoryKey"
	kem, err := kemOf(op, alg)
	if err != nil {
		return PrivateKey{}, PublicKey{}, err
	}
	sk, err := kem.GenerateKey()
	if err != nil {
		return PrivateKey{}, PublicKey{}, ptoy.E(op, ptoy.Other, "cannot generate category key", err)
	}
	skb, err := sk.Bytes()
	if err != nil {
		return PrivateKey{}, PublicKey{}, ptoy.E(op, ptoy.Other, "cannot serialize category key", err)
	}
	priv := PrivateKey{Category: c, Epoch: epoch, Alg: alg, Key: skb}
	priv.keep()
	pub := PublicKey{Category: c, Epoch: epoch, Alg: alg, Key: sk.PublicKey().Bytes()}
	return priv, pub, nil
}

// Public returns the public half of k. It is ptoy.Invalid if k's algorithm
// is unknown or its key material malformed.
func (k PrivateKey) Public() (PublicKey, error) {
	const op = "seal.PrivateKey.Public"
	sk, err := k.parse(op)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{Category: k.Category, Epoch: k.Epoch, Alg: k.Alg, Key: sk.PublicKey().Bytes()}, nil
}

// String describes k by its category, epoch and algorithm; it never
// prints the key.
func (k PrivateKey) String() string {
	return fmt.Sprintf("seal.PrivateKey(category=%d, epoch=%d, alg=%s)", k.Category, k.Epoch, algName(k.Alg))
}

// Format writes String for every verb (%v, %#v, %x, %d, ...), so that no
// format directive prints the key material.
func (k PrivateKey) Format(f fmt.State, verb rune) {
	fmt.Fprint(f, k.String())
}

// parse parses the key material of k, once for a key that keeps it.
func (k PrivateKey) parse(op string) (hpke.PrivateKey, error) {
	if k.parsed == nil {
		return k.parseNow(op)
	}
	sum := sha256.Sum256(k.Key)
	p := k.parsed
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sk != nil && p.sum == sum {
		return p.sk, nil
	}
	sk, err := k.parseNow(op)
	if err != nil {
		return nil, err
	}
	p.sum, p.sk = sum, sk
	return sk, nil
}

// keep makes k keep its key parsed.
func (k *PrivateKey) keep() { k.parsed = new(parsedKey) }

func (k PrivateKey) parseNow(op string) (hpke.PrivateKey, error) {
	kem, err := kemOf(op, k.Alg)
	if err != nil {
		return nil, err
	}
	sk, err := kem.NewPrivateKey(k.Key)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("private key for category %d epoch %d is not a valid %s key", k.Category, k.Epoch, algName(k.Alg)))
	}
	return sk, nil
}

// parse parses the key material of k.
func (k PublicKey) parse(op string) (hpke.PublicKey, error) {
	kem, err := kemOf(op, k.Alg)
	if err != nil {
		return nil, err
	}
	pk, err := kem.NewPublicKey(k.Key)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("public key for category %d epoch %d is not a valid %s key", k.Category, k.Epoch, algName(k.Alg)))
	}
	return pk, nil
}

// kemOf returns the KEM of alg if it is one this package accepts.
func kemOf(op string, alg uint16) (hpke.KEM, error) {
	if alg != algX25519 && alg != algHybrid {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown KEM algorithm 0x%04x", alg))
	}
	kem, err := hpke.NewKEM(alg)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("KEM algorithm 0x%04x is not available", alg), err)
	}
	return kem, nil
}

// encLen returns the length of the HPKE encapsulated key of alg.
func encLen(alg uint16) (int, bool) {
	switch alg {
	case algX25519:
		return 32, true
	case algHybrid:
		return 1088 + 32, true // ML-KEM-768 ciphertext, X25519 share
	}
	return 0, false
}

// algName names a KEM id for people to read.
func algName(alg uint16) string {
	switch alg {
	case algHybrid:
		return "ML-KEM-768+X25519"
	case algX25519:
		return "X25519"
	}
	return fmt.Sprintf("unknown(0x%04x)", alg)
}
