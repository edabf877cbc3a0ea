package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"ptoy/kem"
)

// kemMemo remembers which KEM public keys were checked, and the outcome,
// up to a bound (oldest forgotten first). Forgetting only costs a new
// check, so the ledger's results never depend on what is remembered.
type kemMemo struct {
	mu   sync.Mutex
	m    map[[32]byte]error
	ring [][32]byte
	next int
}

func newKEMMemo(n int) *kemMemo {
	return &kemMemo{m: make(map[[32]byte]error, n), ring: make([][32]byte, n)}
}

func (c *kemMemo) check(alg uint16, key []byte) error {
	h := sha256.New()
	var a [2]byte
	binary.BigEndian.PutUint16(a[:], alg)
	h.Write(a[:])
	h.Write(key)
	var k [32]byte
	h.Sum(k[:0])
	c.mu.Lock()
	err, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return err
	}
	err = kem.ValidPublic(alg, key)
	c.mu.Lock()
	if _, ok := c.m[k]; !ok {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = k
		c.next = (c.next + 1) % len(c.ring)
		c.m[k] = err
	}
	c.mu.Unlock()
	return err
}
