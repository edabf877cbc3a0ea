// Package blob stores ciphertext blobs addressed by their SHA-256 hash.
//
// A ptoy storage node keeps only ciphertext; each blob is named by the
// SHA-256 of its content and kept on R storage nodes chosen by Place
// (rendezvous hashing). This package is the local side of that scheme: the
// Store interface with an in-memory and an on-disk implementation, a
// fault-injecting wrapper for tests of the network layer, and the placement
// function. Replication between nodes is built on top of it elsewhere.
//
// Every reader a Store returns verifies the content against its hash as it
// is read, so a corrupted blob is never served silently.
package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math"
	"time"

	"ptoy"
	"ptoy/internal/par"
)

// HashLen is the length in bytes of a blob hash.
const HashLen = sha256.Size

// Hash is the SHA-256 of a blob's content; it is the blob's name.
type Hash [HashLen]byte

// String returns the hash as 64 lower-case hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads the 64-hex-digit text form of a hash. Anything else is
// ptoy.Invalid.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashLen {
		return h, ptoy.E("blob.ParseHash", ptoy.Invalid, fmt.Sprintf("%q is not a blob hash (64 hex digits)", s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, ptoy.E("blob.ParseHash", ptoy.Invalid, fmt.Sprintf("%q is not a blob hash (64 hex digits)", s))
	}
	return h, nil
}

// Sum returns the hash of b.
func Sum(b []byte) Hash { return sha256.Sum256(b) }

// Info describes a stored blob.
type Info struct {
	Hash  Hash      // SHA-256 of the content
	Size  int64     // length of the content in bytes
	Added time.Time // when this store first stored it
}

// Store is a content-addressed blob store. All methods are safe for
// concurrent use. A Store's methods return ptoy.Unavailable once it is
// closed, and wrap the context's error in ptoy.Unavailable when ctx is done.
type Store interface {
	// Put reads r to the end, at most max bytes, stores the content durably
	// (fsync) under its SHA-256 and returns its info. Content longer than
	// max is ptoy.Invalid ("blob is larger than the N-byte limit") and
	// nothing is stored. If want is non-nil and the content's hash differs,
	// nothing is stored and the error is ptoy.Invalid. Putting a blob that
	// is already stored is a cheap no-op (nothing is written) that returns
	// the existing info. An error from r is returned wrapped (ptoy.Other
	// unless it carries a kind) and nothing is stored. A negative max is
	// ptoy.Invalid.
	Put(ctx context.Context, r io.Reader, max int64, want *Hash) (Info, error)

	// Get opens blob h for reading; ptoy.NotFound if it is absent. The
	// reader verifies the content as it is read: if it does not match h,
	// the read that reaches the end returns ptoy.Other ("blob <hash> is
	// corrupt") instead of io.EOF. The caller must close the reader. ctx
	// governs opening only, not the reads that follow.
	Get(ctx context.Context, h Hash) (io.ReadCloser, Info, error)

	// Stat returns the info of blob h; ptoy.NotFound if it is absent.
	Stat(ctx context.Context, h Hash) (Info, error)

	// Delete removes blob h durably. Deleting an absent blob is not an
	// error.
	Delete(ctx context.Context, h Hash) error

	// List calls fn for every blob in increasing hash order. An error from
	// fn stops the listing and is returned as it is. fn may call the
	// store's other methods; blobs added or deleted meanwhile may or may
	// not be listed.
	List(ctx context.Context, fn func(Info) error) error

	// Scrub re-reads every blob in slice s (all blobs for the zero Slice)
	// and calls bad for each one whose content does not match its hash or
	// cannot be read, with the reason (the error's kind is ptoy.Other).
	// Blobs outside s are not read. It returns how many blobs were
	// checked, good and bad. It deletes nothing. An error is returned only
	// if the scrub itself could not go on (ctx done, store closed, index
	// unreadable).
	Scrub(ctx context.Context, s Slice, bad func(h Hash, err error)) (checked int, err error)

	// Close releases the store. Calling it again does nothing.
	Close() error
}

// Slice is the I-th of N shares of the hash space: the blobs whose hash's
// first eight bytes, as a big-endian number, are I modulo N. A scrub of
// slice i of N on pass i mod N re-reads each blob once every N passes.
// The zero Slice (N of 0 or 1) holds every blob.
type Slice struct{ I, N int }

// Has reports whether h is in the slice.
func (s Slice) Has(h Hash) bool {
	if s.N <= 1 {
		return true
	}
	return binary.BigEndian.Uint64(h[:8])%uint64(s.N) == uint64(s.I)
}

// ScrubBuf is the size of the buffer Scrub reads blobs through.
const ScrubBuf = 256 << 10

// now returns the current time without its monotonic reading, at the
// nanosecond precision that Disk keeps.
func Now() time.Time { return time.Unix(0, time.Now().UnixNano()) }

// CtxErr returns ctx's error as ptoy.Unavailable, or nil.
func CtxErr(op string, ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return ptoy.E(op, ptoy.Unavailable, err)
	}
	return nil
}

// errNotFound is the error for an absent blob.
func ErrNotFound(op string, h Hash) error {
	return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no blob %s", h))
}

