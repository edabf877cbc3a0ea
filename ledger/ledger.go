// Package ledger is the deterministic state machine of the ptoy network.
//
// Block height and time come in, results go out; the only I/O is the
// key-value store. There is no wall clock, no randomness, no map-order
// iteration and no goroutine in here, so that every node that applies the
// same blocks reaches the same state and the same app hash.
//
// A block is applied in three steps, as ABCI 2.0 drives it:
//
//	b := l.Begin(height, blockTime)   // FinalizeBlock starts
//	res := b.Apply(tx)                // once per transaction; a failed one changes nothing
//	hash := b.Finish()                // the app hash of the block
//	l.Commit(b)                       // Commit: one synced write
//
// The app hash chains the blocks that change the state: hash(h) =
// SHA-256(hash(h-1) || h || the block's write set in key order), so it
// commits to the whole state and its history and changes with every
// change of state; a block that changes nothing keeps the hash.
package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"ptoy"
	"ptoy/kv"
	"ptoy/tx"
)

// KV is the store the ledger keeps its state in.
type KV interface {
	// Get returns the value of key, nil if absent.
	Get(key []byte) ([]byte, error)
	// Scan calls fn for keys in [start, end) in order.
	Scan(start, end []byte, fn func(k, v []byte) error) error
	// Commit applies writes atomically, durably when sync is set.
	Commit(writes []kv.Write, sync bool) error
}

// Ledger is the committed state plus the means to apply blocks to it.
// Its query methods read the committed state and are safe for concurrent use.
type Ledger struct {
	kv KV // the store behind a read cache (cachedKV); values read are shared

	mu   sync.RWMutex
	meta meta

	kems   *kemMemo
	keep   atomic.Bool // KeepEvents
	params atomic.Pointer[paramsMemo]

	subMu sync.Mutex
	subs  []func(Committed)
}

// Committed describes a block once it is durable: what a subscriber needs
// to keep an index, a replication queue or a cache current.
type Committed struct {
	Height int64
	Time   time.Time
	Writes []kv.Write // in key order; Value nil for a deletion
}

// Subscribe calls fn after each commit, in order, on the committing
// goroutine: fn must be quick and must not call back into the block.
func (l *Ledger) Subscribe(fn func(Committed)) {
	l.subMu.Lock()
	defer l.subMu.Unlock()
	l.subs = append(l.subs, fn)
}

type meta struct {
	ChainID   string
	Height    int64
	AppHash   []byte
	BlockTime int64 // unix nanoseconds
}

// Open loads the ledger kept in kv.
func Open(kv KV) (*Ledger, error) {
	l := &Ledger{kv: newCachedKV(kv, cacheBytes), kems: newKEMMemo(1 << 16)}
	v, err := l.kv.Get(keyMeta)
	if err != nil {
		return nil, err
	}
	if v != nil {
		m, err := decodeMeta(v)
		if err != nil {
			return nil, err
		}
		l.meta = m
	}
	return l, nil
}

// ChainID returns the chain id, empty before InitChain.
func (l *Ledger) ChainID() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.meta.ChainID
}

// Height returns the last committed height and its app hash.
func (l *Ledger) Height() (int64, []byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.meta.Height, bytes.Clone(l.meta.AppHash)
}

// BlockTime returns the time of the last committed block.
func (l *Ledger) BlockTime() time.Time {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return time.Unix(0, l.meta.BlockTime).UTC()
}

// Result is the outcome of one transaction.
type Result struct {
	Code uint32 // 0 success; tx.Code of the error otherwise
	Log  string // what went wrong, in plain words
	Err  error
}

// ValidatorUpdate asks consensus to set a validator's power.
type ValidatorUpdate struct {
	PubKey []byte // Ed25519
	Power  int64
}

// Block is a block being applied. It is not safe for concurrent use.
type Block struct {
	l       *Ledger
	height  int64
	time    time.Time
	writes  map[string][]byte // the block's write set; nil value = delete
	txw     map[string][]byte // the current transaction's writes
	updates []ValidatorUpdate
	hash    []byte
}

var tombstone = []byte{}

// Begin starts applying the block at height with the block's time.
func (l *Ledger) Begin(height int64, t time.Time) *Block {
	return &Block{l: l, height: height, time: t.UTC(), writes: map[string][]byte{}}
}

// Height is the height of the block.
func (b *Block) Height() int64 { return b.height }

// Time is the block's time, the ledger's only clock.
func (b *Block) Time() time.Time { return b.time }

func (b *Block) get(key []byte) ([]byte, error) {
	if v, ok := b.txw[string(key)]; ok {
		if isTomb(v) {
			return nil, nil
		}
		return v, nil
	}
	if v, ok := b.writes[string(key)]; ok {
		if isTomb(v) {
			return nil, nil
		}
		return v, nil
	}
	return b.l.kv.Get(key)
}

// isTomb reports whether v is the deletion marker. Stored values are never
// empty (every record is a non-empty protobuf or a fixed-size value).
func isTomb(v []byte) bool { return len(v) == 0 }

