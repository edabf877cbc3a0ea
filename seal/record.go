package seal

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"ptoy"
)

// The record header.
const (
	recordMagic    = "PTOYREC1"
	fixedHeaderLen = len(recordMagic) + 2 + 1 + 4 + 2 // magic, alg, category, epoch, sealed-key length
	maxSealedKey   = 4 << 10
	recordKeyInfo  = "ptoy record key v1" // HPKE info of the sealed data key starts so
)

// MaxHeaderLen bounds the length of a record header (4113 bytes; today's
// headers are 1185 bytes at most): a reader that wants only the header, for
// ParseHeader or RewrapHeader, never needs more than this many leading
// bytes of a blob.
const MaxHeaderLen = fixedHeaderLen + maxSealedKey

// Header is the parsed header of a record blob. SealedKey is the HPKE
// encapsulated key followed by the HPKE ciphertext of the data key; Len is
// the length in bytes of the header, where the body starts.
type Header struct {
	Alg       uint16
	Category  Category
	Epoch     uint32
	SealedKey []byte // a session record's (Session) is the encapsulated key only
	Len       int
	Session   bool // sealed by a Sealer: the data key is derived, not sealed
}

// KeyFinder returns the private category key for category c and epoch, or
// an error of kind ptoy.NotFound (no such key) or ptoy.PermissionDenied
// (the caller may not use it). Open passes its error through.
type KeyFinder func(c Category, epoch uint32) (PrivateKey, error)

// sealedKeyLen returns the exact length of the sealed data key of alg.
func sealedKeyLen(alg uint16) (int, bool) {
	n, ok := encLen(alg)
	return n + dataKeyLen + tagSize, ok
}

// dataKeyInfo returns the HPKE info under which a record's data key is
// sealed: "ptoy record key v1" || id || version || category || epoch. The
// KEM, KDF and AEAD ids are bound by HPKE itself (its suite id).
func dataKeyInfo(ref Ref, c Category, epoch uint32) []byte {
	info := make([]byte, 0, len(recordKeyInfo)+16+4+1+4)
	info = append(info, recordKeyInfo...)
	info = append(info, ref.ID[:]...)
	info = binary.BigEndian.AppendUint32(info, ref.Version)
	info = append(info, byte(c))
	return binary.BigEndian.AppendUint32(info, epoch)
}

// ParseHeader parses the header at the start of b, which may go on with the
// body; it reads at most MaxHeaderLen bytes of b. It is ptoy.Invalid if the
// header is malformed: wrong magic, unknown KEM, a sealed key of the wrong
// length, or too few bytes.
func ParseHeader(b []byte) (Header, error) {
	const op = "seal.ParseHeader"
	h, err := parseFixed(op, b)
	if err != nil {
		return Header{}, err
	}
	if len(b) < h.Len {
		return Header{}, ptoy.E(op, ptoy.Invalid, "record header is truncated")
	}
	h.SealedKey = bytes.Clone(b[fixedHeaderLen:h.Len])
	return h, nil
}

// parseFixed parses the fixed-length start of a header and checks the
// sealed key's length against its KEM; it sets Len but not SealedKey.
func parseFixed(op string, b []byte) (Header, error) {
	if len(b) >= len(sessionMagic) && string(b[:len(sessionMagic)]) == sessionMagic {
		return parseSession(op, b)
	}
	if len(b) < len(recordMagic) || string(b[:len(recordMagic)]) != recordMagic {
		return Header{}, ptoy.E(op, ptoy.Invalid, "not a ptoy record (bad magic)")
	}
	if len(b) < fixedHeaderLen {
		return Header{}, ptoy.E(op, ptoy.Invalid, "record header is truncated")
	}
	b = b[len(recordMagic):]
	h := Header{
		Alg:      binary.BigEndian.Uint16(b[0:2]),
		Category: Category(b[2]),
		Epoch:    binary.BigEndian.Uint32(b[3:7]),
	}
	want, ok := sealedKeyLen(h.Alg)
	if !ok {
		return Header{}, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("record uses unknown KEM algorithm 0x%04x", h.Alg))
	}
	if n := int(binary.BigEndian.Uint16(b[7:9])); n != want || n > maxSealedKey {
		return Header{}, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("sealed data key is %d bytes, want %d for %s", n, want, algName(h.Alg)))
	}
	h.Len = fixedHeaderLen + want
	return h, nil
}

