package escrow

import (
	"bytes"
	"cmp"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/seal"
	"ptoy/shamir"
)

// Formats and limits.
const (
	magic         = "PTOYESC1"
	releasedMagic = "PTOYESR1"
	shareInfo     = "ptoy escrow share v1"   // HPKE info of a share sealed to a validator starts so
	releaseInfo   = "ptoy escrow release v1" // HPKE info of a released share starts so
	idInfo        = "ptoy escrow emergency id v1"

	maxEscrowLen = 2 << 20
	maxBundleLen = 1 << 20
	maxPublicLen = 4 << 10
	maxHolders   = 255
	secretLen    = 32 // an HPKE private key of either KEM
	shareLen     = 1 + secretLen
	tagLen       = 16
	holderFixed  = ptoy.IDLen + 2 + 2 // org, alg, sealed length
)

// Alg is the KEM of the emergency keys Build makes: ML-KEM-768+X25519.
const Alg = keys.KEMHybrid

// Holder is a validator organisation that holds a share of the
// emergency key: its account id and its identity KEM public key (Alg, the
// HPKE KEM id; KEMPublic, the serialized key), as the ledger holds them.
type Holder struct {
	Org       ptoy.ID
	Alg       uint16
	KEMPublic []byte
}

// SealedShare is one validator's share in an escrow, sealed to its
// organisation's identity key.
type SealedShare struct {
	Org    ptoy.ID
	Alg    uint16 // KEM of the organisation's key
	Sealed []byte // HPKE enc || ciphertext
}

// Escrow is a parsed escrow blob (see the package documentation).
type Escrow struct {
	Patient ptoy.ID
	Alg     uint16 // KEM of the emergency key
	Public  []byte // the emergency public key
	K       int    // shares needed: Threshold(len(Shares))
	Bundle  []byte // the emergency categories' keys sealed to the emergency key
	Shares  []SealedShare
}

// MinHolders is the fewest validator organisations an escrow is split
// among: with one, that organisation's node alone would hold the
// emergency key and could open every patient's emergency categories
// without a break-glass. A network with one validator has no escrow, and
// break-glass there opens nothing encrypted.
const MinHolders = 2

// Threshold is the number of shares of n that recover an emergency key:
// more than two thirds, n*2/3+1 (1 for n = 1).
func Threshold(n int) int { return n*2/3 + 1 }

// EmergencyID is the holder id under which a patient's emergency keys are
// sealed to the emergency key (seal.SealBundle's holder): the first 20
// bytes of SHA-256("ptoy escrow emergency id v1" || patient). It is no
// account's id.
func EmergencyID(patient ptoy.ID) ptoy.ID {
	h := sha256.Sum256(append([]byte(idInfo), patient[:]...))
	return ptoy.ID(h[:ptoy.IDLen])
}

// IsEmergency reports whether c is one of the emergency categories
// (consent.EmergencySet) whose keys an escrow holds.
func IsEmergency(c seal.Category) bool {
	return c < 32 && consent.EmergencySet&consent.Bit(pb.Category(c)) != 0
}

// kemOf returns the KEM of alg, one of the two that ptoy uses.
func kemOf(op string, alg uint16) (hpke.KEM, error) {
	if alg != keys.KEMHybrid && alg != keys.KEMX25519 {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown KEM algorithm 0x%04x", alg))
	}
	kem, err := hpke.NewKEM(alg)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("KEM algorithm 0x%04x is not available", alg), err)
	}
	return kem, nil
}

// encLen is the length of an HPKE encapsulated key of alg.
func encLen(alg uint16) int {
	if alg == keys.KEMX25519 {
		return 32
	}
	return 1088 + 32
}

// sealedShareLen is the exact length of a share sealed to a key of alg.
func sealedShareLen(alg uint16) int { return encLen(alg) + shareLen + tagLen }

func info(prefix string, patient, org ptoy.ID) []byte {
	b := make([]byte, 0, len(prefix)+2*ptoy.IDLen)
	b = append(b, prefix...)
	b = append(b, patient[:]...)
	return append(b, org[:]...)
}

