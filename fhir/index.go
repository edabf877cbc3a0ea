package fhir

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/crypto/chacha20poly1305"

	"ptoy"
	"ptoy/blob"
	"ptoy/fhir/search"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/kv"
)

// recKey names a record: its patient and its ledger id.
type recKey struct {
	patient ptoy.ID
	rec     [16]byte
}

// entry is what the index keeps in memory of a record's latest version
// the organisation can decrypt: its place on the ledger, its FHIR type
// and id, and its search values. The resource itself stays sealed in
// the store until it is answered.
type entry struct {
	key     recKey
	version uint32
	hash    blob.Hash
	typ, id string
	cat     pb.Category
	labels  uint32 // every category the record touches, as the ledger has it
	updated time.Time
	ix      search.Index
}

func (e *entry) ref() string { return e.typ + "/" + e.id }

// stored is the sealed value of a record in the store.
type stored struct {
	Version uint32      `json:"v"`
	Hash    blob.Hash   `json:"h"`
	Type    string      `json:"t"`
	ID      string      `json:"i"`
	Cat     pb.Category `json:"c"`
	Labels  uint32      `json:"l"`
	Updated int64       `json:"u"`
	// Raw is the resource as the writer sent it, byte for byte (base64
	// here: as a JSON value it would be compacted and HTML-escaped).
	Raw []byte `json:"b,omitempty"`
	// Legacy is Raw as entries sealed before held it; open moves it.
	Legacy json.RawMessage `json:"r,omitempty"`
	// meta is Raw with its ledger meta, made once for an index in memory;
	// decoded is meta decoded, once, when an in-process caller asks (Page).
	meta    atomic.Pointer[[]byte]
	decoded atomic.Pointer[map[string]any]
}

// index is the node's searchable copy of what its organisation may
// decrypt. In the store (Pebble, under prefix) each record's latest
// version is sealed with XChaCha20-Poly1305 under the node's index key,
// bound to its store key; the keys hold only ledger ids. In memory, the
// search values of each.
type index struct {
	db     *pebble.DB
	prefix []byte
	aead   cipher.AEAD
	reg    *search.Registry

	// mem holds the resources of an index kept in memory only (a
	// patient's own view, for the life of their session); nil for the
	// store-backed index.
	mem map[recKey]*stored

	mu        sync.RWMutex
	byKey     map[recKey]*entry
	byRef     map[string][]*entry // "Type/id": normally one
	byPatient map[ptoy.ID]map[[16]byte]*entry
	byType    map[string]map[recKey]*entry
}

// memIndex returns an index kept in memory only.
func memIndex(reg *search.Registry) *index {
	return &index{reg: reg, mem: map[recKey]*stored{},
		byKey: map[recKey]*entry{}, byRef: map[string][]*entry{}, byPatient: map[ptoy.ID]map[[16]byte]*entry{}, byType: map[string]map[recKey]*entry{}}
}

func openIndex(db *pebble.DB, prefix, key []byte, reg *search.Registry) (*index, error) {
	const op = "fhir.openIndex"
	if len(key) != chacha20poly1305.KeySize {
		return nil, ptoy.E(op, ptoy.Invalid, "the index key is not 32 bytes")
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	x := &index{db: db, prefix: append([]byte(nil), prefix...), aead: aead, reg: reg,
		byKey: map[recKey]*entry{}, byRef: map[string][]*entry{}, byPatient: map[ptoy.ID]map[[16]byte]*entry{}, byType: map[string]map[recKey]*entry{}}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: x.prefix, UpperBound: kv.PrefixEnd(x.prefix)})
	if err != nil {
		return nil, ptoy.E(op, ptoy.Unavailable, err)
	}
	defer it.Close()
	var dropped [][]byte
	for it.First(); it.Valid(); it.Next() {
		k, ok := x.parseKey(it.Key())
		var s *stored
		if ok {
			s, err = x.open(it.Key(), it.Value())
		}
		if !ok || err != nil {
			// Sealed under another key, or damaged: rebuilt from the
			// ledger by the next sync.
			dropped = append(dropped, bytes.Clone(it.Key()))
			continue
		}
		e, err := x.entryOf(k, s)
		if err != nil {
			dropped = append(dropped, bytes.Clone(it.Key()))
			continue
		}
		x.link(e)
	}
	for _, k := range dropped {
		db.Delete(k, pebble.NoSync)
	}
	return x, it.Error()
}

