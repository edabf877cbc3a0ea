// Package disk is the blob store of a node: small blobs inside a Pebble
// database, large ones as files, everything synced. It is the only blob
// store that links a storage engine; package blob holds the interface,
// placement and the in-memory store.
package disk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"ptoy"
	"ptoy/blob"
)

const (
	// DefaultInlineMax is the default Options.InlineMax: blobs up to
	// 1 MiB are kept inside the Pebble database.
	DefaultInlineMax = 1 << 20
	// DefaultCacheBytes is the default Options.CacheBytes.
	DefaultCacheBytes = 64 << 20
)

// Layout of a Disk directory.
const (
	dbDir    = "db"    // the Pebble database
	filesDir = "files" // large blobs, as files/ab/abcdef…
	tmpDir   = "tmp"   // blobs being written; emptied on open
)

// Pebble keys are a one-byte prefix and the hash. A meta record is
// kind (1 byte), size (8 bytes, big-endian) and the time added (Unix
// nanoseconds, 8 bytes, big-endian); an inline blob's content is under
// its own data key, so that Stat and List never read content.
const (
	prefixMeta = 'm'
	prefixData = 'd'
	keyLen     = 1 + blob.HashLen
	metaLen    = 1 + 8 + 8

	kindInline = 'i' // content under the data key
	kindFile   = 'f' // content in files/ab/<hash>
)

const (
	lockStripes = 64  // per-hash locks, striped by the hash's first byte
	pageSize    = 256 // meta records read per iterator in List and Scrub
	copyBuf     = 256 << 10
	dirPerm     = 0o700
	memTable    = 32 << 20 // Pebble memtable: room for many inline blobs
	bloomBits   = 10
	tempPattern = "put-*"
)

// Options configures Open. The zero value gives the defaults.
type Options struct {
	// InlineMax is the size of the largest blob kept inside the Pebble
	// database; larger blobs are kept as files. 0 means DefaultInlineMax.
	// It may be changed between opens: each blob remembers where it is.
	InlineMax int64
	// CacheBytes is the size of Pebble's block cache. 0 means
	// DefaultCacheBytes.
	CacheBytes int64
}

// Store is a blob.Store in a directory. Blobs up to InlineMax bytes are kept
// inside a Pebble database (dir/db); larger ones are files
// (dir/files/ab/abcdef…, named by the hex hash), written to a temporary
// file in dir/tmp, fsynced, renamed into place, with the directory
// fsynced, and only then recorded in Pebble, which holds for them just
// the kind of record and the size. Every write and delete of a record is
// synced.
//
// Store is crash-safe: a blob is visible only once it is complete.
// Temporary files left by a crash, and blob files that a crash left
// without a record, are removed by Open.
type Store struct {
	dir       string
	inlineMax int64
	db        *pebble.DB
	locks     [lockStripes]sync.Mutex

	mu     sync.Mutex // guards closed; active counts Pebble calls in progress
	closed bool
	active sync.WaitGroup
}

var (
	_ blob.Store   = (*Store)(nil)
	_ blob.Batcher = (*Store)(nil)
)

// Open opens the store in dir, creating it if needed. Bad options are
// ptoy.Invalid; a directory that cannot be opened (for instance because
// another process has it open) is ptoy.Other.
func Open(dir string, opt Options) (*Store, error) {
	const op = "blob.Open"
	if opt.InlineMax < 0 || opt.CacheBytes < 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "InlineMax and CacheBytes must not be negative")
	}
	if opt.InlineMax == 0 {
		opt.InlineMax = DefaultInlineMax
	}
	if opt.CacheBytes == 0 {
		opt.CacheBytes = DefaultCacheBytes
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	opts := &pebble.Options{
		Cache:        pebble.NewCache(opt.CacheBytes),
		Logger:       quietLogger{},
		MemTableSize: memTable,
	}
	// Most lookups that miss are of blobs this node does not hold (a peer
	// asking, a Put of a new blob); bloom filters let them skip tables.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(bloomBits)
	}
	defer opts.Cache.Unref()
	// Pebble locks the directory, so from here on no other process uses
	// the store and tmp may be emptied.
	db, err := pebble.Open(filepath.Join(dir, dbDir), opts)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	d := &Store{dir: dir, inlineMax: opt.InlineMax, db: db}
	if err := d.prepare(); err != nil {
		db.Close()
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	return d, nil
}

