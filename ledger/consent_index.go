package ledger

import (
	"bytes"
	"sync"

	"google.golang.org/protobuf/proto"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/kv"
)

// ---- the gateways' in-memory index ----

// LoadConsentIndex fills x with what consent.Decide reads from the
// committed state: accounts (kinds), organisation names, grants,
// delegations, employees and the break-glass events.
func (l *Ledger) LoadConsentIndex(x *consent.Index) error {
	for _, pre := range [][]byte{prefixAccount, prefixOrg, prefixEmployee, prefixGrant, prefixDelegation, prefixGlass} {
		if err := l.kv.Scan(pre, kv.PrefixEnd(pre), func(k, v []byte) error {
			return indexPair(x, k, v)
		}); err != nil {
			return err
		}
	}
	return nil
}

// NewConsentIndex returns a consent.Index loaded from the committed
// state and kept current: it subscribes to every later commit (Subscribe)
// and applies the commit's writes. Commits made while it loads are
// applied after the load, in order, so that none is missed.
func (l *Ledger) NewConsentIndex() (*consent.Index, error) {
	x := consent.NewIndex()
	var mu sync.Mutex
	var pending []Committed
	loading := true
	l.Subscribe(func(c Committed) {
		mu.Lock()
		defer mu.Unlock()
		if loading {
			pending = append(pending, c)
			return
		}
		applyCommitted(x, c)
	})
	if err := l.LoadConsentIndex(x); err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range pending {
		applyCommitted(x, c)
	}
	loading = false
	return x, nil
}

// applyCommitted feeds a commit's writes to x. The values are the
// ledger's own encodings, so a decoding error means a corrupt store;
// indexPair then drops the entry (failing closed) rather than stopping
// the commit.
func applyCommitted(x *consent.Index, c Committed) {
	for _, w := range c.Writes {
		_ = indexPair(x, w.Key, w.Value)
	}
}

// UpdateConsentIndex brings x up to date with the block's writes. Call
// it after Commit, so that x holds committed state only. (NewConsentIndex
// does this by itself.)
func (b *Block) UpdateConsentIndex(x *consent.Index) error {
	for _, k := range b.sortedKeys() {
		if err := indexPair(x, []byte(k), b.writes[k]); err != nil {
			return err
		}
	}
	return nil
}

// indexPair feeds one key-value pair (v empty: deleted) to x, if it is
// one the index holds. A value that does not decode removes the entry:
// a corrupt grant must not keep serving.
func indexPair(x *consent.Index, k, v []byte) error {
	bad := func(err error) error { return ptoy.E("ledger.index", ptoy.Other, "corrupt state value", err) }
	two := func(pre []byte) (ptoy.ID, ptoy.ID, bool) {
		r := k[len(pre):]
		if len(r) != 2*ptoy.IDLen {
			return ptoy.ID{}, ptoy.ID{}, false
		}
		return ptoy.ID(r[:ptoy.IDLen]), ptoy.ID(r[ptoy.IDLen:]), true
	}
	switch {
	case bytes.HasPrefix(k, prefixAccount) && len(v) > 0:
		a := new(pb.Account)
		if err := proto.Unmarshal(v, a); err != nil {
			return bad(err)
		}
		x.SetAccount(a)
	case bytes.HasPrefix(k, prefixOrg) && len(v) > 0:
		o := new(pb.Org)
		if err := proto.Unmarshal(v, o); err != nil {
			return bad(err)
		}
		if id, err := ptoy.IDFromBytes(o.Id); err == nil {
			x.SetName(id, o.Name)
		}
	case bytes.HasPrefix(k, prefixEmployee):
		org, p, ok := two(prefixEmployee)
		if !ok {
			return nil
		}
		if len(v) == 0 {
			x.DeleteEmployee(org, p)
			return nil
		}
		e := new(pb.Employee)
		if err := proto.Unmarshal(v, e); err != nil {
			x.DeleteEmployee(org, p)
			return bad(err)
		}
		x.SetEmployee(e)
	case bytes.HasPrefix(k, prefixGrant):
		patient, grantee, ok := two(prefixGrant)
		if !ok {
			return nil
		}
		if len(v) == 0 {
			x.DeleteGrant(patient, grantee)
			return nil
		}
		gs := new(pb.GrantState)
		if err := proto.Unmarshal(v, gs); err != nil {
			x.DeleteGrant(patient, grantee)
			return bad(err)
		}
		fillGrant(gs, patient, grantee)
		x.SetGrant(gs)
	case bytes.HasPrefix(k, prefixDelegation):
		patient, delegate, ok := two(prefixDelegation)
		if !ok {
			return nil
		}
		if len(v) == 0 {
			x.DeleteDelegation(patient, delegate)
			return nil
		}
		ds := new(pb.DelegationState)
		if err := proto.Unmarshal(v, ds); err != nil {
			x.DeleteDelegation(patient, delegate)
			return bad(err)
		}
		fillDelegation(ds, patient, delegate)
		x.SetDelegation(ds)
	case bytes.HasPrefix(k, prefixGlass) && len(v) > 0:
		ev := new(pb.BreakGlassEvent)
		if err := proto.Unmarshal(v, ev); err != nil {
			return bad(err)
		}
		x.SetBreakGlass(ev)
	}
	return nil
}
