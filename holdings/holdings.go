// Package holdings keeps an organisation's holdings: the records its EHR
// synced into the network about people who are not (yet) linked to a
// patient of it, and the record locator that links them.
//
// A held record is filed on the ledger under the organisation itself
// (PutRecords with patient = org) and sealed to the organisation's own
// encryption key, so the ledger learns how many records of which
// categories the organisation holds and nothing of whose they are. Its
// id is derived from its source identity (source, resource type and id)
// with a key only the node knows, so that syncing the same resource again
// finds it: unchanged, nothing is written; changed, a new version.
//
// The node keeps, in its own store and sealed, what it needs to match and
// link: each held record's source reference, version, content digest,
// category and year, and each source patient's demographics. When a
// patient asks "find my records", their demographics are matched against
// the source patients (package match); a link proposes the source
// patient's records to them (how many, of which categories, over which
// years), a review-band match goes to the organisation's review queue.
// When the patient confirms, each held record's data key is re-sealed to
// the patient's category key (seal.Rewrap: the body is not re-encrypted)
// and the records are filed under the patient, written by the
// organisation.
package holdings

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/crypto/chacha20poly1305"

	"ptoy"
	"ptoy/blob"
	"ptoy/consent"
	"ptoy/door"
	"ptoy/fhir"
	"ptoy/fhir/resource"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/internal/par"
	"ptoy/kv"
	"ptoy/match"
	"ptoy/seal"
	"ptoy/tx"
)

// Ledger is what holdings reads of the committed state.
type Ledger interface {
	Record(patient ptoy.ID, id []byte, version uint32) (*pb.RecordState, error)
	Account(id ptoy.ID) (*pb.Account, error)
}

// Config configures an organisation's holdings at its node.
type Config struct {
	Org    ptoy.ID
	OrgKEM hpke.PrivateKey // the organisation's encryption key: held records are sealed to it
	Ledger Ledger
	Blobs  blob.Store // where new ciphertext is put before it is committed
	// Ciphertext returns a committed record version's ciphertext.
	Ciphertext func(ctx context.Context, patient ptoy.ID, st *pb.RecordState) ([]byte, error)
	// PublicKeys returns a patient's published category keys.
	PublicKeys func(ctx context.Context, patient ptoy.ID) ([]seal.PublicKey, error)
	// Submit signs body as the organisation and commits it.
	Submit func(ctx context.Context, body *pb.Body) (*pb.SubmitResponse, error)
	Door   *door.Door
	// DB, Prefix and Key: the node's store, the prefix of the holdings'
	// keys, and the 32-byte key that seals their values.
	DB     *pebble.DB
	Prefix []byte
	Key    []byte
	Log    *slog.Logger
	Now    func() time.Time
	// Model scores matches; nil: fitted on the holdings' own people
	// (EM), or a reference model while they are too few to fit.
	Model *match.Model
}

// Holdings is an organisation's held records and its record locator.
type Holdings struct {
	cfg   Config
	aead  aead
	idKey []byte
	pub   map[pb.Category]seal.PublicKey

	imp sync.Mutex // one import or link at a time

	mu        sync.RWMutex
	recs      map[[16]byte]*heldRec
	bySubject map[[16]byte][][16]byte
	subjects  map[[16]byte]*heldSubject
	proposals map[ptoy.ID]map[[16]byte]*proposal
	index     *match.Index
	order     [][16]byte   // subjects in index order
	model     *match.Model // the index's
	fitted    *match.Model // fitted on the people here (nil: not yet)
	fittedOn  int          // how many people fitted was fitted on
	fitting   bool         // a fit runs in the background
	dirty     bool
}

// heldRec is what the node keeps of a held record (sealed in its store).
type heldRec struct {
	Source  string      `json:"src"`
	Ref     string      `json:"ref"` // "Type/id" at the source
	Subject [16]byte    `json:"subj"`
	Version uint32      `json:"v"`
	Digest  []byte      `json:"d"` // SHA-256 of the resource as synced, without meta
	Cat     pb.Category `json:"c"`
	Labels  uint32      `json:"l"`
	Year    int         `json:"y,omitempty"`
	// Linked is the patient the record was filed under by a confirmed
	// link, and LinkedVersion the held version it was filed from.
	Linked        []byte `json:"lp,omitempty"`
	LinkedVersion uint32 `json:"lv,omitempty"`
}

// heldSubject is a source patient: their demographics, for matching.
type heldSubject struct {
	Source string       `json:"src"`
	Ref    string       `json:"ref"`
	Person match.Person `json:"p"`
	Linked []byte       `json:"lp,omitempty"`
}

