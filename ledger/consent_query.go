package ledger

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/kv"
)

// ---- queries ----

// Grant returns the patient's grant to grantee (revoked or not);
// ptoy.NotFound if there was never one.
func (l *Ledger) Grant(patient, grantee ptoy.ID) (*pb.GrantState, error) {
	gs, err := readGrant(l.kv.Get, patient, grantee)
	if err != nil {
		return nil, err
	}
	if gs == nil {
		return nil, ptoy.E("ledger.Grant", ptoy.NotFound, fmt.Sprintf("%s holds no grant from %s", grantee, patient))
	}
	return gs, nil
}

// GrantsOf lists every grant the patient made, in grantee id order:
// who holds access, who held it (Status revoked), and until when.
func (l *Ledger) GrantsOf(patient ptoy.ID) ([]*pb.GrantState, error) {
	return scanUnder(l, "ledger.GrantsOf", prefixGrant, patient, func(gs *pb.GrantState, grantee ptoy.ID) {
		fillGrant(gs, patient, grantee)
	})
}

// scanUnder decodes every value under prefix||id, in key order, and lets
// fill complete each with the id that ends its key.
func scanUnder[T any, P interface {
	*T
	proto.Message
}](l *Ledger, op string, prefix []byte, id ptoy.ID, fill func(P, ptoy.ID)) ([]P, error) {
	var out []P
	pre := underID(prefix, id)
	err := l.kv.Scan(pre, kv.PrefixEnd(pre), func(k, v []byte) error {
		m := P(new(T))
		if err := proto.Unmarshal(v, m); err != nil {
			return ptoy.E(op, ptoy.Other, "corrupt state value", err)
		}
		fill(m, ptoy.ID(k[len(pre):]))
		out = append(out, m)
		return nil
	})
	return out, err
}

// idsInForce lists the ids under prefix||id whose expiry (the value, 0
// for none) is after the last committed block's time, in id order.
func (l *Ledger) idsInForce(prefix []byte, id ptoy.ID) ([]ptoy.ID, error) {
	now := l.BlockTime().Unix()
	var out []ptoy.ID
	pre := underID(prefix, id)
	err := l.kv.Scan(pre, kv.PrefixEnd(pre), func(k, v []byte) error {
		if exp := int64(readU64(v)); exp == 0 || now < exp {
			out = append(out, ptoy.ID(k[len(pre):]))
		}
		return nil
	})
	return out, err
}

// PatientsOf is a provider's (or any grantee's) patient list: the
// patients whose grant to grantee is not revoked and not expired at the
// last committed block's time (a grant that starts later is listed), in
// id order. PatientList also shows the expired ones, marked.
func (l *Ledger) PatientsOf(grantee ptoy.ID) ([]ptoy.ID, error) {
	return l.idsInForce(prefixGranted, grantee)
}

// PatientEntry is one line of a grantee's patient list.
type PatientEntry struct {
	Patient ptoy.ID
	Grant   *pb.GrantState
	// Status is "active", "not yet started" or "expired", at the last
	// committed block's time.
	Status string
}

// PatientList is the grantee's patient list with each grant: every
// patient whose grant is not revoked, the expired ones marked.
func (l *Ledger) PatientList(grantee ptoy.ID) ([]PatientEntry, error) {
	now := l.BlockTime().Unix()
	var ids []ptoy.ID
	pre := underID(prefixGranted, grantee)
	if err := l.kv.Scan(pre, kv.PrefixEnd(pre), func(k, _ []byte) error {
		ids = append(ids, ptoy.ID(k[len(pre):]))
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]PatientEntry, 0, len(ids))
	for _, p := range ids {
		gs, err := readGrant(l.kv.Get, p, grantee)
		if err != nil {
			return nil, err
		}
		if gs == nil {
			continue
		}
		e := PatientEntry{Patient: p, Grant: gs, Status: "active"}
		switch g := gs.Grant; {
		case g.Expires != 0 && now >= g.Expires:
			e.Status = "expired"
		case g.NotBefore != 0 && now < g.NotBefore:
			e.Status = "not yet started"
		}
		out = append(out, e)
	}
	return out, nil
}

