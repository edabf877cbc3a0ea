package audit

import (
	"crypto/sha256"
	"math/bits"

	"ptoy"
)

// nodeHash is the hash of an interior node, SHA-256(0x01 || l || r).
func nodeHash(l, r [32]byte) [32]byte {
	var buf [1 + 64]byte
	buf[0] = 0x01
	copy(buf[1:], l[:])
	copy(buf[33:], r[:])
	return sha256.Sum256(buf[:])
}

// split returns the largest power of two smaller than n, for n > 1.
func split(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}

// MerkleRoot is the RFC 6962 Merkle tree hash of leaves, which must not
// be empty.
func MerkleRoot(leaves [][32]byte) [32]byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := split(len(leaves))
	return nodeHash(MerkleRoot(leaves[:k]), MerkleRoot(leaves[k:]))
}

// AuditPath is the RFC 6962 audit path PATH(m, D[n]) of leaf m: the
// sibling hashes from the leaf up to the root.
func AuditPath(m int, leaves [][32]byte) [][32]byte {
	path := make([][32]byte, 0, bits.Len(uint(len(leaves))))
	var walk func(m int, d [][32]byte)
	walk = func(m int, d [][32]byte) {
		if len(d) <= 1 {
			return
		}
		k := split(len(d))
		if m < k {
			walk(m, d[:k])
			path = append(path, MerkleRoot(d[k:]))
		} else {
			walk(m-k, d[k:])
			path = append(path, MerkleRoot(d[:k]))
		}
	}
	walk(m, leaves)
	return path
}

// rootFromPath recomputes the root from a leaf hash, its index, the tree
// size and its audit path (RFC 9162 §2.1.3.2). ok is false if the path
// has the wrong length for the index and size.
func rootFromPath(leaf [32]byte, index, size uint64, path [][32]byte) (root [32]byte, ok bool) {
	if index >= size {
		return root, false
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range path {
		if sn == 0 {
			return root, false
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return root, false
	}
	return r, true
}

// VerifyProof checks p against anchoredRoot, the root the ledger holds for
// the node and batch p.Batch.ID: it recomputes the leaf from
// p.Event.Encode(), checks that the event's Seq is at p.Index in the batch
// (p.Batch.First + p.Index), and walks p.Path up to the root. A mismatch
// is ptoy.Unauthenticated, "audit event does not match the anchored
// batch".
//
// A Merkle root alone does not fix the size of its tree: a proof for a
// leaf of the left part of a tree still verifies if the node overstates
// p.Batch.Count. The event is then still genuine and in the anchored
// batch, but the batch's bounds are unproven; where the ledger records a
// batch's First and Count as well, use VerifyAnchored.
func VerifyProof(p Proof, anchoredRoot [32]byte) error {
	b := p.Batch
	if b.Count == 0 || b.Last < b.First || b.Last-b.First+1 != uint64(b.Count) ||
		p.Index >= uint64(b.Count) || p.Event.Seq != b.First+p.Index {
		return mismatch()
	}
	root, ok := rootFromPath(p.Event.LeafHash(), p.Index, uint64(b.Count), p.Path)
	if !ok || root != anchoredRoot {
		return mismatch()
	}
	return nil
}

// VerifyAnchored is VerifyProof against a batch as the ledger holds it:
// p.Batch's ID, First, Last and Count must equal anchored's, and the path
// must lead to anchored.Root.
func VerifyAnchored(p Proof, anchored Batch) error {
	b := p.Batch
	if b.ID != anchored.ID || b.First != anchored.First || b.Last != anchored.Last || b.Count != anchored.Count {
		return mismatch()
	}
	return VerifyProof(p, anchored.Root)
}

func mismatch() error {
	return ptoy.E("audit.VerifyProof", ptoy.Unauthenticated, "audit event does not match the anchored batch")
}

// Batch is a run of consecutive events closed by Cut, with the RFC 6962
// Merkle root of their leaf hashes (in Seq order) and the root of the
// patients' chains (see ChainProof). The node anchors ID, First, Last,
// Root and Patients on the ledger.
type Batch struct {
	ID          uint64   // 1-based, per node
	First, Last uint64   // the Seq of the first and last event
	Root        [32]byte // the Merkle tree hash of the events' leaf hashes
	Count       uint32   // Last - First + 1
	Anchored    int64    // the ledger height recorded by MarkAnchored; 0 if not yet anchored
	// Patients is the Merkle tree hash over one entry per patient with
	// events in the batch, in patient order: the patient's event count and
	// chain head at the end of the batch (ChainEntry). Zero in batches
	// cut before chains were kept.
	Patients [32]byte
}

// Proof shows that Event is in Batch: it is leaf Index (0-based; Seq is
// Batch.First + Index) of the batch's tree, and Path is its RFC 6962 audit
// path, the sibling hashes from the leaf up to the root.
type Proof struct {
	Event Event
	Batch Batch
	Index uint64
	Path  [][32]byte
}

// Tree answers audit paths of many leaves of one tree, hashing each
// subtree once: AuditPath recomputes the subtrees beside a leaf's path
// for every leaf, which costs O(n) per path and O(n²) for all of a
// batch's.
type Tree struct {
	leaves [][32]byte
	memo   map[[2]int][32]byte
}

// NewTree is the tree of leaves, which must not be empty.
func NewTree(leaves [][32]byte) *Tree {
	return &Tree{leaves: leaves, memo: map[[2]int][32]byte{}}
}

// Len is the number of leaves.
func (t *Tree) Len() int { return len(t.leaves) }

// root is the hash of the subtree of leaves [lo, hi).
func (t *Tree) root(lo, hi int) [32]byte {
	if hi-lo == 1 {
		return t.leaves[lo]
	}
	if h, ok := t.memo[[2]int{lo, hi}]; ok {
		return h
	}
	k := split(hi - lo)
	h := nodeHash(t.root(lo, lo+k), t.root(lo+k, hi))
	t.memo[[2]int{lo, hi}] = h
	return h
}

// Root is MerkleRoot of the leaves.
func (t *Tree) Root() [32]byte { return t.root(0, len(t.leaves)) }

// Path is AuditPath(m, leaves).
func (t *Tree) Path(m int) [][32]byte {
	var path [][32]byte
	var walk func(m, lo, hi int)
	walk = func(m, lo, hi int) {
		if hi-lo <= 1 {
			return
		}
		k := split(hi - lo)
		if m < k {
			walk(m, lo, lo+k)
			path = append(path, t.root(lo+k, hi))
		} else {
			walk(m-k, lo+k, hi)
			path = append(path, t.root(lo, lo+k))
		}
	}
	walk(m, 0, len(t.leaves))
	return path
}