// Proposal statuses.
const (
	Proposed  = "proposed"
	Confirmed = "confirmed"
	Rejected  = "rejected"
	InReview  = "review"
)

// proposal is a match of a patient to a source patient, and what became
// of it.
type proposal struct {
	Status string    `json:"s"`
	Score  float64   `json:"sc"`
	Time   time.Time `json:"t"`
	Linked int       `json:"n,omitempty"`
}

// Store layout under Prefix; every value sealed, bound to its key.
const (
	keyRec      = 'r' // + record id (16)
	keySubject  = 's' // + subject (16)
	keyProposal = 'p' // + patient (20) + subject (16)
)

// New opens the holdings kept in cfg.DB.
func New(cfg Config) (*Holdings, error) {
	const op = "holdings.New"
	if cfg.Ledger == nil || cfg.Blobs == nil || cfg.Ciphertext == nil || cfg.PublicKeys == nil || cfg.Submit == nil || cfg.Door == nil || cfg.DB == nil || cfg.OrgKEM == nil {
		return nil, ptoy.E(op, ptoy.Invalid, "holdings need the ledger, blobs, door, store, submitter and the organisation's key")
	}
	if len(cfg.Key) != chacha20poly1305.KeySize {
		return nil, ptoy.E(op, ptoy.Invalid, "the holdings key is not 32 bytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	sealKey, err := hkdf.Key(sha256.New, cfg.Key, nil, "ptoy holdings seal v1", 32)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	idKey, err := hkdf.Key(sha256.New, cfg.Key, nil, "ptoy holdings ids v1", 32)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	a, err := chacha20poly1305.NewX(sealKey)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	h := &Holdings{cfg: cfg, aead: aead{a}, idKey: idKey, pub: map[pb.Category]seal.PublicKey{},
		recs: map[[16]byte]*heldRec{}, bySubject: map[[16]byte][][16]byte{}, subjects: map[[16]byte]*heldSubject{},
		proposals: map[ptoy.ID]map[[16]byte]*proposal{}, dirty: true}
	if err := h.load(); err != nil {
		return nil, err
	}
	return h, nil
}

// load reads the store into memory.
func (h *Holdings) load() error {
	lo := h.cfg.Prefix
	it, err := h.cfg.DB.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: kv.PrefixEnd(lo)})
	if err != nil {
		return ptoy.E("holdings.load", ptoy.Unavailable, err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()[len(lo):]
		if len(k) == 0 {
			continue
		}
		plain, err := h.aead.open(it.Key(), it.Value())
		if err != nil {
			h.cfg.Log.Warn("holdings: a sealed entry does not open; skipped", "err", err)
			continue
		}
		switch {
		case k[0] == keyRec && len(k) == 17:
			r := new(heldRec)
			if json.Unmarshal(plain, r) == nil {
				id := [16]byte(k[1:])
				h.recs[id] = r
				h.bySubject[r.Subject] = append(h.bySubject[r.Subject], id)
			}
		case k[0] == keySubject && len(k) == 17:
			s := new(heldSubject)
			if json.Unmarshal(plain, s) == nil {
				h.subjects[[16]byte(k[1:])] = s
			}
		case k[0] == keyProposal && len(k) == 1+ptoy.IDLen+16:
			p := new(proposal)
			if json.Unmarshal(plain, p) == nil {
				h.proposalsOf(ptoy.ID(k[1 : 1+ptoy.IDLen]))[[16]byte(k[1+ptoy.IDLen:])] = p
			}
		}
	}
	return it.Error()
}

func (h *Holdings) proposalsOf(patient ptoy.ID) map[[16]byte]*proposal {
	m := h.proposals[patient]
	if m == nil {
		m = map[[16]byte]*proposal{}
		h.proposals[patient] = m
	}
	return m
}

func (h *Holdings) key(kind byte, parts ...[]byte) []byte {
	k := append(bytes.Clone(h.cfg.Prefix), kind)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// put adds a sealed JSON value to batch b.
func (h *Holdings) put(b *pebble.Batch, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return ptoy.E("holdings", ptoy.Other, err)
	}
	return b.Set(k, h.aead.seal(k, raw), nil)
}

// id derives a 16-byte id from a source identity.
func (h *Holdings) id(kind, source, ref string) [16]byte {
	m := hmac.New(sha256.New, h.idKey)
	m.Write([]byte(kind + "\x00" + source + "\x00" + ref))
	return [16]byte(m.Sum(nil))
}

