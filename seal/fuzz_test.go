package seal

import (
	"bytes"
	"testing"

	"ptoy"
)

// katSeeds returns the stored KAT blobs, their refs and plaintexts, and a
// finder for the patient's keys.
func katSeeds(f *testing.F) (blobs [][]byte, refs []Ref, plains [][]byte, keys KeyFinder) {
	m, files := loadKAT(f)
	var privs []PrivateKey
	for _, k := range m.Keys[:3] {
		privs = append(privs, k.private(f))
	}
	for _, r := range m.Records {
		blobs = append(blobs, files[r.File])
		refs = append(refs, r.ref(f))
		p := pattern(r.PlainLen)
		if r.Text != "" {
			p = []byte(r.Text)
		}
		plains = append(plains, p)
	}
	return blobs, refs, plains, finder(privs...)
}

func FuzzParseHeader(f *testing.F) {
	blobs, _, _, _ := katSeeds(f)
	for _, b := range blobs {
		f.Add(b[:min(len(b), MaxHeaderLen)])
	}
	f.Add([]byte("PTOYREC1"))
	f.Add([]byte("PTOYREC1\x00\x20\x01\x00\x00\x00\x00\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("kind %v", ptoy.KindOf(err))
			}
			return
		}
		if h.Len > len(b) || h.Len > MaxHeaderLen || h.Len != fixedHeaderLen+len(h.SealedKey) {
			t.Fatalf("header length %d of %d bytes", h.Len, len(b))
		}
		if enc := appendHeader(nil, h.Alg, h.Category, h.Epoch, h.SealedKey); !bytes.Equal(enc, b[:h.Len]) {
			t.Fatal("header does not re-encode to its bytes")
		}
	})
}

// FuzzOpenBytes checks that no input panics, that OpenBytes and Open agree,
// and that whatever opens under a stored record's ref opens to that
// record's plaintext.
func FuzzOpenBytes(f *testing.F) {
	blobs, refs, plains, keys := katSeeds(f)
	for i, b := range blobs {
		f.Add(b, uint8(i))
	}
	f.Fuzz(func(t *testing.T, blob []byte, which uint8) {
		i := int(which) % len(refs)
		got, err := OpenBytes(blob, refs[i], keys)
		streamed, serr := openStream(blob, refs[i], keys)
		if (err == nil) != (serr == nil) || ptoy.KindOf(err) != ptoy.KindOf(serr) {
			t.Fatalf("OpenBytes: %v; Open: %v", err, serr)
		}
		if err != nil {
			switch ptoy.KindOf(err) {
			case ptoy.Invalid, ptoy.Unauthenticated, ptoy.NotFound:
			default:
				t.Fatalf("kind %v: %v", ptoy.KindOf(err), err)
			}
			return
		}
		if !bytes.Equal(got, plains[i]) || !bytes.Equal(streamed, plains[i]) {
			t.Fatal("opened to another plaintext")
		}
	})
}

func FuzzDecodeKeySet(f *testing.F) {
	m, files := loadKAT(f)
	patient := ptoy.ID(bytes.Repeat([]byte{0x11}, 20))
	if m.Patient != patient.String() {
		f.Fatal("KAT patient changed")
	}
	f.Add(files[m.KeySet])
	empty, _ := EncodeKeySet(patient, nil)
	f.Add(empty)
	f.Add(append(bytes.Clone(empty[:len(empty)-2]), 0xff, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := DecodeKeySet(patient, b)
		if err != nil {
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("kind %v", ptoy.KindOf(err))
			}
			return
		}
		again, err := EncodeKeySet(patient, keys)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded key set does not re-encode to its bytes: %v", err)
		}
	})
}

func FuzzOpenBundle(f *testing.F) {
	m, files := loadKAT(f)
	var patient, holder ptoy.ID
	copy(patient[:], bytes.Repeat([]byte{0x11}, 20))
	copy(holder[:], bytes.Repeat([]byte{0x22}, 20))
	kem, _ := kemOf("test", m.HolderAlg)
	hk := katKey{Alg: m.HolderAlg, Private: m.HolderKEM}.private(f)
	holderKEM, err := kem.NewPrivateKey(hk.Key)
	if err != nil {
		f.Fatal(err)
	}
	orig := files[m.Bundle]
	f.Add(orig)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := OpenBundle(patient, holder, holderKEM, b)
		if err == nil && !bytes.Equal(b, orig) {
			t.Fatal("an altered bundle opened")
		}
		if err != nil && ptoy.KindOf(err) != ptoy.Invalid && ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Fatalf("kind %v", ptoy.KindOf(err))
		}
	})
}