// ErrCorrupt is the error for content that does not match its hash.
func ErrCorrupt(op string, h Hash, cause error) error {
	if cause != nil {
		return ptoy.E(op, ptoy.Other, fmt.Sprintf("blob %s is corrupt", h), cause)
	}
	return ptoy.E(op, ptoy.Other, fmt.Sprintf("blob %s is corrupt", h))
}

// errTooLarge is the error for content longer than max.
func ErrTooLarge(op string, max int64) error {
	return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("blob is larger than the %d-byte limit", max))
}

// errClosed is the error for a call on a closed store.
func ErrClosed(op string) error {
	return ptoy.E(op, ptoy.Unavailable, "blob store is closed")
}

// CheckMax rejects a negative size limit.
func CheckMax(op string, max int64) error {
	if max < 0 {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("negative size limit %d", max))
	}
	return nil
}

// checkWant compares the hash of the content with the wanted one.
func CheckWant(op string, got Hash, want *Hash) error {
	if want != nil && *want != got {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("content hash %s does not match the expected %s", got, *want))
	}
	return nil
}

// ReadErr wraps an error from the reader given to Put, keeping its kind
// if it has one and treating a done context as ptoy.Unavailable.
func ReadErr(op string, ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return ptoy.E(op, ptoy.Unavailable, cerr)
	}
	return ptoy.E(op, ptoy.KindOf(err), "cannot read the blob", err)
}

// PlusOne returns n+1 without overflowing.
func PlusOne(n int64) int64 {
	if n == math.MaxInt64 {
		return n
	}
	return n + 1
}

// NewCtxReader returns a reader that fails once its context is done, so that a
// long Put stops soon after cancellation.
func NewCtxReader(ctx context.Context, r io.Reader) io.Reader { return CtxReader{ctx: ctx, r: r} }

// CtxReader is the reader NewCtxReader returns.
type CtxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c CtxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Verifier hashes what passes through it and, at EOF, turns io.EOF into
// a corruption error if the content does not match its hash and size.
type Verifier struct {
	r    io.Reader
	c    io.Closer // may be nil
	op   string
	want Hash
	size int64
	n    int64
	h    hash.Hash
	err  error // sticky: the error once the end has been reached
}

// NewVerifier returns a verifying reader over r; c, if not nil, is closed
// by Close.
func NewVerifier(op string, r io.Reader, c io.Closer, want Hash, size int64) *Verifier {
	return &Verifier{r: r, c: c, op: op, want: want, size: size, h: sha256.New()}
}

func (v *Verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		var got Hash
		v.h.Sum(got[:0])
		switch {
		case v.n != v.size:
			err = ErrCorrupt(v.op, v.want, fmt.Errorf("read %d bytes, want %d", v.n, v.size))
		case got != v.want:
			err = ErrCorrupt(v.op, v.want, fmt.Errorf("content hash is %s", got))
		}
		v.err = err
	} else if err != nil {
		err = ptoy.E(v.op, ptoy.Other, fmt.Sprintf("cannot read blob %s", v.want), err)
		v.err = err
	}
	return n, err
}

func (v *Verifier) Close() error {
	if v.c == nil {
		return nil
	}
	return v.c.Close()
}

// Verify reads r to the end and reports whether it is the content named
// h of the given size; the error says why not.
func Verify(op string, r io.Reader, h Hash, size int64, buf []byte) error {
	// Hide io.Discard's ReadFrom so that buf, not its small buffer, is used.
	_, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, NewVerifier(op, r, nil, h, size), buf)
	return err
}

// Drain reads r to its end, for a store that already holds the blob a
// Put gives again: it checks the content against want and max as Put
// would, and returns in, the stored blob's info.
func Drain(op string, ctx context.Context, r io.Reader, max int64, want *Hash, in Info) (Info, error) {
	hh := sha256.New()
	n, err := io.CopyBuffer(hh, io.LimitReader(r, PlusOne(max)), make([]byte, 256<<10))
	if err != nil {
		return Info{}, ReadErr(op, ctx, err)
	}
	if n > max {
		return Info{}, ErrTooLarge(op, max)
	}
	var got Hash
	hh.Sum(got[:0])
	if err := CheckWant(op, got, want); err != nil {
		return Info{}, err
	}
	return in, nil
}

// Content is a blob's content with the hash its writer expects of it.
type Content struct {
	Hash Hash
	Data []byte
}

// Batcher is a Store that can store several blobs with one durable write.
// PutBatch stores each blob of bs as Put would (with want set to its
// Hash) and syncs once for all of them; it returns once every one is
// durable. A blob whose content does not match its Hash is ptoy.Invalid
// and nothing of the batch is stored. Blobs already stored are left as
// they are.
type Batcher interface {
	PutBatch(ctx context.Context, bs []Content) error
}

// PutAll stores every blob of bs in s durably: with one PutBatch where s
// is a Batcher, otherwise with Put, workers at once (a store syncs
// concurrent writes together where it can). A blob whose content does not
// match its Hash is ptoy.Invalid.
func PutAll(ctx context.Context, s Store, bs []Content, workers int) error {
	if b, ok := s.(Batcher); ok {
		return b.PutBatch(ctx, bs)
	}
	errs := make([]error, len(bs))
	par.Each(len(bs), max(1, workers), func(i int) {
		h := bs[i].Hash
		_, errs[i] = s.Put(ctx, bytes.NewReader(bs[i].Data), int64(len(bs[i].Data)), &h)
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
