package ledger

import (
	"bytes"

	"google.golang.org/protobuf/proto"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/kv"
)

// KeyKind says what a blob of key material is, and so what format it must
// have and to whom it may be served.
type KeyKind uint8

// Kinds of key material.
const (
	KeyBundle   KeyKind = iota + 1 // category keys sealed to a holder (grant, delegation, the patient's own)
	KeySet                         // the patient's category public keys: any account may read them
	Escrow                         // the patient's emergency escrow, sealed to the validators' organisations
	EscrowShare                    // a share released for a break-glass, sealed to the requesting organisation
)

// KeyRef is one reference the committed state makes to a blob of key
// material: what it is, whose, and who holds it (the account that can
// open it; zero for a key set, which is public, and for an escrow, which
// the validators' nodes open).
type KeyRef struct {
	Hash    []byte
	Kind    KeyKind
	Patient ptoy.ID
	Holder  ptoy.ID
}

// KeyMaterial returns the key material a committed state entry
// references: key bundles of grants and delegations, key sets, escrows
// and the patient's own bundle, released escrow shares. Gateways serve
// those blobs to their holders and patients only, and keep them from
// garbage collection.
func KeyMaterial(k, v []byte) []KeyRef {
	if v == nil {
		return nil
	}
	var out []KeyRef
	add := func(h []byte, kind KeyKind, patient, holder []byte) {
		if len(h) != 32 {
			return
		}
		r := KeyRef{Hash: h, Kind: kind}
		copy(r.Patient[:], patient)
		copy(r.Holder[:], holder)
		out = append(out, r)
	}
	// Grants and delegations are stored without their ids, which are in
	// the key: prefix || patient || holder.
	pair := func(prefix []byte) (patient, holder []byte) {
		rest := k[len(prefix):]
		if len(rest) != 2*ptoy.IDLen {
			return nil, nil
		}
		return rest[:ptoy.IDLen], rest[ptoy.IDLen:]
	}
	switch {
	case bytes.HasPrefix(k, prefixGrant):
		g := new(pb.GrantState)
		if p, h := pair(prefixGrant); p != nil && proto.Unmarshal(v, g) == nil {
			add(g.GetGrant().GetKeyBundle(), KeyBundle, p, h)
		}
	case bytes.HasPrefix(k, prefixDelegation):
		d := new(pb.DelegationState)
		if p, h := pair(prefixDelegation); p != nil && proto.Unmarshal(v, d) == nil {
			add(d.GetDelegation().GetKeyBundle(), KeyBundle, p, h)
		}
	case bytes.HasPrefix(k, prefixKeySet):
		s := new(pb.KeySetState)
		if proto.Unmarshal(v, s) == nil {
			patient := k[len(prefixKeySet):]
			add(s.KeySet, KeySet, patient, nil)
			add(s.Escrow, Escrow, patient, nil)
			add(s.OwnBundle, KeyBundle, patient, patient)
		}
	case bytes.HasPrefix(k, prefixGlass):
		e := new(pb.BreakGlassEvent)
		if proto.Unmarshal(v, e) == nil {
			for _, s := range e.Shares {
				add(s, EscrowShare, e.Patient, e.Org)
			}
		}
	}
	return out
}

// AllKeyMaterial calls fn for every key-material reference in the
// committed state.
func (l *Ledger) AllKeyMaterial(fn func(KeyRef)) error {
	for _, p := range [][]byte{prefixGrant, prefixDelegation, prefixKeySet, prefixGlass} {
		err := l.kv.Scan(p, kv.PrefixEnd(p), func(k, v []byte) error {
			for _, r := range KeyMaterial(k, v) {
				r.Hash = bytes.Clone(r.Hash)
				fn(r)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func unmarshal(v []byte, m proto.Message) error {
	if err := proto.Unmarshal(v, m); err != nil {
		return kv.ErrCorrupt(err)
	}
	return nil
}