// appendHeader appends the encoding of a header to b.
func appendHeader(b []byte, alg uint16, c Category, epoch uint32, sealed []byte) []byte {
	b = append(b, recordMagic...)
	b = binary.BigEndian.AppendUint16(b, alg)
	b = append(b, byte(c))
	b = binary.BigEndian.AppendUint32(b, epoch)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sealed)))
	return append(b, sealed...)
}

// sealKey seals dataKey to the category key to for ref and appends the
// header to b.
func sealKey(op string, b []byte, dataKey []byte, ref Ref, to PublicKey) ([]byte, error) {
	pk, err := to.parse(op)
	if err != nil {
		return nil, err
	}
	sealed, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), dataKeyInfo(ref, to.Category, to.Epoch), dataKey)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot seal data key", err)
	}
	if want, _ := sealedKeyLen(to.Alg); len(sealed) != want {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("sealed data key is %d bytes, want %d", len(sealed), want))
	}
	return appendHeader(b, to.Alg, to.Category, to.Epoch, sealed), nil
}

// openKey opens the data key of a record whose header is h with the
// private category key k.
func openKey(op string, h Header, ref Ref, k PrivateKey) ([]byte, error) {
	if k.Alg != h.Alg {
		return nil, ptoy.E(op, ptoy.Unauthenticated, errNoOpen)
	}
	if h.Session {
		return openSessionKey(op, h, ref, k)
	}
	sk, err := k.parse(op)
	if err != nil {
		return nil, err
	}
	dataKey, err := hpke.Open(sk, hpke.HKDFSHA256(), hpke.AES256GCM(), dataKeyInfo(ref, h.Category, h.Epoch), h.SealedKey)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Unauthenticated, errNoOpen)
	}
	if len(dataKey) != dataKeyLen {
		clear(dataKey)
		return nil, ptoy.E(op, ptoy.Invalid, "sealed data key has the wrong length")
	}
	return dataKey, nil
}

// newDataKey returns a fresh random data key.
func newDataKey() []byte {
	k := make([]byte, dataKeyLen)
	rand.Read(k) // never fails; see crypto/rand
	return k
}

// Seal encrypts all of src as the record version ref, sealed to the
// category key to, and writes the blob to dst. It works in constant memory
// (one 64 KiB chunk), whatever the length of src.
func Seal(dst io.Writer, src io.Reader, ref Ref, to PublicKey) error {
	const op = "seal.Seal"
	dataKey := newDataKey()
	defer clear(dataKey)
	header, err := sealKey(op, make([]byte, 0, fixedHeaderLen+maxSealedKey), dataKey, ref, to)
	if err != nil {
		return err
	}
	if _, err := dst.Write(header); err != nil {
		return ptoy.E(op, ptoy.Other, "cannot write record", err)
	}
	return sealBody(dst, src, dataKey, bodyAD(ref, to.Category))
}

// SealBytes is Seal for a plaintext held in memory; it returns the blob.
func SealBytes(plain []byte, ref Ref, to PublicKey) ([]byte, error) {
	const op = "seal.SealBytes"
	dataKey := newDataKey()
	defer clear(dataKey)
	hlen, ok := sealedKeyLen(to.Alg)
	if !ok {
		_, err := kemOf(op, to.Alg)
		return nil, err
	}
	out := make([]byte, 0, fixedHeaderLen+hlen+bodyLen(len(plain)))
	out, err := sealKey(op, out, dataKey, ref, to)
	if err != nil {
		return nil, err
	}
	aead, err := newBodyAEAD(dataKey)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	return appendBody(out, plain, aead, bodyAD(ref, to.Category)), nil
}

// findKey opens the data key of h with the key that keys returns.
func findKey(op string, h Header, ref Ref, keys KeyFinder) ([]byte, error) {
	if keys == nil {
		return nil, ptoy.E(op, ptoy.Invalid, "no key finder")
	}
	k, err := keys(h.Category, h.Epoch)
	if err != nil {
		return nil, ptoy.E(op, ptoy.KindOf(err), err)
	}
	return openKey(op, h, ref, k)
}

