// Package auditlog is a node's durable audit log (see package audit for
// the events, batches and proofs it keeps): Append returns only once an
// event is synced, Cut closes batches for anchoring, Proof and ChainProof
// give what a patient's client checks.
//
// # Storage
//
// A Log keeps its own Pebble database in Options.Dir. Its keys are
//
//	'e' seq(8)               the event's canonical bytes
//	'p' patient(20) seq(8)   the event's time (8 bytes, unix nanoseconds): the per-patient index
//	'b' id(8)                a batch: version (2), id, first, last, root, count, anchored height, patients' root
//	'c' patient(20)          the patient's chain: count(8), head(32), as of the latest batch
//	'x' id(8) patient(20)    the patient's chain entry in batch id: count(8), head(32)
//	'l' last(8)              id(8) of the batch ending at seq last: the seq-to-batch index
//	'u' id(8)                empty: the batch is not yet marked anchored
//	'm' "last"               the last seq committed
//	'm' "cut"                id(8) and last seq(8) of the latest batch
//	'm' "node"               the node moniker the log belongs to
//	'm' "ledger"             the last ledger height whose events are stored (AppendLedger)
//
// with all integers big-endian. The layout is documented so that a test,
// or an auditor, can open the database (store.Open) of a closed log and
// alter or delete an event's bytes; VerifyBatch and proofs checked with
// VerifyProof against the anchored root then fail.
package auditlog

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2/vfs"

	"ptoy"
	"ptoy/audit"
	"ptoy/kv"
	"ptoy/store"
)

// Options configure Open.
type Options struct {
	// Dir is the directory of the log's own Pebble database, created if
	// absent. The log does not share a database with the ledger, so that
	// its writes never touch ledger state.
	Dir string
	// Node is the node's moniker. Append stamps it on events that have
	// none and refuses events from another node; a log reopened under
	// another moniker is refused.
	Node string
	// FS is the file system the database lives on; nil is the operating
	// system's. Tests wrap it to make the disk fill up.
	FS vfs.FS
	// RetryEvery is how often a log that could not write (a full disk)
	// tries to reopen its database; 0 means one second.
	RetryEvery time.Duration
	// Observe, if set, is told how long each Append took and whether it
	// failed (metrics); it must be quick.
	Observe func(took time.Duration, err error)
	// Denied bounds the denied events one actor may add; the zero Limit
	// means DefaultDenied. Allowed bounds allowed events; the zero Limit
	// means no bound (an allowed read is one the patient consented to,
	// and the read benchmark is one reader).
	Denied, Allowed Limit
}

// Limit is a token bucket per actor: Burst events at once, then Rate a
// second on average. An event of the node itself (no actor) is never
// limited.
type Limit struct {
	Rate  float64
	Burst int
}

// DefaultDenied is the default bound on one actor's denied events: a
// person who mistypes is never near it; a script that probes records it
// may not read writes at most 36,000 events (about 7 MB) an hour.
var DefaultDenied = Limit{Rate: 10, Burst: 100}

// limitWindow is how long after one recorded over-limit refusal further
// refusals of the same actor go unrecorded.
const limitWindow = time.Minute

// Log is a node's audit log. Its methods are safe for concurrent use.
type Log struct {
	dir  string
	fs   vfs.FS
	db   *store.Pebble // nil while broken and not yet reopened
	node string

	mu     sync.RWMutex // held for reading by every operation, for writing by Close and repair
	dbMu   sync.Mutex   // held by the committer while it writes, and by repair while it swaps db
	closed bool
	broken atomic.Pointer[error] // set when a write failed: refuse everything until repaired
	retry  time.Duration
	stop   chan struct{} // closed by Close: ends the repair loop
	fixing atomic.Bool   // a repair loop is running

	limits  limiter
	observe func(time.Duration, error)

	reqs chan *appendReq // to the committer
	done chan struct{}   // closed when the committer has exited
	last atomic.Uint64   // the last Seq committed
	// ledger is the last ledger height whose events are stored
	// (AppendLedger); the committer alone writes it.
	ledger atomic.Int64

	commits atomic.Uint64 // synced commits made by the committer, for tests and benchmarks

	cutMu   sync.Mutex    // serialises Cut and MarkAnchored
	cutID   atomic.Uint64 // the latest batch's ID
	cutLast atomic.Uint64 // the latest batch's Last
}

type appendReq struct {
	ev   audit.Event
	done chan appendResult // buffered: the committer never waits on it
	// block, if set, is a ledger block's events, stored together in one
	// commit with the height (AppendLedger); ev is unused then.
	block *ledgerBlock
}

type ledgerBlock struct {
	height int64
	evs    []audit.Event
}

type appendResult struct {
	ev  audit.Event
	err error
}