// orgPublic is the organisation's key as the category key of cat.
func (h *Holdings) orgPublic(cat pb.Category) seal.PublicKey {
	return seal.PublicKey{Category: seal.Category(cat), Alg: h.cfg.OrgKEM.KEM().ID(), Key: h.cfg.OrgKEM.PublicKey().Bytes()}
}

// orgPrivate is the organisation's key as the category key of cat.
func (h *Holdings) orgPrivate(cat seal.Category) (seal.PrivateKey, error) {
	b, err := h.cfg.OrgKEM.Bytes()
	if err != nil {
		return seal.PrivateKey{}, ptoy.E("holdings", ptoy.Other, err)
	}
	return seal.PrivateKey{Category: cat, Alg: h.cfg.OrgKEM.KEM().ID(), Key: b}, nil
}

// ---- import ----

// Limits of an import batch.
const (
	MaxBatch = 5000
	// maxPut bounds the records of one PutRecords.
	maxPut = 500
)

// Failure is a resource an import did not take, and why.
type Failure struct {
	Index  int    `json:"index"` // its position in the batch, from 0
	Ref    string `json:"ref,omitempty"`
	Reason string `json:"reason"`
}

// Result is what an import did.
type Result struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Forwarded counts the new and changed records of source patients
	// already linked to a patient that were filed for that patient too.
	Forwarded int       `json:"forwarded,omitempty"`
	Failed    []Failure `json:"failed,omitempty"`
}

// toWrite is one resource of an import that needs a new version.
type toWrite struct {
	id      [16]byte
	rec     *heldRec
	raw     []byte
	subject *heldSubject // set for a Patient
	created bool
	ct      []byte
	entry   *pb.RecordEntry
}

