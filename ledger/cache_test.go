package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"ptoy/kv"
	"ptoy/store"
)

func openStore(t *testing.T) *store.Pebble {
	t.Helper()
	p, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// agree checks that the cache answers every key as the store does.
func agree(t *testing.T, c *cachedKV, p *store.Pebble, keys []string) {
	t.Helper()
	for _, k := range keys {
		got, err := c.Get([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		want, err := p.Get([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Fatalf("%s: cache has %q, store %q", k, got, want)
		}
	}
}

// The cache answers what the store holds through writes, overwrites and
// deletions, for present and absent keys, also when it is small enough
// to turn over its generations all the time.
func TestCacheFollowsCommits(t *testing.T) {
	for _, max := range []int{cacheBytes, 300} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			p := openStore(t)
			c := newCachedKV(p, max)
			var keys []string
			for i := range 40 {
				keys = append(keys, fmt.Sprintf("k%02d", i))
			}
			agree(t, c, p, keys) // all absent, now cached as absent
			for round := range 6 {
				var ws []kv.Write
				for i, k := range keys {
					switch (i + round) % 3 {
					case 0:
						ws = append(ws, kv.Write{Key: []byte(k), Value: fmt.Appendf(nil, "v%d-%d", round, i)})
					case 1:
						ws = append(ws, kv.Write{Key: []byte(k)}) // delete
					}
				}
				if err := c.Commit(ws, false); err != nil {
					t.Fatal(err)
				}
				agree(t, c, p, keys)
				agree(t, c, p, keys) // now from the cache
			}
		})
	}
}

// A value handed to Commit may be reused by its owner afterwards: the
// cache keeps its own copy.
func TestCacheCopiesCommittedValues(t *testing.T) {
	p := openStore(t)
	c := newCachedKV(p, cacheBytes)
	v := []byte("value")
	if err := c.Commit([]kv.Write{{Key: []byte("k"), Value: v}}, false); err != nil {
		t.Fatal(err)
	}
	copy(v, "XXXXX")
	if got, _ := c.Get([]byte("k")); string(got) != "value" {
		t.Fatalf("cache has %q after the writer reused its buffer", got)
	}
}

// slowStore yields the processor around each store read, so that
// readers and Commit interleave in every order.
type slowStore struct{ *store.Pebble }

func (s slowStore) Get(key []byte) ([]byte, error) {
	runtime.Gosched()
	v, err := s.Pebble.Get(key)
	for range 4 {
		runtime.Gosched()
	}
	return v, err
}

// Readers that miss, read the store and insert what they read race with
// Commit: a value read before a Commit must not be inserted after it. A
// read that starts after a Commit returned sees that Commit's value or
// a later one, never an earlier one.
func TestCacheConcurrentCommit(t *testing.T) {
	p := openStore(t)
	c := newCachedKV(slowStore{p}, 2000) // small: misses all the time
	const nkeys, versions, readers = 16, 1000, 8
	key := func(i int) []byte { return fmt.Appendf(nil, "key%02d", i) }
	skips := func(ver uint64, i int) bool { return ver%5 == 0 && i%2 == 0 } // not every key changes in every commit
	// latest is the version of key i once version ver is committed.
	latest := func(ver uint64, i int) uint64 {
		if ver > 0 && skips(ver, i) {
			return ver - 1
		}
		return ver
	}
	var committed atomic.Uint64
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for r := range readers {
		wg.Go(func() {
			for n := 0; committed.Load() < versions; n++ {
				i := (n + r) % nkeys
				floor := latest(committed.Load(), i)
				v, err := c.Get(key(i))
				if err != nil {
					errs <- err
					return
				}
				var got uint64
				if v != nil {
					got = binary.BigEndian.Uint64(v)
				}
				if got < floor {
					errs <- fmt.Errorf("%s: read version %d after version %d was committed", key(i), got, floor)
					return
				}
			}
		})
	}
	for ver := uint64(1); ver <= versions; ver++ {
		var ws []kv.Write
		for i := range nkeys {
			if skips(ver, i) {
				continue
			}
			ws = append(ws, kv.Write{Key: key(i), Value: binary.BigEndian.AppendUint64(nil, ver)})
		}
		if err := c.Commit(ws, false); err != nil {
			t.Fatal(err)
		}
		committed.Store(ver)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var keys []string
	for i := range nkeys {
		keys = append(keys, string(key(i)))
	}
	agree(t, c, p, keys)
}