const (
	// maxGroup bounds how many queued events one synced commit takes.
	maxGroup = 1024
	// queueLen is how many appends may wait for the committer.
	queueLen = 1024
	// batchEncLen is the length of a stored batch (version 2; version 1
	// lacks the patients' root).
	batchEncLen   = 1 + 8 + 8 + 8 + 32 + 4 + 8 + 32
	batchEncLenV1 = batchEncLen - 32
	// ctxCheckEvery is how many scanned keys pass between context checks.
	ctxCheckEvery = 1024
)

// Key prefixes; see the package documentation.
const (
	prefixEvent    = 'e'
	prefixPatient  = 'p'
	prefixBatch    = 'b'
	prefixLast     = 'l'
	prefixUnanchor = 'u'
	prefixChain    = 'c'
	prefixEntry    = 'x'
	metaLast       = "mlast"
	metaCut        = "mcut"
	metaNode       = "mnode"
	metaLedger     = "mledger"
)

// Open opens the log in opt.Dir, creating it if need be, and starts its
// committer. The Seq of the next event continues from the last one
// committed.
func Open(opt Options) (*Log, error) {
	const op = "audit.Open"
	if opt.Dir == "" {
		return nil, ptoy.E(op, ptoy.Invalid, "audit log needs a directory")
	}
	if opt.Node == "" || len(opt.Node) > audit.MaxFieldLen {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("audit log needs a node moniker of 1 to %d bytes", audit.MaxFieldLen))
	}
	if !utf8.ValidString(opt.Node) || strings.ContainsFunc(opt.Node, unicode.IsControl) {
		return nil, ptoy.E(op, ptoy.Invalid, "node moniker contains a control character or invalid UTF-8")
	}
	for _, lim := range [...]Limit{opt.Denied, opt.Allowed} {
		if lim.Rate < 0 || lim.Burst < 0 || (lim.Rate > 0) != (lim.Burst > 0) {
			return nil, ptoy.E(op, ptoy.Invalid, "an audit limit needs both a positive rate and a positive burst, or neither")
		}
	}
	if opt.Denied == (Limit{}) {
		opt.Denied = DefaultDenied
	}
	if opt.RetryEvery <= 0 {
		opt.RetryEvery = time.Second
	}
	l := &Log{dir: opt.Dir, fs: opt.FS, node: opt.Node, retry: opt.RetryEvery, stop: make(chan struct{}), observe: opt.Observe,
		limits: limiter{deny: opt.Denied, allow: opt.Allowed, actors: map[ptoy.ID]*bucket{}}}
	if err := l.openDB(); err != nil {
		return nil, err
	}
	l.reqs = make(chan *appendReq, queueLen)
	l.done = make(chan struct{})
	go l.commitLoop()
	return l, nil
}

// openDB opens the database and loads the log's state from it.
func (l *Log) openDB() error {
	const op = "audit.Open"
	db, err := store.OpenWith(l.dir, store.Options{FS: l.fs, Survive: true})
	if err != nil {
		return ptoy.E(op, ptoy.Unavailable, "cannot open the audit log", err)
	}
	l.db = db
	if err := l.load(); err != nil {
		db.Close()
		l.db = nil
		return err
	}
	return nil
}

// fail marks the log broken after a failed write and starts the repair
// loop. Until it is repaired every operation is ptoy.Unavailable.
func (l *Log) fail(err error) {
	l.broken.CompareAndSwap(nil, &err)
	if l.fixing.CompareAndSwap(false, true) {
		go l.repairLoop()
	}
}

// repairLoop reopens the database every l.retry until it succeeds (the
// disk has room again) or the log is closed. Reopening replays what
// reached the disk: an event whose Append failed is either wholly there
// or not at all, and the Seq continues from the last one stored.
func (l *Log) repairLoop() {
	defer l.fixing.Store(false)
	t := time.NewTicker(l.retry)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if l.repair() {
			return
		}
	}
}

// repair closes and reopens the database, with every other operation
// excluded; it reports whether the log works again.
func (l *Log) repair() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return true
	}
	l.dbMu.Lock()
	defer l.dbMu.Unlock()
	if l.db != nil {
		l.db.Close() // its error is the failure being repaired
		l.db = nil
	}
	if err := l.openDB(); err != nil {
		return false
	}
	// A probe write: a disk that has room for Pebble's new files but not
	// for events would fail the next Append again.
	if err := l.db.Commit([]store.Write{{Key: []byte(metaNode), Value: []byte(l.node)}}, true); err != nil {
		l.db.Close()
		l.db = nil
		return false
	}
	l.broken.Store(nil)
	return true
}

