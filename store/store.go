// Package store is the embedded key-value store of a node, on Pebble.
//
// The ledger writes each block's changes as one synced batch, so a crash
// leaves either the whole block or none of it.
package store

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"ptoy"
)

// Write is one change: Value nil deletes Key.
type Write struct {
	Key, Value []byte
}

// Pebble is a key-value store in a directory.
type Pebble struct {
	db *pebble.DB
}

// Open opens or creates the store in dir.
func Open(dir string) (*Pebble, error) {
	opts := &pebble.Options{
		Cache:  pebble.NewCache(64 << 20),
		Logger: quietLogger{},
	}
	// Bloom filters: most ledger lookups are for keys that do not exist
	// (is this signing key new?), which then skip every table.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	defer opts.Cache.Unref()
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, ptoy.E("store.Open", ptoy.Other, err)
	}
	return &Pebble{db: db}, nil
}

// Close closes the store.
func (p *Pebble) Close() error { return p.db.Close() }

// Get returns the value of key, or nil if it is absent.
func (p *Pebble) Get(key []byte) ([]byte, error) {
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, ptoy.E("store.Get", ptoy.Other, err)
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, nil
}

// Scan calls fn for each key in [start, end) in order; end nil means no
// upper bound. fn's slices are valid only during the call. It stops at
// the first error fn returns and returns it.
func (p *Pebble) Scan(start, end []byte, fn func(k, v []byte) error) error {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return ptoy.E("store.Scan", ptoy.Other, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return ptoy.E("store.Scan", ptoy.Other, err)
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// Commit applies writes atomically; with sync it returns only once they
// are durable.
func (p *Pebble) Commit(writes []Write, sync bool) error {
	b := p.db.NewBatch()
	defer b.Close()
	for _, w := range writes {
		var err error
		if w.Value == nil {
			err = b.Delete(w.Key, nil)
		} else {
			err = b.Set(w.Key, w.Value, nil)
		}
		if err != nil {
			return ptoy.E("store.Commit", ptoy.Other, err)
		}
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := b.Commit(opt); err != nil {
		return ptoy.E("store.Commit", ptoy.Other, err)
	}
	return nil
}

// PrefixEnd returns the smallest key greater than every key with prefix.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic("pebble: " + fmt.Sprintf(format, args...))
}

// ErrCorrupt reports a stored value that does not decode.
func ErrCorrupt(err error) error { return ptoy.E("store", ptoy.Other, "corrupt stored value", err) }
