package shamir

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"testing"

	"ptoy"
)

// logExp builds log and exp tables over the generator 3, an independent
// way to multiply in GF(2^8) to check mul against.
func logExp() (lg [256]byte, ex [510]byte) {
	x := byte(1)
	for i := range 255 {
		ex[i], ex[i+255] = x, x
		lg[x] = byte(i)
		// x·3 = x·2 ^ x, reduced by 0x11b.
		hi := x & 0x80
		x2 := x << 1
		if hi != 0 {
			x2 ^= 0x1b
		}
		x ^= x2
	}
	return lg, ex
}

// slowMul is carry-less multiplication then reduction by 0x11b, done
// the long way.
func slowMul(a, b byte) byte {
	var p uint16
	for i := range 8 {
		if b&(1<<i) != 0 {
			p ^= uint16(a) << i
		}
	}
	for i := 15; i >= 8; i-- {
		if p&(1<<i) != 0 {
			p ^= 0x11b << (i - 8)
		}
	}
	return byte(p)
}

func TestFieldAxioms(t *testing.T) {
	lg, ex := logExp()
	for i := 1; i < 256; i++ {
		if ex[lg[i]] != byte(i) {
			t.Fatalf("3 does not generate the field: %d", i)
		}
	}
	// FIPS 197, section 4.2.
	if mul(0x57, 0x83) != 0xc1 || mul(0x57, 0x13) != 0xfe {
		t.Fatal("FIPS 197 examples")
	}
	for a := range 256 {
		a := byte(a)
		if mul(a, 0) != 0 || mul(0, a) != 0 || mul(a, 1) != a {
			t.Fatalf("identities fail for %#x", a)
		}
		if a != 0 {
			if mul(a, inv(a)) != 1 {
				t.Fatalf("a·a⁻¹ ≠ 1 for %#x", a)
			}
			if inv(inv(a)) != a {
				t.Fatalf("inverse of inverse for %#x", a)
			}
		}
		for b := range 256 {
			b := byte(b)
			p := mul(a, b)
			if p != mul(b, a) {
				t.Fatalf("not commutative: %#x·%#x", a, b)
			}
			want := slowMul(a, b)
			if a != 0 && b != 0 && ex[int(lg[a])+int(lg[b])] != want {
				t.Fatalf("log/exp and long multiplication disagree: %#x·%#x", a, b)
			}
			if p != want {
				t.Fatalf("%#x·%#x = %#x, want %#x", a, b, p, want)
			}
			if b != 0 && div(p, b) != a {
				t.Fatalf("(%#x·%#x)/%#x ≠ %#x", a, b, b, a)
			}
		}
	}
	if inv(0) != 0 {
		t.Fatal("inv(0)")
	}
	// Distributivity and associativity, exhaustively.
	for a := range 256 {
		for b := range 256 {
			ab := mul(byte(a), byte(b))
			for c := range 256 {
				a, b, c := byte(a), byte(b), byte(c)
				if mul(a, b^c) != ab^mul(a, c) {
					t.Fatalf("not distributive: %#x·(%#x+%#x)", a, b, c)
				}
				if mul(ab, c) != mul(a, mul(b, c)) {
					t.Fatalf("not associative: %#x·%#x·%#x", a, b, c)
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("division by zero did not panic")
		}
	}()
	div(1, 0)
}

func randomSecret(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func mustCombine(t *testing.T, shares []Share) []byte {
	t.Helper()
	got, err := Combine(shares)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRoundTrip(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for _, n := range []int{2, 3, 4, 5, 7, 10, 16, 50, 254, 255} {
		for _, k := range []int{2, 3, n / 2, n - 1, n} {
			if k < 2 || k > n {
				continue
			}
			secret := randomSecret(t, 1+r.IntN(64))
			shares, err := Split(secret, n, k)
			if err != nil {
				t.Fatal(err)
			}
			if len(shares) != n {
				t.Fatalf("n=%d k=%d: %d shares", n, k, len(shares))
			}
			for i, s := range shares {
				if s.X != byte(i+1) || len(s.Y) != len(secret) {
					t.Fatalf("share %d: X=%d, %d bytes", i, s.X, len(s.Y))
				}
			}
			// The first k, the last k, all, and random subsets of k or more
			// in random order.
			subsets := [][]Share{shares[:k], shares[n-k:], shares}
			for range 5 {
				perm := r.Perm(n)
				m := k + r.IntN(n-k+1)
				sub := make([]Share, m)
				for i := range m {
					sub[i] = shares[perm[i]]
				}
				subsets = append(subsets, sub)
			}
			for _, sub := range subsets {
				if got := mustCombine(t, sub); !bytes.Equal(got, secret) {
					t.Fatalf("n=%d k=%d: %d shares give %x, want %x", n, k, len(sub), got, secret)
				}
			}
		}
	}
}

// TestEverySubset combines every subset of the shares of a 6-of-3 split.
func TestEverySubset(t *testing.T) {
	const n, k = 6, 3
	secret := []byte("correct horse battery staple")
	shares, err := Split(secret, n, k)
	if err != nil {
		t.Fatal(err)
	}
	for mask := 1; mask < 1<<n; mask++ {
		var sub []Share
		for i := range n {
			if mask&(1<<i) != 0 {
				sub = append(sub, shares[i])
			}
		}
		got, err := Combine(sub)
		switch size := bits.OnesCount(uint(mask)); {
		case size < 2:
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("one share: %v", err)
			}
		case size < k:
			if err != nil || bytes.Equal(got, secret) {
				t.Fatalf("%d shares recovered the secret (%v)", size, err)
			}
		default:
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("subset %06b: %x, %v", mask, got, err)
			}
		}
	}
}

// TestFewerThanK checks that k-1 shares do not give the secret (for k = 2,
// Combine refuses a single share).
func TestFewerThanK(t *testing.T) {
	for _, k := range []int{3, 4, 5, 10} {
		hits := 0
		for range 200 {
			secret := randomSecret(t, 32)
			shares, err := Split(secret, k+2, k)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustCombine(t, shares[1:k]); bytes.Equal(got, secret) {
				hits++
			}
		}
		if hits != 0 {
			t.Fatalf("k=%d: %d of 200 recoveries from k-1 shares gave the secret", k, hits)
		}
	}
}

// fixedReader supplies the coefficients a test chose.
type fixedReader []byte

func (r *fixedReader) Read(p []byte) (int, error) {
	if len(*r) == 0 {
		return 0, io.EOF
	}
	n := copy(p, *r)
	*r = (*r)[n:]
	return n, nil
}

// TestPerfectSecrecy checks, over every choice of coefficients, that k-1
// shares of a one-byte secret take every possible value exactly once
// whatever the secret: the shares alone carry no information about it.
// Equivalently, through k-1 shares and any candidate (0, s) passes exactly
// one polynomial of degree at most k-1. (TestSplitKAT ties eval to Split.)
func TestPerfectSecrecy(t *testing.T) {
	// k = 2: one share, at every X, for every secret.
	for s := range 256 {
		for x := 1; x <= 255; x++ {
			var seen [256]bool
			for a1 := range 256 {
				y := eval(byte(s), []byte{byte(a1)}, byte(x))
				if seen[y] {
					t.Fatalf("k=2, s=%d, x=%d: share value %d twice", s, x, y)
				}
				seen[y] = true
			}
		}
	}
	// k = 3: two shares, at several pairs of X, for a few secrets, over all
	// 65536 pairs of coefficients.
	for _, s := range []byte{0, 1, 0x5a, 0xff} {
		for _, xs := range [][2]byte{{1, 2}, {7, 200}, {254, 255}} {
			seen := make([]bool, 1<<16)
			for a := range 1 << 16 {
				coeffs := []byte{byte(a), byte(a >> 8)}
				pair := int(eval(s, coeffs, xs[0]))<<8 | int(eval(s, coeffs, xs[1]))
				if seen[pair] {
					t.Fatalf("k=3, s=%d, xs=%v: share pair %#04x twice", s, xs, pair)
				}
				seen[pair] = true
			}
		}
	}
	// And through Split itself, for k = 2 and a few secrets.
	for _, s := range []byte{0, 0x80, 0xff} {
		var seen [256][256]bool // [x][share value]
		for a1 := range 256 {
			r := fixedReader{byte(a1)}
			shares, err := splitWith(&r, []byte{s}, 255, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, sh := range shares {
				if seen[sh.X][sh.Y[0]] {
					t.Fatalf("Split, k=2, s=%d, x=%d: share value %d twice", s, sh.X, sh.Y[0])
				}
				seen[sh.X][sh.Y[0]] = true
			}
		}
	}
}

// TestSplitKAT pins Split's output for fixed coefficients (bytes 1, 2, 3,
// ... in order: k-1 coefficients a1 ... a(k-1) per secret byte). The
// expected values were computed by an independent implementation (Python,
// log/exp tables over generator 3).
func TestSplitKAT(t *testing.T) {
	for _, c := range []struct {
		secret  string // hex
		n, k    int
		first3  []string
		sha256  string // of X||Y for all shares
		comment string
	}{
		{"70746f79", 5, 3, []string{"73736c76", "7a627d57", "79657e58"}, "3a3c7bf1ffbeaa90961f5bbeb71dec8ad22a035c1c0b7a501a060a97fb7c53ea", "ptoy"},
		{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 3, 2, []string{
			"010301070103010f010301070103011f010301070103010f010301070103013f",
			"0205040b0e0908171a1d1c131611102f3235343b3e3938272a2d2c232621205f",
			"0307070f0b0f0f1f1317171f1b1f1f3f2327272f2b2f2f3f3337373f3b3f3f7f"},
			"b6eff2e1ea4e7e36f8c5342711e80fe67dc78bcbd3335e4fa33fc7902e9a5647", "32 bytes"},
		{"00ff", 255, 255, []string{"fffc", "401b", "6fc9"}, "ed620431900945c0a6416b2225abf16a90610803a4fa4da78fd6648b3d2dec9d", "255 of 255"},
	} {
		secret, _ := hex.DecodeString(c.secret)
		coeffs := make(fixedReader, len(secret)*(c.k-1))
		for i := range coeffs {
			coeffs[i] = byte(i + 1)
		}
		shares, err := splitWith(&coeffs, secret, c.n, c.k)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for i, s := range shares {
			if i < 3 && hex.EncodeToString(s.Y) != c.first3[i] {
				t.Errorf("%s: share %d = %x, want %s", c.comment, s.X, s.Y, c.first3[i])
			}
			b, _ := s.MarshalBinary()
			h.Write(b)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != c.sha256 {
			t.Errorf("%s: shares hash to %s, want %s", c.comment, got, c.sha256)
		}
		if got := mustCombine(t, shares[len(shares)-c.k:]); !bytes.Equal(got, secret) {
			t.Errorf("%s: does not combine", c.comment)
		}
	}
}

func TestSplitIsRandom(t *testing.T) {
	secret := []byte("same secret")
	a, _ := Split(secret, 3, 2)
	b, _ := Split(secret, 3, 2)
	if bytes.Equal(a[0].Y, b[0].Y) {
		t.Fatal("two splits gave the same shares")
	}
	r := fixedReader{1, 2} // too few bytes for 11 coefficients
	if _, err := splitWith(&r, secret, 3, 2); ptoy.KindOf(err) != ptoy.Other {
		t.Fatalf("short randomness: %v", err)
	}
}

func TestInvalid(t *testing.T) {
	for _, c := range []struct{ n, k int }{{1, 1}, {2, 1}, {2, 3}, {256, 2}, {256, 256}, {0, 0}, {-1, 2}, {3, -3}} {
		if _, err := Split([]byte{1}, c.n, c.k); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("n=%d k=%d: %v", c.n, c.k, err)
		}
	}
	if _, err := Split(nil, 3, 2); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("empty secret: %v", err)
	}
	y := []byte{1, 2}
	for name, shares := range map[string][]Share{
		"none":           nil,
		"one":            {{1, y}},
		"duplicate X":    {{1, y}, {2, y}, {1, []byte{3, 4}}},
		"zero X":         {{0, y}, {2, y}},
		"unequal length": {{1, y}, {2, []byte{1}}},
		"empty Y":        {{1, nil}, {2, nil}},
	} {
		if _, err := Combine(shares); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestMarshal(t *testing.T) {
	shares, _ := Split([]byte("secret"), 4, 2)
	var back []Share
	for _, s := range shares {
		b, err := s.MarshalBinary()
		if err != nil || len(b) != 7 || b[0] != s.X {
			t.Fatalf("MarshalBinary: %x, %v", b, err)
		}
		var u Share
		if err := u.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		b[1] ^= 0xff // the decoded share does not alias its input
		back = append(back, u)
	}
	if got := mustCombine(t, back[1:3]); string(got) != "secret" {
		t.Fatalf("got %q", got)
	}
	for _, b := range [][]byte{nil, {1}, {0, 1, 2}} {
		var u Share
		if err := u.UnmarshalBinary(b); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("UnmarshalBinary(%x): %v", b, err)
		}
	}
	for _, s := range []Share{{0, []byte{1}}, {1, nil}} {
		if _, err := s.MarshalBinary(); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("MarshalBinary(%v): %v", s, err)
		}
	}
}

func FuzzCombine(f *testing.F) {
	shares, _ := Split([]byte("seed secret"), 5, 3)
	var seed []byte
	for _, s := range shares[:3] {
		seed = append(seed, s.X)
		seed = append(seed, s.Y...)
	}
	f.Add(seed, uint8(3))
	f.Add([]byte{1, 1, 1, 1}, uint8(2))
	f.Add([]byte{}, uint8(0))
	// data is m shares of equal length, each X then Y.
	f.Fuzz(func(t *testing.T, data []byte, m uint8) {
		if m == 0 || len(data)%int(m) != 0 {
			return
		}
		size := len(data) / int(m)
		var in []Share
		for i := range int(m) {
			c := data[i*size : (i+1)*size]
			if len(c) == 0 {
				in = append(in, Share{})
				continue
			}
			in = append(in, Share{X: c[0], Y: c[1:]})
		}
		got, err := Combine(in)
		if err != nil {
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatal(err)
			}
			return
		}
		if len(got) != size-1 {
			t.Fatalf("secret of %d bytes from shares of %d", len(got), size-1)
		}
		// The shares lie on one polynomial of degree < m, whose value at 0
		// Combine returned; splitting that secret and recombining agrees.
		again, err := Split(got, int(m), int(m))
		if err != nil {
			t.Fatal(err)
		}
		if back := mustCombine(t, again); !bytes.Equal(back, got) {
			t.Fatal("round trip through Split")
		}
	})
}

func FuzzSplitCombine(f *testing.F) {
	f.Add([]byte("secret"), uint8(5), uint8(3), uint64(1))
	f.Fuzz(func(t *testing.T, secret []byte, n, k uint8, seed uint64) {
		shares, err := Split(secret, int(n), int(k))
		if err != nil {
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatal(err)
			}
			return
		}
		perm := mrand.New(mrand.NewPCG(seed, 0)).Perm(int(n))
		sub := make([]Share, k)
		for i := range sub {
			sub[i] = shares[perm[i]]
		}
		if got := mustCombine(t, sub); !bytes.Equal(got, secret) {
			t.Fatalf("n=%d k=%d: got %x", n, k, got)
		}
	})
}

func ExampleSplit() {
	secret := []byte("patient recovery key")
	shares, err := Split(secret, 5, 3) // five guardians, any three recover
	if err != nil {
		panic(err)
	}
	got, _ := Combine([]Share{shares[4], shares[0], shares[2]})
	fmt.Println(string(got))
	// Output: patient recovery key
}

func BenchmarkSplit32Bytes5of3(b *testing.B) {
	secret := make([]byte, 32)
	for b.Loop() {
		Split(secret, 5, 3)
	}
}
