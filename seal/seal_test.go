package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/fips140"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"
	"testing/iotest"

	"ptoy"
)

var update = flag.Bool("update", false, "rewrite the known-answer files in testdata")

var algs = []uint16{algX25519, algHybrid}

var testRef = Ref{ID: [16]byte{0x52, 0x45, 0x43, 0x4f, 0x52, 0x44, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, Version: 7}

// pattern returns n deterministic bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) ^ byte(i>>16)
	}
	return b
}

func newKey(t testing.TB, c Category, epoch uint32, alg uint16) (PrivateKey, PublicKey) {
	t.Helper()
	priv, pub, err := NewCategoryKey(c, epoch, alg)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// finder returns the key of the matching category and epoch, or NotFound.
func finder(keys ...PrivateKey) KeyFinder {
	return func(c Category, epoch uint32) (PrivateKey, error) {
		for _, k := range keys {
			if k.Category == c && k.Epoch == epoch {
				return k, nil
			}
		}
		return PrivateKey{}, ptoy.E("test.finder", ptoy.NotFound, fmt.Sprintf("no key for category %d epoch %d", c, epoch))
	}
}

// anyKey returns k whatever is asked, so that only cryptography can reject
// a header that names another category or epoch.
func anyKey(k PrivateKey) KeyFinder {
	return func(Category, uint32) (PrivateKey, error) { return k, nil }
}

func openStream(blob []byte, ref Ref, keys KeyFinder) ([]byte, error) {
	var out bytes.Buffer
	err := Open(&out, iotest.HalfReader(bytes.NewReader(blob)), ref, keys)
	return out.Bytes(), err
}

func sealStream(t testing.TB, plain []byte, ref Ref, to PublicKey) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Seal(&out, iotest.HalfReader(bytes.NewReader(plain)), ref, to); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// mustNotOpen checks that blob opens neither with OpenBytes nor with Open,
// and that both fail with one of kinds.
func mustNotOpen(t *testing.T, what string, blob []byte, ref Ref, keys KeyFinder, kinds ...ptoy.Kind) {
	t.Helper()
	if len(kinds) == 0 {
		kinds = []ptoy.Kind{ptoy.Unauthenticated, ptoy.Invalid}
	}
	if pt, err := OpenBytes(blob, ref, keys); err == nil {
		t.Fatalf("%s: OpenBytes succeeded (%d bytes)", what, len(pt))
	} else if k := ptoy.KindOf(err); !slices.Contains(kinds, k) {
		t.Fatalf("%s: OpenBytes: kind %v (%v), want one of %v", what, k, err, kinds)
	}
	if _, err := openStream(blob, ref, keys); err == nil {
		t.Fatalf("%s: Open succeeded", what)
	} else if k := ptoy.KindOf(err); !slices.Contains(kinds, k) {
		t.Fatalf("%s: Open: kind %v (%v), want one of %v", what, k, err, kinds)
	}
}

func headerLen(alg uint16) int {
	n, _ := sealedKeyLen(alg)
	return fixedHeaderLen + n
}

func TestRoundTrip(t *testing.T) {
	sizes := []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 << 20}
	for _, alg := range algs {
		priv, pub := newKey(t, 4, 1, alg)
		keys := finder(priv)
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s/%d", algName(alg), size), func(t *testing.T) {
				plain := pattern(size)
				fromBytes, err := SealBytes(plain, testRef, pub)
				if err != nil {
					t.Fatal(err)
				}
				fromStream := sealStream(t, plain, testRef, pub)
				want := headerLen(alg) + bodyLen(size)
				if len(fromBytes) != want || len(fromStream) != want {
					t.Fatalf("blob lengths %d (bytes) and %d (stream), want %d", len(fromBytes), len(fromStream), want)
				}
				for name, blob := range map[string][]byte{"SealBytes": fromBytes, "Seal": fromStream} {
					got, err := OpenBytes(blob, testRef, keys)
					if err != nil || !bytes.Equal(got, plain) {
						t.Fatalf("%s then OpenBytes: %v, equal=%v", name, err, bytes.Equal(got, plain))
					}
					got, err = openStream(blob, testRef, keys)
					if err != nil || !bytes.Equal(got, plain) {
						t.Fatalf("%s then Open: %v, equal=%v", name, err, bytes.Equal(got, plain))
					}
				}
			})
		}
	}
}

// TestStreamingMatchesBytes checks that Seal and SealBytes write the same
// bytes given the same randomness.
func TestStreamingMatchesBytes(t *testing.T) {
	for _, alg := range algs {
		_, pub := newKey(t, 4, 1, alg)
		for _, size := range []int{0, 1, chunkSize, 2*chunkSize + 5} {
			plain := pattern(size)
			cryptotest.SetGlobalRandom(t, 42)
			a, err := SealBytes(plain, testRef, pub)
			if err != nil {
				t.Fatal(err)
			}
			cryptotest.SetGlobalRandom(t, 42)
			b := sealStream(t, plain, testRef, pub)
			if !bytes.Equal(a, b) {
				t.Fatalf("%s, %d bytes: Seal and SealBytes differ", algName(alg), size)
			}
		}
	}
}

func TestHeader(t *testing.T) {
	for _, alg := range algs {
		_, pub := newKey(t, 9, 0x01020304, alg)
		blob, err := SealBytes([]byte("x"), testRef, pub)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHeader(blob)
		if err != nil {
			t.Fatal(err)
		}
		wantLen := map[uint16]int{algX25519: 97, algHybrid: 1185}[alg]
		if h.Alg != alg || h.Category != 9 || h.Epoch != 0x01020304 || h.Len != wantLen || len(h.SealedKey) != wantLen-fixedHeaderLen {
			t.Fatalf("header %+v", h)
		}
		if string(blob[:8]) != "PTOYREC1" || !bytes.Equal(blob[8:17], []byte{byte(alg >> 8), byte(alg), 9, 1, 2, 3, 4, byte(len(h.SealedKey) >> 8), byte(len(h.SealedKey))}) {
			t.Fatalf("header bytes % x", blob[:17])
		}
		// ParseHeader reads only the header: the first MaxHeaderLen bytes
		// (or the header exactly) will do.
		if _, err := ParseHeader(blob[:h.Len]); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: header %d bytes", algName(alg), h.Len)
	}
}

