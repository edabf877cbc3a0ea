package auditlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"ptoy"
	"ptoy/audit"
	"ptoy/kv"
	"ptoy/store"
)

func chainKey(p ptoy.ID) []byte { return append([]byte{prefixChain}, p[:]...) }

func entryKey(batch uint64, p ptoy.ID) []byte { return append(key8(prefixEntry, batch), p[:]...) }

// batchLeaves reads batch b's stored events in order and returns their
// leaf hashes and patients; it stops at the first gap, and a stored event
// that does not decode is an error.
func (l *Log) batchLeaves(ctx context.Context, op string, b audit.Batch) ([][32]byte, []ptoy.ID, error) {
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
			return kv.ErrStop
		}
		next++
		e, err := audit.DecodeEvent(v)
		if err != nil || e.Seq != seq {
			return ptoy.E(op, ptoy.Other, fmt.Sprintf("audit log is damaged: stored event %d is corrupt", seq))
		}
		leaves = append(leaves, audit.LeafHash(v))
		patients = append(patients, e.Patient)
		return nil
	})
	if err != nil && !errors.Is(err, kv.ErrStop) {
		return nil, nil, wrap(op, err)
	}
	return leaves, patients, nil
}

// advanceChains extends the stored chains of the patients by the events
// (leaves[i] is an event of patients[i], in Seq order) and returns the
// new entries, sorted by patient.
func (l *Log) advanceChains(op string, patients []ptoy.ID, leaves [][32]byte) ([]audit.ChainEntry, error) {
	cur := map[ptoy.ID]*audit.ChainEntry{}
	for i, p := range patients {
		en := cur[p]
		if en == nil {
			v, err := l.db.Get(chainKey(p))
			if err != nil {
				return nil, wrap(op, err)
			}
			e := audit.ChainEntry{Patient: p}
			if v != nil {
				if e, err = audit.DecodeChainState(op, p, v); err != nil {
					return nil, err
				}
			}
			en = &e
			cur[p] = en
		}
		en.Count++
		en.Head = audit.ChainStep(en.Head, leaves[i])
	}
	out := make([]audit.ChainEntry, 0, len(cur))
	for _, en := range cur {
		out = append(out, *en)
	}
	slices.SortFunc(out, func(a, b audit.ChainEntry) int { return bytes.Compare(a.Patient[:], b.Patient[:]) })
	return out, nil
}

// ChainProof returns the proof of patient's entry in batch's patients
// tree: ptoy.NotFound if the batch holds no event of the patient (or
// there is no such batch).
func (l *Log) ChainProof(ctx context.Context, patient ptoy.ID, batch uint64) (audit.ChainProof, error) {
	const op = "audit.ChainProof"
	if err := l.enter(ctx, op); err != nil {
		return audit.ChainProof{}, err
	}
	defer l.mu.RUnlock()
	prefix := key8(prefixEntry, batch)
	var leaves [][32]byte
	p := audit.ChainProof{Batch: batch}
	found := false
	err := l.db.Scan(prefix, store.PrefixEnd(prefix), func(k, v []byte) error {
		if len(k) != len(prefix)+ptoy.IDLen {
			return ptoy.E(op, ptoy.Other, "audit log is damaged: bad chain entry key")
		}
		en, err := audit.DecodeChainState(op, ptoy.ID(k[len(prefix):]), v)
		if err != nil {
			return err
		}
		if en.Patient == patient {
			p.Entry, p.Index, found = en, uint64(len(leaves)), true
		}
		leaves = append(leaves, en.Leaf())
		return nil
	})
	if err != nil {
		return audit.ChainProof{}, wrap(op, err)
	}
	if !found {
		return audit.ChainProof{}, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("audit batch %d holds no event of the patient", batch))
	}
	p.Size = uint64(len(leaves))
	p.Path = audit.AuditPath(int(p.Index), leaves)
	return p, nil
}