func (x *index) storeKey(k recKey) []byte {
	b := make([]byte, 0, len(x.prefix)+ptoy.IDLen+16)
	b = append(b, x.prefix...)
	b = append(b, k.patient[:]...)
	return append(b, k.rec[:]...)
}

func (x *index) parseKey(b []byte) (recKey, bool) {
	var k recKey
	rest, ok := bytes.CutPrefix(b, x.prefix)
	if !ok || len(rest) != ptoy.IDLen+16 {
		return k, false
	}
	copy(k.patient[:], rest)
	copy(k.rec[:], rest[ptoy.IDLen:])
	return k, true
}

func (x *index) seal(sk []byte, s *stored) ([]byte, error) {
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	out := x.sealBytes(sk, plain)
	clear(plain)
	return out, nil
}

func (x *index) open(sk, v []byte) (*stored, error) {
	plain, err := x.openBytes(sk, v)
	if err != nil {
		return nil, err
	}
	var s stored
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, ptoy.E("fhir.index", ptoy.Other, "a sealed index entry does not decode", err)
	}
	if s.Raw == nil {
		s.Raw, s.Legacy = s.Legacy, nil
	}
	return &s, nil
}

// entryOf extracts the search values of a stored resource.
func (x *index) entryOf(k recKey, s *stored) (*entry, error) {
	res, err := decodeMap(s.Raw)
	if err != nil {
		return nil, err
	}
	// Searched as answered: with the version and time of the ledger.
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		res["meta"] = meta
	}
	meta["versionId"] = fmt.Sprint(s.Version)
	meta["lastUpdated"] = time.Unix(0, s.Updated).UTC().Format(time.RFC3339)
	// The ledger says whose record it is: a record written without its
	// patient reference (by a client that is not FHIR's) is searched as
	// the patient's all the same.
	if s.Type != "Patient" && res["subject"] == nil && res["patient"] == nil && res["beneficiary"] == nil {
		ref := map[string]any{"reference": "Patient/" + k.patient.String()}
		res["subject"], res["patient"], res["beneficiary"] = ref, ref, ref
	}
	// A record an organisation's EHR held before the patient was linked
	// to it names the patient by the EHR's own id: it is searched as the
	// patient's whom the ledger files it under.
	if own := "Patient/" + k.patient.String(); s.Type != "Patient" {
		for _, f := range []string{"subject", "patient", "beneficiary"} {
			if ref, ok := res[f].(map[string]any); ok {
				if r, _ := ref["reference"].(string); strings.HasPrefix(r, "Patient/") && r != own {
					ref["reference"] = own
				}
			}
		}
	}
	ix, err := x.reg.Extract(s.Type, res)
	if err != nil {
		return nil, err
	}
	return &entry{key: k, version: s.Version, hash: s.Hash, typ: s.Type, id: s.ID, cat: s.Cat, labels: s.Labels,
		updated: time.Unix(0, s.Updated).UTC(), ix: ix}, nil
}

func decodeMap(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, ptoy.E("fhir", ptoy.Invalid, "a resource is not a JSON object", err)
	}
	return m, nil
}