func TestParseHeaderMalformed(t *testing.T) {
	_, pub := newKey(t, 1, 1, algX25519)
	blob, err := SealBytes(nil, testRef, pub)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(blob)) }
	cases := map[string][]byte{
		"empty":        nil,
		"short magic":  []byte("PTOY"),
		"bad magic":    edit(func(b []byte) []byte { b[7] = '2'; return b }),
		"fixed part":   blob[:fixedHeaderLen-1],
		"unknown KEM":  edit(func(b []byte) []byte { b[9] = 0x21; return b }),
		"length+1":     edit(func(b []byte) []byte { b[16]++; return b }),
		"length-1":     edit(func(b []byte) []byte { b[16]--; return b }),
		"huge length":  edit(func(b []byte) []byte { b[15], b[16] = 0xff, 0xff; return b }),
		"truncated":    blob[:headerLen(algX25519)-1],
		"other KEM id": edit(func(b []byte) []byte { b[8], b[9] = 0x64, 0x7a; return b }),
	}
	for name, b := range cases {
		if _, err := ParseHeader(b); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
}

func TestTamperHeader(t *testing.T) {
	for _, alg := range algs {
		priv, pub := newKey(t, 5, 3, alg)
		plain := []byte("hemoglobin A1c 6.1% on 2026-03-01")
		blob, err := SealBytes(plain, testRef, pub)
		if err != nil {
			t.Fatal(err)
		}
		n := headerLen(alg)
		for i := 0; i < n*8; i++ {
			b := bytes.Clone(blob)
			b[i/8] ^= 1 << (i % 8)
			what := fmt.Sprintf("%s: header bit %d", algName(alg), i)
			// With a finder that hands out the key whatever is asked, only
			// the cryptography stands between an edited header and a
			// successful open.
			if _, err := OpenBytes(b, testRef, anyKey(priv)); err == nil || (ptoy.KindOf(err) != ptoy.Unauthenticated && ptoy.KindOf(err) != ptoy.Invalid) {
				t.Fatalf("%s: %v", what, err)
			}
			// An honest finder may not have a key for the edited
			// category or epoch.
			if i%7 == 0 {
				mustNotOpen(t, what, b, testRef, finder(priv), ptoy.Unauthenticated, ptoy.Invalid, ptoy.NotFound)
			}
		}
	}
}

func TestTamperBody(t *testing.T) {
	priv, pub := newKey(t, 5, 3, algX25519)
	keys := finder(priv)

	// A small record: every bit of the body.
	small, err := SealBytes(pattern(100), testRef, pub)
	if err != nil {
		t.Fatal(err)
	}
	hl := headerLen(algX25519)
	for i := hl * 8; i < len(small)*8; i++ {
		b := bytes.Clone(small)
		b[i/8] ^= 1 << (i % 8)
		mustNotOpen(t, fmt.Sprintf("small, bit %d", i), b, testRef, keys)
	}

	// A record of several chunks: the edges of every chunk and a sample.
	big, err := SealBytes(pattern(3*chunkSize+100), testRef, pub)
	if err != nil {
		t.Fatal(err)
	}
	var positions []int
	for off := hl; off < len(big); off += encChunkSize {
		for _, d := range []int{0, 1, 11, 12, chunkSize / 2, encChunkSize - tagSize - 1, encChunkSize - tagSize, encChunkSize - 1} {
			if off+d < len(big) {
				positions = append(positions, off+d)
			}
		}
	}
	for p := hl + 3; p < len(big); p += 4099 {
		positions = append(positions, p)
	}
	positions = append(positions, len(big)-1)
	for _, p := range positions {
		b := bytes.Clone(big)
		b[p] ^= 0x80
		mustNotOpen(t, fmt.Sprintf("big, byte %d", p), b, testRef, keys)
	}
}

func TestTruncateReorderExtend(t *testing.T) {
	for _, alg := range algs {
		priv, pub := newKey(t, 2, 1, alg)
		keys := finder(priv)
		hl := headerLen(alg)
		for _, size := range []int{0, 10, chunkSize, 2 * chunkSize, 3*chunkSize + 100} {
			blob, err := SealBytes(pattern(size), testRef, pub)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%s/%d", algName(alg), size)
			// Truncation at every chunk boundary, mid-chunk, and by one byte.
			cuts := []int{0, 1, fixedHeaderLen, hl - 1, hl, hl + 1, len(blob) - 1, len(blob) - tagSize, len(blob) - tagSize - 1}
			for off := hl; off < len(blob); off += encChunkSize {
				cuts = append(cuts, off, off+encChunkSize/2, off+tagSize, off+tagSize-1)
			}
			for _, c := range cuts {
				if c >= 0 && c < len(blob) {
					mustNotOpen(t, fmt.Sprintf("%s truncated to %d", name, c), blob[:c], testRef, keys)
				}
			}
			// Extension by a byte, by a tag's worth, by a copy of the last chunk.
			mustNotOpen(t, name+" plus a byte", append(bytes.Clone(blob), 0), testRef, keys)
			mustNotOpen(t, name+" plus 16 bytes", append(bytes.Clone(blob), make([]byte, tagSize)...), testRef, keys)
			lastStart := hl + (bodyLen(size)-1)/encChunkSize*encChunkSize
			mustNotOpen(t, name+" last chunk twice", append(bytes.Clone(blob), blob[lastStart:]...), testRef, keys)

			chunks := (len(blob) - hl + encChunkSize - 1) / encChunkSize
			chunk := func(i int) []byte { return blob[hl+i*encChunkSize : min(len(blob), hl+(i+1)*encChunkSize)] }
			if chunks >= 2 {
				// Drop the final chunk: what is left ends on a full non-final chunk.
				mustNotOpen(t, name+" without final chunk", blob[:hl+(chunks-1)*encChunkSize], testRef, keys)
				// Drop the first chunk.
				mustNotOpen(t, name+" without first chunk", slices.Concat(blob[:hl], blob[hl+encChunkSize:]), testRef, keys)
				// Repeat the first chunk.
				mustNotOpen(t, name+" first chunk twice", slices.Concat(blob[:hl], chunk(0), blob[hl:]), testRef, keys)
			}
			if chunks >= 3 {
				// Swap the first two (full) chunks.
				swapped := slices.Concat(blob[:hl], chunk(1), chunk(0), blob[hl+2*encChunkSize:])
				if len(swapped) != len(blob) {
					t.Fatal("bad swap")
				}
				mustNotOpen(t, name+" chunks 0 and 1 swapped", swapped, testRef, keys)
			}
		}
	}
}

