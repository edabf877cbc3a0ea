package ledger

import (
	"bytes"
	"sync"

	"ptoy/kv"
)

// cacheBytes bounds one generation of the read cache: the cache holds
// at most two generations, so about 2×cacheBytes of keys and values.
const cacheBytes = 4 << 20

// cacheEntryOverhead is what an entry costs beyond its key and value
// (map slot, string and slice headers), for the size bound.
const cacheEntryOverhead = 64

// cachedKV is a read cache of the committed state in front of the
// store. Applying a transaction reads a handful of keys, most of them
// absent (is this signing key new? this phone tag?), and each
// transaction is applied three times on a node (CheckTx, the recheck
// after a block, FinalizeBlock): the cache answers the repeats, present
// or absent, without a store lookup.
//
// It never disagrees with the store: every write goes through Commit,
// which writes the store first and then puts exactly what it wrote
// (values and deletions) into the cache. A reader that missed inserts
// what it read from the store only if no Commit ran since it looked
// (gen), so a value read before a Commit cannot land after it. Scan
// reads the store directly.
//
// Values it returns are shared: callers must not modify them (the
// ledger never does; it decodes them or copies them).
//
// The bound is two generations of maps: when the current one is full it
// becomes the old one and the old one is dropped; a hit in the old one
// moves the entry to the current one, so what is read often stays.
type cachedKV struct {
	KV // the store: Scan, and Get on a miss

	mu       sync.RWMutex
	gen      uint64            // bumped by each Commit
	cur, old map[string][]byte // nil value: the key is absent
	size     int               // bytes in cur
	max      int               // bytes per generation
}

func newCachedKV(store KV, maxBytes int) *cachedKV {
	return &cachedKV{KV: store, cur: map[string][]byte{}, old: map[string][]byte{}, max: maxBytes}
}

// Get returns the value of key, nil if absent, from the cache or the
// store.
func (c *cachedKV) Get(key []byte) ([]byte, error) {
	c.mu.RLock()
	v, ok := c.cur[string(key)]
	inOld := false
	if !ok {
		v, ok = c.old[string(key)]
		inOld = ok
	}
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		if inOld {
			c.promote(key)
		}
		return v, nil
	}
	v, err := c.KV.Get(key)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.put(string(key), v)
	}
	c.mu.Unlock()
	return v, nil
}

// promote moves key's entry from the old generation to the current one,
// unless a Commit has put a newer one there since.
func (c *cachedKV) promote(key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[string(key)]; ok {
		return
	}
	if v, ok := c.old[string(key)]; ok {
		c.put(string(key), v)
	}
}

// Commit writes to the store, then records the writes in the cache.
func (c *cachedKV) Commit(writes []kv.Write, sync bool) error {
	err := c.KV.Commit(writes, sync)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if err != nil {
		// What reached the store is unknown: forget everything.
		c.cur, c.old, c.size = map[string][]byte{}, map[string][]byte{}, 0
		return err
	}
	for _, w := range writes {
		if bytes.HasPrefix(w.Key, prefixKeptEvents) {
			continue // never read through the cache
		}
		c.put(string(w.Key), bytes.Clone(w.Value))
	}
	return nil
}

// put sets key's entry in the current generation, starting a new
// generation first if it is full. c.mu must be held for writing.
func (c *cachedKV) put(key string, v []byte) {
	n := len(key) + len(v) + cacheEntryOverhead
	if old, ok := c.cur[key]; ok {
		c.size -= len(key) + len(old) + cacheEntryOverhead
	} else if c.size+n > c.max {
		c.old, c.cur, c.size = c.cur, make(map[string][]byte, len(c.cur)), 0
	}
	c.cur[key] = v
	c.size += n
}