// prepare empties tmp, creates the directories and removes blob files
// that have no record.
func (d *Store) prepare() error {
	tmp := filepath.Join(d.dir, tmpDir)
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, dirPerm); err != nil {
		return err
	}
	files := filepath.Join(d.dir, filesDir)
	if err := os.Mkdir(files, dirPerm); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := syncDir(d.dir); err != nil {
		return err
	}
	subs, err := os.ReadDir(files)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if !sub.IsDir() {
			continue
		}
		names, err := os.ReadDir(filepath.Join(files, sub.Name()))
		if err != nil {
			return err
		}
		for _, n := range names {
			h, err := blob.ParseHash(n.Name())
			if err != nil || h.String()[:2] != sub.Name() {
				continue // not ours; leave it alone
			}
			m, err := d.getMeta(h)
			if err != nil && ptoy.KindOf(err) != ptoy.NotFound {
				return err
			}
			if err != nil || m.kind != kindFile {
				// Renamed into place by a Put that crashed before
				// recording it, or left by a Delete that crashed.
				if err := os.Remove(filepath.Join(files, sub.Name(), n.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
	}
	return nil
}

// Close waits for the Pebble calls in progress, then closes the store.
// Readers returned by Get stay usable. Calling Close again does nothing.
func (d *Store) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.active.Wait()
	if err := d.db.Close(); err != nil {
		return ptoy.E("blob.Disk.Close", ptoy.Other, err)
	}
	return nil
}

// enter registers a Pebble call, or fails if the store is closed; leave
// ends it. Calls hold this only while they use Pebble, never while they
// read a caller's reader or call a caller's function.
func (d *Store) enter(op string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return blob.ErrClosed(op)
	}
	d.active.Add(1)
	return nil
}

func (d *Store) leave() { d.active.Done() }

// lock locks the stripe of h: Put and Delete of one hash are serialized,
// so that a blob's file and its record change together.
func (d *Store) lock(h blob.Hash) func() {
	m := &d.locks[int(h[0])%lockStripes]
	m.Lock()
	return m.Unlock
}

// meta is a decoded meta record.
type meta struct {
	kind byte
	info blob.Info
}

func metaKey(h blob.Hash) []byte { return append([]byte{prefixMeta}, h[:]...) }
func dataKey(h blob.Hash) []byte { return append([]byte{prefixData}, h[:]...) }

func encodeMeta(kind byte, info blob.Info) []byte {
	b := make([]byte, metaLen)
	b[0] = kind
	binary.BigEndian.PutUint64(b[1:], uint64(info.Size))
	binary.BigEndian.PutUint64(b[9:], uint64(info.Added.UnixNano()))
	return b
}

func decodeMeta(h blob.Hash, b []byte) (meta, error) {
	if len(b) != metaLen || (b[0] != kindInline && b[0] != kindFile) || int64(binary.BigEndian.Uint64(b[1:])) < 0 {
		return meta{}, fmt.Errorf("bad index record %x", b)
	}
	return meta{kind: b[0], info: blob.Info{
		Hash:  h,
		Size:  int64(binary.BigEndian.Uint64(b[1:])),
		Added: time.Unix(0, int64(binary.BigEndian.Uint64(b[9:]))),
	}}, nil
}

// filePath returns where blob h is kept if it is a file.
func (d *Store) filePath(h blob.Hash) string {
	s := h.String()
	return filepath.Join(d.dir, filesDir, s[:2], s)
}

