// Package store is the embedded key-value store of a node, on Pebble.
//
// The ledger writes each block's changes as one synced batch, so a crash
// leaves either the whole block or none of it.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"ptoy"
	"ptoy/kv"
)

// Write is one change: Value nil deletes Key.
type Write = kv.Write

// Pebble is a key-value store in a directory.
type Pebble struct {
	db     *pebble.DB
	fatal  *fatalLogger // nil: a fatal error panics
	absent bool         // Options.MostlyAbsent
}

// Options adjust OpenWith; the zero value is Open's behaviour.
type Options struct {
	// FS is the file system the store lives on; nil is the operating
	// system's. Tests wrap it to inject faults (a full disk).
	FS vfs.FS
	// Survive keeps the process alive when Pebble meets an error it
	// cannot recover from in place (a failed WAL or MANIFEST write, as
	// when the disk is full). Pebble reports such errors to its logger's
	// Fatalf and carries on in a state that must not be trusted; by
	// default Fatalf panics. With Survive the store instead records the
	// error: Commit (even one Pebble reported as done) and Err return it
	// from then on, and the owner closes the store and opens it again,
	// which replays only what reached the disk. The ledger does not
	// survive (it cannot go on without its writes); the audit log does.
	Survive bool
	// MostlyAbsent says that most Gets are for keys the store does not
	// hold (the ledger's, behind its own cache: is this signing key, this
	// phone tag new?). Get then consults every level's bloom filter,
	// the bottom level's included, which Pebble's own Get skips (it reads
	// a data block there instead): a Get of an absent key costs a tenth,
	// one of a present key a little more (BenchmarkGet).
	MostlyAbsent bool
}

// Open opens or creates the store in dir.
func Open(dir string) (*Pebble, error) { return OpenWith(dir, Options{}) }

// OpenWith opens or creates the store in dir with opt.
func OpenWith(dir string, opt Options) (*Pebble, error) {
	p := &Pebble{absent: opt.MostlyAbsent}
	var logger pebble.Logger = quietLogger{}
	if opt.Survive {
		p.fatal = &fatalLogger{}
		logger = p.fatal
	}
	opts := &pebble.Options{
		Cache:  pebble.NewCache(64 << 20),
		Logger: logger,
		FS:     opt.FS,
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
	p.db = db
	if err := p.Err(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Err returns the fatal error a surviving store met, nil if none (and
// always nil without Options.Survive).
func (p *Pebble) Err() error {
	if p.fatal == nil {
		return nil
	}
	if msg := p.fatal.msg.Load(); msg != nil {
		return ptoy.E("store", ptoy.Other, "the store failed and must be reopened: "+*msg)
	}
	return nil
}

// Close closes the store. A store that failed (Err) may report an error
// or, inside Pebble, panic on close; Close turns such a panic into the
// error, since the store is being abandoned anyway.
func (p *Pebble) Close() (err error) {
	if p.fatal != nil {
		defer func() {
			if r := recover(); r != nil {
				err = ptoy.E("store.Close", ptoy.Other, fmt.Sprint("closing a failed store: ", r))
			}
		}()
	}
	return p.db.Close()
}

// filtered is the iterator of a Get that consults every bloom filter.
var filtered = pebble.IterOptions{UseL6Filters: true}

// Get returns the value of key, or nil if it is absent.
func (p *Pebble) Get(key []byte) ([]byte, error) {
	if p.absent {
		it, err := p.db.NewIter(&filtered)
		if err != nil {
			return nil, ptoy.E("store.Get", ptoy.Other, err)
		}
		var out []byte
		var verr error
		if it.SeekPrefixGE(key) && bytes.Equal(it.Key(), key) {
			var v []byte
			v, verr = it.ValueAndErr()
			out = append([]byte{}, v...) // present: never nil
		}
		if err := errors.Join(it.Error(), verr, it.Close()); err != nil {
			return nil, ptoy.E("store.Get", ptoy.Other, err)
		}
		return out, nil
	}
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
	if err := p.Err(); err != nil {
		return err
	}
	if err := b.Commit(opt); err != nil {
		return ptoy.E("store.Commit", ptoy.Other, err)
	}
	// Pebble reports a failed WAL write to Fatalf and then returns nil.
	return p.Err()
}

// DiskBytes is the space the database takes on disk (Pebble's own
// account of its files), for metrics.
func (p *Pebble) DiskBytes() uint64 { return p.db.Metrics().DiskSpaceUsage() }

// Checkpoint writes a consistent copy of the store, as of one moment,
// into dir, which must not exist; it can be opened with Open. Pebble
// hard-links its immutable table files where it can, so a checkpoint
// costs little space while the store lives. Errors are ptoy.Other, or
// ptoy.Exists when dir exists.
func (p *Pebble) Checkpoint(dir string) error {
	const op = "store.Checkpoint"
	if _, err := os.Stat(dir); err == nil {
		return ptoy.E(op, ptoy.Exists, dir+" already exists")
	}
	if err := p.Err(); err != nil {
		return err
	}
	if err := p.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	return nil
}

// PrefixEnd returns the smallest key greater than every key with prefix.
func PrefixEnd(prefix []byte) []byte { return kv.PrefixEnd(prefix) }

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic("pebble: " + fmt.Sprintf(format, args...))
}

// fatalLogger records the first fatal error instead of ending the
// process.
type fatalLogger struct {
	quietLogger
	msg atomic.Pointer[string]
}

func (l *fatalLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.msg.CompareAndSwap(nil, &msg)
}

// ErrCorrupt reports a stored value that does not decode.
func ErrCorrupt(err error) error { return kv.ErrCorrupt(err) }

// DB is the Pebble database itself, for a node's own stores that keep
// more than ordered writes (the FHIR index).
func (p *Pebble) DB() *pebble.DB { return p.db }