func (l *Log) load() error {
	const op = "audit.Open"
	node, err := l.db.Get([]byte(metaNode))
	if err != nil {
		return wrap(op, err)
	}
	switch {
	case node == nil:
		if err := l.db.Commit([]store.Write{{Key: []byte(metaNode), Value: []byte(l.node)}}, true); err != nil {
			return wrap(op, err)
		}
	case string(node) != l.node:
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("audit log belongs to node %q, not %q", node, l.node))
	}
	for _, m := range [...]struct {
		key, what string
		n         int
		load      func(v []byte)
	}{
		{metaLast, "last sequence", 8, func(v []byte) { l.last.Store(binary.BigEndian.Uint64(v)) }},
		{metaLedger, "ledger height", 8, func(v []byte) { l.ledger.Store(int64(binary.BigEndian.Uint64(v))) }},
		{metaCut, "latest batch", 16, func(v []byte) {
			l.cutID.Store(binary.BigEndian.Uint64(v))
			l.cutLast.Store(binary.BigEndian.Uint64(v[8:]))
		}},
	} {
		v, err := l.db.Get([]byte(m.key))
		if err != nil {
			return wrap(op, err)
		}
		if v == nil {
			continue
		}
		if len(v) != m.n {
			return ptoy.E(op, ptoy.Other, "audit log is damaged: bad "+m.what+" record")
		}
		m.load(v)
	}
	return nil
}

// Close stops the log: it waits for appends under way, then closes the
// database. Calls after Close fail with ptoy.Unavailable.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.stop)
	close(l.reqs)
	<-l.done
	if l.db == nil {
		return nil
	}
	if err := l.db.Close(); err != nil && l.broken.Load() == nil {
		return ptoy.E("audit.Close", ptoy.Other, err)
	}
	return nil
}

// enter takes the read lock for an operation; the caller must call
// l.mu.RUnlock if it returns nil.
func (l *Log) enter(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return ptoy.E(op, ptoy.Unavailable, err)
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ptoy.E(op, ptoy.Unavailable, "audit log is closed")
	}
	if err := l.broken.Load(); err != nil {
		l.mu.RUnlock()
		return ptoy.E(op, ptoy.Unavailable, "the audit log cannot be written (is its disk full?); it is retried", *err)
	}
	return nil
}

// Err says why the log cannot write now (a write failed, say on a full
// disk, and it has not yet reopened), ptoy.Unavailable; nil when it
// works. A node is not ready while it is set.
func (l *Log) Err() error {
	if err := l.broken.Load(); err != nil {
		return ptoy.E("audit.Err", ptoy.Unavailable, "the audit log cannot be written (is its disk full?); it is retried", *err)
	}
	return nil
}

// Last returns the Seq of the last event committed, 0 if none.
func (l *Log) Last() uint64 { return l.last.Load() }

// Append assigns e the next Seq (any Seq given is ignored) and stores it
// durably (synced) before returning it as stored: Seq set, Node filled
// in, Time in UTC at nanosecond precision. If it returns an error the event may not be on
// disk and the request it describes must fail. Invalid events are
// ptoy.Invalid; a closed or failed log, or a context that ends first,
// ptoy.Unavailable. If ctx ends while the write is under way, the event
// may still be stored.
//
// Appends are queued to a single committer goroutine, which takes every
// queued event (up to 1024), gives them consecutive Seqs, writes them in
// one synced Pebble batch and then wakes their callers; so concurrent
// appends share an fsync, and Seqs are gap-free and in commit order.
//
// After a failed write (a full disk) the log refuses every operation
// with ptoy.Unavailable, and reopens its database every
// Options.RetryEvery until it works again; nothing else is affected.
//
// An actor's events are bounded (Options.Denied, Options.Allowed): over
// its limit an event is refused with ptoy.Unavailable and the request
// it describes must fail. The first refusal in a minute is stored, its
// reason saying that further refusals until a given time are not; the
// others are not stored, so that nobody fills the disk with requests.
func (l *Log) Append(ctx context.Context, e audit.Event) (audit.Event, error) {
	if l.observe == nil {
		return l.append1(ctx, e)
	}
	start := time.Now()
	e, err := l.append1(ctx, e)
	l.observe(time.Since(start), err)
	return e, err
}

func (l *Log) append1(ctx context.Context, e audit.Event) (audit.Event, error) {
	const op = "audit.Append"
	e, err := audit.Normalize(e, l.node)
	if err != nil {
		return audit.Event{}, err
	}
	if err := l.enter(ctx, op); err != nil {
		return audit.Event{}, err
	}
	defer l.mu.RUnlock()
	r, refused, err := l.send(ctx, op, e)
	if r == nil {
		return audit.Event{}, cmp.Or(err, refused)
	}
	ev, err := l.wait(ctx, op, r)
	if err != nil || refused != nil {
		return audit.Event{}, cmp.Or(err, refused)
	}
	return ev, nil
}

// AppendAll appends evs, in order, as Append appends each, and returns
// once every one is stored: they reach the committer together, so that
// they share its synced writes (a block's ledger events, appended one by
// one, each waited for its own). The error is the first of theirs.
func (l *Log) AppendAll(ctx context.Context, evs []audit.Event) error {
	const op = "audit.Append"
	start := time.Now()
	if err := l.enter(ctx, op); err != nil {
		return err
	}
	defer l.mu.RUnlock()
	var first error
	reqs := make([]*appendReq, 0, len(evs))
	for _, e := range evs {
		e, err := audit.Normalize(e, l.node)
		if err != nil {
			first = cmp.Or(first, err)
			continue
		}
		r, refused, err := l.send(ctx, op, e)
		first = cmp.Or(first, err, refused)
		if r != nil {
			reqs = append(reqs, r)
		}
	}
	for _, r := range reqs {
		_, err := l.wait(ctx, op, r)
		first = cmp.Or(first, err)
		if l.observe != nil {
			l.observe(time.Since(start), err)
		}
	}
	return first
}

