package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"ptoy"
)

// The body of a record: STREAM-style chunked AES-256-GCM, as in age.
const (
	chunkSize     = 64 << 10            // plaintext bytes per chunk
	tagSize       = 16                  // AES-GCM tag
	encChunkSize  = chunkSize + tagSize // ciphertext bytes per full chunk
	dataKeyLen    = 32                  // AES-256
	lastChunkFlag = 0x01                // last byte of the nonce of the final chunk
	bodyADPrefix  = "ptoy record v1"    // associated data of every chunk starts so
	errNoOpen     = "record does not open: wrong key or altered ciphertext"
	errTruncated  = "record does not open: truncated or extended ciphertext"
	nonceSize     = 12
	counterOffset = nonceSize - 1 - 8 // the 11-byte counter's low 8 bytes
)

// chunkBuffers holds chunk buffers (*[]byte of encChunkSize+1 bytes) for
// reuse across calls: allocating a fresh 64 KiB buffer per record costs
// more than encrypting it (page faults, GC). It is the package's only
// variable, and holds no state that changes behaviour. Buffers go back
// cleared of plaintext.
var chunkBuffers = sync.Pool{New: func() any {
	b := make([]byte, encChunkSize+1)
	return &b
}}

// streamNonce is the nonce of one chunk: an 11-byte big-endian chunk
// counter, then the last-chunk flag.
type streamNonce [nonceSize]byte

func (n *streamNonce) set(counter uint64, last bool) {
	binary.BigEndian.PutUint64(n[counterOffset:], counter)
	n[nonceSize-1] = 0
	if last {
		n[nonceSize-1] = lastChunkFlag
	}
}

// bodyAD returns the associated data of every chunk of a record's body:
// "ptoy record v1" || id || version || category. The sealed data key is not
// part of it, so that Rewrap can replace the header without touching the
// body.
func bodyAD(ref Ref, c Category) []byte {
	ad := make([]byte, 0, len(bodyADPrefix)+16+4+1)
	ad = append(ad, bodyADPrefix...)
	ad = append(ad, ref.ID[:]...)
	ad = binary.BigEndian.AppendUint32(ad, ref.Version)
	return append(ad, byte(c))
}

// newBodyAEAD returns AES-256-GCM under the data key.
func newBodyAEAD(dataKey []byte) (cipher.AEAD, error) {
	if len(dataKey) != dataKeyLen {
		return nil, errors.New("data key must be 32 bytes")
	}
	block, err := aes.NewCipher(dataKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// bodyLen returns the length of the body that seals n plaintext bytes: one
// tag per chunk, and at least one chunk.
func bodyLen(n int) int {
	chunks := (n + chunkSize - 1) / chunkSize
	if chunks == 0 {
		chunks = 1
	}
	return n + chunks*tagSize
}

// sealBody encrypts all of src to dst under dataKey with associated data
// ad, in constant memory: one chunk buffer, encrypted in place.
func sealBody(dst io.Writer, src io.Reader, dataKey, ad []byte) error {
	const op = "seal.Seal"
	aead, err := newBodyAEAD(dataKey)
	if err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	// buf holds a chunk plus one byte of look-ahead, which tells whether
	// the chunk is the last; sealing in place needs tagSize more bytes.
	// Once a chunk is sealed in place only ciphertext is left in buf,
	// except on a read error.
	bp := chunkBuffers.Get().(*[]byte)
	defer chunkBuffers.Put(bp)
	buf := (*bp)[:encChunkSize]
	var nonce streamNonce
	have := 0
	for counter := uint64(0); ; counter++ {
		n, err := io.ReadFull(src, buf[have:chunkSize+1])
		n += have
		last := true
		switch err {
		case nil:
			last, n = false, chunkSize
		case io.EOF, io.ErrUnexpectedEOF:
		default:
			clear(buf)
			return ptoy.E(op, ptoy.Other, "cannot read plaintext", err)
		}
		carry := buf[chunkSize]
		nonce.set(counter, last)
		ct := aead.Seal(buf[:0], nonce[:], buf[:n], ad)
		if _, err := dst.Write(ct); err != nil {
			buf[0] = 0
			return ptoy.E(op, ptoy.Other, "cannot write record", err)
		}
		if last {
			return nil
		}
		buf[0], have = carry, 1
	}
}

// appendBody appends to out the body that seals plain, chunk by chunk,
// without intermediate buffers. out should have room for bodyLen(len(plain))
// more bytes.
func appendBody(out, plain []byte, aead cipher.AEAD, ad []byte) []byte {
	var nonce streamNonce
	for counter := uint64(0); ; counter++ {
		n := min(len(plain), chunkSize)
		last := n == len(plain)
		nonce.set(counter, last)
		out = aead.Seal(out, nonce[:], plain[:n], ad)
		if last {
			return out
		}
		plain = plain[n:]
	}
}

// openBody decrypts the body read from src to dst, chunk by chunk. dst may
// have received the plaintext of earlier chunks when an error is returned.
func openBody(dst io.Writer, src io.Reader, dataKey, ad []byte) error {
	const op = "seal.Open"
	aead, err := newBodyAEAD(dataKey)
	if err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	bp := chunkBuffers.Get().(*[]byte)
	buf := *bp // a chunk and one byte of look-ahead
	defer func() {
		clear(buf[:chunkSize]) // plaintext, decrypted in place
		chunkBuffers.Put(bp)
	}()
	var nonce streamNonce
	have := 0
	for counter := uint64(0); ; counter++ {
		n, err := io.ReadFull(src, buf[have:])
		n += have
		last := true
		switch err {
		case nil:
			last, n = false, encChunkSize
		case io.EOF, io.ErrUnexpectedEOF:
			// The final chunk must hold a tag, and may be empty only if
			// it is the only one.
			if n < tagSize || (n == tagSize && counter > 0) {
				return ptoy.E(op, ptoy.Unauthenticated, errTruncated)
			}
		default:
			return ptoy.E(op, ptoy.Other, "cannot read record", err)
		}
		carry := buf[encChunkSize]
		nonce.set(counter, last)
		pt, err := aead.Open(buf[:0], nonce[:], buf[:n], ad)
		if err != nil {
			return ptoy.E(op, ptoy.Unauthenticated, errNoOpen)
		}
		if _, err := dst.Write(pt); err != nil {
			return ptoy.E(op, ptoy.Other, "cannot write plaintext", err)
		}
		if last {
			return nil
		}
		buf[0], have = carry, 1
	}
}

// openBodyBytes decrypts a whole body held in memory into one new slice.
func openBodyBytes(op string, body, dataKey, ad []byte) ([]byte, error) {
	aead, err := newBodyAEAD(dataKey)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	if len(body) < tagSize {
		return nil, ptoy.E(op, ptoy.Unauthenticated, errTruncated)
	}
	chunks := (len(body) + encChunkSize - 1) / encChunkSize
	if final := len(body) - (chunks-1)*encChunkSize; final < tagSize || (final == tagSize && chunks > 1) {
		return nil, ptoy.E(op, ptoy.Unauthenticated, errTruncated)
	}
	out := make([]byte, 0, len(body)-chunks*tagSize)
	var nonce streamNonce
	for counter := 0; counter < chunks; counter++ {
		n := min(len(body), encChunkSize)
		last := counter == chunks-1
		nonce.set(uint64(counter), last)
		res, err := aead.Open(out, nonce[:], body[:n], ad)
		if err != nil {
			clear(out[:cap(out)]) // plaintext of earlier chunks
			return nil, ptoy.E(op, ptoy.Unauthenticated, errNoOpen)
		}
		out, body = res, body[n:]
	}
	return out, nil
}