func TestWrongRefOrKey(t *testing.T) {
	for _, alg := range algs {
		priv, pub := newKey(t, 6, 2, alg)
		plain := pattern(chunkSize + 1)
		blob, err := SealBytes(plain, testRef, pub)
		if err != nil {
			t.Fatal(err)
		}
		otherID := testRef
		otherID.ID[15] ^= 1
		otherVersion := testRef
		otherVersion.Version++
		mustNotOpen(t, "other id", blob, otherID, finder(priv), ptoy.Unauthenticated)
		mustNotOpen(t, "other version", blob, otherVersion, finder(priv), ptoy.Unauthenticated)

		sameLabels, _ := newKey(t, 6, 2, alg) // another key for the same category and epoch
		mustNotOpen(t, "wrong key, same category and epoch", blob, testRef, finder(sameLabels), ptoy.Unauthenticated)
		otherCategory, _ := newKey(t, 7, 2, alg)
		mustNotOpen(t, "key of another category", blob, testRef, anyKey(otherCategory), ptoy.Unauthenticated)
		otherEpoch, _ := newKey(t, 6, 1, alg)
		mustNotOpen(t, "key of another epoch", blob, testRef, anyKey(otherEpoch), ptoy.Unauthenticated)
		// The right key material under another epoch's label still opens:
		// the finder's labels are its own business, the header's decide.
		relabelled := priv
		relabelled.Epoch = 99
		if _, err := OpenBytes(blob, testRef, anyKey(relabelled)); err != nil {
			t.Fatal(err)
		}
		otherAlg := algX25519
		if alg == algX25519 {
			otherAlg = algHybrid
		}
		otherKEM, _ := newKey(t, 6, 2, otherAlg)
		mustNotOpen(t, "key of another KEM", blob, testRef, anyKey(otherKEM), ptoy.Unauthenticated)
		garbage := priv
		garbage.Key = []byte{1, 2, 3}
		mustNotOpen(t, "malformed key", blob, testRef, anyKey(garbage), ptoy.Invalid)
		mustNotOpen(t, "nil finder", blob, testRef, nil, ptoy.Invalid)
	}
}

// TestWriterCannotRead checks that a writer, who holds only the public
// key, cannot open what it wrote, and that the finder's error comes out.
func TestWriterCannotRead(t *testing.T) {
	_, pub := newKey(t, 3, 1, algHybrid)
	blob, err := SealBytes([]byte("prescription"), testRef, pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []ptoy.Kind{ptoy.NotFound, ptoy.PermissionDenied} {
		keys := func(c Category, epoch uint32) (PrivateKey, error) {
			return PrivateKey{}, ptoy.E("writer.keys", kind, "writers hold no private category keys")
		}
		mustNotOpen(t, kind.String(), blob, testRef, keys, kind)
		_, err := OpenBytes(blob, testRef, keys)
		if ptoy.Message(err) != "writers hold no private category keys" {
			t.Fatalf("message %q", ptoy.Message(err))
		}
	}
	mustNotOpen(t, "empty finder", blob, testRef, finder(), ptoy.NotFound)
}

func TestRewrap(t *testing.T) {
	for _, alg := range algs {
		orgPriv, orgPub := newKey(t, 8, 0, algX25519)
		patPriv, patPub := newKey(t, 8, 4, alg)
		plain := pattern(2*chunkSize + 3)
		blob, err := SealBytes(plain, testRef, orgPub)
		if err != nil {
			t.Fatal(err)
		}
		re, err := Rewrap(blob, testRef, orgPriv, patPub)
		if err != nil {
			t.Fatal(err)
		}
		oh, _ := ParseHeader(blob)
		nh, err := ParseHeader(re)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(blob[oh.Len:], re[nh.Len:]) {
			t.Fatal("Rewrap changed the body")
		}
		if nh.Alg != alg || nh.Category != 8 || nh.Epoch != 4 {
			t.Fatalf("rewrapped header %+v", nh)
		}
		got, err := OpenBytes(re, testRef, finder(patPriv))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("rewrapped blob: %v", err)
		}
		// The organisation's key opens the old blob but not the new one,
		// even when handed out for the new header's epoch.
		if _, err := OpenBytes(blob, testRef, finder(orgPriv)); err != nil {
			t.Fatal(err)
		}
		mustNotOpen(t, "org key on rewrapped blob", re, testRef, anyKey(orgPriv), ptoy.Unauthenticated)
		mustNotOpen(t, "patient key on old blob", blob, testRef, anyKey(patPriv), ptoy.Unauthenticated)

		// RewrapHeader on the header alone, or on a prefix of the blob.
		for _, prefix := range [][]byte{blob[:oh.Len], blob[:min(len(blob), MaxHeaderLen)]} {
			h2, err := RewrapHeader(prefix, testRef, orgPriv, patPub)
			if err != nil {
				t.Fatal(err)
			}
			got, err := OpenBytes(slices.Concat(h2, blob[oh.Len:]), testRef, finder(patPriv))
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("RewrapHeader: %v", err)
			}
		}

		// Category must match; from must open the header; ref must match.
		_, otherCat := newKey(t, 9, 4, alg)
		if _, err := Rewrap(blob, testRef, orgPriv, otherCat); ptoy.KindOf(err) != ptoy.Invalid {
			t.Fatalf("rewrap to another category: %v", err)
		}
		wrongFrom := orgPriv
		wrongFrom.Category = 9
		if _, err := Rewrap(blob, testRef, wrongFrom, patPub); ptoy.KindOf(err) != ptoy.Invalid {
			t.Fatalf("rewrap from another category: %v", err)
		}
		if _, err := Rewrap(blob, testRef, patPriv, patPub); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Fatalf("rewrap with a key that does not open it: %v", err)
		}
		other := testRef
		other.Version++
		if _, err := Rewrap(blob, other, orgPriv, patPub); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Fatalf("rewrap under another ref: %v", err)
		}
		if _, err := Rewrap(blob[:oh.Len], testRef, orgPriv, patPub); ptoy.KindOf(err) != ptoy.Invalid {
			t.Fatalf("rewrap of a header alone: %v", err)
		}
		// Rewrapping to a new epoch of the same category key works too.
		_, patPub5 := newKey(t, 8, 5, alg)
		if _, err := Rewrap(re, testRef, patPriv, patPub5); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCategoryKey(t *testing.T) {
	for _, alg := range algs {
		priv, pub := newKey(t, 1, 2, alg)
		if len(priv.Key) != 32 {
			t.Errorf("%s private key is %d bytes", algName(alg), len(priv.Key))
		}
		got, err := priv.Public()
		if err != nil || got.Category != 1 || got.Epoch != 2 || got.Alg != alg || !bytes.Equal(got.Key, pub.Key) {
			t.Fatalf("Public: %+v, %v", got, err)
		}
	}
	for _, alg := range []uint16{0, 0x0010, 0x0021, 0x0041} {
		if _, _, err := NewCategoryKey(1, 1, alg); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("alg 0x%04x: %v", alg, err)
		}
	}
	if _, err := (PrivateKey{Alg: algX25519, Key: []byte{1}}).Public(); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("malformed key: %v", err)
	}
	if _, err := SealBytes(nil, testRef, PublicKey{Alg: algHybrid, Key: make([]byte, 10)}); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("malformed public key: %v", err)
	}
	if _, err := SealBytes(nil, testRef, PublicKey{Alg: 7}); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("unknown alg: %v", err)
	}
	if err := Seal(io.Discard, bytes.NewReader(nil), testRef, PublicKey{Alg: 7}); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("unknown alg: %v", err)
	}
}