// Delegations lists the patient's delegations, in delegate id order
// (expired ones included: DelegationState says until when).
func (l *Ledger) Delegations(patient ptoy.ID) ([]*pb.DelegationState, error) {
	return scanUnder(l, "ledger.Delegations", prefixDelegation, patient, func(ds *pb.DelegationState, d ptoy.ID) {
		fillDelegation(ds, patient, d)
	})
}

// ActingFor lists the patients for whom delegate holds a delegation in
// force at the last committed block's time, in id order.
func (l *Ledger) ActingFor(delegate ptoy.ID) ([]ptoy.ID, error) {
	return l.idsInForce(prefixDelegateOf, delegate)
}

// glassList reads the events an index (bgorg/, bgpat/) lists under pre.
func (l *Ledger) glassList(pre []byte) ([]*pb.BreakGlassEvent, error) {
	var ids []uint64
	if err := l.kv.Scan(pre, kv.PrefixEnd(pre), func(k, _ []byte) error {
		ids = append(ids, readU64(k[len(pre):]))
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]*pb.BreakGlassEvent, 0, len(ids))
	for _, id := range ids {
		ev, err := readGlass(l.kv.Get, id)
		if err != nil {
			return nil, err
		}
		if ev != nil {
			out = append(out, ev)
		}
	}
	return out, nil
}

// BreakGlassQueue is the organisation's review queue for its privacy
// officer: every break-glass by its practitioners, oldest first.
func (l *Ledger) BreakGlassQueue(org ptoy.ID) ([]*pb.BreakGlassEvent, error) {
	return l.glassList(underID(prefixGlassOrg, org))
}

// BreakGlassOf lists every break-glass of the patient's records, oldest
// first.
func (l *Ledger) BreakGlassOf(patient ptoy.ID) ([]*pb.BreakGlassEvent, error) {
	return l.glassList(underID(prefixGlassPatient, patient))
}

// BreakGlassEvent returns one break-glass by id; ptoy.NotFound if none.
func (l *Ledger) BreakGlassEvent(id uint64) (*pb.BreakGlassEvent, error) {
	ev, err := readGlass(l.kv.Get, id)
	if err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, ptoy.E("ledger.BreakGlassEvent", ptoy.NotFound, fmt.Sprintf("no break-glass %d", id))
	}
	return ev, nil
}

// BreakGlassPolicy returns the patient's break-glass policy; the zero
// policy (on, the network's emergency set) when the patient set none.
func (l *Ledger) BreakGlassPolicy(patient ptoy.ID) (*pb.BreakGlassPolicy, error) {
	return readPolicy(l.kv.Get, patient)
}

// Notifications lists the patient's notifications, oldest first.
func (l *Ledger) Notifications(patient ptoy.ID) ([]*pb.Notification, error) {
	var out []*pb.Notification
	pre := underID(prefixNotification, patient)
	err := l.kv.Scan(pre, kv.PrefixEnd(pre), func(_, v []byte) error {
		n := new(pb.Notification)
		if err := proto.Unmarshal(v, n); err != nil {
			return ptoy.E("ledger.Notifications", ptoy.Other, "corrupt state value", err)
		}
		n.Patient = patient.Bytes()
		out = append(out, n)
		return nil
	})
	return out, err
}

// AuditAnchor returns the organisation's anchored audit batch; ptoy.NotFound
// if it is not anchored.
func (l *Ledger) AuditAnchor(org ptoy.ID, batch uint64) (*pb.AuditAnchor, error) {
	a := new(pb.AuditAnchor)
	if err := l.must(anchorKey(org, batch), a, fmt.Sprintf("%s has not anchored audit batch %d", org, batch)); err != nil {
		return nil, err
	}
	a.Org = org.Bytes()
	return a, nil
}

// AuditAnchors lists the organisation's anchored batches in order.
func (l *Ledger) AuditAnchors(org ptoy.ID) ([]*pb.AuditAnchor, error) {
	list, err := scanAll[pb.AuditAnchor](l.kv, underID(prefixAnchor, org))
	for _, a := range list {
		a.Org = org.Bytes()
	}
	return list, err
}

// KeySet returns the patient's current key set; ptoy.NotFound if the
// patient has published none.
func (l *Ledger) KeySet(patient ptoy.ID) (*pb.KeySetState, error) {
	ks := new(pb.KeySetState)
	if err := l.must(keySetKey(patient), ks, fmt.Sprintf("%s has published no key set", patient)); err != nil {
		return nil, err
	}
	return ks, nil
}