// put seals s in the store and indexes it, replacing what the record
// had, unless the index holds a later version of the record already (a
// write through this node and a resync that listed the record before it
// committed): that one stays and is returned. The store is written under
// the index's lock, so that it keeps what memory keeps.
func (x *index) put(k recKey, s *stored) (*entry, error) {
	e, err := x.entryOf(k, s)
	if err != nil {
		return nil, err
	}
	var sk, v []byte
	if x.mem == nil {
		sk = x.storeKey(k)
		if v, err = x.seal(sk, s); err != nil {
			return nil, ptoy.E("fhir.index", ptoy.Other, err)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if cur := x.byKey[k]; cur != nil && cur.version > e.version {
		return cur, nil
	}
	if x.mem != nil {
		x.mem[k] = s
	} else if err := x.db.Set(sk, v, pebble.NoSync); err != nil {
		// The index is rebuilt from the ledger when lost: no fsync per entry.
		return nil, ptoy.E("fhir.index", ptoy.Unavailable, "the index store refused a write", err)
	}
	x.unlinkLocked(k)
	x.link(e)
	return e, nil
}

func (x *index) link(e *entry) {
	x.byKey[e.key] = e
	x.byRef[e.ref()] = append(x.byRef[e.ref()], e)
	m := x.byPatient[e.key.patient]
	if m == nil {
		m = map[[16]byte]*entry{}
		x.byPatient[e.key.patient] = m
	}
	m[e.key.rec] = e
	t := x.byType[e.typ]
	if t == nil {
		t = map[recKey]*entry{}
		x.byType[e.typ] = t
	}
	t[e.key] = e
}

func (x *index) unlinkLocked(k recKey) {
	e := x.byKey[k]
	if e == nil {
		return
	}
	delete(x.byKey, k)
	refs := x.byRef[e.ref()]
	for i, o := range refs {
		if o == e {
			refs = append(refs[:i], refs[i+1:]...)
			break
		}
	}
	if len(refs) == 0 {
		delete(x.byRef, e.ref())
	} else {
		x.byRef[e.ref()] = refs
	}
	if m := x.byPatient[k.patient]; m != nil {
		delete(m, k.rec)
		if len(m) == 0 {
			delete(x.byPatient, k.patient)
		}
	}
	delete(x.byType[e.typ], k)
}

// remove drops a record from the index and the store.
func (x *index) remove(k recKey) error { return x.removeUpTo(k, math.MaxUint32) }

// removeUpTo drops a record from the index and the store unless the
// index holds a version of it later than version.
func (x *index) removeUpTo(k recKey, version uint32) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if cur := x.byKey[k]; cur != nil && cur.version > version {
		return nil
	}
	x.unlinkLocked(k)
	if x.mem != nil {
		delete(x.mem, k)
		return nil
	}
	return x.db.Delete(x.storeKey(k), pebble.NoSync)
}

// purge drops every record of a patient, in memory at once and then in
// the store.
func (x *index) purge(patient ptoy.ID) error {
	x.mu.Lock()
	for rec := range x.byPatient[patient] {
		x.unlinkLocked(recKey{patient, rec})
		delete(x.mem, recKey{patient, rec})
	}
	x.mu.Unlock()
	if x.mem != nil {
		return nil
	}
	lo := append(append([]byte(nil), x.prefix...), patient[:]...)
	tomb := append(append([]byte(nil), tombPrefix...), patient[:]...)
	x.db.DeleteRange(tomb, kv.PrefixEnd(tomb), pebble.NoSync)
	return x.db.DeleteRange(lo, kv.PrefixEnd(lo), pebble.Sync)
}

// raw returns the sealed resource of an indexed record.
// withMeta returns e's resource with its ledger meta (versionId,
// lastUpdated): made once per version for an index in memory (a
// patient's view), which also returns where it keeps the version; at
// each call for the store's.
func (x *index) withMeta(e *entry) ([]byte, *stored, error) {
	if x.mem != nil {
		s, err := x.memStored(e)
		if err != nil {
			return nil, nil, err
		}
		if m := s.meta.Load(); m != nil {
			return *m, s, nil
		}
		m, err := versioned(s.Raw, e.version, e.updated)
		if err != nil {
			return nil, nil, err
		}
		s.meta.Store(&m)
		return m, s, nil
	}
	raw, err := x.raw(e)
	if err != nil {
		return nil, nil, err
	}
	m, err := versioned(raw, e.version, e.updated)
	return m, nil, err
}

// memStored returns what an index in memory holds of e's version.
func (x *index) memStored(e *entry) (*stored, error) {
	x.mu.RLock()
	s := x.mem[e.key]
	x.mu.RUnlock()
	if s == nil || s.Version != e.version {
		return nil, ptoy.E("fhir.index", ptoy.NotFound, "the resource left the index")
	}
	return s, nil
}

func (x *index) raw(e *entry) ([]byte, error) {
	if x.mem != nil {
		s, err := x.memStored(e)
		if err != nil {
			return nil, err
		}
		return s.Raw, nil
	}
	sk := x.storeKey(e.key)
	v, closer, err := x.db.Get(sk)
	if err == pebble.ErrNotFound {
		return nil, ptoy.E("fhir.index", ptoy.NotFound, "the resource left the index")
	}
	if err != nil {
		return nil, ptoy.E("fhir.index", ptoy.Unavailable, err)
	}
	s, err := x.open(sk, v)
	closer.Close()
	if err != nil {
		return nil, err
	}
	if s.Version != e.version {
		return nil, ptoy.E("fhir.index", ptoy.Unavailable, "the resource changed while it was read; ask again")
	}
	return s.Raw, nil
}

// get returns the record's entry.
func (x *index) get(k recKey) *entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.byKey[k]
}