// AppendLedger stores the audit events of the ledger block at height, in
// order, in one synced write with the height, and returns once they are
// stored. A block at or below LedgerHeight is already stored and is not
// stored again: a node that copies its ledger's events (ledger.KeepEvents)
// after a crash copies each block once. The actors' limits do not apply:
// these are facts the ledger holds, not requests. An invalid event fails
// the whole block.
func (l *Log) AppendLedger(ctx context.Context, height int64, evs []audit.Event) error {
	const op = "audit.AppendLedger"
	if height <= 0 {
		return ptoy.E(op, ptoy.Invalid, "a ledger height is positive")
	}
	blk := &ledgerBlock{height: height, evs: make([]audit.Event, len(evs))}
	for i, e := range evs {
		e, err := audit.Normalize(e, l.node)
		if err != nil {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("event %d of ledger block %d", i, height), err)
		}
		blk.evs[i] = e
	}
	start := time.Now()
	if err := l.enter(ctx, op); err != nil {
		return err
	}
	defer l.mu.RUnlock()
	if height <= l.ledger.Load() {
		return nil
	}
	r := &appendReq{block: blk, done: make(chan appendResult, 1)}
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		return ptoy.E(op, ptoy.Unavailable, "gave up waiting for the audit log", ctx.Err())
	}
	_, err := l.wait(ctx, op, r)
	if l.observe != nil {
		l.observe(time.Since(start), err)
	}
	return err
}

// LedgerHeight returns the last ledger height whose events are stored
// (AppendLedger), 0 if none.
func (l *Log) LedgerHeight() int64 { return l.ledger.Load() }

// send hands e to the committer, within the limits of its actor: over
// them, refused says so, and r is nil unless the refusal itself is
// stored. The caller holds l.mu (enter).
func (l *Log) send(ctx context.Context, op string, e audit.Event) (r *appendReq, refused, err error) {
	if over, record := l.limits.take(e); over {
		refused = ptoy.E(op, ptoy.Unavailable, "too many requests from this account; try again in a minute")
		if !record {
			return nil, refused, nil
		}
		e.Decision = audit.Deny
		e.Reason = fmt.Sprintf("refused: too many requests from this account; further refusals until %s UTC are not recorded one by one",
			e.Time.Add(limitWindow).Format("2006-01-02 15:04:05"))
	}
	r = &appendReq{ev: e, done: make(chan appendResult, 1)}
	select {
	case l.reqs <- r:
		return r, refused, nil
	case <-ctx.Done():
		return nil, refused, ptoy.E(op, ptoy.Unavailable, "gave up waiting for the audit log", ctx.Err())
	}
}

// wait waits for r to be stored.
func (l *Log) wait(ctx context.Context, op string, r *appendReq) (audit.Event, error) {
	select {
	case res := <-r.done:
		return res.ev, res.err
	case <-ctx.Done():
		return audit.Event{}, ptoy.E(op, ptoy.Unavailable, "gave up waiting for the audit log", ctx.Err())
	}
}