// getMeta reads the meta record of h; the caller has entered. An absent
// record is ptoy.NotFound, an unreadable one ptoy.Other.
func (d *Store) getMeta(h blob.Hash) (meta, error) {
	const op = "blob.Disk"
	v, closer, err := d.db.Get(metaKey(h))
	if errors.Is(err, pebble.ErrNotFound) {
		return meta{}, blob.ErrNotFound(op, h)
	}
	if err != nil {
		return meta{}, ptoy.E(op, ptoy.Other, err)
	}
	defer closer.Close()
	m, err := decodeMeta(h, v)
	if err != nil {
		return meta{}, blob.ErrCorrupt(op, h, err)
	}
	return m, nil
}

// stat is Stat without the context check.
func (d *Store) stat(op string, h blob.Hash) (meta, error) {
	if err := d.enter(op); err != nil {
		return meta{}, err
	}
	defer d.leave()
	m, err := d.getMeta(h)
	if err != nil {
		return meta{}, relabel(op, err)
	}
	return m, nil
}

// relabel gives an error from a helper the operation of the caller.
func relabel(op string, err error) error {
	var e *ptoy.Error
	if errors.As(err, &e) {
		c := *e
		c.Op = op
		return &c
	}
	return ptoy.E(op, ptoy.Other, err)
}

// Put implements Store.Put. Content of up to InlineMax bytes is kept in
// Pebble, larger content in a file. When want names a blob that is
// already stored, r is only hashed (to check it and the limit), not
// written anywhere.
func (d *Store) Put(ctx context.Context, r io.Reader, max int64, want *blob.Hash) (blob.Info, error) {
	const op = "blob.Disk.Put"
	if err := blob.CheckMax(op, max); err != nil {
		return blob.Info{}, err
	}
	if err := blob.CtxErr(op, ctx); err != nil {
		return blob.Info{}, err
	}
	cr := blob.NewCtxReader(ctx, r)
	if want != nil {
		m, err := d.stat(op, *want)
		if err == nil {
			return blob.Drain(op, ctx, cr, max, want, m.info)
		}
		if ptoy.KindOf(err) != ptoy.NotFound {
			return blob.Info{}, err
		}
	}
	first, err := io.ReadAll(io.LimitReader(cr, blob.PlusOne(min(max, d.inlineMax))))
	if err != nil {
		return blob.Info{}, blob.ReadErr(op, ctx, err)
	}
	if int64(len(first)) > max {
		return blob.Info{}, blob.ErrTooLarge(op, max)
	}
	var info blob.Info
	if int64(len(first)) <= d.inlineMax {
		info, err = d.putInline(op, first, want)
	} else {
		info, err = d.putFile(op, ctx, cr, first, max, want)
	}
	if errors.Is(err, syscall.ENOSPC) {
		return blob.Info{}, ptoy.E(op, ptoy.Unavailable, "the blob store's disk is full; nothing was stored", err)
	}
	return info, err
}

// PutBatch implements blob.Batcher: the blobs kept inside Pebble are
// written in one batch, synced once; larger ones are written as files, one
// by one. Every hash is checked before anything is written.
func (d *Store) PutBatch(ctx context.Context, bs []blob.Content) error {
	const op = "blob.Disk.PutBatch"
	if err := blob.CtxErr(op, ctx); err != nil {
		return err
	}
	for i := range bs {
		if err := blob.CheckWant(op, blob.Sum(bs[i].Data), &bs[i].Hash); err != nil {
			return err
		}
	}
	var inline []blob.Content
	for _, c := range bs {
		if int64(len(c.Data)) <= d.inlineMax {
			inline = append(inline, c)
			continue
		}
		if _, err := d.Put(ctx, bytes.NewReader(c.Data), int64(len(c.Data)), &c.Hash); err != nil {
			return relabel(op, err)
		}
	}
	err := d.putInlineBatch(op, inline)
	if errors.Is(err, syscall.ENOSPC) {
		return ptoy.E(op, ptoy.Unavailable, "the blob store's disk is full; the batch was not stored whole", err)
	}
	return err
}