// Build makes the escrow of patient's emergency keys for the validator
// organisations validators and returns the escrow blob. Of
// emergencyKeys, the keys of the emergency categories (IsEmergency) are
// escrowed, every epoch given; others are left out. It is ptoy.Invalid if
// no emergency key is given, if there are no validators or more than 255,
// if an organisation is named twice, or if a key is malformed.
func Build(patient ptoy.ID, emergencyKeys []seal.PrivateKey, validators []Holder) ([]byte, error) {
	const op = "escrow.Build"
	var ks []seal.PrivateKey
	for _, k := range emergencyKeys {
		if IsEmergency(k.Category) {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "no key of an emergency category to escrow")
	}
	n := len(validators)
	if n < MinHolders || n > maxHolders {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("an escrow has %d to %d validators' organisations, not %d: with fewer, one of them alone could open it", MinHolders, maxHolders, n))
	}
	hs := slices.Clone(validators)
	slices.SortFunc(hs, func(a, b Holder) int { return bytes.Compare(a.Org[:], b.Org[:]) })
	pks := make([]hpke.PublicKey, n)
	for i, h := range hs {
		if i > 0 && hs[i-1].Org == h.Org {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("validator %s is named twice", h.Org))
		}
		kem, err := kemOf(op, h.Alg)
		if err != nil {
			return nil, err
		}
		if pks[i], err = kem.NewPublicKey(h.KEMPublic); err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("validator %s's KEM key is malformed", h.Org))
		}
	}
	kem, err := kemOf(op, Alg)
	if err != nil {
		return nil, err
	}
	sk, err := kem.GenerateKey()
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot make the emergency key", err)
	}
	secret, err := sk.Bytes()
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot serialize the emergency key", err)
	}
	defer clear(secret)
	if len(secret) != secretLen {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("the emergency key is %d bytes, not %d", len(secret), secretLen))
	}
	e := &Escrow{Patient: patient, Alg: Alg, Public: sk.PublicKey().Bytes(), K: Threshold(n)}
	if e.Bundle, err = seal.SealBundle(patient, EmergencyID(patient), Alg, e.Public, ks); err != nil {
		return nil, err
	}
	var shares []shamir.Share
	if n == 1 {
		shares = []shamir.Share{{X: 1, Y: slices.Clone(secret)}}
	} else if shares, err = shamir.Split(secret, n, e.K); err != nil {
		return nil, err
	}
	for i, h := range hs {
		plain, err := shares[i].MarshalBinary()
		clear(shares[i].Y)
		if err != nil {
			return nil, err
		}
		sealed, err := hpke.Seal(pks[i], hpke.HKDFSHA256(), hpke.AES256GCM(), info(shareInfo, patient, h.Org), plain)
		clear(plain)
		if err != nil {
			return nil, ptoy.E(op, ptoy.Other, "cannot seal a share", err)
		}
		e.Shares = append(e.Shares, SealedShare{Org: h.Org, Alg: h.Alg, Sealed: sealed})
	}
	b := e.Encode()
	if len(b) > maxEscrowLen {
		return nil, ptoy.E(op, ptoy.Invalid, "the escrow would be larger than 2 MiB")
	}
	return b, nil
}

// Encode returns the escrow blob of e (see the package documentation). It
// is deterministic; Parse of a blob and Encode give back the same bytes.
func (e *Escrow) Encode() []byte {
	size := len(magic) + ptoy.IDLen + 2 + 2 + len(e.Public) + 1 + 1 + 4 + len(e.Bundle)
	for _, s := range e.Shares {
		size += holderFixed + len(s.Sealed)
	}
	b := make([]byte, 0, size)
	b = append(b, magic...)
	b = append(b, e.Patient[:]...)
	b = binary.BigEndian.AppendUint16(b, e.Alg)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Public)))
	b = append(b, e.Public...)
	b = append(b, byte(e.K), byte(len(e.Shares)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Bundle)))
	b = append(b, e.Bundle...)
	for _, s := range e.Shares {
		b = append(b, s.Org[:]...)
		b = binary.BigEndian.AppendUint16(b, s.Alg)
		b = binary.BigEndian.AppendUint16(b, uint16(len(s.Sealed)))
		b = append(b, s.Sealed...)
	}
	return b
}