// commitLoop is the committer: it runs until l.reqs is closed and drained.
func (l *Log) commitLoop() {
	defer close(l.done)
	group := make([]*appendReq, 0, maxGroup)
	writes := make([]store.Write, 0, 2*maxGroup+1)
	for r := range l.reqs {
		group = append(group[:0], r)
	more:
		for len(group) < maxGroup {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		var failed error
		l.dbMu.Lock()
		if b := l.broken.Load(); b != nil {
			failed = ptoy.E("audit.Append", ptoy.Unavailable, "the audit log cannot be written (is its disk full?); it is retried", *b)
		} else {
			writes, failed = l.commit(group, writes[:0])
		}
		l.dbMu.Unlock()
		for _, r := range group {
			if failed != nil {
				r.done <- appendResult{err: failed}
			} else {
				r.done <- appendResult{ev: r.ev}
			}
		}
		clear(group)
	}
}

// commit writes group as one synced batch, setting each event's Seq.
func (l *Log) commit(group []*appendReq, writes []store.Write) ([]store.Write, error) {
	seq := l.last.Load()
	event := func(e *audit.Event) {
		seq++
		e.Seq = seq
		writes = append(writes,
			store.Write{Key: eventKey(seq), Value: e.Encode()},
			store.Write{Key: patientKey(e.Patient, seq), Value: be64(uint64(e.Time.UnixNano()))},
		)
	}
	height := l.ledger.Load()
	for _, r := range group {
		switch {
		case r.block == nil:
			event(&r.ev)
		case r.block.height > height: // a block already stored is not stored again
			height = r.block.height
			for i := range r.block.evs {
				event(&r.block.evs[i])
			}
		}
	}
	writes = append(writes, store.Write{Key: []byte(metaLast), Value: be64(seq)})
	if height != l.ledger.Load() {
		writes = append(writes, store.Write{Key: []byte(metaLedger), Value: be64(uint64(height))})
	}
	err := l.db.Commit(writes, true)
	clear(writes)
	if err != nil {
		l.fail(err)
		return writes, ptoy.E("audit.Append", ptoy.Unavailable, "the audit log could not store the event (is its disk full?)", err)
	}
	l.last.Store(seq)
	l.ledger.Store(height)
	l.commits.Add(1)
	return writes, nil
}

// Cut closes the current batch: the events after the previous batch's
// Last, at most maxEvents of them (0 = all), become a batch whose Merkle
// root is stored with it (synced). It returns ptoy.NotFound if there is
// nothing new. A proof costs time linear in its batch's size, so a node
// should cut batches of a few thousand events at most.
func (l *Log) Cut(ctx context.Context, maxEvents int) (audit.Batch, error) {
	const op = "audit.Cut"
	if maxEvents < 0 {
		return audit.Batch{}, ptoy.E(op, ptoy.Invalid, "maxEvents must not be negative")
	}
	if err := l.enter(ctx, op); err != nil {
		return audit.Batch{}, err
	}
	defer l.mu.RUnlock()
	l.cutMu.Lock()
	defer l.cutMu.Unlock()
	last, prev := l.last.Load(), l.cutLast.Load()
	if last <= prev {
		return audit.Batch{}, ptoy.E(op, ptoy.NotFound, "no new audit events to cut")
	}
	first := prev + 1
	n := last - prev
	if maxEvents > 0 && n > uint64(maxEvents) {
		n = uint64(maxEvents)
	}
	if n > 1<<32-1 {
		n = 1<<32 - 1
	}
	b := audit.Batch{ID: l.cutID.Load() + 1, First: first, Last: first + n - 1, Count: uint32(n)}
	leaves, patients, err := l.batchLeaves(ctx, op, b)
	if err != nil {
		return audit.Batch{}, err
	}
	if uint64(len(leaves)) != n {
		return audit.Batch{}, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: events %d to %d are incomplete", b.First, b.Last))
	}
	b.Root = audit.MerkleRoot(leaves)
	entries, err := l.advanceChains(op, patients, leaves)
	if err != nil {
		return audit.Batch{}, err
	}
	b.Patients = audit.EntriesRoot(entries)
	cut := append(be64(b.ID), be64(b.Last)...)
	writes := []store.Write{
		{Key: batchKey(b.ID), Value: encodeBatch(b)},
		{Key: key8(prefixLast, b.Last), Value: be64(b.ID)},
		{Key: key8(prefixUnanchor, b.ID), Value: []byte{}},
		{Key: []byte(metaCut), Value: cut},
	}
	for _, en := range entries {
		writes = append(writes,
			store.Write{Key: chainKey(en.Patient), Value: en.State()},
			store.Write{Key: entryKey(b.ID, en.Patient), Value: en.State()})
	}
	err = l.db.Commit(writes, true)
	if err != nil {
		l.fail(err)
		return audit.Batch{}, ptoy.E(op, ptoy.Unavailable, "audit log could not store the batch", err)
	}
	l.cutID.Store(b.ID)
	l.cutLast.Store(b.Last)
	return b, nil
}

// leaves reads the stored events of batch b in order and returns their
// leaf hashes. If want is in the batch it also decodes and returns that
// event (zero Seq if it is missing). It stops at the first gap, so fewer
// than b.Count leaves means events are missing. With check, every event
// is decoded, and stored bytes that do not decode, or whose Seq is not
// their key's, are an error; without, only want is.
func (l *Log) leaves(ctx context.Context, op string, b audit.Batch, want uint64, check bool) ([][32]byte, audit.Event, error) {
	leaves := make([][32]byte, 0, b.Count)
	var found audit.Event
	next := b.First
	i := 0
	err := l.db.Scan(eventKey(b.First), eventKey(b.Last+1), func(k, v []byte) error {
		if i++; i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return ptoy.E(op, ptoy.Unavailable, err)
			}
		}
		seq := binary.BigEndian.Uint64(k[1:])
		if seq != next {
			return kv.ErrStop
		}
		next++
		if check || seq == want {
			e, err := audit.DecodeEvent(v)
			if err != nil || e.Seq != seq {
				return ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: stored event %d is corrupt", seq))
			}
			if seq == want {
				found = e
			}
		}
		leaves = append(leaves, audit.LeafHash(v))
		return nil
	})
	if err != nil && !errors.Is(err, kv.ErrStop) {
		return nil, audit.Event{}, wrap(op, err)
	}
	return leaves, found, nil
}