// byReference returns the entries named "Type/id".
func (x *index) byReference(ref string) []*entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return append([]*entry(nil), x.byRef[ref]...)
}

// patients returns every patient with indexed records.
func (x *index) patients() []ptoy.ID {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]ptoy.ID, 0, len(x.byPatient))
	for p := range x.byPatient {
		out = append(out, p)
	}
	return out
}

// candidates calls fn for each entry of type t, of patient if not zero,
// under the read lock: fn must not call back into the index.
func (x *index) candidates(t string, patient ptoy.ID, fn func(*entry)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !patient.IsZero() {
		for _, e := range x.byPatient[patient] {
			if e.typ == t {
				fn(e)
			}
		}
		return
	}
	for _, e := range x.byType[t] {
		fn(e)
	}
}

// size is the number of indexed records.
func (x *index) size() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byKey)
}

// sealBytes seals b under the index key, bound to the store key k.
func (x *index) sealBytes(k, b []byte) []byte {
	out := make([]byte, x.aead.NonceSize(), x.aead.NonceSize()+len(b)+x.aead.Overhead())
	rand.Read(out)
	return x.aead.Seal(out, out, b, k)
}

// openBytes opens what sealBytes sealed under k.
func (x *index) openBytes(k, v []byte) ([]byte, error) {
	n := x.aead.NonceSize()
	if len(v) < n {
		return nil, ptoy.E("fhir.index", ptoy.Other, "a sealed value is short")
	}
	b, err := x.aead.Open(nil, v[:n], v[n:], k)
	if err != nil {
		return nil, ptoy.E("fhir.index", ptoy.Other, "a sealed value does not open", err)
	}
	return b, nil
}

// byRecord returns the entries with ledger id rec (one per patient at
// most, normally one).
func (x *index) byRecord(rec []byte) []*entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []*entry
	for _, m := range x.byPatient {
		if e := m[[16]byte(rec)]; e != nil {
			out = append(out, e)
		}
	}
	return out
}

// tombstone is what the index keeps of a record erased since it was
// indexed: enough for an export with _since to report it deleted.
type tombstone struct {
	Type   string `json:"t"`
	ID     string `json:"i"`
	Labels uint32 `json:"l"`
	When   int64  `json:"w"` // unix nanoseconds
}

// tombPrefix is where tombstones live, beside the index: a reindex keeps
// them (the ledger cannot tell an erased record's type and id again).
var tombPrefix = []byte("tomb/")

func (x *index) tombKey(k recKey) []byte {
	b := append([]byte(nil), tombPrefix...)
	b = append(b, k.patient[:]...)
	return append(b, k.rec[:]...)
}

// bury records that e was erased at when (the store-backed index only).
func (x *index) bury(e *entry, when time.Time) {
	if x.mem != nil {
		return
	}
	b, _ := json.Marshal(tombstone{Type: e.typ, ID: e.id, Labels: e.labels, When: when.UnixNano()})
	k := x.tombKey(e.key)
	x.db.Set(k, x.sealBytes(k, b), pebble.NoSync)
}

// tombstones returns the patient's records erased at or after since.
func (x *index) tombstones(patient ptoy.ID, since time.Time) []tombstone {
	if x.mem != nil {
		return nil
	}
	lo := append(append([]byte(nil), tombPrefix...), patient[:]...)
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: kv.PrefixEnd(lo)})
	if err != nil {
		return nil
	}
	defer it.Close()
	var out []tombstone
	for it.First(); it.Valid(); it.Next() {
		b, err := x.openBytes(it.Key(), it.Value())
		var t tombstone
		if err == nil && json.Unmarshal(b, &t) == nil && !time.Unix(0, t.When).Before(since) {
			out = append(out, t)
		}
	}
	return out
}
