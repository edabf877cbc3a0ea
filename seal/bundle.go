package seal

import (
	"cmp"
	"crypto/hpke"
	"encoding/binary"
	"fmt"
	"slices"

	"ptoy"
)

// Key bundles and key sets.
const (
	bundleMagic   = "PTOYBND1"
	bundleInfo    = "ptoy key bundle v1" // HPKE info of a bundle starts so
	maxBundleLen  = 1 << 20
	keySetMagic   = "PTOYKEY1"
	maxKeySetLen  = 1 << 20
	maxKeyLen     = 4 << 10
	entryFixedLen = 1 + 4 + 2 + 2 // category, epoch, alg, key length
	maxEntries    = 1<<16 - 1
)

// entry is one key, public or private, in a bundle or key set.
type entry struct {
	c     Category
	epoch uint32
	alg   uint16
	key   []byte
}

// checkEntries sorts es by (category, epoch) and rejects duplicates, keys
// too long, and more keys than an encoding can hold.
func checkEntries(op string, es []entry) error {
	if len(es) > maxEntries {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%d keys are more than %d", len(es), maxEntries))
	}
	slices.SortFunc(es, compareEntries)
	for i, e := range es {
		if i > 0 && compareEntries(es[i-1], e) == 0 {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("two keys for category %d epoch %d", e.c, e.epoch))
		}
		if len(e.key) > maxKeyLen {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("key for category %d epoch %d is too long", e.c, e.epoch))
		}
	}
	return nil
}

func compareEntries(a, b entry) int {
	if c := cmp.Compare(a.c, b.c); c != 0 {
		return c
	}
	return cmp.Compare(a.epoch, b.epoch)
}

// appendEntries appends count (2 bytes), then each entry: category (1),
// epoch (4), alg (2), key length (2), key.
func appendEntries(b []byte, es []entry) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(es)))
	for _, e := range es {
		b = append(b, byte(e.c))
		b = binary.BigEndian.AppendUint32(b, e.epoch)
		b = binary.BigEndian.AppendUint16(b, e.alg)
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.key)))
		b = append(b, e.key...)
	}
	return b
}

// parseEntries parses what appendEntries wrote, which must be all of b,
// with entries in strictly increasing (category, epoch) order. Keys are
// copied out of b.
func parseEntries(op, what string, b []byte) ([]entry, error) {
	bad := func(msg string) error { return ptoy.E(op, ptoy.Invalid, what+" is malformed: "+msg) }
	if len(b) < 2 {
		return nil, bad("truncated")
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n*entryFixedLen > len(b) {
		return nil, bad("truncated")
	}
	es := make([]entry, 0, n)
	for range n {
		if len(b) < entryFixedLen {
			return nil, bad("truncated")
		}
		e := entry{
			c:     Category(b[0]),
			epoch: binary.BigEndian.Uint32(b[1:5]),
			alg:   binary.BigEndian.Uint16(b[5:7]),
		}
		klen := int(binary.BigEndian.Uint16(b[7:9]))
		b = b[entryFixedLen:]
		if klen > len(b) || klen > maxKeyLen {
			return nil, bad("truncated")
		}
		e.key = slices.Clone(b[:klen])
		b = b[klen:]
		if len(es) > 0 && compareEntries(es[len(es)-1], e) >= 0 {
			return nil, bad("keys out of order or repeated")
		}
		es = append(es, e)
	}
	if len(b) != 0 {
		return nil, bad("trailing bytes")
	}
	return es, nil
}

// bundleInfoFor returns the HPKE info of the bundle of patient's keys for
// holder: "ptoy key bundle v1" || patient id || holder id.
func bundleInfoFor(patient, holder ptoy.ID) []byte {
	info := make([]byte, 0, len(bundleInfo)+2*ptoy.IDLen)
	info = append(info, bundleInfo...)
	info = append(info, patient[:]...)
	return append(info, holder[:]...)
}

// SealBundle seals the private category keys of patient to holder, whose
// identity KEM public key is holderKEMPublic (of KEM holderAlg), and returns
// the bundle. Keys are sorted by (category, epoch); two keys for the same
// category and epoch, an unknown algorithm or malformed key material are
// ptoy.Invalid, as is a bundle that would exceed 1 MiB.
func SealBundle(patient, holder ptoy.ID, holderAlg uint16, holderKEMPublic []byte, keys []PrivateKey) ([]byte, error) {
	const op = "seal.SealBundle"
	kem, err := kemOf(op, holderAlg)
	if err != nil {
		return nil, err
	}
	pk, err := kem.NewPublicKey(holderKEMPublic)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("holder's KEM key is not a valid %s public key", algName(holderAlg)))
	}
	es := make([]entry, len(keys))
	size := 2
	for i, k := range keys {
		es[i] = entry{k.Category, k.Epoch, k.Alg, k.Key}
		size += entryFixedLen + len(k.Key)
	}
	enc, _ := encLen(holderAlg)
	if len(bundleMagic)+enc+size+tagSize > maxBundleLen {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%d keys do not fit in a bundle", len(keys)))
	}
	if err := checkEntries(op, es); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if _, err := k.parse(op); err != nil {
			return nil, err
		}
	}
	plain := appendEntries(make([]byte, 0, size), es)
	defer clear(plain)
	sealed, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), bundleInfoFor(patient, holder), plain)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot seal key bundle", err)
	}
	return append([]byte(bundleMagic), sealed...), nil
}