// Batches returns the batches with ID >= from, in order.
func (l *Log) Batches(ctx context.Context, from uint64) ([]audit.Batch, error) {
	const op = "audit.Batches"
	if err := l.enter(ctx, op); err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	var out []audit.Batch
	err := l.db.Scan(batchKey(from), []byte{prefixBatch + 1}, func(k, v []byte) error {
		b, err := decodeBatch(op, v)
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// Unanchored returns the batches not yet marked anchored, in order: the
// ones to submit (or submit again) to the ledger.
func (l *Log) Unanchored(ctx context.Context) ([]audit.Batch, error) {
	const op = "audit.Unanchored"
	if err := l.enter(ctx, op); err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	var ids []uint64
	err := l.db.Scan([]byte{prefixUnanchor}, []byte{prefixUnanchor + 1}, func(k, _ []byte) error {
		ids = append(ids, binary.BigEndian.Uint64(k[1:]))
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]audit.Batch, 0, len(ids))
	for _, id := range ids {
		b, err := l.batch(op, id)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// MarkAnchored records that batch id was committed on the ledger at
// height, for display; the batch is then no longer Unanchored. Marking it
// again records the new height.
func (l *Log) MarkAnchored(ctx context.Context, id uint64, height int64) error {
	const op = "audit.MarkAnchored"
	if height <= 0 {
		return ptoy.E(op, ptoy.Invalid, "ledger height must be positive")
	}
	if err := l.enter(ctx, op); err != nil {
		return err
	}
	defer l.mu.RUnlock()
	l.cutMu.Lock()
	defer l.cutMu.Unlock()
	b, err := l.batch(op, id)
	if err != nil {
		return err
	}
	b.Anchored = height
	err = l.db.Commit([]store.Write{
		{Key: batchKey(id), Value: encodeBatch(b)},
		{Key: key8(prefixUnanchor, id)}, // delete
	}, true)
	if err != nil {
		l.fail(err)
		return ptoy.E(op, ptoy.Unavailable, "audit log could not store the anchoring", err)
	}
	return nil
}

// batch reads batch id: ptoy.NotFound if there is none.
func (l *Log) batch(op string, id uint64) (audit.Batch, error) {
	v, err := l.db.Get(batchKey(id))
	if err != nil {
		return audit.Batch{}, wrap(op, err)
	}
	if v == nil {
		return audit.Batch{}, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no audit batch %d", id))
	}
	b, err := decodeBatch(op, v)
	if err != nil {
		return audit.Batch{}, err
	}
	return b, nil
}

// Proof returns event seq, its batch and its audit path. It is
// ptoy.NotFound if there is no event seq, ptoy.Unavailable ("not yet in a
// batch") if the event has not been cut yet, and ptoy.Other if the
// batch's stored events are damaged (some missing or unreadable). Proof
// does not compare the path with the stored root: checking is the
// client's part (audit.VerifyProof, against the anchored root), or VerifyBatch.
func (l *Log) Proof(ctx context.Context, seq uint64) (audit.Proof, error) {
	const op = "audit.Proof"
	if err := l.enter(ctx, op); err != nil {
		return audit.Proof{}, err
	}
	defer l.mu.RUnlock()
	if seq == 0 || seq > l.last.Load() {
		return audit.Proof{}, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no audit event %d", seq))
	}
	if seq > l.cutLast.Load() {
		return audit.Proof{}, ptoy.E(op, ptoy.Unavailable, fmt.Sprintf("audit event %d is not yet in a batch", seq))
	}
	id, err := l.batchOf(op, seq)
	if err != nil {
		return audit.Proof{}, err
	}
	b, err := l.batch(op, id)
	if err != nil {
		if ptoy.KindOf(err) == ptoy.NotFound {
			return audit.Proof{}, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: batch %d is missing", id))
		}
		return audit.Proof{}, err
	}
	if seq < b.First || seq > b.Last {
		return audit.Proof{}, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: batch %d does not hold event %d", id, seq))
	}
	leaves, e, err := l.leaves(ctx, op, b, seq, false)
	if err != nil {
		return audit.Proof{}, err
	}
	if e.Seq != seq {
		if v, _ := l.db.Get(eventKey(seq)); v == nil {
			return audit.Proof{}, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no audit event %d", seq))
		}
	}
	if len(leaves) != int(b.Count) {
		return audit.Proof{}, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: batch %d holds %d of its %d events", id, len(leaves), b.Count))
	}
	index := seq - b.First
	return audit.Proof{Event: e, Batch: b, Index: index, Path: audit.AuditPath(int(index), leaves)}, nil
}

// VerifyBatch recomputes batch id's root from the stored events and
// compares it with the stored root. It is ptoy.NotFound if there is no
// such batch, ptoy.Unauthenticated if an event is missing, altered, out
// of place or from another node, or the root differs. (A node that rewrote
// the stored root too would pass here, but not against the anchored root.)
func (l *Log) VerifyBatch(ctx context.Context, id uint64) error {
	const op = "audit.VerifyBatch"
	if err := l.enter(ctx, op); err != nil {
		return err
	}
	defer l.mu.RUnlock()
	b, err := l.batch(op, id)
	if err != nil {
		return err
	}
	fail := func(msg string) error {
		return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("audit batch %d does not match its root: %s", id, msg))
	}
	if b.Count == 0 || b.Last < b.First || b.Last-b.First+1 != uint64(b.Count) {
		return fail("its bounds are inconsistent")
	}
	leaves := make([][32]byte, 0, b.Count)
	next := b.First
	var bad error
	err = l.db.Scan(eventKey(b.First), eventKey(b.Last+1), func(k, v []byte) error {
		if len(leaves)%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return ptoy.E(op, ptoy.Unavailable, err)
			}
		}
		seq := binary.BigEndian.Uint64(k[1:])
		if seq != next {
			bad = fail(fmt.Sprintf("event %d is missing", next))
			return kv.ErrStop
		}
		next++
		e, err := audit.DecodeEvent(v)
		switch {
		case err != nil:
			bad = fail(fmt.Sprintf("event %d is unreadable", seq))
		case e.Seq != seq:
			bad = fail(fmt.Sprintf("event %d is stored as event %d", e.Seq, seq))
		case e.Node != l.node:
			bad = fail(fmt.Sprintf("event %d is from node %q", seq, e.Node))
		}
		if bad != nil {
			return kv.ErrStop
		}
		leaves = append(leaves, audit.LeafHash(v))
		return nil
	})
	if err != nil && !errors.Is(err, kv.ErrStop) {
		return wrap(op, err)
	}
	if bad != nil {
		return bad
	}
	if len(leaves) != int(b.Count) {
		return fail(fmt.Sprintf("event %d is missing", next))
	}
	if audit.MerkleRoot(leaves) != b.Root {
		return fail("an event has been altered")
	}
	return nil
}

// ForPatient lists patient's events, oldest (lowest Seq) first, whose
// Time is in [from, to); a zero from or to is unbounded. It reads the
// per-patient index, so its cost is proportional to the patient's events.
func (l *Log) ForPatient(ctx context.Context, patient ptoy.ID, from, to time.Time) ([]audit.Event, error) {
	return l.forPatient(ctx, patient, 0, from, to)
}

// ForPatientAfter is ForPatient for the events whose Seq is above after.
func (l *Log) ForPatientAfter(ctx context.Context, patient ptoy.ID, after uint64) ([]audit.Event, error) {
	return l.forPatient(ctx, patient, after, time.Time{}, time.Time{})
}

func (l *Log) forPatient(ctx context.Context, patient ptoy.ID, after uint64, from, to time.Time) ([]audit.Event, error) {
	const op = "audit.ForPatient"
	if err := l.enter(ctx, op); err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	prefix := append([]byte{prefixPatient}, patient[:]...)
	start := prefix
	if after > 0 {
		if after == math.MaxUint64 {
			return nil, nil
		}
		start = binary.BigEndian.AppendUint64(bytes.Clone(prefix), after+1)
	}
	var seqs []uint64
	i := 0
	err := l.db.Scan(start, store.PrefixEnd(prefix), func(k, v []byte) error {
		if i++; i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return ptoy.E(op, ptoy.Unavailable, err)
			}
		}
		if len(k) != 1+ptoy.IDLen+8 || len(v) != 8 {
			return ptoy.E(op, ptoy.Other, "audit log is damaged: bad patient index entry")
		}
		if audit.InRange(time.Unix(0, int64(binary.BigEndian.Uint64(v))), from, to) {
			seqs = append(seqs, binary.BigEndian.Uint64(k[1+ptoy.IDLen:]))
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]audit.Event, 0, len(seqs))
	for _, seq := range seqs {
		v, err := l.db.Get(eventKey(seq))
		if err != nil {
			return nil, wrap(op, err)
		}
		if v == nil {
			return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: event %d is missing", seq))
		}
		e, err := audit.DecodeEvent(v)
		if err != nil || e.Seq != seq || e.Patient != patient {
			return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: stored event %d is corrupt", seq))
		}
		out = append(out, e)
	}
	return out, nil
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

func key8(prefix byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 9), prefix), v)
}

