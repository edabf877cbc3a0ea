package abciapp

import "github.com/cometbft/cometbft/crypto"

type cryptoPubKey = crypto.PubKey

// verifiedSet remembers the hashes of transactions whose signatures this
// node has checked, up to a bound; the oldest are forgotten first.
type verifiedSet struct {
	set  map[[32]byte]struct{}
	ring [][32]byte
	next int
}

func newVerifiedSet(n int) *verifiedSet {
	return &verifiedSet{set: make(map[[32]byte]struct{}, n), ring: make([][32]byte, n)}
}

func (v *verifiedSet) has(h [32]byte) bool { _, ok := v.set[h]; return ok }

func (v *verifiedSet) add(h [32]byte) {
	if v.has(h) {
		return
	}
	delete(v.set, v.ring[v.next])
	v.ring[v.next] = h
	v.next = (v.next + 1) % len(v.ring)
	v.set[h] = struct{}{}
}

func (v *verifiedSet) remove(h [32]byte) { delete(v.set, h) }