func (b *Block) set(key, value []byte) {
	if len(value) == 0 {
		panic("ledger: empty value")
	}
	b.txw[string(key)] = value
}

func (b *Block) del(key []byte) { b.txw[string(key)] = tombstone }

// Apply applies one verified transaction. A transaction that fails
// changes nothing.
func (b *Block) Apply(t *tx.Tx) Result {
	b.txw = map[string][]byte{}
	var err error
	if !t.Verified() {
		err = ptoy.E("ledger.Apply", ptoy.Unauthenticated, "signatures not verified")
	} else {
		err = b.apply(t)
	}
	if err != nil {
		b.txw = nil
		return Result{Code: tx.Code(err), Log: ptoy.Message(err), Err: err}
	}
	for k, v := range b.txw {
		b.writes[k] = v
	}
	b.txw = nil
	return Result{}
}

// Finish ends the block and returns its app hash. A block that changes
// nothing keeps the previous hash, so an idle network's empty blocks do
// not each need a proof block after them.
func (b *Block) Finish() []byte {
	_, prev := b.l.Height()
	if len(b.writes) == 0 && len(prev) > 0 {
		b.hash = prev
		return b.hash
	}
	h := sha256.New()
	h.Write(prev)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(b.height))
	h.Write(n[:])
	for _, k := range b.sortedKeys() {
		v := b.writes[k]
		writeLV(h, []byte(k))
		if isTomb(v) {
			h.Write([]byte{0})
		} else {
			h.Write([]byte{1})
			writeLV(h, v)
		}
	}
	b.hash = h.Sum(nil)
	return b.hash
}

// ValidatorUpdates are the validator changes the block made.
func (b *Block) ValidatorUpdates() []ValidatorUpdate { return b.updates }

func (b *Block) sortedKeys() []string {
	keys := make([]string, 0, len(b.writes))
	for k := range b.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func writeLV(h interface{ Write([]byte) (int, error) }, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// Commit makes a finished block durable and the committed state.
func (l *Ledger) Commit(b *Block) error {
	if b.hash == nil {
		b.Finish()
	}
	m := l.metaCopy()
	m.Height = b.height
	m.AppHash = b.hash
	m.BlockTime = b.time.UnixNano()
	writes := make([]kv.Write, 0, len(b.writes)+1)
	for _, k := range b.sortedKeys() {
		v := b.writes[k]
		if isTomb(v) {
			v = nil
		}
		writes = append(writes, kv.Write{Key: []byte(k), Value: v})
	}
	state := len(writes)
	if l.keep.Load() {
		if evs := Events(writes); len(evs) > 0 {
			writes = append(writes, kv.Write{Key: keptEventsKey(b.height), Value: encodeKept(b.time, evs)})
		}
	}
	writes = append(writes, kv.Write{Key: keyMeta, Value: encodeMeta(m)})
	if err := l.kv.Commit(writes, true); err != nil {
		return err
	}
	l.mu.Lock()
	l.meta = m
	l.mu.Unlock()
	l.subMu.Lock()
	subs := l.subs
	l.subMu.Unlock()
	if len(subs) > 0 {
		c := Committed{Height: b.height, Time: b.time, Writes: writes[:state]}
		for _, fn := range subs {
			fn(c)
		}
	}
	return nil
}

func (l *Ledger) metaCopy() meta {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.meta
}

func encodeMeta(m meta) []byte {
	b := binary.AppendUvarint(nil, uint64(len(m.ChainID)))
	b = append(b, m.ChainID...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Height))
	b = binary.AppendUvarint(b, uint64(len(m.AppHash)))
	b = append(b, m.AppHash...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.BlockTime))
	return b
}

func decodeMeta(b []byte) (meta, error) {
	var m meta
	bad := ptoy.E("ledger.Open", ptoy.Other, "corrupt ledger metadata")
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return m, bad
	}
	b = b[k:]
	m.ChainID = string(b[:n])
	b = b[n:]
	if len(b) < 8 {
		return m, bad
	}
	m.Height = int64(binary.BigEndian.Uint64(b))
	b = b[8:]
	n, k = binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return m, bad
	}
	b = b[k:]
	m.AppHash = bytes.Clone(b[:n])
	b = b[n:]
	if len(b) != 8 {
		return m, bad
	}
	m.BlockTime = int64(binary.BigEndian.Uint64(b))
	return m, nil
}

// getMsg reads a protobuf value into m; found is false if absent.
func getMsg(get func([]byte) ([]byte, error), key []byte, m proto.Message) (bool, error) {
	v, err := get(key)
	if err != nil || v == nil {
		return false, err
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return false, ptoy.E("ledger", ptoy.Other, "corrupt state value", err)
	}
	return true, nil
}

func (b *Block) putMsg(key []byte, m proto.Message) {
	v, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err) // only fails on invalid UTF-8 we validated
	}
	b.set(key, v)
}
