package ledger

import (
	"bytes"

	"google.golang.org/protobuf/proto"

	pb "ptoy/gen/ptoy/v1"
	"ptoy/store"
)

// KeyMaterial returns the blob hashes that a committed state entry
// references as key material: key bundles of grants and delegations,
// key sets and escrows, released escrow shares. Gateways serve those
// blobs (sealed keys and public keys) and keep them from garbage
// collection.
func KeyMaterial(k, v []byte) [][]byte {
	if v == nil {
		return nil
	}
	var out [][]byte
	add := func(h []byte) {
		if len(h) == 32 {
			out = append(out, h)
		}
	}
	switch {
	case bytes.HasPrefix(k, prefixGrant):
		g := new(pb.GrantState)
		if proto.Unmarshal(v, g) == nil {
			add(g.GetGrant().GetKeyBundle())
		}
	case bytes.HasPrefix(k, prefixDelegation):
		d := new(pb.DelegationState)
		if proto.Unmarshal(v, d) == nil {
			add(d.GetDelegation().GetKeyBundle())
		}
	case bytes.HasPrefix(k, prefixKeySet):
		s := new(pb.KeySetState)
		if proto.Unmarshal(v, s) == nil {
			add(s.KeySet)
			add(s.Escrow)
			add(s.OwnBundle)
		}
	case bytes.HasPrefix(k, prefixGlass):
		e := new(pb.BreakGlassEvent)
		if proto.Unmarshal(v, e) == nil {
			for _, s := range e.Shares {
				add(s)
			}
		}
	}
	return out
}

// AllKeyMaterial calls fn for every key-material hash in the committed state.
func (l *Ledger) AllKeyMaterial(fn func(h []byte)) error {
	for _, p := range [][]byte{prefixGrant, prefixDelegation, prefixKeySet, prefixGlass} {
		err := l.kv.Scan(p, store.PrefixEnd(p), func(k, v []byte) error {
			for _, h := range KeyMaterial(k, v) {
				fn(bytes.Clone(h))
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
		return store.ErrCorrupt(err)
	}
	return nil
}
