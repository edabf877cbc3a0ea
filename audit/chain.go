package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"ptoy"
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
		head = ChainStep(head, e.LeafHash())
	}
	return uint64(len(events)), head
}

func ChainStep(head, leaf [32]byte) [32]byte {
	var buf [1 + 64]byte
	buf[0] = 0x02
	copy(buf[1:], head[:])
	copy(buf[33:], leaf[:])
	return sha256.Sum256(buf[:])
}

func (en ChainEntry) Leaf() [32]byte {
	b := make([]byte, 0, ptoy.IDLen+8+32)
	b = append(b, en.Patient[:]...)
	b = binary.BigEndian.AppendUint64(b, en.Count)
	return LeafHash(append(b, en.Head[:]...))
}

// state is the stored value of an entry: count(8) head(32).
func (en ChainEntry) State() []byte {
	return append(binary.BigEndian.AppendUint64(nil, en.Count), en.Head[:]...)
}

func DecodeChainState(op string, p ptoy.ID, v []byte) (ChainEntry, error) {
	if len(v) != 40 {
		return ChainEntry{}, ptoy.E(op, ptoy.Other, "audit log is damaged: bad chain record")
	}
	en := ChainEntry{Patient: p, Count: binary.BigEndian.Uint64(v)}
	copy(en.Head[:], v[8:])
	return en, nil
}

// EntriesRoot is the patients' root of a batch's entries (sorted by
// patient); zero for none.
func EntriesRoot(entries []ChainEntry) [32]byte {
	if len(entries) == 0 {
		return [32]byte{}
	}
	leaves := make([][32]byte, len(entries))
	for i, en := range entries {
		leaves[i] = en.Leaf()
	}
	return MerkleRoot(leaves)
}

// VerifyChain checks that events are all of p.Entry.Patient's events up
// to the end of batch p.Batch, against patientsRoot, the patients' root
// the ledger holds for that batch: events (in Seq order, the patient's,
// each proven in a batch up to p.Batch) must give p.Entry's count and
// head, and p's path must lead to patientsRoot. A mismatch is
// ptoy.Unauthenticated: events were left out or added.
func VerifyChain(events []Event, p ChainProof, patientsRoot [32]byte) error {
	return VerifyChainFrom(ChainEntry{Patient: p.Entry.Patient}, events, p, patientsRoot)
}

// VerifyChainFrom is VerifyChain for a verifier that checked the
// patient's trail before up to start (its count and head) and now has
// the events after it.
func VerifyChainFrom(start ChainEntry, events []Event, p ChainProof, patientsRoot [32]byte) error {
	const op = "audit.VerifyChain"
	for i, e := range events {
		if e.Patient != p.Entry.Patient || (i > 0 && e.Seq <= events[i-1].Seq) {
			return ptoy.E(op, ptoy.Unauthenticated, "the audit events are not one patient's, in order")
		}
	}
	root, ok := rootFromPath(p.Entry.Leaf(), p.Index, p.Size, p.Path)
	if !ok || root != patientsRoot {
		return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("the patient's event count for audit batch %d does not match the anchored batch", p.Batch))
	}
	count, head := start.Count, start.Head
	for _, e := range events {
		head = ChainStep(head, e.LeafHash())
		count++
	}
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