// putInlineBatch stores bs, whose hashes are checked, inside Pebble with
// one synced batch. It takes no lock stripe: an inline blob's content and
// record are written in one atomic batch, so a Delete of the same hash
// comes before or after it as a whole, and batches written at once share
// Pebble's synced commits.
func (d *Store) putInlineBatch(op string, bs []blob.Content) error {
	if len(bs) == 0 {
		return nil
	}
	if err := d.enter(op); err != nil {
		return err
	}
	defer d.leave()
	b := d.db.NewBatch()
	defer b.Close()
	added := blob.Now()
	seen := make(map[blob.Hash]bool, len(bs))
	for _, c := range bs {
		if seen[c.Hash] {
			continue
		}
		seen[c.Hash] = true
		if _, err := d.getMeta(c.Hash); err == nil {
			continue // already stored
		} else if ptoy.KindOf(err) != ptoy.NotFound {
			return relabel(op, err)
		}
		info := blob.Info{Hash: c.Hash, Size: int64(len(c.Data)), Added: added}
		if err := b.Set(dataKey(c.Hash), c.Data, nil); err != nil {
			return ptoy.E(op, ptoy.Other, err)
		}
		if err := b.Set(metaKey(c.Hash), encodeMeta(kindInline, info), nil); err != nil {
			return ptoy.E(op, ptoy.Other, err)
		}
	}
	if b.Empty() {
		return nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	return nil
}

// putInline stores data inside Pebble.
func (d *Store) putInline(op string, data []byte, want *blob.Hash) (blob.Info, error) {
	h := blob.Sum(data)
	if err := blob.CheckWant(op, h, want); err != nil {
		return blob.Info{}, err
	}
	defer d.lock(h)()
	if err := d.enter(op); err != nil {
		return blob.Info{}, err
	}
	defer d.leave()
	if m, err := d.getMeta(h); err == nil {
		return m.info, nil
	} else if ptoy.KindOf(err) != ptoy.NotFound {
		return blob.Info{}, relabel(op, err)
	}
	info := blob.Info{Hash: h, Size: int64(len(data)), Added: blob.Now()}
	b := d.db.NewBatch()
	defer b.Close()
	if err := b.Set(dataKey(h), data, nil); err != nil {
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	if err := b.Set(metaKey(h), encodeMeta(kindInline, info), nil); err != nil {
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	return info, nil
}

// putFile writes first and the rest of r to a temporary file, then moves
// it into place and records it.
func (d *Store) putFile(op string, ctx context.Context, r io.Reader, first []byte, max int64, want *blob.Hash) (blob.Info, error) {
	f, err := os.CreateTemp(filepath.Join(d.dir, tmpDir), tempPattern)
	if err != nil {
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	tmp := f.Name()
	moved := false
	defer func() {
		if f != nil {
			f.Close()
		}
		if !moved {
			os.Remove(tmp)
		}
	}()
	hh := sha256.New()
	hh.Write(first)
	if _, err := f.Write(first); err != nil {
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	rest := blob.PlusOne(max) - int64(len(first))
	n, err := io.CopyBuffer(io.MultiWriter(f, hh), io.LimitReader(r, rest), make([]byte, copyBuf))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && pe.Path == tmp {
			return blob.Info{}, ptoy.E(op, ptoy.Other, err) // writing the file failed
		}
		return blob.Info{}, blob.ReadErr(op, ctx, err)
	}
	size := int64(len(first)) + n
	if size > max {
		return blob.Info{}, blob.ErrTooLarge(op, max)
	}
	var h blob.Hash
	hh.Sum(h[:0])
	if err := blob.CheckWant(op, h, want); err != nil {
		return blob.Info{}, err
	}
	defer d.lock(h)()
	if err := d.enter(op); err != nil {
		return blob.Info{}, err
	}
	defer d.leave()
	if m, err := d.getMeta(h); err == nil {
		return m.info, nil // already stored: the temporary file was never synced
	} else if ptoy.KindOf(err) != ptoy.NotFound {
		return blob.Info{}, relabel(op, err)
	}
	if err := f.Sync(); err != nil {
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	final := d.filePath(h)
	sub := filepath.Dir(final)
	if err := os.Mkdir(sub, dirPerm); err == nil {
		if err := syncDir(filepath.Dir(sub)); err != nil {
			return blob.Info{}, ptoy.E(op, ptoy.Other, err)
		}
	} else if !errors.Is(err, os.ErrExist) {
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	moved = true
	if err := syncDir(sub); err != nil {
		os.Remove(final)
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	info := blob.Info{Hash: h, Size: size, Added: blob.Now()}
	if err := d.db.Set(metaKey(h), encodeMeta(kindFile, info), pebble.Sync); err != nil {
		os.Remove(final)
		return blob.Info{}, ptoy.E(op, ptoy.Other, err)
	}
	return info, nil
}

// Get implements Store.Get. An inline blob is copied out of Pebble; a
// file blob is read from its open file, which stays readable even if the
// blob is deleted meanwhile.
func (d *Store) Get(ctx context.Context, h blob.Hash) (io.ReadCloser, blob.Info, error) {
	const op = "blob.Disk.Get"
	if err := blob.CtxErr(op, ctx); err != nil {
		return nil, blob.Info{}, err
	}
	if err := d.enter(op); err != nil {
		return nil, blob.Info{}, err
	}
	defer d.leave()
	m, err := d.getMeta(h)
	if err != nil {
		return nil, blob.Info{}, relabel(op, err)
	}
	if m.kind == kindInline {
		data, err := d.getData(op, h)
		if err != nil {
			return nil, blob.Info{}, err
		}
		return blob.NewVerifier(op, bytes.NewReader(data), nil, h, m.info.Size), m.info, nil
	}
	f, err := d.openFile(op, h)
	if err != nil {
		return nil, blob.Info{}, err
	}
	return blob.NewVerifier(op, f, f, h, m.info.Size), m.info, nil
}

// getData returns a copy of an inline blob's content; the caller has
// entered. If the content is missing because the blob was deleted
// meanwhile, it is ptoy.NotFound; otherwise the blob is corrupt.
func (d *Store) getData(op string, h blob.Hash) ([]byte, error) {
	v, closer, err := d.db.Get(dataKey(h))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, d.missing(op, h, errors.New("content missing from the index"))
	}
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	data := bytes.Clone(v)
	closer.Close()
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// openFile opens a file blob; as getData.
func (d *Store) openFile(op string, h blob.Hash) (*os.File, error) {
	f, err := os.Open(d.filePath(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, d.missing(op, h, errors.New("file missing"))
	}
	if err != nil {
		return nil, blob.ErrCorrupt(op, h, err)
	}
	return f, nil
}

// missing decides whether a blob whose content is absent was deleted
// meanwhile (ptoy.NotFound) or has lost its content (corrupt).
func (d *Store) missing(op string, h blob.Hash, why error) error {
	if _, err := d.getMeta(h); ptoy.KindOf(err) == ptoy.NotFound {
		return blob.ErrNotFound(op, h)
	}
	return blob.ErrCorrupt(op, h, why)
}

// Stat implements Store.Stat.
func (d *Store) Stat(ctx context.Context, h blob.Hash) (blob.Info, error) {
	const op = "blob.Disk.Stat"
	if err := blob.CtxErr(op, ctx); err != nil {
		return blob.Info{}, err
	}
	m, err := d.stat(op, h)
	return m.info, err
}

// Delete implements Store.Delete. The record goes first, durably; a file
// whose removal a crash interrupts is removed by the next Open.
func (d *Store) Delete(ctx context.Context, h blob.Hash) error {
	const op = "blob.Disk.Delete"
	if err := blob.CtxErr(op, ctx); err != nil {
		return err
	}
	defer d.lock(h)()
	if err := d.enter(op); err != nil {
		return err
	}
	defer d.leave()
	m, merr := d.getMeta(h)
	if ptoy.KindOf(merr) == ptoy.NotFound {
		return nil
	}
	// A record that cannot be read may be of either kind: remove both.
	inline := merr != nil || m.kind == kindInline
	file := merr != nil || m.kind == kindFile
	b := d.db.NewBatch()
	defer b.Close()
	if err := b.Delete(metaKey(h), nil); err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	if inline {
		if err := b.Delete(dataKey(h), nil); err != nil {
			return ptoy.E(op, ptoy.Other, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	if file {
		if err := os.Remove(d.filePath(h)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return ptoy.E(op, ptoy.Other, err)
		}
	}
	return nil
}

// record is a meta record read by scan.
type record struct {
	h   blob.Hash
	m   meta
	err error // the record could not be decoded
}

// scan calls fn for every meta record in hash order. It reads the
// records a page at a time and keeps no iterator open, and is not
// entered, while fn runs, so fn may be slow and may use the store.
func (d *Store) scan(op string, ctx context.Context, fn func(record) error) error {
	lower := []byte{prefixMeta}
	upper := []byte{prefixMeta + 1}
	for {
		if err := blob.CtxErr(op, ctx); err != nil {
			return err
		}
		page, err := d.page(op, lower, upper)
		if err != nil {
			return err
		}
		for _, rec := range page {
			if err := blob.CtxErr(op, ctx); err != nil {
				return err
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		lower = append(metaKey(page[len(page)-1].h), 0)
	}
}

// page reads up to pageSize meta records from lower.
func (d *Store) page(op string, lower, upper []byte) ([]record, error) {
	if err := d.enter(op); err != nil {
		return nil, err
	}
	defer d.leave()
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	var page []record
	for ok := it.First(); ok && len(page) < pageSize; ok = it.Next() {
		k := it.Key()
		if len(k) != keyLen {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, ptoy.E(op, ptoy.Other, err)
		}
		var rec record
		copy(rec.h[:], k[1:])
		rec.m, rec.err = decodeMeta(rec.h, v)
		page = append(page, rec)
	}
	if err := it.Close(); err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	return page, nil
}

// List implements Store.List. A record that cannot be decoded stops it
// with ptoy.Other; Scrub reports such records.
func (d *Store) List(ctx context.Context, fn func(blob.Info) error) error {
	const op = "blob.Disk.List"
	return d.scan(op, ctx, func(rec record) error {
		if rec.err != nil {
			return blob.ErrCorrupt(op, rec.h, rec.err)
		}
		return fn(rec.m.info)
	})
}

// Scrub implements Store.Scrub. It also reports records that cannot be
// decoded and blobs whose content is missing.
func (d *Store) Scrub(ctx context.Context, s blob.Slice, bad func(h blob.Hash, err error)) (int, error) {
	const op = "blob.Disk.Scrub"
	checked := 0
	buf := make([]byte, blob.ScrubBuf)
	err := d.scan(op, ctx, func(rec record) error {
		if !s.Has(rec.h) {
			return nil
		}
		if rec.err != nil {
			checked++
			bad(rec.h, blob.ErrCorrupt(op, rec.h, rec.err))
			return nil
		}
		err := d.check(op, rec.h, rec.m, buf)
		if ptoy.KindOf(err) == ptoy.NotFound {
			return nil // deleted meanwhile
		}
		if ptoy.KindOf(err) == ptoy.Unavailable {
			return err // closed
		}
		checked++
		if err != nil {
			bad(rec.h, err)
		}
		return nil
	})
	return checked, err
}

// check verifies one blob's content.
func (d *Store) check(op string, h blob.Hash, m meta, buf []byte) error {
	if m.kind == kindFile {
		if err := d.enter(op); err != nil {
			return err
		}
		f, err := d.openFile(op, h)
		d.leave()
		if err != nil {
			return err
		}
		defer f.Close()
		return blob.Verify(op, f, h, m.info.Size, buf)
	}
	if err := d.enter(op); err != nil {
		return err
	}
	defer d.leave()
	v, closer, err := d.db.Get(dataKey(h))
	if errors.Is(err, pebble.ErrNotFound) {
		return d.missing(op, h, errors.New("content missing from the index"))
	}
	if err != nil {
		return blob.ErrCorrupt(op, h, err)
	}
	defer closer.Close()
	return blob.Verify(op, bytes.NewReader(v), h, m.info.Size, buf)
}

// syncDir fsyncs a directory, making the creation, renaming and removal
// of its entries durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// quietLogger keeps Pebble from writing to the process's output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic("pebble: " + fmt.Sprintf(format, args...))
}
