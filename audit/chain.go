package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"ptoy"
	"ptoy/store"
)

// A batch's inclusion proofs show that the events a node lists are
// genuine; they do not show that the list is complete. For that, the log
// keeps per patient a hash chain over the patient's events in Seq order,
//
//	head_0 = 32 zero bytes
//	head_n = SHA-256(0x02 || head_{n-1} || leaf hash of event n)
//
// and each batch commits, for every patient with events in it, the
// patient's count and chain head at the end of the batch: a ChainEntry.
// Batch.Patients is the RFC 6962 Merkle root over the entries' leaf
// hashes, SHA-256(0x00 || patient(20) || count(8) || head(32)), in patient
// order, and the node anchors it beside Root. A patient who is served
// events up to batch B, with the proof of their entry in B (ChainProof),
// recomputes the chain (VerifyChain): an event of theirs left out of the
// list, in B or before, no longer matches the anchored head. (A node can
// still withhold every event after the last batch it reports; the
// entries bound what is before.)

// ChainEntry is a patient's event count and chain head at the end of a
// batch.
type ChainEntry struct {
	Patient ptoy.ID
	Count   uint64
	Head    [32]byte
}

// ChainProof shows that Entry is in batch Batch's patients tree: it is
// leaf Index of Size, with Path its RFC 6962 audit path.
type ChainProof struct {
	Batch       uint64
	Entry       ChainEntry
	Index, Size uint64
	Path        [][32]byte
}

// Chain returns the count and chain head of events, which must be one
// patient's events of one node in Seq order.
func Chain(events []Event) (count uint64, head [32]byte) {
	for _, e := range events {
		head = chainStep(head, e.LeafHash())
	}
	return uint64(len(events)), head
}

func chainStep(head, leaf [32]byte) [32]byte {
	var buf [1 + 64]byte
	buf[0] = 0x02
	copy(buf[1:], head[:])
	copy(buf[33:], leaf[:])
	return sha256.Sum256(buf[:])
}

func (en ChainEntry) leaf() [32]byte {
	b := make([]byte, 0, ptoy.IDLen+8+32)
	b = append(b, en.Patient[:]...)
	b = binary.BigEndian.AppendUint64(b, en.Count)
	return leafHash(append(b, en.Head[:]...))
}

// state is the stored value of an entry: count(8) head(32).
func (en ChainEntry) state() []byte {
	return append(be64(en.Count), en.Head[:]...)
}

func decodeState(op string, p ptoy.ID, v []byte) (ChainEntry, error) {
	if len(v) != 40 {
		return ChainEntry{}, ptoy.E(op, ptoy.Other, "audit log is damaged: bad chain record")
	}
	en := ChainEntry{Patient: p, Count: binary.BigEndian.Uint64(v)}
	copy(en.Head[:], v[8:])
	return en, nil
}

func chainKey(p ptoy.ID) []byte { return append([]byte{prefixChain}, p[:]...) }

func entryKey(batch uint64, p ptoy.ID) []byte { return append(key8(prefixEntry, batch), p[:]...) }

// entriesRoot is the patients' root of a batch's entries (sorted by
// patient); zero for none.
func entriesRoot(entries []ChainEntry) [32]byte {
	if len(entries) == 0 {
		return [32]byte{}
	}
	leaves := make([][32]byte, len(entries))
	for i, en := range entries {
		leaves[i] = en.leaf()
	}
	return merkleRoot(leaves)
}

// batchLeaves reads batch b's stored events in order and returns their
// leaf hashes and patients; it stops at the first gap, and a stored event
// that does not decode is an error.
func (l *Log) batchLeaves(ctx context.Context, op string, b Batch) ([][32]byte, []ptoy.ID, error) {
	leaves := make([][32]byte, 0, b.Count)
	patients := make([]ptoy.ID, 0, b.Count)
	next := b.First
	err := l.db.Scan(eventKey(b.First), eventKey(b.Last+1), func(k, v []byte) error {
		if len(leaves)%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return ptoy.E(op, ptoy.Unavailable, err)
			}
		}
		seq := binary.BigEndian.Uint64(k[1:])
		if seq != next {
			return stopScan{}
		}
		next++
		e, err := DecodeEvent(v)
		if err != nil || e.Seq != seq {
			return ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: stored event %d is corrupt", seq))
		}
		leaves = append(leaves, leafHash(v))
		patients = append(patients, e.Patient)
		return nil
	})
	if err != nil && !errors.Is(err, stopScan{}) {
		return nil, nil, wrap(op, err)
	}
	return leaves, patients, nil
}