// Import files a batch of resources from source (an EHR, named by the
// organisation) as held records: each is validated, and its patient is
// the source patient its compartment reference names ("Patient/<id>", as
// the source has it). A resource already held and unchanged is left as it
// is; a changed one gets a new version. Resources that do not validate
// are listed in the result with the reason, and the rest are filed. The
// batch is committed in one or a few PutRecords; when Import returns
// without an error, everything it counts is committed and durable here.
func (h *Holdings) Import(ctx context.Context, source string, raws [][]byte) (*Result, error) {
	const op = "holdings.Import"
	if source == "" || len(source) > 200 {
		return nil, ptoy.E(op, ptoy.Invalid, "an import names its source (1 to 200 characters)")
	}
	if len(raws) > MaxBatch {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("an import batch holds at most %d resources", MaxBatch))
	}
	// Validation is most of an import's work: it runs on every core, and
	// before the batch waits for the one before it to commit, so that a
	// sync sending its next batch early has it validated meanwhile.
	checked := make([]*toWrite, len(raws))
	errs := make([]error, len(raws))
	par.Each(len(raws), 0, func(i int) { checked[i], errs[i] = h.check(source, raws[i]) })
	h.imp.Lock()
	defer h.imp.Unlock()
	res := &Result{}
	var ws []*toWrite
	seen := map[[16]byte]int{}
	for i, raw := range raws {
		w, err := checked[i], errs[i]
		if err != nil {
			res.Failed = append(res.Failed, Failure{Index: i, Ref: refOf(raw), Reason: ptoy.Message(err)})
			continue
		}
		if j, dup := seen[w.id]; dup {
			// The same resource twice in a batch: the later one wins.
			ws[j] = nil
		}
		seen[w.id] = len(ws)
		ws = append(ws, w)
	}
	ws = slices.DeleteFunc(ws, func(w *toWrite) bool { return w == nil })
	// Which are new, which changed: the node's own entry, else the
	// ledger (a batch committed just before a crash, whose entries were
	// not written here).
	var out []*toWrite
	for _, w := range ws {
		changed, err := h.changed(ctx, w)
		if err != nil {
			return nil, err
		}
		if !changed {
			res.Unchanged++
			continue
		}
		out = append(out, w)
	}
	if err := h.sealAll(out); err != nil {
		return nil, err
	}
	// The PutRecords of a batch go out together: the node signs them at
	// consecutive sequences and the ledger commits them in the same
	// block or the next, instead of a block each.
	var (
		wg    sync.WaitGroup
		emu   sync.Mutex
		first error
	)
	for start := 0; start < len(out); start += maxPut {
		part := out[start:min(start+maxPut, len(out))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.commit(ctx, part); err != nil {
				emu.Lock()
				first = cmp.Or(first, err)
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	for _, w := range out {
		if w.created {
			res.Created++
		} else {
			res.Updated++
		}
	}
	res.Forwarded = h.forward(ctx, out)
	// Patients whose resources were unchanged may still be missing
	// their entry here (recovered from the ledger above): write them.
	b := h.cfg.DB.NewBatch()
	defer b.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range ws {
		if w.entry != nil {
			continue // written by commit
		}
		if old, ok := h.recs[w.id]; !ok || old.Version != w.rec.Version {
			if err := h.remember(b, w); err != nil {
				return nil, err
			}
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, ptoy.E(op, ptoy.Unavailable, err)
	}
	return res, nil
}

// refOf names a resource in a failure, if it can be read at all.
func refOf(raw []byte) string {
	typ, id := resource.TypeAndID(raw)
	if typ == "" {
		return ""
	}
	return typ + "/" + id
}

// check validates one resource and works out its ids.
func (h *Holdings) check(source string, raw []byte) (*toWrite, error) {
	const op = "holdings.Import"
	r, err := resource.Parse(raw)
	if err != nil {
		return nil, err
	}
	if r.ID == "" {
		return nil, ptoy.E(op, ptoy.Invalid, "the resource has no id: a synced resource keeps its source's id")
	}
	cat, labels, pref, ok := fhir.Classify(r)
	if !ok {
		return nil, ptoy.E(op, ptoy.Invalid, r.Type+" is not kept as a record")
	}
	if len(pref) <= len("Patient/") || pref[:len("Patient/")] != "Patient/" {
		return nil, ptoy.E(op, ptoy.Invalid, "the resource names no patient (its reference is not Patient/<id>)")
	}
	ref := r.Type + "/" + r.ID
	plain := resource.Without(raw, "meta")
	d := sha256.Sum256(plain)
	w := &toWrite{
		id:  h.id("rec", source, ref),
		raw: raw,
		rec: &heldRec{Source: source, Ref: ref, Subject: h.id("subject", source, pref), Digest: d[:],
			Cat: cat, Labels: labels, Year: yearOf(r.Map)},
	}
	if r.Type == "Patient" {
		w.subject = &heldSubject{Source: source, Ref: pref, Person: PersonOf(pref, r.Map)}
	}
	return w, nil
}

// changed reports whether w differs from what is held, and sets its
// version. The node's own entry answers when it is current; the ledger
// when the node has none or the ledger is ahead of it (a batch committed
// just before a crash, whose entries were not written here).
func (h *Holdings) changed(ctx context.Context, w *toWrite) (bool, error) {
	h.mu.RLock()
	old := h.recs[w.id]
	h.mu.RUnlock()
	if old != nil {
		w.rec.Linked, w.rec.LinkedVersion = old.Linked, old.LinkedVersion
		if bytes.Equal(old.Digest, w.rec.Digest) {
			w.rec.Version = old.Version
			return false, nil
		}
	}
	st, err := h.cfg.Ledger.Record(h.cfg.Org, w.id[:], 0)
	if ptoy.KindOf(err) == ptoy.NotFound {
		w.rec.Version, w.created = 1, true
		return true, nil
	}
	if err != nil {
		return false, err
	}
	w.rec.Version = st.Entry.Version
	if old == nil || old.Version < st.Entry.Version {
		plain, err := h.open(ctx, w.id, st)
		if err != nil {
			return false, err
		}
		d := sha256.Sum256(resource.Without(plain, "meta"))
		if bytes.Equal(d[:], w.rec.Digest) {
			return false, nil
		}
	}
	w.rec.Version++
	return true, nil
}

// open decrypts a held record version.
func (h *Holdings) open(ctx context.Context, id [16]byte, st *pb.RecordState) ([]byte, error) {
	ct, err := h.cfg.Ciphertext(ctx, h.cfg.Org, st)
	if err != nil {
		return nil, err
	}
	k, err := h.orgPrivate(seal.Category(st.Entry.Category))
	if err != nil {
		return nil, err
	}
	return seal.OpenBytes(ct, seal.Ref{ID: id, Version: st.Entry.Version}, func(seal.Category, uint32) (seal.PrivateKey, error) { return k, nil })
}

// sealAll seals each resource to the organisation's key, on every core.
func (h *Holdings) sealAll(ws []*toWrite) error {
	workers := min(runtime.GOMAXPROCS(0), len(ws))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sealers := map[pb.Category]*seal.Sealer{}
			for i := g; i < len(ws); i += workers {
				w := ws[i]
				sc := consent.SealCategory(w.rec.Cat, w.rec.Labels)
				se := sealers[sc]
				if se == nil {
					var err error
					if se, err = seal.NewSealer(h.orgPublic(sc)); err != nil {
						mu.Lock()
						first = cmp.Or(first, err)
						mu.Unlock()
						return
					}
					sealers[sc] = se
				}
				ct, err := se.SealBytes(w.raw, seal.Ref{ID: w.id, Version: w.rec.Version})
				if err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
					return
				}
				hash := blob.Sum(ct)
				w.ct = ct
				w.entry = &pb.RecordEntry{Id: w.id[:], Version: w.rec.Version, Category: sc,
					Labels: w.rec.Labels | consent.Bit(w.rec.Cat), Hash: hash[:], Size: uint64(len(ct))}
			}
		}()
	}
	wg.Wait()
	return first
}