func eventKey(seq uint64) []byte { return key8(prefixEvent, seq) }

func batchKey(id uint64) []byte { return key8(prefixBatch, id) }

func patientKey(p ptoy.ID, seq uint64) []byte {
	k := make([]byte, 0, 1+ptoy.IDLen+8)
	k = append(k, prefixPatient)
	k = append(k, p[:]...)
	return binary.BigEndian.AppendUint64(k, seq)
}

func encodeBatch(b audit.Batch) []byte {
	v := make([]byte, 0, batchEncLen)
	v = append(v, 2)
	v = binary.BigEndian.AppendUint64(v, b.ID)
	v = binary.BigEndian.AppendUint64(v, b.First)
	v = binary.BigEndian.AppendUint64(v, b.Last)
	v = append(v, b.Root[:]...)
	v = binary.BigEndian.AppendUint32(v, b.Count)
	v = binary.BigEndian.AppendUint64(v, uint64(b.Anchored))
	return append(v, b.Patients[:]...)
}

func decodeBatch(op string, v []byte) (audit.Batch, error) {
	if !(len(v) == batchEncLen && v[0] == 2 || len(v) == batchEncLenV1 && v[0] == 1) {
		return audit.Batch{}, ptoy.E(op, ptoy.Other, "audit log is damaged: bad batch record")
	}
	var b audit.Batch
	b.ID = binary.BigEndian.Uint64(v[1:])
	b.First = binary.BigEndian.Uint64(v[9:])
	b.Last = binary.BigEndian.Uint64(v[17:])
	copy(b.Root[:], v[25:57])
	b.Count = binary.BigEndian.Uint32(v[57:])
	b.Anchored = int64(binary.BigEndian.Uint64(v[61:]))
	if v[0] == 2 {
		copy(b.Patients[:], v[69:])
	}
	return b, nil
}

