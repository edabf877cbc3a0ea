package consent

import (
	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

// The facts Decide needs of each kind of entry. An Index holds them (a
// grant packed into a grantRec); any other State's messages are read
// into them.

type grantFacts struct {
	cats      uint32
	purpose   pb.Purpose
	perm      pb.Permission
	active    bool
	notBefore int64
	expires   int64
	revoked   int64
	by        ptoy.ID // the delegate that signed; zero when the patient did
}

type delegationFacts struct {
	cats     uint32
	mayGrant bool
	expires  int64
}

type glassFacts struct {
	id             uint64
	org            ptoy.ID
	opened, closes int64
	cats           uint32
	flagged        bool
}

// source is what decide reads: an Index's maps directly (x, under the
// caller's lock), or any State (s).
type source struct {
	x *indexView
	s State
}

func (s source) role(org, p ptoy.ID) (pb.Role, bool, error) {
	if s.x != nil {
		k := pairOf(org, p)
		r, ok := s.x.employees.get(&k)
		return pb.Role(r), ok, nil
	}
	e, err := s.s.Employee(org, p)
	if err != nil || e == nil {
		return 0, false, err
	}
	return e.Role, true, nil
}

// roleAndGrant is role(org, reader) and grant(patient, org) at once.
// On an Index both home slots are read before either is compared, so
// that their cache misses (the cost of a decision on a large Index)
// overlap instead of adding up.
func (s source) roleAndGrant(org, reader, patient ptoy.ID) (role pb.Role, rok bool, g grantFacts, gok bool, err error) {
	if s.x == nil {
		if role, rok, err = s.role(org, reader); err != nil {
			return
		}
		g, gok, err = s.grant(patient, org)
		return
	}
	ek, gk := pairOf(org, reader), pairOf(patient, org) // neither is the zero pair: org is not zero
	es, gs := s.x.employees.at(&ek), s.x.grants.at(&gk)
	ekey, gkey := es.k, gs.k // both loads in flight together
	var r uint8
	switch {
	case ekey == ek:
		r, rok = es.v, true
	case ekey != pair{}:
		r, rok = s.x.employees.get(&ek)
	}
	var rec grantRec
	switch {
	case gkey == gk:
		rec, gok = gs.v, true
	case gkey != pair{}:
		rec, gok = s.x.grants.get(&gk)
	}
	if gok {
		g = rec.facts()
		if rec.flags&flagExtra != 0 {
			e := s.x.extras[gk]
			g.revoked, g.by = e.revoked, e.by
		}
	}
	return pb.Role(r), rok, g, gok, nil
}

func (s source) grant(patient, grantee ptoy.ID) (grantFacts, bool, error) {
	if s.x != nil {
		k := pairOf(patient, grantee)
		g, ok := s.x.grants.get(&k)
		if !ok {
			return grantFacts{}, false, nil
		}
		f := g.facts()
		if g.flags&flagExtra != 0 {
			e := s.x.extras[k]
			f.revoked, f.by = e.revoked, e.by
		}
		return f, true, nil
	}
	gs, err := s.s.Grant(patient, grantee)
	if err != nil || gs == nil || gs.Grant == nil {
		return grantFacts{}, false, err
	}
	return grantFactsOf(gs, patient), true, nil
}

func grantFactsOf(gs *pb.GrantState, patient ptoy.ID) grantFacts {
	g := gs.Grant
	f := grantFacts{
		cats: g.Categories, purpose: g.Purpose, perm: g.Permission,
		active:    gs.Status == pb.GrantStatus_GRANT_STATUS_ACTIVE,
		notBefore: g.NotBefore, expires: g.Expires, revoked: gs.RevokedTime,
	}
	if len(gs.GrantedBy) == ptoy.IDLen && ptoy.ID(gs.GrantedBy) != patient {
		f.by = ptoy.ID(gs.GrantedBy)
	}
	return f
}

func (s source) delegation(patient, d ptoy.ID) (delegationFacts, bool, error) {
	if s.x != nil {
		f, ok := s.x.delegations[pairOf(patient, d)]
		return f, ok, nil
	}
	ds, err := s.s.Delegation(patient, d)
	if err != nil || ds == nil || ds.Delegation == nil {
		return delegationFacts{}, false, err
	}
	return delegationFactsOf(ds), true, nil
}

func delegationFactsOf(ds *pb.DelegationState) delegationFacts {
	return delegationFacts{cats: ds.Delegation.Categories, mayGrant: ds.Delegation.MayGrant, expires: ds.Delegation.Expires}
}

func (s source) glass(patient, p ptoy.ID) (glassFacts, bool, error) {
	if s.x != nil {
		f, ok := s.x.glass[pairOf(patient, p)]
		return f, ok, nil
	}
	ev, err := s.s.BreakGlass(patient, p)
	if err != nil || ev == nil {
		return glassFacts{}, false, err
	}
	return glassFactsOf(ev), true, nil
}

func glassFactsOf(ev *pb.BreakGlassEvent) glassFacts {
	f := glassFacts{id: ev.Id, opened: ev.Opened, closes: ev.Closes, cats: ev.Categories, flagged: ev.Flagged}
	if len(ev.Org) == ptoy.IDLen {
		f.org = ptoy.ID(ev.Org)
	}
	return f
}

func (s source) kind(id ptoy.ID) (pb.AccountKind, bool, error) {
	if s.x != nil {
		k, ok := s.x.kinds[id]
		return pb.AccountKind(k), ok, nil
	}
	a, err := s.s.Account(id)
	if err != nil || a == nil {
		return 0, false, err
	}
	return a.Kind, true, nil
}