// Open decrypts the blob read from src, which must be the record version
// ref, and writes the plaintext to dst. It asks keys for the private key of
// the category and epoch the header names, and passes on its error (so
// ptoy.NotFound or ptoy.PermissionDenied). It is ptoy.Invalid for a
// malformed header and ptoy.Unauthenticated for any authentication failure:
// wrong key, wrong ref, or a blob altered, truncated, reordered or extended.
//
// Open streams: it writes each 64 KiB chunk to dst as soon as the chunk is
// authenticated. When Open fails, dst may already have received the
// plaintext of earlier chunks, which is authentic but incomplete; callers
// must buffer the output and discard it on error (or use OpenBytes).
func Open(dst io.Writer, src io.Reader, ref Ref, keys KeyFinder) error {
	const op = "seal.Open"
	hb := make([]byte, fixedHeaderLen, MaxHeaderLen)
	if _, err := io.ReadFull(src, hb); err != nil {
		return readErr(op, err)
	}
	h, err := parseFixed(op, hb)
	if err != nil {
		return err
	}
	hb = hb[:h.Len]
	if _, err := io.ReadFull(src, hb[fixedHeaderLen:]); err != nil {
		return readErr(op, err)
	}
	h.SealedKey = hb[fixedHeaderLen:]
	dataKey, err := findKey(op, h, ref, keys)
	if err != nil {
		return err
	}
	defer clear(dataKey)
	return openBody(dst, src, dataKey, bodyAD(ref, h.Category))
}

// readErr classifies an error reading a header from a stream.
func readErr(op string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ptoy.E(op, ptoy.Invalid, "record header is truncated")
	}
	return ptoy.E(op, ptoy.Other, "cannot read record", err)
}

// OpenBytes is Open for a blob held in memory. It returns the plaintext
// only if the whole blob authenticates, and nothing otherwise.
func OpenBytes(blob []byte, ref Ref, keys KeyFinder) ([]byte, error) {
	const op = "seal.OpenBytes"
	h, err := ParseHeader(blob)
	if err != nil {
		return nil, err
	}
	dataKey, err := findKey(op, h, ref, keys)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	return openBodyBytes(op, blob[h.Len:], dataKey, bodyAD(ref, h.Category))
}

// Rewrap re-seals the data key of blob, the record version ref, from the
// category key from to the category key to, and returns the new blob: a
// new header in front of the same body bytes. It moves records sealed to an
// organisation's key to the patient's category key once the patient is
// linked, and records of an old epoch to a new one.
//
// from, to and the record must be of the same category (ptoy.Invalid
// otherwise: the category is bound into the body); the epoch may change. It
// is ptoy.Unauthenticated if from does not open the header. Rewrap does not
// decrypt the body, so it does not check it: a body altered in storage
// stays altered and fails when opened. Rewrap does not change the data
// key; see the package documentation for what that means for revocation.
func Rewrap(blob []byte, ref Ref, from PrivateKey, to PublicKey) ([]byte, error) {
	const op = "seal.Rewrap"
	h, err := ParseHeader(blob)
	if err != nil {
		return nil, err
	}
	body := blob[h.Len:]
	if len(body) < tagSize {
		return nil, ptoy.E(op, ptoy.Invalid, "record has no body")
	}
	hlen, _ := sealedKeyLen(to.Alg)
	out := make([]byte, 0, fixedHeaderLen+hlen+len(body))
	out, err = rewrap(op, out, h, ref, from, to)
	if err != nil {
		return nil, err
	}
	return append(out, body...), nil
}

// RewrapHeader is Rewrap on the header alone: header holds the start of a
// blob (at least its header; bytes after the header are ignored, so the
// first MaxHeaderLen bytes of a blob will do) and the result is the new
// header, to be put in place of the old one in front of the unchanged body.
func RewrapHeader(header []byte, ref Ref, from PrivateKey, to PublicKey) ([]byte, error) {
	const op = "seal.RewrapHeader"
	h, err := ParseHeader(header)
	if err != nil {
		return nil, err
	}
	return rewrap(op, nil, h, ref, from, to)
}

// rewrap opens the data key of h with from, seals it to to, and appends
// the new header to b.
func rewrap(op string, b []byte, h Header, ref Ref, from PrivateKey, to PublicKey) ([]byte, error) {
	if from.Category != h.Category || to.Category != h.Category {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf(
			"record is of category %d but the keys are of categories %d and %d; rewrapping cannot change a record's category",
			h.Category, from.Category, to.Category))
	}
	dataKey, err := openKey(op, h, ref, from)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	return sealKey(op, b, dataKey, ref, to)
}
