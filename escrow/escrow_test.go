package escrow

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/seal"
	"ptoy/shamir"
)

// world is a patient's category keys and n validator organisations.
type world struct {
	patient ptoy.ID
	all     []seal.PrivateKey // every category, two epochs of allergies
	orgs    []*keys.KeyPair
	holders []Holder
}

func newWorld(t testing.TB, n int, alg uint16) *world {
	t.Helper()
	p, err := keys.Generate(keys.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{patient: p.ID()}
	for c := pb.Category_CATEGORY_DEMOGRAPHICS; c <= pb.Category_CATEGORY_GENETIC; c++ {
		if _, ok := pb.Category_name[int32(c)]; !ok {
			continue
		}
		k, _, err := seal.NewCategoryKey(seal.Category(c), 1, keys.KEMX25519)
		if err != nil {
			t.Fatal(err)
		}
		w.all = append(w.all, k)
	}
	k2, _, err := seal.NewCategoryKey(seal.Category(pb.Category_CATEGORY_ALLERGIES), 2, keys.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	w.all = append(w.all, k2)
	for range n {
		o, err := keys.Generate(alg)
		if err != nil {
			t.Fatal(err)
		}
		w.orgs = append(w.orgs, o)
		w.holders = append(w.holders, Holder{Org: o.ID(), Alg: o.KEMAlg(), KEMPublic: o.KEMPublic()})
	}
	return w
}

// emergency returns the keys of w that an escrow holds, sorted.
func (w *world) emergency() []seal.PrivateKey {
	var out []seal.PrivateKey
	for _, k := range w.all {
		if IsEmergency(k.Category) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b seal.PrivateKey) int {
		if a.Category != b.Category {
			return int(a.Category) - int(b.Category)
		}
		return int(a.Epoch) - int(b.Epoch)
	})
	return out
}

// release has validator i open its share and seal it to org.
func (w *world) release(t testing.TB, blob []byte, i int, to *keys.KeyPair) []byte {
	t.Helper()
	s, err := OpenShare(blob, w.orgs[i].ID(), w.orgs[i].KEM)
	if err != nil {
		t.Fatalf("validator %d opens its share: %v", i, err)
	}
	r, err := SealShareTo(s, w.patient, to.ID(), to.KEMAlg(), to.KEMPublic())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sameKeys(a, b []seal.PrivateKey) bool {
	return slices.EqualFunc(a, b, func(x, y seal.PrivateKey) bool {
		return x.Category == y.Category && x.Epoch == y.Epoch && x.Alg == y.Alg && bytes.Equal(x.Key, y.Key)
	})
}

func TestThreshold(t *testing.T) {
	for n, k := range map[int]int{1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: 5, 7: 5, 10: 7, 255: 171} {
		if got := Threshold(n); got != k {
			t.Errorf("Threshold(%d) = %d, want %d", n, got, k)
		}
	}
}

// TestOneHolderRefused: an escrow that one organisation could open alone
// is never made.
func TestOneHolderRefused(t *testing.T) {
	w := newWorld(t, 1, keys.KEMX25519)
	if _, err := Build(w.patient, w.all, w.holders); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("an escrow for one validator: %v", err)
	}
}

// TestRoundTrip builds escrows for 2 to 7 validators; any k of them
// release their shares to the requesting organisation, which recovers
// exactly the emergency categories' keys, every epoch; k-1 open nothing.
func TestRoundTrip(t *testing.T) {
	for n := 2; n <= 7; n++ {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			alg := keys.KEMX25519
			if n == 4 {
				alg = keys.KEMHybrid
			}
			w := newWorld(t, n, alg)
			clinic, _ := keys.Generate(keys.KEMHybrid)
			blob, err := Build(w.patient, w.all, w.holders)
			if err != nil {
				t.Fatal(err)
			}
			e, err := Parse(blob)
			if err != nil {
				t.Fatal(err)
			}
			k := Threshold(n)
			if e.K != k || len(e.Shares) != n || e.Patient != w.patient {
				t.Fatalf("escrow k=%d n=%d patient=%s", e.K, len(e.Shares), e.Patient)
			}
			if !bytes.Equal(e.Encode(), blob) {
				t.Fatal("Encode(Parse(blob)) differs")
			}
			var released [][]byte
			// Release from the last validators first: any k will do.
			for i := n - 1; i >= 0; i-- {
				released = append(released, w.release(t, blob, i, clinic))
			}
			got, err := Recover(blob, w.patient, clinic.ID(), released[:k], clinic.KEM)
			if err != nil {
				t.Fatalf("%d of %d shares: %v", k, n, err)
			}
			if want := w.emergency(); !sameKeys(got, want) || len(want) != 6 {
				t.Fatalf("recovered %v, want %v", got, want)
			}
			// Every share at once, and a share given twice, recover too.
			all := append(slices.Clone(released), released[0])
			if got, err := Recover(blob, w.patient, clinic.ID(), all, clinic.KEM); err != nil || !sameKeys(got, w.emergency()) {
				t.Fatalf("all shares: %v", err)
			}
			// k-1 shares (and the same share again) open nothing.
			few := append(slices.Clone(released[:k-1]), released[:k-1]...)
			_, err = Recover(blob, w.patient, clinic.ID(), few, clinic.KEM)
			if ptoy.KindOf(err) != ptoy.Unavailable {
				t.Fatalf("%d shares of %d needed: %v", k-1, k, err)
			}
			if want := fmt.Sprintf("%d of %d shares released so far", k-1, k); ptoy.Message(err) != want {
				t.Fatalf("message %q, want %q", ptoy.Message(err), want)
			}
			if have, need, err := Progress(blob, w.patient, clinic.ID(), few, clinic.KEM); err != nil || have != k-1 || need != k {
				t.Fatalf("progress %d of %d: %v", have, need, err)
			}
		})
	}
}