// wrap returns err as is if this package made it, and otherwise (a
// storage failure) as an internal error of op.
func wrap(op string, err error) error {
	var pe *ptoy.Error
	if errors.As(err, &pe) && strings.HasPrefix(pe.Op, "audit.") {
		return err
	}
	return ptoy.E(op, ptoy.Other, "audit log storage failed", err)
}

// Prover answers Proof for many events, reading and hashing each batch
// once: what a patient's whole audit trail needs (Proof alone reads the
// batch's events and recomputes its tree for every event). It is for one
// listing; the log may go on meanwhile, as with Proof.
type Prover struct {
	l       *Log
	batches map[uint64]*provenBatch
	last    *provenBatch // the batch of the last proof: a listing's next event is often in it
}

type provenBatch struct {
	b    audit.Batch
	tree *audit.Tree
}

// batchOf returns the id of the batch that holds event seq, which must
// be cut. Call it with l.mu held.
func (l *Log) batchOf(op string, seq uint64) (uint64, error) {
	var id uint64
	found := false
	err := l.db.Scan(key8(prefixLast, seq), []byte{prefixLast + 1}, func(_, v []byte) error {
		if len(v) == 8 {
			id, found = binary.BigEndian.Uint64(v), true
		}
		return kv.ErrStop
	})
	if err != nil && !errors.Is(err, kv.ErrStop) {
		return 0, wrap(op, err)
	}
	if !found {
		return 0, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: no batch holds event %d", seq))
	}
	return id, nil
}

// NewProver starts a listing's proofs.
func (l *Log) NewProver() *Prover { return &Prover{l: l, batches: map[uint64]*provenBatch{}} }

// Proof is Log.Proof(seq), with the batch read and hashed once per
// Prover.
func (p *Prover) Proof(ctx context.Context, seq uint64) (audit.Proof, error) {
	const op = "audit.Proof"
	l := p.l
	if err := l.enter(ctx, op); err != nil {
		return audit.Proof{}, err
	}
	defer l.mu.RUnlock()
	if seq == 0 || seq > l.last.Load() {
		return audit.Proof{}, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no audit event %d", seq))
	}
	if seq > l.cutLast.Load() {
		return audit.Proof{}, ptoy.E(op, ptoy.Unavailable, fmt.Sprintf("audit event %d is not yet in a batch", seq))
	}
	var id uint64
	if lb := p.last; lb != nil && seq >= lb.b.First && seq <= lb.b.Last {
		id = lb.b.ID
	} else {
		var err error
		if id, err = l.batchOf(op, seq); err != nil {
			return audit.Proof{}, err
		}
	}
	pb := p.batches[id]
	if pb == nil {
		b, err := l.batch(op, id)
		if err != nil {
			if ptoy.KindOf(err) == ptoy.NotFound {
				return audit.Proof{}, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: batch %d is missing", id))
			}
			return audit.Proof{}, err
		}
		leaves, _, err := l.leaves(ctx, op, b, 0, false)
		if err != nil {
			return audit.Proof{}, err
		}
		if len(leaves) != int(b.Count) || len(leaves) == 0 {
			return audit.Proof{}, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: batch %d holds %d of its %d events", id, len(leaves), b.Count))
		}
		pb = &provenBatch{b: b, tree: audit.NewTree(leaves)}
		p.batches[id] = pb
	}
	p.last = pb
	b := pb.b
	if seq < b.First || seq > b.Last {
		return audit.Proof{}, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: batch %d does not hold event %d", id, seq))
	}
	v, err := l.db.Get(eventKey(seq))
	if err != nil {
		return audit.Proof{}, wrap(op, err)
	}
	if v == nil {
		return audit.Proof{}, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no audit event %d", seq))
	}
	e, err := audit.DecodeEvent(v)
	if err != nil || e.Seq != seq {
		return audit.Proof{}, ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: stored event %d is corrupt", seq))
	}
	index := seq - b.First
	return audit.Proof{Event: e, Batch: b, Index: index, Path: pb.tree.Path(int(index))}, nil
}