func TestPrivateKeyNeverPrinted(t *testing.T) {
	priv, _ := newKey(t, 3, 9, algX25519)
	priv.Key = bytes.Repeat([]byte{0xab}, 32)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q", "%T %v"} {
		for _, arg := range []any{priv, &priv, []PrivateKey{priv}, struct{ K PrivateKey }{priv}} {
			s := fmt.Sprintf(verb, arg)
			if strings.Contains(strings.ToLower(s), "abab") || strings.Contains(s, "171") {
				t.Errorf("%s of %T prints the key: %s", verb, arg, s)
			}
		}
	}
	if s := priv.String(); s != "seal.PrivateKey(category=3, epoch=9, alg=X25519)" {
		t.Errorf("String: %s", s)
	}
}

// errWriter fails after n bytes.
type errWriter struct{ n int }

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestIOErrors(t *testing.T) {
	priv, pub := newKey(t, 1, 1, algX25519)
	plain := pattern(3 * chunkSize)
	for _, n := range []int{0, 100, 100 + encChunkSize} {
		if err := Seal(&errWriter{n}, bytes.NewReader(plain), testRef, pub); err == nil || ptoy.KindOf(err) != ptoy.Other {
			t.Errorf("Seal to a failing writer (%d): %v", n, err)
		}
	}
	if err := Seal(io.Discard, iotest.ErrReader(errors.New("gone")), testRef, pub); err == nil {
		t.Error("Seal from a failing reader succeeded")
	}
	blob, _ := SealBytes(plain, testRef, pub)
	if err := Open(&errWriter{10}, bytes.NewReader(blob), testRef, finder(priv)); err == nil || ptoy.KindOf(err) != ptoy.Other {
		t.Errorf("Open to a failing writer: %v", err)
	}
	r := io.MultiReader(bytes.NewReader(blob[:200]), iotest.ErrReader(errors.New("gone")))
	if err := Open(io.Discard, r, testRef, finder(priv)); err == nil || ptoy.KindOf(err) != ptoy.Other {
		t.Errorf("Open from a failing reader: %v", err)
	}
}

