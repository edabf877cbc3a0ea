package fhir

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"ptoy"
	"ptoy/blob"
	"ptoy/consent"
	"ptoy/fhir/resource"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/internal/par"
	"ptoy/ledger"
	"ptoy/seal"
)

// sweepEvery is how often the index checks that its organisation may
// still read each patient it holds (grants expire with block time, not
// with a transaction).
const sweepEvery = 30 * time.Second

// queue is the set of patients whose records the index must bring up to
// date, filled from commits.
type queue struct {
	mu   sync.Mutex
	set  map[ptoy.ID]bool
	wake chan struct{}
}

func (q *queue) add(p ptoy.ID) {
	q.mu.Lock()
	q.set[p] = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) take() []ptoy.ID {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]ptoy.ID, 0, len(q.set))
	for p := range q.set {
		out = append(out, p)
	}
	clear(q.set)
	return out
}

// Run keeps the index current until ctx ends: it follows commits (new
// record versions of patients the organisation may read, grants to the
// organisation given or ended), brings every such patient up to date,
// and purges a patient as soon as the organisation may no longer read
// them.
func (s *Server) Run(ctx context.Context) {
	q := s.queue
	s.resync(q)
	close(s.started)
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		for _, p := range q.take() {
			if err := s.syncPatient(ctx, p); err != nil && ctx.Err() == nil {
				s.cfg.Log.Warn("fhir: indexing a patient's records failed; retried at the next sweep", "patient", p, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-tick.C:
			s.resync(q)
			s.sweepViews()
		}
	}
}

// committed follows each commit (subscribed in New, so that patients'
// own views are kept current before Run starts): it queues for the index
// every patient whose records, grant to the organisation or break-glass
// the commit wrote (Run brings them up to date), and marks the own view
// of a patient whose records it wrote.
func (s *Server) committed(c ledger.Committed) {
	s.views.mu.Lock()
	defer s.views.mu.Unlock()
	for _, w := range c.Writes {
		if p, _, _, ok := ledger.ParseRecordKey(w.Key); ok {
			if v := s.views.m[p]; v != nil {
				v.changes.Add(1)
			}
			if p != s.cfg.Org { // the organisation's holdings are not a patient's records
				s.queue.add(p)
			}
		} else if p, g, ok := ledger.ParseGrantKey(w.Key); ok && g == s.cfg.Org {
			s.queue.add(p)
		} else if p, ok := ledger.BreakGlassPatient(w); ok {
			s.queue.add(p)
		}
	}
}

// resync queues every patient who granted the organisation access and
// every patient the index holds (to purge those it no longer may read).
func (s *Server) resync(q *queue) {
	ps, err := s.cfg.Ledger.PatientsOf(s.cfg.Org)
	if err != nil {
		s.cfg.Log.Warn("fhir: listing the organisation's patients failed", "err", err)
	}
	for _, p := range ps {
		q.add(p)
	}
	for _, p := range s.idx.patients() {
		q.add(p)
	}
}

// orgMayRead reports whether the organisation itself may read any of
// the patient's records now (its grant is in force).
func (s *Server) orgMayRead(patient ptoy.ID) bool {
	gs, err := s.cfg.Ledger.Grant(patient, s.cfg.Org)
	if err != nil || gs == nil || gs.Status != pb.GrantStatus_GRANT_STATUS_ACTIVE {
		return false
	}
	now := s.cfg.Ledger.BlockTime().Unix()
	return gs.Grant.Expires == 0 || now < gs.Grant.Expires
}

// syncPatient brings the index up to date with the patient's records:
// each latest version the organisation's keys open is indexed, anything
// else of the patient's leaves the index.
//
// Without a grant in force, a break-glass of the organisation's that is
// open lets it hold the patient's emergency set (decrypted with the keys
// the escrow gives), for the emergency physician alone to read: the door
// decides each read. While the escrow's shares are still being released
// the patient is tried again shortly.
func (s *Server) syncPatient(ctx context.Context, patient ptoy.ID) error {
	var keys []seal.PrivateKey
	var err error
	if s.orgMayRead(patient) {
		keys, _, err = s.cfg.Vault.OrgKeys(ctx, patient)
	} else {
		keys, err = s.cfg.Vault.EmergencyKeys(ctx, patient)
		if ptoy.KindOf(err) == ptoy.Unavailable {
			time.AfterFunc(time.Second, func() { s.queue.add(patient) })
			return nil
		}
	}
	if ptoy.KindOf(err) == ptoy.NotFound {
		return s.idx.purge(patient)
	}
	if err != nil {
		return err
	}
	return s.syncInto(ctx, s.idx, patient, keys)
}

// syncInto brings x up to date with the patient's records that keys
// open: each latest version is indexed, anything else of the patient's
// leaves x.
func (s *Server) syncInto(ctx context.Context, x *index, patient ptoy.ID, keys []seal.PrivateKey) error {
	recs, err := s.cfg.Ledger.Records(patient)
	if err != nil {
		return err
	}
	seen := map[[16]byte]bool{}
	var firstErr error
	type job struct {
		k  recKey
		st *pb.RecordState
	}
	var todo []job
	for _, st := range recs {
		var k recKey
		k.patient = patient
		copy(k.rec[:], st.Entry.Id)
		seen[k.rec] = true
		if st.Erased {
			if e := x.get(k); e != nil {
				x.bury(e, s.cfg.Ledger.BlockTime())
			}
			x.remove(k)
			continue
		}
		if e := x.get(k); e != nil && e.version == st.Entry.Version && e.hash == blob.Hash(st.Entry.Hash) {
			continue
		}
		todo = append(todo, job{k, st})
	}
	// Opening a record is an ML-KEM and an X25519 decapsulation: the
	// records are opened on every core.
	var mu sync.Mutex
	par.Each(len(todo), 0, func(i int) {
		j := todo[i]
		if e := x.get(j.k); e != nil && e.version > j.st.Entry.Version {
			return // written through this node since the listing
		}
		if err := s.indexRecord(ctx, x, j.k, j.st, keys); err != nil {
			x.removeUpTo(j.k, j.st.Entry.Version)
			mu.Lock()
			if ptoy.KindOf(err) == ptoy.Unavailable && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	})
	x.mu.RLock()
	var gone []recKey
	for rec := range x.byPatient[patient] {
		if !seen[rec] {
			gone = append(gone, recKey{patient, rec})
		}
	}
	x.mu.RUnlock()
	for _, k := range gone {
		// Gone from the ledger's listing: erased, unless it was written
		// since the listing was read (a write through this node indexes
		// its record itself, and its commit queues the patient again).
		if st, err := s.cfg.Ledger.Record(patient, k.rec[:], 0); err == nil && st != nil && !st.Erased {
			continue
		}
		if e := x.get(k); e != nil {
			x.bury(e, s.cfg.Ledger.BlockTime())
		}
		x.remove(k)
	}
	return firstErr
}

// indexRecord decrypts one record version with the organisation's keys
// and indexes it. A record that is not a FHIR resource of a stored type
// (a document, a note in another format) is not indexed.
func (s *Server) indexRecord(ctx context.Context, x *index, k recKey, st *pb.RecordState, keys []seal.PrivateKey) error {
	ct, err := s.cfg.Vault.Ciphertext(ctx, k.patient, st)
	if err != nil {
		return err
	}
	ref := seal.Ref{ID: k.rec, Version: st.Entry.Version}
	plain, err := seal.OpenBytes(ct, ref, func(c seal.Category, epoch uint32) (seal.PrivateKey, error) {
		for _, key := range keys {
			if key.Category == c && key.Epoch == epoch {
				return key, nil
			}
		}
		return seal.PrivateKey{}, ptoy.E("fhir", ptoy.PermissionDenied, "the organisation holds no key for this record")
	})
	if err != nil {
		return err
	}
	res, err := decodeMap(plain)
	if err != nil {
		return err
	}
	typ, _ := res["resourceType"].(string)
	if _, ok := categoryOf[typ]; !ok {
		return ptoy.E("fhir", ptoy.Invalid, fmt.Sprintf("record %x is not a stored FHIR resource", k.rec[:4]))
	}
	id, _ := res["id"].(string)
	if id == "" || resource.ValidID(id) != nil {
		// Written by a client that gave it no id: its FHIR id is its
		// ledger id, and it is answered with it.
		id = hex.EncodeToString(k.rec[:])
		res["id"] = id
		if plain, err = json.Marshal(res); err != nil {
			return ptoy.E("fhir", ptoy.Other, err)
		}
	}
	_, err = x.put(k, &stored{Version: st.Entry.Version, Hash: blob.Hash(st.Entry.Hash), Type: typ, ID: id,
		Cat: st.Entry.Category, Labels: st.Entry.Labels | consent.Bit(st.Entry.Category), Updated: st.Time * int64(time.Second), Raw: plain})
	return err
}