// Share returns the sealed share of org, and false if org holds none.
func (e *Escrow) Share(org ptoy.ID) (SealedShare, bool) {
	i, ok := slices.BinarySearchFunc(e.Shares, org, func(s SealedShare, id ptoy.ID) int { return bytes.Compare(s.Org[:], id[:]) })
	if !ok {
		return SealedShare{}, false
	}
	return e.Shares[i], true
}

// HeldBy reports whether the escrow's shares are held by exactly hs: the
// same organisations, each with a key of the same KEM. An escrow made
// before an organisation was admitted or removed is not.
func (e *Escrow) HeldBy(hs []Holder) bool {
	if len(hs) != len(e.Shares) {
		return false
	}
	for _, h := range hs {
		s, ok := e.Share(h.Org)
		if !ok || s.Alg != h.Alg {
			return false
		}
	}
	return true
}

// Parse parses an escrow blob. It is ptoy.Invalid unless b is exactly
// what Build writes: the magic, a known KEM and a valid emergency public
// key, K = Threshold(n) for 1 to 255 shares, organisations in strictly
// increasing order with known KEMs, sealed shares of the exact length,
// nothing after, and at most 2 MiB in all. It does not open anything.
func Parse(b []byte) (*Escrow, error) {
	const op = "escrow.Parse"
	bad := func(msg string) error { return ptoy.E(op, ptoy.Invalid, "escrow is malformed: "+msg) }
	if len(b) > maxEscrowLen {
		return nil, ptoy.E(op, ptoy.Invalid, "escrow is larger than 2 MiB")
	}
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		return nil, ptoy.E(op, ptoy.Invalid, "not a ptoy escrow (bad magic)")
	}
	r := reader{b: b[len(magic):]}
	e := new(Escrow)
	copy(e.Patient[:], r.take(ptoy.IDLen))
	e.Alg = r.u16()
	e.Public = r.bytes(int(r.u16()), maxPublicLen)
	e.K = int(r.u8())
	n := int(r.u8())
	e.Bundle = r.bytes(int(r.u32()), maxBundleLen)
	if r.bad {
		return nil, bad("truncated")
	}
	kem, err := kemOf(op, e.Alg)
	if err != nil {
		return nil, err
	}
	if _, err := kem.NewPublicKey(e.Public); err != nil {
		return nil, bad("the emergency public key is not a valid key of its KEM")
	}
	if n < MinHolders || e.K != Threshold(n) {
		return nil, bad(fmt.Sprintf("%d of %d shares is not the threshold", e.K, n))
	}
	for i := range n {
		var s SealedShare
		copy(s.Org[:], r.take(ptoy.IDLen))
		s.Alg = r.u16()
		s.Sealed = r.bytes(int(r.u16()), 1<<16)
		if r.bad {
			return nil, bad("truncated")
		}
		if _, err := kemOf(op, s.Alg); err != nil {
			return nil, err
		}
		if len(s.Sealed) != sealedShareLen(s.Alg) {
			return nil, bad(fmt.Sprintf("share %d is %d bytes, not %d", i+1, len(s.Sealed), sealedShareLen(s.Alg)))
		}
		if i > 0 && bytes.Compare(e.Shares[i-1].Org[:], s.Org[:]) >= 0 {
			return nil, bad("organisations out of order or repeated")
		}
		e.Shares = append(e.Shares, s)
	}
	if len(r.b) != 0 {
		return nil, bad("trailing bytes")
	}
	return e, nil
}

// reader takes big-endian fields from b; bad is set once b runs short.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || n < 0 || len(r.b) < n {
		r.bad = true
		return make([]byte, max(n, 0))
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8   { return r.take(1)[0] }
func (r *reader) u16() uint16 { return binary.BigEndian.Uint16(r.take(2)) }
func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }

// bytes takes n bytes, at most limit, as a copy.
func (r *reader) bytes(n, limit int) []byte {
	if n > limit {
		r.bad = true
		return nil
	}
	return bytes.Clone(r.take(n))
}

// compareShares orders shares by X.
func compareShares(a, b shamir.Share) int { return cmp.Compare(a.X, b.X) }