// TestOpenStreamsPartialOutput documents that a failing Open may have
// written the authentic chunks that came before the altered one.
func TestOpenStreamsPartialOutput(t *testing.T) {
	priv, pub := newKey(t, 1, 1, algX25519)
	plain := pattern(2*chunkSize + 1)
	blob, _ := SealBytes(plain, testRef, pub)
	blob[len(blob)-1] ^= 1
	var out bytes.Buffer
	err := Open(&out, bytes.NewReader(blob), testRef, finder(priv))
	if ptoy.KindOf(err) != ptoy.Unauthenticated || ptoy.Message(err) != errNoOpen {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(out.Bytes(), plain[:2*chunkSize]) {
		t.Fatalf("wrote %d bytes before failing", out.Len())
	}
	if got, err := OpenBytes(blob, testRef, finder(priv)); got != nil || err == nil {
		t.Fatal("OpenBytes returned a plaintext")
	}
}

func TestBundle(t *testing.T) {
	patient := ptoy.ID{1, 1, 1}
	holder := ptoy.ID{2, 2, 2}
	for _, holderAlg := range algs {
		kem, _ := hpke.NewKEM(holderAlg)
		holderKEM, _ := kem.GenerateKey()
		otherKEM, _ := kem.GenerateKey()
		k1, _ := newKey(t, 3, 2, algHybrid)
		k2, _ := newKey(t, 1, 7, algX25519)
		k3, _ := newKey(t, 3, 1, algHybrid)
		b, err := SealBundle(patient, holder, holderAlg, holderKEM.PublicKey().Bytes(), []PrivateKey{k1, k2, k3})
		if err != nil {
			t.Fatal(err)
		}
		got, err := OpenBundle(patient, holder, holderKEM, b)
		if err != nil {
			t.Fatal(err)
		}
		want := []PrivateKey{k2, k3, k1}
		if len(got) != 3 {
			t.Fatalf("got %d keys", len(got))
		}
		for i := range want {
			if got[i].Category != want[i].Category || got[i].Epoch != want[i].Epoch || got[i].Alg != want[i].Alg || !bytes.Equal(got[i].Key, want[i].Key) {
				t.Fatalf("key %d: %v, want %v", i, got[i], want[i])
			}
		}
		t.Logf("%s holder, 3 keys: bundle %d bytes", algName(holderAlg), len(b))

		fail := func(what string, p, h ptoy.ID, sk hpke.PrivateKey, b []byte, kind ptoy.Kind) {
			t.Helper()
			if keys, err := OpenBundle(p, h, sk, b); err == nil || ptoy.KindOf(err) != kind {
				t.Fatalf("%s: %d keys, %v; want %v", what, len(keys), err, kind)
			}
		}
		fail("another holder's key", patient, holder, otherKEM, b, ptoy.Unauthenticated)
		fail("ids swapped", holder, patient, holderKEM, b, ptoy.Unauthenticated)
		fail("another holder id", patient, ptoy.ID{9}, holderKEM, b, ptoy.Unauthenticated)
		fail("another patient", ptoy.ID{9}, holder, holderKEM, b, ptoy.Unauthenticated)
		fail("nil key", patient, holder, nil, b, ptoy.Invalid)
		fail("empty", patient, holder, holderKEM, nil, ptoy.Invalid)
		fail("magic only", patient, holder, holderKEM, b[:8], ptoy.Unauthenticated)
		fail("truncated", patient, holder, holderKEM, b[:len(b)-1], ptoy.Unauthenticated)
		fail("extended", patient, holder, holderKEM, append(bytes.Clone(b), 0), ptoy.Unauthenticated)
		fail("too large", patient, holder, holderKEM, make([]byte, maxBundleLen+1), ptoy.Invalid)
		for i := 0; i < len(b)*8; i += 1 + 6*int(holderAlg>>8) {
			c := bytes.Clone(b)
			c[i/8] ^= 1 << (i % 8)
			if _, err := OpenBundle(patient, holder, holderKEM, c); err == nil || (ptoy.KindOf(err) != ptoy.Unauthenticated && ptoy.KindOf(err) != ptoy.Invalid) {
				t.Fatalf("bit %d flipped: %v", i, err)
			}
		}

		// An empty bundle is allowed.
		empty, err := SealBundle(patient, holder, holderAlg, holderKEM.PublicKey().Bytes(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if keys, err := OpenBundle(patient, holder, holderKEM, empty); err != nil || len(keys) != 0 {
			t.Fatalf("empty bundle: %v, %v", keys, err)
		}
		// Rejected on sealing.
		bad := func(what string, alg uint16, pub []byte, keys []PrivateKey) {
			t.Helper()
			if _, err := SealBundle(patient, holder, alg, pub, keys); ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("%s: %v", what, err)
			}
		}
		pub := holderKEM.PublicKey().Bytes()
		bad("duplicate", holderAlg, pub, []PrivateKey{k1, k2, k1})
		bad("unknown holder alg", 0x0010, pub, nil)
		bad("malformed holder key", holderAlg, pub[:len(pub)-1], nil)
		bad("malformed category key", holderAlg, pub, []PrivateKey{{Alg: algX25519, Key: []byte{1}}})
		bad("unknown category key alg", holderAlg, pub, []PrivateKey{{Alg: 1, Key: k2.Key}})
		many := make([]PrivateKey, 30000)
		for i := range many {
			many[i] = PrivateKey{Category: Category(i), Epoch: uint32(i), Alg: algX25519, Key: k2.Key}
		}
		bad("too many keys", holderAlg, pub, many)
	}
}

func TestKeySet(t *testing.T) {
	patient := ptoy.ID{7, 7}
	var keys []PublicKey
	for _, spec := range []struct {
		c     Category
		epoch uint32
		alg   uint16
	}{{3, 2, algHybrid}, {1, 1, algX25519}, {3, 10, algHybrid}, {3, 9, algX25519}, {0, 0, algHybrid}} {
		_, pub := newKey(t, spec.c, spec.epoch, spec.alg)
		keys = append(keys, pub)
	}
	b, err := EncodeKeySet(patient, keys)
	if err != nil {
		t.Fatal(err)
	}
	rev := slices.Clone(keys)
	slices.Reverse(rev)
	b2, err := EncodeKeySet(patient, rev)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatal("EncodeKeySet depends on the order of its input")
	}
	got, err := DecodeKeySet(patient, b)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, k := range got {
		order = append(order, fmt.Sprintf("%d/%d", k.Category, k.Epoch))
	}
	if strings.Join(order, " ") != "0/0 1/1 3/2 3/9 3/10" {
		t.Fatalf("order %v", order)
	}
	for _, k := range got {
		i := slices.IndexFunc(keys, func(w PublicKey) bool { return w.Category == k.Category && w.Epoch == k.Epoch })
		if keys[i].Alg != k.Alg || !bytes.Equal(keys[i].Key, k.Key) {
			t.Fatalf("key %d/%d differs", k.Category, k.Epoch)
		}
	}
	if l, ok := Latest(got, 3); !ok || l.Epoch != 10 {
		t.Fatalf("Latest(3) = %v %v", l.Epoch, ok)
	}
	if _, ok := Latest(got, 2); ok {
		t.Fatal("Latest(2) found a key")
	}
	if l, ok := Latest(keys, 1); !ok || l.Epoch != 1 {
		t.Fatal("Latest(1)")
	}
	if empty, err := EncodeKeySet(patient, nil); err != nil || len(empty) != 8+20+2 {
		t.Fatalf("empty key set: %d bytes, %v", len(empty), err)
	} else if ks, err := DecodeKeySet(patient, empty); err != nil || len(ks) != 0 {
		t.Fatalf("empty key set: %v", err)
	}

	invalid := func(what string, err error) {
		t.Helper()
		if ptoy.KindOf(err) != ptoy.Invalid {
			t.Fatalf("%s: %v, want Invalid", what, err)
		}
	}
	_, err = EncodeKeySet(patient, append(slices.Clone(keys), keys[2]))
	invalid("duplicate on encode", err)
	_, err = EncodeKeySet(patient, []PublicKey{{Alg: algHybrid, Key: bytes.Repeat([]byte{0xff}, 1216)}})
	invalid("bad hybrid key", err)
	_, err = DecodeKeySet(ptoy.ID{8}, b)
	invalid("another patient", err)
	_, err = DecodeKeySet(patient, b[:len(b)-1])
	invalid("truncated", err)
	_, err = DecodeKeySet(patient, append(bytes.Clone(b), 0))
	invalid("trailing byte", err)
	_, err = DecodeKeySet(patient, make([]byte, maxKeySetLen+1))
	invalid("too large", err)

	// Hand-made encodings: a repeat and an out-of-order pair.
	_, x1 := newKey(t, 1, 1, algX25519)
	_, x2 := newKey(t, 2, 1, algX25519)
	enc := func(ks ...PublicKey) []byte {
		es := make([]entry, len(ks))
		for i, k := range ks {
			es[i] = entry{k.Category, k.Epoch, k.Alg, k.Key}
		}
		return appendEntries(append([]byte(keySetMagic), patient[:]...), es)
	}
	if _, err := DecodeKeySet(patient, enc(x1, x2)); err != nil {
		t.Fatal(err)
	}
	_, err = DecodeKeySet(patient, enc(x1, x1))
	invalid("repeat", err)
	_, err = DecodeKeySet(patient, enc(x2, x1))
	invalid("out of order", err)
	bad := x1
	bad.Alg = 0x0010
	_, err = DecodeKeySet(patient, enc(bad))
	invalid("unknown alg", err)
	hostile := append([]byte(keySetMagic), patient[:]...)
	hostile = append(hostile, 0xff, 0xff)
	_, err = DecodeKeySet(patient, hostile)
	invalid("count without entries", err)
}

// TestBodyKAT pins the body layer: a fixed data key and plaintext give a
// fixed body, which an independent implementation of the format below
// (straight from the package documentation) reproduces. The pinned hashes
// were also computed with another implementation of AES-GCM (Python's
// pyca/cryptography AESGCM) from the format as documented.
func TestBodyKAT(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	ref := Ref{ID: [16]byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf}, Version: 0x01020304}
	ad := bodyAD(ref, 0x2a)
	if hex.EncodeToString(ad) != "7074"+"6f79"+"207265636f7264207631"+"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"+"01020304"+"2a" {
		t.Fatalf("associated data %x", ad)
	}
	for _, c := range []struct {
		size int
		want string
	}{
		{0, "a926dac2ff68916a288dacd3f03a021b3c1f7fbda71e8e8567da165a756e44eb"},
		{5, "29f0895ff3914dc58b1155c0eb0f6f90c4ca481887a1bd187bfdaf2a6798b38f"},
		{chunkSize, "e3ca60f2285e2d07cc095469339a0ee070f3e70dc5892b92748822fd479b49df"},
		{2*chunkSize + 1000, "c2610730823ae69b712fc7f3eae3ae3b651f521017cc58269ed8e7befe67a820"},
	} {
		plain := pattern(c.size)
		var out bytes.Buffer
		if err := sealBody(&out, bytes.NewReader(plain), key, ad); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(out.Bytes())
		t.Logf("size %d: body sha256 %x", c.size, sum)
		if got := hex.EncodeToString(sum[:]); got != c.want {
			t.Errorf("size %d: body sha256 %s, want %s", c.size, got, c.want)
		}
		if !bytes.Equal(out.Bytes(), referenceBody(key, ad, plain)) {
			t.Errorf("size %d: body differs from the reference implementation", c.size)
		}
		aead, _ := newBodyAEAD(key)
		if !bytes.Equal(out.Bytes(), appendBody(nil, plain, aead, ad)) {
			t.Errorf("size %d: sealBody and appendBody differ", c.size)
		}
		got, err := openBodyBytes("test", out.Bytes(), key, ad)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("size %d: openBodyBytes: %v", c.size, err)
		}
	}
}