// advanceChains extends the stored chains of the patients by the events
// (leaves[i] is an event of patients[i], in Seq order) and returns the
// new entries, sorted by patient.
func (l *Log) advanceChains(op string, patients []ptoy.ID, leaves [][32]byte) ([]ChainEntry, error) {
	cur := map[ptoy.ID]*ChainEntry{}
	for i, p := range patients {
		en := cur[p]
		if en == nil {
			v, err := l.db.Get(chainKey(p))
			if err != nil {
				return nil, wrap(op, err)
			}
			e := ChainEntry{Patient: p}
			if v != nil {
				if e, err = decodeState(op, p, v); err != nil {
					return nil, err
				}
			}
			en = &e
			cur[p] = en
		}
		en.Count++
		en.Head = chainStep(en.Head, leaves[i])
	}
	out := make([]ChainEntry, 0, len(cur))
	for _, en := range cur {
		out = append(out, *en)
	}
	slices.SortFunc(out, func(a, b ChainEntry) int { return bytes.Compare(a.Patient[:], b.Patient[:]) })
	return out, nil
}

// ChainProof returns the proof of patient's entry in batch's patients
// tree: ptoy.NotFound if the batch holds no event of the patient (or
// there is no such batch).
func (l *Log) ChainProof(ctx context.Context, patient ptoy.ID, batch uint64) (ChainProof, error) {
	const op = "audit.ChainProof"
	if err := l.enter(ctx, op); err != nil {
		return ChainProof{}, err
	}
	defer l.mu.RUnlock()
	prefix := key8(prefixEntry, batch)
	var leaves [][32]byte
	p := ChainProof{Batch: batch}
	found := false
	err := l.db.Scan(prefix, store.PrefixEnd(prefix), func(k, v []byte) error {
		if len(k) != len(prefix)+ptoy.IDLen {
			return ptoy.E(op, ptoy.Other, "audit log is damaged: bad chain entry key")
		}
		en, err := decodeState(op, ptoy.ID(k[len(prefix):]), v)
		if err != nil {
			return err
		}
		if en.Patient == patient {
			p.Entry, p.Index, found = en, uint64(len(leaves)), true
		}
		leaves = append(leaves, en.leaf())
		return nil
	})
	if err != nil {
		return ChainProof{}, wrap(op, err)
	}
	if !found {
		return ChainProof{}, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("audit batch %d holds no event of the patient", batch))
	}
	p.Size = uint64(len(leaves))
	p.Path = auditPath(int(p.Index), leaves)
	return p, nil
}

// VerifyChain checks that events are all of p.Entry.Patient's events up
// to the end of batch p.Batch, against patientsRoot, the patients' root
// the ledger holds for that batch: events (in Seq order, the patient's,
// each proven in a batch up to p.Batch) must give p.Entry's count and
// head, and p's path must lead to patientsRoot. A mismatch is
// ptoy.Unauthenticated: events were left out or added.
func VerifyChain(events []Event, p ChainProof, patientsRoot [32]byte) error {
	const op = "audit.VerifyChain"
	for i, e := range events {
		if e.Patient != p.Entry.Patient || (i > 0 && e.Seq <= events[i-1].Seq) {
			return ptoy.E(op, ptoy.Unauthenticated, "the audit events are not one patient's, in order")
		}
	}
	root, ok := rootFromPath(p.Entry.leaf(), p.Index, p.Size, p.Path)
	if !ok || root != patientsRoot {
		return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("the patient's event count for audit batch %d does not match the anchored batch", p.Batch))
	}
	count, head := Chain(events)
	if count < p.Entry.Count {
		return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("%d of the patient's events were listed up to audit batch %d, but the node anchored %d: events are missing", count, p.Batch, p.Entry.Count))
	}
	if count > p.Entry.Count {
		return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("%d of the patient's events were listed up to audit batch %d, but the node anchored %d", count, p.Batch, p.Entry.Count))
	}
	if head != p.Entry.Head {
		return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("the patient's events listed up to audit batch %d are not the ones the node anchored", p.Batch))
	}
	return nil
}
