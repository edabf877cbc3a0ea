package auth

import (
	"crypto/sha256"
	"sync"
	"time"

	"ptoy"
)

// Nonces remembers the signatures a node accepted while their time is
// fresh, so that a captured request is refused the second time. Entries
// are grouped by the minute of their time and dropped, a minute at a
// time, once that time is older than Window. Memory is bounded by the
// requests a node accepts in 2 × Window: about 40 bytes each.
type Nonces struct {
	mu      sync.Mutex
	buckets map[int64]map[[16]byte]struct{}
	n       int
	max     int
}

// MaxNonces bounds the remembered signatures; past it signed requests are
// refused as busy (sessions still work) until old minutes drop out.
const MaxNonces = 4 << 20

// NewNonces returns an empty cache.
func NewNonces() *Nonces { return &Nonces{buckets: map[int64]map[[16]byte]struct{}{}, max: MaxNonces} }

func (c *Nonces) use(sig []byte, ts int64, now time.Time) error {
	sum := sha256.Sum256(sig)
	var k [16]byte
	copy(k[:], sum[:])
	minute := ts / 60
	c.mu.Lock()
	defer c.mu.Unlock()
	oldest := (now.Add(-Window).Unix() / 60) - 1
	for m, b := range c.buckets {
		if m < oldest {
			c.n -= len(b)
			delete(c.buckets, m)
		}
	}
	b := c.buckets[minute]
	if _, seen := b[k]; seen {
		return ptoy.E("auth.Verify", ptoy.Unauthenticated, "this request was already made once (a replayed signature); sign each request anew")
	}
	if c.n >= c.max {
		return ptoy.E("auth.Verify", ptoy.Unavailable, "too many signed requests right now; retry shortly or use a session")
	}
	if b == nil {
		b = map[[16]byte]struct{}{}
		c.buckets[minute] = b
	}
	b[k] = struct{}{}
	c.n++
	return nil
}