// referenceBody is the body format written out plainly, without buffers.
func referenceBody(key, ad, plain []byte) []byte {
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	var out []byte
	for i := 0; ; i++ {
		end := min(len(plain), (i+1)*chunkSize)
		nonce := make([]byte, 12)
		binary.BigEndian.PutUint64(nonce[3:11], uint64(i))
		if end == len(plain) {
			nonce[11] = 1
		}
		out = gcm.Seal(out, nonce, plain[i*chunkSize:end], ad)
		if end == len(plain) {
			return out
		}
	}
}

// The regression known-answer files: blobs, a bundle and a key set made
// once, with the keys that open them. The format may not change under
// them. They are made with a fixed seed for crypto/rand (testing/cryptotest),
// so that TestKATReproducible can also check that sealing is still exactly
// what it was; go test ./seal -run TestKAT -update rewrites them.

type katKey struct {
	Category Category `json:"category"`
	Epoch    uint32   `json:"epoch"`
	Alg      uint16   `json:"alg"`
	Private  string   `json:"private"`
	Public   string   `json:"public"`
}

type katRecord struct {
	File        string `json:"file"`
	ID          string `json:"id"`
	Version     uint32 `json:"version"`
	PlainLen    int    `json:"plaintext_len"` // plaintext is pattern(plaintext_len) unless text is set
	Text        string `json:"text,omitempty"`
	PlainSHA256 string `json:"plaintext_sha256"`
	BlobSHA256  string `json:"blob_sha256"`
}

type katManifest struct {
	Note       string      `json:"note"`
	Seed       uint64      `json:"seed"`
	Patient    string      `json:"patient"`
	Holder     string      `json:"holder"`
	HolderAlg  uint16      `json:"holder_alg"`
	HolderKEM  string      `json:"holder_kem_private"`
	Keys       []katKey    `json:"keys"`
	Records    []katRecord `json:"records"`
	Bundle     string      `json:"bundle_file"`
	BundleKeys []int       `json:"bundle_keys"` // indexes into keys
	KeySet     string      `json:"keyset_file"`
}

const katSeed = 20260301