// commit puts the ciphertext of ws, commits them in one PutRecords under
// the organisation, and remembers them.
func (h *Holdings) commit(ctx context.Context, ws []*toWrite) error {
	const op = "holdings.Import"
	if len(ws) == 0 {
		return nil
	}
	m := &pb.PutRecords{Patient: h.cfg.Org.Bytes(), Org: h.cfg.Org.Bytes()}
	for _, w := range ws {
		m.Records = append(m.Records, w.entry)
	}
	if err := h.putBlobs(ctx, ws); err != nil {
		return err
	}
	if err := h.submit(ctx, op, &pb.Body{Msg: &pb.Body_PutRecords{PutRecords: m}}); err != nil {
		return err
	}
	b := h.cfg.DB.NewBatch()
	defer b.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range ws {
		if err := h.remember(b, w); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return ptoy.E(op, ptoy.Unavailable, err)
	}
	return nil
}

// forward files the new and changed records of linked source patients
// for their patient: a new record as its version 1, a changed one as the
// patient's copy's next version, sealed to the patient's category keys.
// It needs the patient's leave to write them; without it (the grant the
// link gave has ended) the records stay held, as they are, and the next
// link or sync forwards them. It returns how many it filed.
func (h *Holdings) forward(ctx context.Context, ws []*toWrite) int {
	const op = "holdings.forward"
	by := map[ptoy.ID][]*toWrite{}
	h.mu.RLock()
	for _, w := range ws {
		if s := h.subjects[w.rec.Subject]; s != nil && len(s.Linked) == ptoy.IDLen {
			p := ptoy.ID(s.Linked)
			by[p] = append(by[p], w)
		}
	}
	h.mu.RUnlock()
	n := 0
	for patient, list := range by {
		pubs, err := h.cfg.PublicKeys(ctx, patient)
		if err != nil {
			h.cfg.Log.Warn("holdings: a linked patient's keys could not be read; records stay held", "err", err)
			continue
		}
		var fw []*toWrite
		for _, w := range list {
			sc := consent.SealCategory(w.rec.Cat, w.rec.Labels)
			to, ok := seal.Latest(pubs, seal.Category(sc))
			if !ok {
				continue
			}
			v := uint32(1)
			if st, err := h.cfg.Ledger.Record(patient, w.id[:], 0); err == nil {
				v = st.Entry.Version + 1
			}
			ct, err := seal.SealBytes(w.raw, seal.Ref{ID: w.id, Version: v}, to)
			if err != nil {
				continue
			}
			hash := blob.Sum(ct)
			fw = append(fw, &toWrite{id: w.id, rec: w.rec, ct: ct, entry: &pb.RecordEntry{Id: w.id[:], Version: v, Category: sc,
				Labels: w.rec.Labels | consent.Bit(w.rec.Cat), Hash: hash[:], Size: uint64(len(ct))}})
		}
		for start := 0; start < len(fw); start += maxPut {
			part := fw[start:min(start+maxPut, len(fw))]
			m := &pb.PutRecords{Patient: patient.Bytes(), Org: h.cfg.Org.Bytes()}
			for _, w := range part {
				m.Records = append(m.Records, w.entry)
			}
			if err := h.putBlobs(ctx, part); err != nil {
				h.cfg.Log.Warn("holdings: forwarding to a linked patient failed; records stay held", "err", err)
				break
			}
			if err := h.submit(ctx, op, &pb.Body{Msg: &pb.Body_PutRecords{PutRecords: m}}); err != nil {
				h.cfg.Log.Info("holdings: a linked patient's records stay held", "reason", ptoy.Message(err))
				break
			}
			b := h.cfg.DB.NewBatch()
			h.mu.Lock()
			for _, w := range part {
				w.rec.Linked, w.rec.LinkedVersion = patient.Bytes(), w.rec.Version
				h.put(b, h.key(keyRec, w.id[:]), w.rec)
			}
			h.mu.Unlock()
			b.Commit(pebble.Sync)
			b.Close()
			n += len(part)
		}
	}
	return n
}