// OpenBundle opens a bundle of patient's category keys sealed to holder,
// whose identity KEM private key is holderKEM. It is ptoy.Unauthenticated
// if the bundle does not open (sealed to another holder, for another
// patient, or altered) and ptoy.Invalid if it is malformed.
func OpenBundle(patient, holder ptoy.ID, holderKEM hpke.PrivateKey, bundle []byte) ([]PrivateKey, error) {
	const op = "seal.OpenBundle"
	if holderKEM == nil {
		return nil, ptoy.E(op, ptoy.Invalid, "no holder key")
	}
	if len(bundle) > maxBundleLen {
		return nil, ptoy.E(op, ptoy.Invalid, "key bundle is larger than 1 MiB")
	}
	if len(bundle) < len(bundleMagic) || string(bundle[:len(bundleMagic)]) != bundleMagic {
		return nil, ptoy.E(op, ptoy.Invalid, "not a ptoy key bundle (bad magic)")
	}
	plain, err := hpke.Open(holderKEM, hpke.HKDFSHA256(), hpke.AES256GCM(), bundleInfoFor(patient, holder), bundle[len(bundleMagic):])
	if err != nil {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "key bundle does not open: not sealed to this holder for this patient, or altered")
	}
	defer clear(plain)
	es, err := parseEntries(op, "key bundle", plain)
	if err != nil {
		return nil, err
	}
	keys := make([]PrivateKey, len(es))
	for i, e := range es {
		keys[i] = PrivateKey{Category: e.c, Epoch: e.epoch, Alg: e.alg, Key: e.key}
		keys[i].keep()
		if _, err := keys[i].parse(op); err != nil {
			for _, k := range keys {
				clear(k.Key)
			}
			return nil, err
		}
	}
	return keys, nil
}

// EncodeKeySet encodes the public category keys of patient as one blob, to
// be published. The encoding is deterministic: keys sorted by (category,
// epoch). Two keys for the same category and epoch, an unknown algorithm or
// malformed key material are ptoy.Invalid, as is a set that would exceed
// 1 MiB.
//
// Format: "PTOYKEY1" || patient id (20) || count (2) || count times
// { category (1) || epoch (4) || alg (2) || key length (2) || key }.
func EncodeKeySet(patient ptoy.ID, keys []PublicKey) ([]byte, error) {
	const op = "seal.EncodeKeySet"
	es := make([]entry, len(keys))
	size := len(keySetMagic) + ptoy.IDLen + 2
	for i, k := range keys {
		es[i] = entry{k.Category, k.Epoch, k.Alg, k.Key}
		size += entryFixedLen + len(k.Key)
	}
	if size > maxKeySetLen {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%d keys do not fit in a key set", len(keys)))
	}
	if err := checkEntries(op, es); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if _, err := k.parse(op); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, size)
	b = append(b, keySetMagic...)
	b = append(b, patient[:]...)
	return appendEntries(b, es), nil
}

// DecodeKeySet decodes a key set that EncodeKeySet made for patient. It is
// ptoy.Invalid if b is malformed, larger than 1 MiB, for another patient,
// not in canonical order, repeats a (category, epoch), or holds a key that
// HPKE does not accept as a public key of its KEM. A key set is not signed:
// its authenticity comes from where it was published.
func DecodeKeySet(patient ptoy.ID, b []byte) ([]PublicKey, error) {
	const op = "seal.DecodeKeySet"
	if len(b) > maxKeySetLen {
		return nil, ptoy.E(op, ptoy.Invalid, "key set is larger than 1 MiB")
	}
	if len(b) < len(keySetMagic) || string(b[:len(keySetMagic)]) != keySetMagic {
		return nil, ptoy.E(op, ptoy.Invalid, "not a ptoy key set (bad magic)")
	}
	b = b[len(keySetMagic):]
	if len(b) < ptoy.IDLen {
		return nil, ptoy.E(op, ptoy.Invalid, "key set is malformed: truncated")
	}
	if ptoy.ID(b[:ptoy.IDLen]) != patient {
		return nil, ptoy.E(op, ptoy.Invalid, "key set belongs to another patient")
	}
	es, err := parseEntries(op, "key set", b[ptoy.IDLen:])
	if err != nil {
		return nil, err
	}
	keys := make([]PublicKey, len(es))
	for i, e := range es {
		keys[i] = PublicKey{Category: e.c, Epoch: e.epoch, Alg: e.alg, Key: e.key}
		if _, err := keys[i].parse(op); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Latest returns the key of category c with the highest epoch in keys, and
// false if there is none.
func Latest(keys []PublicKey, c Category) (PublicKey, bool) {
	var best PublicKey
	found := false
	for _, k := range keys {
		if k.Category == c && (!found || k.Epoch > best.Epoch) {
			best, found = k, true
		}
	}
	return best, found
}
