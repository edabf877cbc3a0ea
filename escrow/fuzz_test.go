package escrow

import (
	"bytes"
	"testing"

	"ptoy"
	"ptoy/keys"
)

// FuzzParse checks that Parse never panics, fails only with ptoy.Invalid,
// and that what it accepts encodes back to the same bytes.
func FuzzParse(f *testing.F) {
	for _, n := range []int{2, 3, 4} {
		w := newWorld(f, n, keys.KEMX25519)
		b, err := Build(w.patient, w.all, w.holders)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte(magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("kind %v: %v", ptoy.KindOf(err), err)
			}
			return
		}
		if !bytes.Equal(e.Encode(), b) {
			t.Fatal("a parsed escrow does not encode to its bytes")
		}
		if e.K != Threshold(len(e.Shares)) {
			t.Fatalf("k=%d n=%d", e.K, len(e.Shares))
		}
	})
}