// TestFewerThanKLearnNothing combines k-1 validators' shares (all they
// know between them) with every guess for the missing ones' bytes at the
// first position: none gives the emergency key, and whatever k-1 shares
// combine to is not it.
func TestFewerThanKLearnNothing(t *testing.T) {
	w := newWorld(t, 4, keys.KEMX25519)
	blob, err := Build(w.patient, w.all, w.holders)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := Parse(blob)
	var shares []shamir.Share
	for i := range 2 { // k = 3
		s, err := OpenShare(blob, w.orgs[i].ID(), w.orgs[i].KEM)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
	}
	secret, err := shamir.Combine(shares)
	if err != nil {
		t.Fatal(err)
	}
	kem, _ := kemOf("test", e.Alg)
	if sk, err := kem.NewPrivateKey(secret); err == nil && bytes.Equal(sk.PublicKey().Bytes(), e.Public) {
		t.Fatal("two shares of a 3-of-4 escrow recovered the emergency key")
	}
	if _, err := seal.OpenBundle(w.patient, EmergencyID(w.patient), w.orgs[0].KEM, e.Bundle); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("a validator's own key opened the bundle: %v", err)
	}
}

// TestSharesAreBound: a share opens only for the organisation it was
// sealed to and as a share of the patient it was made for.
func TestSharesAreBound(t *testing.T) {
	w := newWorld(t, 3, keys.KEMX25519)
	clinic, _ := keys.Generate(keys.KEMX25519)
	other, _ := keys.Generate(keys.KEMX25519)
	blob, err := Build(w.patient, w.all, w.holders)
	if err != nil {
		t.Fatal(err)
	}
	// A validator's escrowed share does not open with another's key,
	// and an organisation without a share has none.
	if _, err := OpenShare(blob, w.orgs[0].ID(), w.orgs[1].KEM); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("validator 1's share with validator 2's key: %v", err)
	}
	if _, err := OpenShare(blob, clinic.ID(), clinic.KEM); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("a share for a non-validator: %v", err)
	}
	// A share released to the clinic does not open for another
	// organisation, even given the clinic's id, nor as another patient's.
	r := w.release(t, blob, 0, clinic)
	if _, err := OpenReleased(r, w.patient, clinic.ID(), clinic.KEM); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		patient, org ptoy.ID
		key          *keys.KeyPair
	}{
		{w.patient, other.ID(), other},
		{w.patient, clinic.ID(), other},
		{w.patient, other.ID(), clinic},
		{other.ID(), clinic.ID(), clinic},
	} {
		if _, err := OpenReleased(r, c.patient, c.org, c.key.KEM); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("released share opened for the wrong party: %v", err)
		}
	}
	// Shares released to the clinic do not recover anything for another
	// organisation.
	released := [][]byte{r, w.release(t, blob, 1, clinic), w.release(t, blob, 2, clinic)}
	if _, err := Recover(blob, w.patient, other.ID(), released, other.KEM); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("another organisation recovered with the clinic's shares: %v", err)
	}
	if _, err := Recover(blob, other.ID(), clinic.ID(), released, clinic.KEM); ptoy.KindOf(err) != ptoy.Invalid {
		t.Fatalf("the escrow as another patient's: %v", err)
	}
}

