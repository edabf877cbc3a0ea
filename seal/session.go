package seal

import (
	"bytes"
	"crypto/hpke"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"ptoy"
)

// Session records. Sealing a data key with HPKE costs a KEM encapsulation
// (~100-150 µs), more than encrypting a 64 KB body (~15 µs). A writer that
// seals many records to the same category key (an import, a batch from an
// EHR) pays for one encapsulation per Sealer instead: each record's data
// key is derived from the session with HPKE's exporter,
//
//	data key = Export("ptoy record key v2" || id || version || category || epoch, 32)
//
// so every record version still has its own key, bound to its ref, and
// only a holder of the category's private key can derive it. The header
// of a session record is
//
//	"PTOYREC2" || alg (2) || category (1) || epoch (4) || enc length (2) || enc
//
// (the encapsulated key, no sealed data key). Records of one session share
// the encapsulation: anyone who can open one of them holds the category
// key and can open them all anyway.
const (
	sessionMagic   = "PTOYREC2"
	sessionInfo    = "ptoy record session v2"
	sessionKeyInfo = "ptoy record key v2"
)

// Sealer seals many records to one category key with one KEM
// encapsulation. It is not safe for concurrent use.
type Sealer struct {
	to     PublicKey
	header []byte // the session header, the same for every record
	s      *hpke.Sender
}

// NewSealer starts a sealing session to the category key to.
func NewSealer(to PublicKey) (*Sealer, error) {
	const op = "seal.NewSealer"
	pk, err := to.parse(op)
	if err != nil {
		return nil, err
	}
	enc, s, err := hpke.NewSender(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(sessionInfo))
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot start a sealing session", err)
	}
	h := make([]byte, 0, fixedHeaderLen+len(enc))
	h = append(h, sessionMagic...)
	h = binary.BigEndian.AppendUint16(h, to.Alg)
	h = append(h, byte(to.Category))
	h = binary.BigEndian.AppendUint32(h, to.Epoch)
	h = binary.BigEndian.AppendUint16(h, uint16(len(enc)))
	h = append(h, enc...)
	return &Sealer{to: to, header: h, s: s}, nil
}

func sessionContext(ref Ref, c Category, epoch uint32) string {
	b := make([]byte, 0, len(sessionKeyInfo)+16+4+1+4)
	b = append(b, sessionKeyInfo...)
	b = append(b, ref.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, ref.Version)
	b = append(b, byte(c))
	return string(binary.BigEndian.AppendUint32(b, epoch))
}

func (s *Sealer) dataKey(op string, ref Ref) ([]byte, error) {
	k, err := s.s.Export(sessionContext(ref, s.to.Category, s.to.Epoch), dataKeyLen)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot derive a data key", err)
	}
	return k, nil
}

// SealBytes seals plain as the record version ref and returns the blob.
func (s *Sealer) SealBytes(plain []byte, ref Ref) ([]byte, error) {
	return s.SealAppend(nil, plain, ref)
}

// SealAppend seals plain as the record version ref and appends the blob
// to dst, which a caller sealing many records can reuse.
func (s *Sealer) SealAppend(dst, plain []byte, ref Ref) ([]byte, error) {
	const op = "seal.Sealer.SealAppend"
	dataKey, err := s.dataKey(op, ref)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	aead, err := newBodyAEAD(dataKey)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	out := slices.Grow(dst, len(s.header)+bodyLen(len(plain)))
	out = append(out, s.header...)
	return appendBody(out, plain, aead, bodyAD(ref, s.to.Category)), nil
}

// Seal seals all of src as the record version ref and writes the blob to
// dst, in constant memory.
func (s *Sealer) Seal(dst io.Writer, src io.Reader, ref Ref) error {
	const op = "seal.Sealer.Seal"
	dataKey, err := s.dataKey(op, ref)
	if err != nil {
		return err
	}
	defer clear(dataKey)
	if _, err := dst.Write(s.header); err != nil {
		return ptoy.E(op, ptoy.Other, "cannot write record", err)
	}
	return sealBody(dst, src, dataKey, bodyAD(ref, s.to.Category))
}

// parseSession parses a session header at the start of b.
func parseSession(op string, b []byte) (Header, error) {
	if len(b) < fixedHeaderLen {
		return Header{}, ptoy.E(op, ptoy.Invalid, "record header is truncated")
	}
	c := b[len(sessionMagic):]
	h := Header{
		Alg:      binary.BigEndian.Uint16(c[0:2]),
		Category: Category(c[2]),
		Epoch:    binary.BigEndian.Uint32(c[3:7]),
		Session:  true,
	}
	want, ok := encLen(h.Alg)
	if !ok {
		return Header{}, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("record uses unknown KEM algorithm 0x%04x", h.Alg))
	}
	if n := int(binary.BigEndian.Uint16(c[7:9])); n != want {
		return Header{}, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("encapsulated key is %d bytes, want %d for %s", n, want, algName(h.Alg)))
	}
	h.Len = fixedHeaderLen + want
	return h, nil
}

// openSessionKey derives a session record's data key with k.
func openSessionKey(op string, h Header, ref Ref, k PrivateKey) ([]byte, error) {
	sk, err := k.parse(op)
	if err != nil {
		return nil, err
	}
	r, err := hpke.NewRecipient(bytes.Clone(h.SealedKey), sk, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(sessionInfo))
	if err != nil {
		return nil, ptoy.E(op, ptoy.Unauthenticated, errNoOpen)
	}
	dk, err := r.Export(sessionContext(ref, h.Category, h.Epoch), dataKeyLen)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Unauthenticated, errNoOpen)
	}
	return dk, nil
}
