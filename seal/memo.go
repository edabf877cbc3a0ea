package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"unicode"
	"unicode/utf8"

	"ptoy"
)

// Sealed memos. A transfer's memo ("copay for the clinic visit") says
// something about a person, so it never goes on the ledger in clear: the
// sender seals it to the recipient's and its own identity encryption keys,
// and only they open it.
//
// Format:
//
//	"PTOYMEM1" || n (1) || n times { holder id (20) || KEM alg (2) ||
//	  length (2) || HPKE seal of the memo key (enc || ciphertext) } ||
//	AES-256-GCM(memo key, nonce 0, text length (2) || text || zero padding
//	  to a multiple of 64 bytes, AD "PTOYMEM1" || from || to)
//
// The memo key is fresh for every memo, so the zero nonce is used once.
// Each HPKE seal has the info "ptoy memo v1" || from || to || holder, and
// the body's associated data binds the memo to its sender and recipient:
// a memo copied onto another transfer does not open.
const (
	MemoMagic = "PTOYMEM1"
	// MaxMemo is the longest memo text, in characters.
	MaxMemo = 140
	// MaxSealedMemo bounds a sealed memo: two holders with hybrid keys
	// (1,120 bytes of encapsulation each) and the longest text fit.
	MaxSealedMemo = 4096

	memoInfo    = "ptoy memo v1"
	memoPad     = 64
	memoKeyLen  = 32
	maxHolders  = 2
	holderFixed = ptoy.IDLen + 2 + 2
)

// MemoHolder is one party a memo is sealed to: its account id and its
// identity encryption key as the ledger holds it.
type MemoHolder struct {
	ID        ptoy.ID
	Alg       uint16
	KEMPublic []byte
}

// CheckMemoText checks a memo as a person typed it: at most MaxMemo
// printable characters.
func CheckMemoText(memo string) error {
	const op = "seal.CheckMemoText"
	if !utf8.ValidString(memo) || utf8.RuneCountInString(memo) > MaxMemo {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a memo is at most %d characters", MaxMemo))
	}
	for _, r := range memo {
		if !unicode.IsPrint(r) {
			return ptoy.E(op, ptoy.Invalid, "a memo has only printable characters (no line breaks or control characters)")
		}
	}
	return nil
}

func memoHolderInfo(from, to, holder ptoy.ID) []byte {
	b := make([]byte, 0, len(memoInfo)+3*ptoy.IDLen)
	b = append(b, memoInfo...)
	b = append(b, from[:]...)
	b = append(b, to[:]...)
	return append(b, holder[:]...)
}

func memoAD(from, to ptoy.ID) []byte {
	b := make([]byte, 0, len(MemoMagic)+2*ptoy.IDLen)
	b = append(b, MemoMagic...)
	b = append(b, from[:]...)
	return append(b, to[:]...)
}

func memoAEAD(key []byte) cipher.AEAD {
	blk, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	g, err := cipher.NewGCM(blk)
	if err != nil {
		panic(err)
	}
	return g
}

// SealMemo seals the memo of a transfer from one account to another to
// each of holders (one or two: the recipient and the sender). Errors:
// ptoy.Invalid for a memo that is too long or not printable, no holder or
// too many, or a holder's key that is not a valid public key.
func SealMemo(from, to ptoy.ID, memo string, holders []MemoHolder) ([]byte, error) {
	const op = "seal.SealMemo"
	if err := CheckMemoText(memo); err != nil {
		return nil, err
	}
	if len(holders) == 0 || len(holders) > maxHolders {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a memo is sealed to 1 or %d holders", maxHolders))
	}
	key := make([]byte, memoKeyLen)
	rand.Read(key)
	defer clear(key)
	out := append([]byte(MemoMagic), byte(len(holders)))
	for _, h := range holders {
		kem, err := kemOf(op, h.Alg)
		if err != nil {
			return nil, err
		}
		pk, err := kem.NewPublicKey(h.KEMPublic)
		if err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("account %s's encryption key is not a valid %s key", h.ID, algName(h.Alg)))
		}
		s, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), memoHolderInfo(from, to, h.ID), key)
		if err != nil {
			return nil, ptoy.E(op, ptoy.Other, "cannot seal the memo", err)
		}
		out = append(out, h.ID[:]...)
		out = binary.BigEndian.AppendUint16(out, h.Alg)
		out = binary.BigEndian.AppendUint16(out, uint16(len(s)))
		out = append(out, s...)
	}
	n := 2 + len(memo)
	plain := make([]byte, (n+memoPad-1)/memoPad*memoPad)
	binary.BigEndian.PutUint16(plain, uint16(len(memo)))
	copy(plain[2:], memo)
	out = memoAEAD(key).Seal(out, make([]byte, 12), plain, memoAD(from, to))
	if len(out) > MaxSealedMemo {
		return nil, ptoy.E(op, ptoy.Invalid, "the sealed memo is too large")
	}
	return out, nil
}

// OpenMemo opens a memo of a transfer from one account to another as
// holder, whose identity encryption key is kem. Errors:
// ptoy.PermissionDenied when the memo is not sealed to holder,
// ptoy.Unauthenticated when it does not open (altered, or moved to
// another transfer), ptoy.Invalid when it is malformed.
func OpenMemo(sealed []byte, from, to, holder ptoy.ID, kem hpke.PrivateKey) (string, error) {
	const op = "seal.OpenMemo"
	bad := func(why string) error { return ptoy.E(op, ptoy.Invalid, "malformed sealed memo: "+why) }
	if len(sealed) > MaxSealedMemo {
		return "", bad("too large")
	}
	if len(sealed) < len(MemoMagic)+1 || string(sealed[:len(MemoMagic)]) != MemoMagic {
		return "", bad("bad magic")
	}
	b := sealed[len(MemoMagic):]
	n := int(b[0])
	b = b[1:]
	if n == 0 || n > maxHolders {
		return "", bad("bad number of holders")
	}
	var mine []byte
	var alg uint16
	for range n {
		if len(b) < holderFixed {
			return "", bad("truncated")
		}
		id := ptoy.ID(b[:ptoy.IDLen])
		a := binary.BigEndian.Uint16(b[ptoy.IDLen:])
		l := int(binary.BigEndian.Uint16(b[ptoy.IDLen+2:]))
		b = b[holderFixed:]
		if len(b) < l {
			return "", bad("truncated")
		}
		if id == holder {
			mine, alg = b[:l], a
		}
		b = b[l:]
	}
	if mine == nil {
		return "", ptoy.E(op, ptoy.PermissionDenied, "the memo is not sealed to you")
	}
	if kem == nil || kem.KEM().ID() != alg {
		return "", ptoy.E(op, ptoy.PermissionDenied, "the memo is sealed to another key of yours")
	}
	key, err := hpke.Open(kem, hpke.HKDFSHA256(), hpke.AES256GCM(), memoHolderInfo(from, to, holder), mine)
	if err != nil || len(key) != memoKeyLen {
		return "", ptoy.E(op, ptoy.Unauthenticated, "the memo does not open: sealed to another key, altered, or moved to another transfer")
	}
	defer clear(key)
	plain, err := memoAEAD(key).Open(nil, make([]byte, 12), b, memoAD(from, to))
	if err != nil || len(plain) < 2 {
		return "", ptoy.E(op, ptoy.Unauthenticated, "the memo does not open: altered, or moved to another transfer")
	}
	l := int(binary.BigEndian.Uint16(plain))
	if 2+l > len(plain) {
		return "", bad("bad text length")
	}
	return string(plain[2 : 2+l]), nil
}