// TestTamper alters escrows and released shares: nothing altered opens.
func TestTamper(t *testing.T) {
	w := newWorld(t, 4, keys.KEMX25519)
	clinic, _ := keys.Generate(keys.KEMX25519)
	blob, err := Build(w.patient, w.all, w.holders)
	if err != nil {
		t.Fatal(err)
	}
	var released [][]byte
	for i := range 4 {
		released = append(released, w.release(t, blob, i, clinic))
	}
	// Every byte of the escrow, flipped: Parse refuses it, the share
	// does not open or Recover fails; never the keys.
	for i := range blob {
		if i%7 != 0 && i > 64 && i < len(blob)-64 {
			continue // a sample of the middle, all of both ends
		}
		bad := slices.Clone(blob)
		bad[i] ^= 0x04
		if _, err := Recover(bad, w.patient, clinic.ID(), released, clinic.KEM); err == nil {
			if _, err := Parse(bad); err == nil {
				// A flipped bit in a sealed share of the escrow only
				// matters to its validator, who can no longer open it.
				continue
			}
			t.Fatalf("escrow with byte %d flipped recovered", i)
		}
	}
	e, _ := Parse(blob)
	e.Bundle[len(e.Bundle)-1] ^= 1
	if _, err := Recover(e.Encode(), w.patient, clinic.ID(), released, clinic.KEM); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("altered bundle: %v", err)
	}
	e, _ = Parse(blob)
	e.Shares[0].Sealed[40] ^= 1
	if _, err := OpenShare(e.Encode(), e.Shares[0].Org, keyOf(w, e.Shares[0].Org).KEM); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("altered escrowed share: %v", err)
	}
	// A released share altered in transit does not open; with only k-1
	// good ones, nothing is recovered.
	bad := slices.Clone(released[0])
	bad[len(bad)-3] ^= 1
	if _, err := OpenReleased(bad, w.patient, clinic.ID(), clinic.KEM); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("altered released share: %v", err)
	}
	if _, err := Recover(blob, w.patient, clinic.ID(), [][]byte{bad, released[1], released[2]}, clinic.KEM); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("k-1 good shares and an altered one: %v", err)
	}
	// A validator that releases a wrong share (sealed properly) is
	// outvoted when k good shares are out, and caught when they are not.
	s, _ := OpenShare(blob, w.orgs[0].ID(), w.orgs[0].KEM)
	s.Y[0] ^= 0x55
	lie, err := SealShareTo(s, w.patient, clinic.ID(), clinic.KEMAlg(), clinic.KEMPublic())
	if err != nil {
		t.Fatal(err)
	}
	rest := releasedExcept(t, w, blob, w.orgs[0].ID(), clinic)
	got, err := Recover(blob, w.patient, clinic.ID(), append([][]byte{lie}, rest...), clinic.KEM)
	if err != nil || !sameKeys(got, w.emergency()) {
		t.Fatalf("a wrong share among k good ones: %v", err)
	}
	if _, err := Recover(blob, w.patient, clinic.ID(), append([][]byte{lie}, rest[:2]...), clinic.KEM); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("a wrong share and k-1 good ones: %v", err)
	}
	// Shares of an earlier escrow (the patient rebuilt it) do not mix in.
	blob2, err := Build(w.patient, w.all, w.holders)
	if err != nil {
		t.Fatal(err)
	}
	old := released[:2]
	if _, err := Recover(blob2, w.patient, clinic.ID(), append(old, w.release(t, blob2, 3, clinic)), clinic.KEM); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("shares of two escrows: %v", err)
	}
}