// remember records w in batch b and in memory (h.mu held).
func (h *Holdings) remember(b *pebble.Batch, w *toWrite) error {
	if _, ok := h.recs[w.id]; !ok {
		h.bySubject[w.rec.Subject] = append(h.bySubject[w.rec.Subject], w.id)
	}
	h.recs[w.id] = w.rec
	if err := h.put(b, h.key(keyRec, w.id[:]), w.rec); err != nil {
		return err
	}
	if w.subject != nil {
		if old := h.subjects[w.rec.Subject]; old != nil {
			w.subject.Linked = old.Linked
		}
		h.subjects[w.rec.Subject] = w.subject
		h.dirty = true
		return h.put(b, h.key(keySubject, w.rec.Subject[:]), w.subject)
	}
	return nil
}

// putBlobs stores the ciphertext of ws here, durably: with one synced
// write where the store can (blob.PutAll).
func (h *Holdings) putBlobs(ctx context.Context, ws []*toWrite) error {
	bs := make([]blob.Content, len(ws))
	for i, w := range ws {
		bs[i] = blob.Content{Hash: blob.Hash(w.entry.Hash), Data: w.ct}
	}
	return blob.PutAll(ctx, h.cfg.Blobs, bs, 16)
}

// submit commits body as the organisation; a refusal is an error of its
// kind with the ledger's words.
func (h *Holdings) submit(ctx context.Context, op string, body *pb.Body) error {
	resp, err := h.cfg.Submit(ctx, body)
	if err != nil {
		return err
	}
	if resp.Code != 0 {
		return tx.Err(op, resp.Code, resp.Log)
	}
	return nil
}

// ---- what is held ----

// Held is one held record as the node knows it (no content).
type Held struct {
	Source  string `json:"source"`
	Ref     string `json:"ref"`
	Version uint32 `json:"version"`
	Digest  string `json:"digest"` // hex SHA-256 of the resource without meta
	Linked  bool   `json:"linked,omitempty"`
}

// Summary counts what is held.
type Summary struct {
	Records  int `json:"records"`
	Patients int `json:"patients"`
	Linked   int `json:"linked"`
}

// Summary counts the held records and source patients.
func (h *Holdings) Summary() Summary {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s := Summary{Records: len(h.recs), Patients: len(h.subjects)}
	for _, sub := range h.subjects {
		if len(sub.Linked) > 0 {
			s.Linked++
		}
	}
	return s
}

// List returns the held records of a source ("" for every source),
// sorted by source and reference.
func (h *Holdings) List(source string) []Held {
	h.mu.RLock()
	out := make([]Held, 0, len(h.recs))
	for _, r := range h.recs {
		if source == "" || r.Source == source {
			out = append(out, Held{Source: r.Source, Ref: r.Ref, Version: r.Version, Digest: hex.EncodeToString(r.Digest), Linked: len(r.Linked) > 0})
		}
	}
	h.mu.RUnlock()
	slices.SortFunc(out, func(a, b Held) int { return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Ref, b.Ref)) })
	return out
}

// Digest returns the digest Import keeps of a resource: SHA-256 of its
// JSON without meta, hex.
func Digest(raw []byte) string {
	d := sha256.Sum256(resource.Without(raw, "meta"))
	return hex.EncodeToString(d[:])
}

// ---- sealing the store ----

type aead struct {
	a interface {
		NonceSize() int
		Overhead() int
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
}

func (x aead) seal(k, b []byte) []byte {
	out := make([]byte, x.a.NonceSize(), x.a.NonceSize()+len(b)+x.a.Overhead())
	rand.Read(out)
	return x.a.Seal(out, out, b, k)
}

func (x aead) open(k, v []byte) ([]byte, error) {
	n := x.a.NonceSize()
	if len(v) < n {
		return nil, ptoy.E("holdings", ptoy.Other, "a sealed value is short")
	}
	b, err := x.a.Open(nil, v[:n], v[n:], k)
	if err != nil {
		return nil, ptoy.E("holdings", ptoy.Other, "a sealed value does not open", err)
	}
	return b, nil
}