// makeKAT makes the known-answer set from the current randomness.
func makeKAT(t *testing.T) (katManifest, map[string][]byte) {
	t.Helper()
	m := katManifest{
		Note:      "made by go test ./seal -run TestKAT -update; see seal_test.go",
		Seed:      katSeed,
		Patient:   hex.EncodeToString(bytes.Repeat([]byte{0x11}, 20)),
		Holder:    hex.EncodeToString(bytes.Repeat([]byte{0x22}, 20)),
		HolderAlg: algX25519,
		Bundle:    "bundle.bin",
		KeySet:    "keyset.bin",
	}
	files := map[string][]byte{}
	specs := []struct {
		c     Category
		epoch uint32
		alg   uint16
	}{{1, 0, algX25519}, {2, 3, algHybrid}, {2, 4, algHybrid}, {1, 0, algX25519}} // the last is an organisation's key
	var privs []PrivateKey
	var pubs []PublicKey
	for _, s := range specs {
		priv, pub := newKey(t, s.c, s.epoch, s.alg)
		privs, pubs = append(privs, priv), append(pubs, pub)
		m.Keys = append(m.Keys, katKey{s.c, s.epoch, s.alg, hex.EncodeToString(priv.Key), hex.EncodeToString(pub.Key)})
	}
	kem, _ := hpke.NewKEM(algX25519)
	holderKEM, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := holderKEM.Bytes()
	m.HolderKEM = hex.EncodeToString(hb)

	addRecord := func(file string, blob []byte, ref Ref, plain []byte, text bool) {
		r := katRecord{File: file, ID: hex.EncodeToString(ref.ID[:]), Version: ref.Version, PlainLen: len(plain)}
		if text {
			r.Text = string(plain)
		}
		ps, bs := sha256.Sum256(plain), sha256.Sum256(blob)
		r.PlainSHA256, r.BlobSHA256 = hex.EncodeToString(ps[:]), hex.EncodeToString(bs[:])
		m.Records = append(m.Records, r)
		files[file] = blob
	}
	ref := func(v uint32) Ref { return Ref{ID: [16]byte{0xfe, 0xed, byte(v)}, Version: v} }
	seal := func(plain []byte, ref Ref, to PublicKey) []byte {
		b, err := SealBytes(plain, ref, to)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hello := []byte("Allergy: penicillin (anaphylaxis, 1998)")
	addRecord("record-x25519.bin", seal(hello, ref(1), pubs[0]), ref(1), hello, true)
	addRecord("record-x25519-empty.bin", seal(nil, ref(2), pubs[0]), ref(2), nil, false)
	big := pattern(chunkSize + 1)
	addRecord("record-hybrid.bin", seal(big, ref(3), pubs[1]), ref(3), big, false)
	// A record an organisation sealed to its own key, rewrapped to the
	// patient's category 1 key.
	orgBlob := seal(hello, ref(4), pubs[3])
	re, err := Rewrap(orgBlob, ref(4), privs[3], pubs[0])
	if err != nil {
		t.Fatal(err)
	}
	addRecord("record-rewrapped.bin", re, ref(4), hello, true)

	var patient, holder ptoy.ID
	hex.Decode(patient[:], []byte(m.Patient))
	hex.Decode(holder[:], []byte(m.Holder))
	m.BundleKeys = []int{0, 1, 2}
	files[m.Bundle], err = SealBundle(patient, holder, algX25519, holderKEM.PublicKey().Bytes(), privs[:3])
	if err != nil {
		t.Fatal(err)
	}
	files[m.KeySet], err = EncodeKeySet(patient, pubs[:3])
	if err != nil {
		t.Fatal(err)
	}
	return m, files
}

func loadKAT(t testing.TB) (katManifest, map[string][]byte) {
	t.Helper()
	var m katManifest
	b, err := os.ReadFile(filepath.Join("testdata", "kat.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	names := []string{m.Bundle, m.KeySet}
	for _, r := range m.Records {
		names = append(names, r.File)
	}
	for _, name := range names {
		if files[name], err = os.ReadFile(filepath.Join("testdata", name)); err != nil {
			t.Fatal(err)
		}
	}
	return m, files
}

func (k katKey) private(t testing.TB) PrivateKey {
	b, err := hex.DecodeString(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return PrivateKey{Category: k.Category, Epoch: k.Epoch, Alg: k.Alg, Key: b}
}

func (r katRecord) ref(t testing.TB) Ref {
	var ref Ref
	if b, err := hex.DecodeString(r.ID); err != nil || len(b) != 16 {
		t.Fatal("bad id")
	} else {
		copy(ref.ID[:], b)
	}
	ref.Version = r.Version
	return ref
}

func TestKATUpdate(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata")
	}
	cryptotest.SetGlobalRandom(t, katSeed)
	m, files := makeKAT(t)
	j, _ := json.MarshalIndent(m, "", "\t")
	if err := os.WriteFile(filepath.Join("testdata", "kat.json"), append(j, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKATOpens checks that the stored blobs, bundle and key set still open
// to what they held when they were made.
func TestKATOpens(t *testing.T) {
	m, files := loadKAT(t)
	var privs []PrivateKey
	for _, k := range m.Keys {
		privs = append(privs, k.private(t))
	}
	keys := finder(privs[:3]...) // the patient's keys, not the organisation's
	for _, r := range m.Records {
		blob := files[r.File]
		if s := sha256.Sum256(blob); hex.EncodeToString(s[:]) != r.BlobSHA256 {
			t.Fatalf("%s: file changed", r.File)
		}
		got, err := OpenBytes(blob, r.ref(t), keys)
		if err != nil {
			t.Fatalf("%s: %v", r.File, err)
		}
		want := pattern(r.PlainLen)
		if r.Text != "" {
			want = []byte(r.Text)
		}
		if s := sha256.Sum256(got); !bytes.Equal(got, want) || hex.EncodeToString(s[:]) != r.PlainSHA256 {
			t.Fatalf("%s: opens to other plaintext", r.File)
		}
		if got, err := openStream(blob, r.ref(t), keys); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: Open: %v", r.File, err)
		}
	}
	var patient, holder ptoy.ID
	hex.Decode(patient[:], []byte(m.Patient))
	hex.Decode(holder[:], []byte(m.Holder))
	kem, _ := hpke.NewKEM(m.HolderAlg)
	hkb, _ := hex.DecodeString(m.HolderKEM)
	holderKEM, err := kem.NewPrivateKey(hkb)
	if err != nil {
		t.Fatal(err)
	}
	bundled, err := OpenBundle(patient, holder, holderKEM, files[m.Bundle])
	if err != nil {
		t.Fatal(err)
	}
	if len(bundled) != len(m.BundleKeys) {
		t.Fatalf("bundle holds %d keys", len(bundled))
	}
	for i, ki := range m.BundleKeys {
		want := privs[ki]
		if bundled[i].Category != want.Category || bundled[i].Epoch != want.Epoch || bundled[i].Alg != want.Alg || !bytes.Equal(bundled[i].Key, want.Key) {
			t.Fatalf("bundle key %d differs", i)
		}
	}
	pubs, err := DecodeKeySet(patient, files[m.KeySet])
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pubs {
		if hex.EncodeToString(p.Key) != m.Keys[i].Public || p.Category != m.Keys[i].Category || p.Epoch != m.Keys[i].Epoch {
			t.Fatalf("key set key %d differs", i)
		}
	}
	if again, _ := EncodeKeySet(patient, pubs); !bytes.Equal(again, files[m.KeySet]) {
		t.Fatal("EncodeKeySet no longer gives the stored key set")
	}
}

// TestKATReproducible checks that, with crypto/rand fixed to the same seed,
// sealing today gives exactly the stored bytes. A failure with
// TestKATOpens passing means that Go changed how it draws randomness (see
// testing/cryptotest), not that the format changed.
func TestKATReproducible(t *testing.T) {
	if fips140.Version() == "v1.0.0" {
		t.Skip("testing/cryptotest does not support the v1.0.0 FIPS module")
	}
	cryptotest.SetGlobalRandom(t, katSeed)
	m, files := makeKAT(t)
	stored, storedFiles := loadKAT(t)
	mj, _ := json.Marshal(m)
	sj, _ := json.Marshal(stored)
	if !bytes.Equal(mj, sj) {
		t.Fatalf("manifest differs:\n%s\n%s", mj, sj)
	}
	for name, b := range files {
		if !bytes.Equal(b, storedFiles[name]) {
			t.Errorf("%s differs from testdata", name)
		}
	}
}

var benchSizes = []struct {
	name string
	n    int
}{{"1KB", 1 << 10}, {"64KB", 64 << 10}, {"1MB", 1 << 20}}

func benchSeal(b *testing.B, alg uint16) {
	_, pub := newKey(b, 1, 1, alg)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			data := pattern(s.n)
			r := bytes.NewReader(data)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(data)
				if err := Seal(io.Discard, r, testRef, pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSeal seals to a hybrid (ML-KEM-768+X25519) category key, the
// default; BenchmarkSealX25519 to an X25519 one.
func BenchmarkSeal(b *testing.B)       { benchSeal(b, algHybrid) }
func BenchmarkSealX25519(b *testing.B) { benchSeal(b, algX25519) }

// BenchmarkSealBody is the body layer alone (no HPKE): the envelope's
// per-byte cost, to set against BenchmarkRawAEAD.
func BenchmarkSealBody(b *testing.B) {
	key := make([]byte, 32)
	ad := bodyAD(testRef, 1)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			data := pattern(s.n)
			r := bytes.NewReader(data)
			b.SetBytes(int64(s.n))
			for b.Loop() {
				r.Reset(data)
				if err := sealBody(io.Discard, r, key, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawAEAD is AES-256-GCM over the same data in 64 KiB chunks
// into a reused buffer: the work of Seal without the envelope.
func BenchmarkRawAEAD(b *testing.B) {
	block, _ := aes.NewCipher(make([]byte, 32))
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	buf := make([]byte, 0, encChunkSize)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			data := pattern(s.n)
			b.SetBytes(int64(s.n))
			for b.Loop() {
				for off := 0; off < len(data); off += chunkSize {
					buf = gcm.Seal(buf[:0], nonce, data[off:min(len(data), off+chunkSize)], nil)
				}
			}
		})
	}
}

func BenchmarkOpenBytes(b *testing.B) {
	priv, pub := newKey(b, 1, 1, algHybrid)
	keys := finder(priv)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			blob, _ := SealBytes(pattern(s.n), testRef, pub)
			b.SetBytes(int64(s.n))
			for b.Loop() {
				if _, err := OpenBytes(blob, testRef, keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestMaxHeaderLen(t *testing.T) {
	if MaxHeaderLen != 4113 || headerLen(algHybrid) > MaxHeaderLen || headerLen(algX25519) > MaxHeaderLen {
		t.Fatal(MaxHeaderLen)
	}
}

// TestSealer checks session records: they open with the category key,
// each record's data key is its own (a blob moved to another ref fails),
// tampering is caught, and Rewrap turns one into a classic record.
func TestSealer(t *testing.T) {
	for _, alg := range []uint16{algX25519, algHybrid} {
		priv, pub := newKey(t, 3, 1, alg)
		s, err := NewSealer(pub)
		if err != nil {
			t.Fatal(err)
		}
		refs := []Ref{{ID: [16]byte{1}, Version: 1}, {ID: [16]byte{2}, Version: 1}, {ID: [16]byte{1}, Version: 2}}
		var blobs [][]byte
		for i, ref := range refs {
			plain := pattern(1000 * (i + 1))
			b, err := s.SealBytes(plain, ref)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := s.Seal(&buf, bytes.NewReader(plain), ref); err != nil {
				t.Fatal(err)
			}
			got, err := OpenBytes(buf.Bytes(), ref, finderOf(priv))
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("streamed session record: %v", err)
			}
			got, err = OpenBytes(b, ref, finderOf(priv))
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("session record %d: %v", i, err)
			}
			h, err := ParseHeader(b)
			if err != nil || !h.Session || h.Category != 3 || h.Epoch != 1 {
				t.Fatalf("header %+v %v", h, err)
			}
			blobs = append(blobs, b)
		}
		// Each record's key is bound to its ref.
		if _, err := OpenBytes(blobs[0], refs[2], finderOf(priv)); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Fatalf("record opened under another ref: %v", err)
		}
		// Any flipped bit fails.
		for i := 0; i < len(blobs[0]); i += 7 {
			bad := bytes.Clone(blobs[0])
			bad[i] ^= 1
			if _, err := OpenBytes(bad, refs[0], finderOf(priv)); err == nil {
				t.Fatalf("flipped byte %d opened", i)
			}
		}
		// Another key does not open it.
		other, pub2 := newKey(t, 3, 2, alg)
		if _, err := OpenBytes(blobs[1], refs[1], finderOf(other)); err == nil {
			t.Fatal("opened with another key")
		}
		// Rewrap to a new epoch gives a classic record with the same body.
		re, err := Rewrap(blobs[1], refs[1], priv, pub2)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := OpenBytes(re, refs[1], finderOf(other)); err != nil || !bytes.Equal(got, pattern(2000)) {
			t.Fatalf("rewrapped session record: %v", err)
		}
	}
}

func finderOf(k PrivateKey) KeyFinder {
	return func(c Category, e uint32) (PrivateKey, error) {
		if c == k.Category && e == k.Epoch {
			return k, nil
		}
		return PrivateKey{}, ptoy.E("", ptoy.NotFound, "no key")
	}
}

// BenchmarkSealerAppend is BenchmarkSealer for records in memory, sealed
// into a reused buffer as BenchmarkRawAEAD seals into one.
func BenchmarkSealerAppend(b *testing.B) {
	_, pub := newKey(b, 1, 1, algHybrid)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			se, err := NewSealer(pub)
			if err != nil {
				b.Fatal(err)
			}
			data := pattern(s.n)
			var buf []byte
			b.SetBytes(int64(s.n))
			for b.Loop() {
				if buf, err = se.SealAppend(buf[:0], data, testRef); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealer is the per-record cost of sealing in a session (one
// KEM encapsulation per Sealer, amortised over the records of a batch),
// to set against BenchmarkRawAEAD.
func BenchmarkSealer(b *testing.B) {
	_, pub := newKey(b, 1, 1, algHybrid)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			se, err := NewSealer(pub)
			if err != nil {
				b.Fatal(err)
			}
			data := pattern(s.n)
			r := bytes.NewReader(data)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(data)
				if err := se.Seal(io.Discard, r, testRef); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