func keyOf(w *world, org ptoy.ID) *keys.KeyPair {
	for _, o := range w.orgs {
		if o.ID() == org {
			return o
		}
	}
	return nil
}

// releasedExcept releases the share of every validator but skip.
func releasedExcept(t *testing.T, w *world, blob []byte, skip ptoy.ID, to *keys.KeyPair) [][]byte {
	var out [][]byte
	for i, o := range w.orgs {
		if o.ID() != skip {
			out = append(out, w.release(t, blob, i, to))
		}
	}
	return out
}

func TestBuildInvalid(t *testing.T) {
	w := newWorld(t, 3, keys.KEMX25519)
	var notEmergency []seal.PrivateKey
	for _, k := range w.all {
		if !IsEmergency(k.Category) {
			notEmergency = append(notEmergency, k)
		}
	}
	bad := slices.Clone(w.holders)
	bad[1].KEMPublic = bad[1].KEMPublic[:5]
	for name, c := range map[string]struct {
		keys    []seal.PrivateKey
		holders []Holder
	}{
		"no emergency key":  {notEmergency, w.holders},
		"no validators":     {w.all, nil},
		"a validator twice": {w.all, append(slices.Clone(w.holders), w.holders[0])},
		"a malformed key":   {w.all, bad},
		"an unknown KEM":    {w.all, []Holder{{Org: w.holders[0].Org, Alg: 7, KEMPublic: w.holders[0].KEMPublic}}},
		"256 validators":    {w.all, make([]Holder, 256)},
	} {
		if _, err := Build(w.patient, c.keys, c.holders); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestEmergencyID(t *testing.T) {
	a, b := ptoy.ID{1}, ptoy.ID{2}
	if EmergencyID(a) == EmergencyID(b) || EmergencyID(a) == a || EmergencyID(a) != EmergencyID(a) {
		t.Fatal("emergency ids are not distinct, derived ids")
	}
}

// TestHeldBy: an escrow is held by exactly its holders; one admitted,
// one removed or one whose key changed KEM makes it stale.
func TestHeldBy(t *testing.T) {
	w := newWorld(t, 4, keys.KEMX25519)
	raw, err := Build(w.patient, w.all, w.holders)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(w.holders)
	slices.Reverse(reversed)
	if !e.HeldBy(w.holders) || !e.HeldBy(reversed) {
		t.Fatal("not held by its own holders")
	}
	o, _ := keys.Generate(keys.KEMX25519)
	admitted := append(slices.Clone(w.holders), Holder{Org: o.ID(), Alg: o.KEMAlg(), KEMPublic: o.KEMPublic()})
	swapped := slices.Clone(w.holders)
	swapped[1] = admitted[4]
	rekeyed := slices.Clone(w.holders)
	rekeyed[2].Alg = keys.KEMHybrid
	for name, hs := range map[string][]Holder{"admitted": admitted, "removed": w.holders[1:], "swapped": swapped, "rekeyed": rekeyed} {
		if e.HeldBy(hs) {
			t.Errorf("%s: still held", name)
		}
	}
}
