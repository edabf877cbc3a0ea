package consent

import (
	"sync"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

// pair is the map key of an entry between two accounts: 40 bytes, the
// first id then the second (patient||grantee, org||practitioner, …).
type pair [2 * ptoy.IDLen]byte

func pairOf(a, b ptoy.ID) (k pair) {
	copy(k[:ptoy.IDLen], a[:])
	copy(k[ptoy.IDLen:], b[:])
	return k
}

func idOf(b []byte) (ptoy.ID, bool) {
	if len(b) != ptoy.IDLen {
		return ptoy.ID{}, false
	}
	return ptoy.ID(b), true
}

// Index is an in-memory State for gateways: what Decide reads, held
// compactly (one 64-byte slot per grant, in a table at most three
// quarters full), so that a decision costs
// two or three map lookups and no allocation. A node loads it from its
// committed ledger state and keeps it current after each block (the
// ledger package has the loader and the updater); the typed setters
// below are how both feed it.
//
// An Index keeps only what Decide needs. Its State methods return
// messages rebuilt from those facts, without key bundles, reason hashes
// or creation times; ask the ledger for the whole records.
//
// An Index is safe for concurrent use: any number of Decide and State
// calls, with setters in between.
type Index struct {
	mu          sync.RWMutex
	kinds       map[ptoy.ID]uint8
	names       map[ptoy.ID]string
	grants      *table[grantRec]
	extras      map[pair]grantExtra // of revoked grants and grants signed by a delegate
	delegations map[pair]delegationFacts
	employees   *table[uint8] // the role
	glass       map[pair]glassFacts
}

// grantRec is a grant as an Index holds it: 24 bytes beside its 40-byte key.
type grantRec struct {
	cats               uint32
	flags              uint8 // purpose (3 bits), permission (2 bits) << 3, flagActive, flagExtra
	notBefore, expires int64
}

const (
	flagActive = 1 << 5
	flagExtra  = 1 << 6 // extras holds the revocation time or the signing delegate
)

type grantExtra struct {
	revoked int64
	by      ptoy.ID
}

func (g grantRec) facts() grantFacts {
	return grantFacts{
		cats: g.cats, purpose: pb.Purpose(g.flags & 7), perm: pb.Permission(g.flags >> 3 & 3),
		active: g.flags&flagActive != 0, notBefore: g.notBefore, expires: g.expires,
	}
}

// NewIndex returns an empty Index.
func NewIndex() *Index {
	return &Index{
		kinds:       map[ptoy.ID]uint8{},
		names:       map[ptoy.ID]string{},
		grants:      newTable[grantRec](),
		extras:      map[pair]grantExtra{},
		delegations: map[pair]delegationFacts{},
		employees:   newTable[uint8](),
		glass:       map[pair]glassFacts{},
	}
}

// SetAccount records that an account exists and its kind (the Index
// keeps nothing else of it).
func (x *Index) SetAccount(a *pb.Account) {
	id, ok := idOf(a.GetId())
	if !ok {
		return
	}
	x.mu.Lock()
	x.kinds[id] = uint8(a.Kind)
	x.mu.Unlock()
}

// SetName sets the display name of id for reasons: an organisation's
// name, or a directory's name for a practitioner. Never PHI. An empty
// name removes it.
func (x *Index) SetName(id ptoy.ID, name string) {
	x.mu.Lock()
	if name == "" {
		delete(x.names, id)
	} else {
		x.names[id] = name
	}
	x.mu.Unlock()
}

// SetGrant stores a grant (its Grant names the patient and the grantee),
// replacing the one between the same two accounts.
func (x *Index) SetGrant(gs *pb.GrantState) {
	g := gs.GetGrant()
	patient, okp := idOf(g.GetPatient())
	grantee, okq := idOf(g.GetGrantee())
	if !okp || !okq {
		return
	}
	f := grantFactsOf(gs, patient)
	rec := grantRec{cats: f.cats, notBefore: f.notBefore, expires: f.expires}
	if f.purpose >= 0 && f.purpose < 8 {
		rec.flags = uint8(f.purpose)
	}
	if f.perm >= 0 && f.perm < 4 {
		rec.flags |= uint8(f.perm) << 3
	}
	if f.active {
		rec.flags |= flagActive
	}
	k := pairOf(patient, grantee)
	x.mu.Lock()
	defer x.mu.Unlock()
	if !f.active || !f.by.IsZero() {
		rec.flags |= flagExtra
		x.extras[k] = grantExtra{revoked: f.revoked, by: f.by}
	} else {
		delete(x.extras, k)
	}
	x.grants.put(&k, rec)
}

// DeleteGrant removes a grant.
func (x *Index) DeleteGrant(patient, grantee ptoy.ID) {
	k := pairOf(patient, grantee)
	x.mu.Lock()
	x.grants.del(&k)
	delete(x.extras, k)
	x.mu.Unlock()
}

// SetDelegation stores a delegation (its Delegation names the patient
// and the delegate).
func (x *Index) SetDelegation(ds *pb.DelegationState) {
	p, okp := idOf(ds.GetDelegation().GetPatient())
	q, okq := idOf(ds.GetDelegation().GetDelegate())
	if !okp || !okq {
		return
	}
	x.mu.Lock()
	x.delegations[pairOf(p, q)] = delegationFactsOf(ds)
	x.mu.Unlock()
}

// DeleteDelegation removes a delegation.
func (x *Index) DeleteDelegation(patient, delegate ptoy.ID) {
	x.mu.Lock()
	delete(x.delegations, pairOf(patient, delegate))
	x.mu.Unlock()
}

// SetEmployee stores an employment.
func (x *Index) SetEmployee(e *pb.Employee) {
	o, oko := idOf(e.GetOrg())
	p, okp := idOf(e.GetPractitioner())
	if !oko || !okp || e.Role < 0 || e.Role > 255 {
		return
	}
	k := pairOf(o, p)
	x.mu.Lock()
	x.employees.put(&k, uint8(e.Role))
	x.mu.Unlock()
}

// DeleteEmployee removes an employment.
func (x *Index) DeleteEmployee(org, practitioner ptoy.ID) {
	k := pairOf(org, practitioner)
	x.mu.Lock()
	x.employees.del(&k)
	x.mu.Unlock()
}

// SetBreakGlass stores a break-glass event as the latest of its
// practitioner for its patient, unless a later one (higher id) is
// already there; an update of the same event replaces it.
func (x *Index) SetBreakGlass(ev *pb.BreakGlassEvent) {
	p, okp := idOf(ev.GetPatient())
	q, okq := idOf(ev.GetPractitioner())
	if !okp || !okq {
		return
	}
	k := pairOf(p, q)
	f := glassFactsOf(ev)
	x.mu.Lock()
	if old, ok := x.glass[k]; !ok || old.id <= f.id {
		x.glass[k] = f
	}
	x.mu.Unlock()
}

// Len returns the number of grants, delegations and employments held.
func (x *Index) Len() (grants, delegations, employees int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.grants.len(), len(x.delegations), x.employees.len()
}

// Decide is consent.Decide(x, r).
func (x *Index) Decide(r Request) Decision { return Decide(x, r) }

// Account returns an Account with only the id and the kind set, nil if
// the Index has not seen the account. It never fails.
func (x *Index) Account(id ptoy.ID) (*pb.Account, error) {
	x.mu.RLock()
	k, ok := x.kinds[id]
	x.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	return &pb.Account{Id: id.Bytes(), Kind: pb.AccountKind(k)}, nil
}

// Grant returns the patient's grant to grantee, nil if none, without
// its key bundle and creation time. It never fails.
func (x *Index) Grant(patient, grantee ptoy.ID) (*pb.GrantState, error) {
	x.mu.RLock()
	f, ok, _ := source{x: (*indexView)(x)}.grant(patient, grantee)
	x.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	gs := &pb.GrantState{
		Grant: &pb.Grant{Patient: patient.Bytes(), Grantee: grantee.Bytes(), Categories: f.cats, Purpose: f.purpose,
			Permission: f.perm, NotBefore: f.notBefore, Expires: f.expires},
		Status:      pb.GrantStatus_GRANT_STATUS_ACTIVE,
		RevokedTime: f.revoked,
		GrantedBy:   patient.Bytes(),
	}
	if !f.active {
		gs.Status = pb.GrantStatus_GRANT_STATUS_REVOKED
	}
	if !f.by.IsZero() {
		gs.GrantedBy = f.by.Bytes()
	}
	return gs, nil
}

// Delegation returns the patient's delegation to delegate, nil if none,
// without its key bundle. It never fails.
func (x *Index) Delegation(patient, delegate ptoy.ID) (*pb.DelegationState, error) {
	x.mu.RLock()
	f, ok := x.delegations[pairOf(patient, delegate)]
	x.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	return &pb.DelegationState{Delegation: &pb.Delegate{Patient: patient.Bytes(), Delegate: delegate.Bytes(),
		Categories: f.cats, MayGrant: f.mayGrant, Expires: f.expires}}, nil
}

// Employee returns the employment of practitioner at org (org,
// practitioner and role), nil if none. It never fails.
func (x *Index) Employee(org, practitioner ptoy.ID) (*pb.Employee, error) {
	k := pairOf(org, practitioner)
	x.mu.RLock()
	r, ok := x.employees.get(&k)
	x.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	return &pb.Employee{Org: org.Bytes(), Practitioner: practitioner.Bytes(), Role: pb.Role(r)}, nil
}

// BreakGlass returns the latest break-glass of practitioner for patient,
// nil if none, without its reason hash. It never fails.
func (x *Index) BreakGlass(patient, practitioner ptoy.ID) (*pb.BreakGlassEvent, error) {
	x.mu.RLock()
	f, ok := x.glass[pairOf(patient, practitioner)]
	x.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	return &pb.BreakGlassEvent{Id: f.id, Patient: patient.Bytes(), Practitioner: practitioner.Bytes(), Org: f.org.Bytes(),
		Opened: f.opened, Closes: f.closes, Categories: f.cats, Flagged: f.flagged}, nil
}

// Names returns the name set with SetName, or DefaultName.
func (x *Index) Names(id ptoy.ID) string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if n, ok := x.names[id]; ok {
		return n
	}
	return DefaultName(id, pb.AccountKind(x.kinds[id]))
}

// indexView is an Index read without locking, by Decide, which holds
// the lock.
type indexView Index
