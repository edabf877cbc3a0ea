package consent

import (
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

// Action is what a request does with the patient's records.
type Action uint8

// Actions. The zero Action is invalid, so that a request always says.
const (
	Read Action = iota + 1
	Write
)

func (a Action) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return "unknown action"
}

// Request asks whether Reader may act on Patient's records.
type Request struct {
	Reader  ptoy.ID
	Patient ptoy.ID
	// Categories is every category the record touches (its labels): the
	// reader needs all of them.
	Categories uint32
	Action     Action
	// Purpose of use. A read must state one; a write may leave it
	// unspecified (a deposit serves the grant's purpose).
	Purpose pb.Purpose
	// Time is the block time the request is judged at: the last
	// committed block's time at a gateway, the block's time in the ledger.
	Time time.Time
	// Org is the organisation the reader acts for, zero if the reader
	// acts as itself.
	Org ptoy.ID
}

// State is what Decide reads: the committed ledger state, or an
// in-memory index of it. Each method returns (nil, nil) when the entry
// is absent; an error is a fault of the store (ptoy.Other or
// ptoy.Unavailable), and Decide denies with the code CodeStateError.
type State interface {
	Account(id ptoy.ID) (*pb.Account, error)
	Grant(patient, grantee ptoy.ID) (*pb.GrantState, error)
	Delegation(patient, delegate ptoy.ID) (*pb.DelegationState, error)
	Employee(org, practitioner ptoy.ID) (*pb.Employee, error)
	// BreakGlass returns the latest break-glass of practitioner for patient.
	BreakGlass(patient, practitioner ptoy.ID) (*pb.BreakGlassEvent, error)
	// Names returns a display name for reasons: an organisation's name,
	// or a short id. Never PHI.
	Names(id ptoy.ID) string
}

// Via says which rule allowed a request.
const (
	ViaPatient    = "patient"
	ViaGrant      = "grant"
	ViaOrgGrant   = "org grant"
	ViaDelegation = "delegation"
	ViaBreakGlass = "break-glass"
)

// Decision is the answer to a Request. Allow and Via say what was
// decided; Code and the fields after it are the facts behind it, which
// Reason turns into plain words only when asked, so that deciding
// allocates nothing.
type Decision struct {
	Allow bool
	// Via is the rule that allowed the request (ViaPatient …); empty
	// when denied.
	Via string
	// Expires is when the access that allowed the request ends (zero if
	// it does not end): the grant's or delegation's expiry, the close of
	// the break-glass window.
	Expires time.Time

	// Code classifies the reason.
	Code Code
	// Who is the party the reason is about: the grantee, delegate or
	// practitioner; Org the organisation concerned.
	Who, Org ptoy.ID
	// By is the delegate that signed the grant, zero when the patient did.
	By ptoy.ID
	// Role is the employee's role (CodeRole, CodeOrgGrant).
	Role pb.Role
	// Categories are the categories at issue: those excluded (CodeScope,
	// CodeRole, CodeDelegationScope, CodeGlassScope), or unknown bits.
	Categories uint32
	// Scope is what the grant, delegation or break-glass covers.
	Scope uint32
	// Purpose is the grant's purpose of use.
	Purpose pb.Purpose
	// At is the time the reason names: a revocation, a start, an
	// expiry, the close of a break-glass window.
	At time.Time
	// Err is the store's error for CodeStateError.
	Err error

	req   Request
	state State
}

// Code classifies the reason of a Decision. Its String is a stable word
// for logs and tests.
type Code uint8

// Codes of allowed requests, then of denied ones.
const (
	CodeNone       Code = iota
	CodeOwn             // the patient's own records
	CodeGrant           // a grant to the reader
	CodeOrgGrant        // a grant to the organisation the reader works for
	CodeDelegation      // the reader acts for the patient
	CodeBreakGlass      // an open break-glass window

	CodeBadAction         // the request's action is unknown
	CodeNoCategory        // the request names no category
	CodeUnknownCategory   // the request names undefined category bits
	CodeNoPatient         // no such patient
	CodeNotPatient        // the account is not a patient
	CodeNotEmployee       // the reader does not work for the organisation
	CodeRole              // the employee's role does not cover the categories
	CodeNoGrant           // the patient has not granted access
	CodeRevoked           // the grant was revoked
	CodeNotYet            // the grant has not started
	CodeExpired           // the grant expired
	CodeWriteOnly         // a write-only grant cannot read
	CodeReadOnly          // a read-only grant cannot write
	CodeNoPurpose         // a read without a purpose of use
	CodePurpose           // the grant is for another purpose
	CodeEmergencyOnly     // purpose emergency is served by break-glass only
	CodeScope             // the grant's scope excludes a category
	CodeDelegationExpired // the delegation expired
	CodeDelegationScope   // the delegation's scope excludes a category
	CodeGlassClosed       // the break-glass window is closed
	CodeGlassOrg          // the break-glass was for another organisation
	CodeGlassRole         // the practitioner is no longer an emergency physician there
	CodeGlassScope        // the break-glass set excludes a category
	CodeGlassPurpose      // break-glass serves emergency treatment only
	CodeStateError        // the state could not be read
)

var codeWords = [...]string{
	CodeNone: "none", CodeOwn: "own", CodeGrant: "grant", CodeOrgGrant: "org-grant", CodeDelegation: "delegation",
	CodeBreakGlass: "break-glass", CodeBadAction: "bad-action", CodeNoCategory: "no-category",
	CodeUnknownCategory: "unknown-category", CodeNoPatient: "no-patient", CodeNotPatient: "not-patient",
	CodeNotEmployee: "not-employee", CodeRole: "role", CodeNoGrant: "no-grant", CodeRevoked: "revoked",
	CodeNotYet: "not-yet", CodeExpired: "expired", CodeWriteOnly: "write-only", CodeReadOnly: "read-only",
	CodeNoPurpose: "no-purpose", CodePurpose: "purpose", CodeEmergencyOnly: "emergency-only", CodeScope: "scope",
	CodeDelegationExpired: "delegation-expired", CodeDelegationScope: "delegation-scope",
	CodeGlassClosed: "glass-closed", CodeGlassOrg: "glass-org", CodeGlassRole: "glass-role",
	CodeGlassScope: "glass-scope", CodeGlassPurpose: "glass-purpose", CodeStateError: "state-error",
}

func (c Code) String() string {
	if int(c) < len(codeWords) {
		return codeWords[c]
	}
	return "code?"
}

// Decide answers whether r may proceed, on state s. It is a pure
// function of s and r: no clock (r.Time is the time), no I/O but s. The
// rules, in the order they are applied, are in the package
// documentation. On an *Index it reads the Index's own maps under one
// read lock and allocates nothing.
func Decide(s State, r Request) Decision {
	var d Decision
	if x, ok := s.(*Index); ok {
		x.mu.RLock()
		d = decide(source{x: (*indexView)(x)}, &r)
		x.mu.RUnlock()
	} else {
		d = decide(source{s: s}, &r)
	}
	d.req = r
	d.state = s
	return d
}

func decide(s source, r *Request) Decision {
	if r.Reader == r.Patient {
		return Decision{Allow: true, Via: ViaPatient, Code: CodeOwn}
	}
	switch {
	case r.Action != Read && r.Action != Write:
		return Decision{Code: CodeBadAction}
	case r.Categories == 0:
		return Decision{Code: CodeNoCategory}
	case r.Categories&^Defined != 0:
		return Decision{Code: CodeUnknownCategory, Categories: r.Categories &^ Defined}
	}
	org := r.Org
	if org == r.Reader {
		org = ptoy.ID{} // an organisation's own key acts as itself
	}
	// deny is the reason to give if nothing allows; found is set once it
	// comes from a grant or delegation the patient made, which then
	// matters more than a break-glass.
	var deny Decision
	found := false
	if !org.IsZero() {
		role, ok, og, gok, err := s.roleAndGrant(org, r.Reader, r.Patient)
		if err != nil {
			return stateError(err)
		}
		if !ok {
			return Decision{Code: CodeNotEmployee, Who: r.Reader, Org: org}
		}
		if miss := r.Categories &^ RoleCategories(role); miss != 0 {
			return Decision{Code: CodeRole, Who: r.Reader, Org: org, Role: role, Categories: miss}
		}
		if r.Purpose == pb.Purpose_PURPOSE_EMERGENCY {
			deny = Decision{Code: CodeEmergencyOnly, Who: r.Reader}
		} else {
			d, ok := judgeGrant(r, org, &og, gok, nil)
			if d.Allow || d.Code == CodeStateError {
				if d.Allow {
					d.Via, d.Code, d.Org, d.Role = ViaOrgGrant, CodeOrgGrant, org, role
				}
				return d
			}
			if ok {
				deny, found = d, true
			}
			d, ok = checkGrant(s, r, r.Reader)
			if d.Allow || d.Code == CodeStateError {
				return d
			}
			if ok && !found {
				deny, found = d, true
			}
			if !found {
				deny = Decision{Code: CodeNoGrant, Who: org}
			}
		}
	} else {
		dl, ok, err := s.delegation(r.Patient, r.Reader)
		if err != nil {
			return stateError(err)
		}
		if ok {
			d := checkDelegation(r, &dl)
			if d.Allow {
				return d
			}
			deny, found = d, true
		}
		if r.Purpose == pb.Purpose_PURPOSE_EMERGENCY {
			if !found {
				deny = Decision{Code: CodeEmergencyOnly, Who: r.Reader}
			}
		} else {
			d, ok := checkGrant(s, r, r.Reader)
			if d.Allow || d.Code == CodeStateError {
				return d
			}
			if ok && !found {
				deny, found = d, true
			}
			if !found {
				deny = Decision{Code: CodeNoGrant, Who: r.Reader}
			}
		}
	}
	if r.Action == Read {
		ev, ok, err := s.glass(r.Patient, r.Reader)
		if err != nil {
			return stateError(err)
		}
		if ok {
			d := checkGlass(s, r, &ev, org)
			if d.Allow || d.Code == CodeStateError {
				return d
			}
			if !found {
				deny = d
			}
		}
	}
	if deny.Code == CodeNoGrant {
		kind, ok, err := s.kind(r.Patient)
		if err != nil {
			return stateError(err)
		}
		if !ok {
			return Decision{Code: CodeNoPatient, Who: r.Patient}
		}
		if kind != pb.AccountKind_ACCOUNT_KIND_PATIENT {
			return Decision{Code: CodeNotPatient, Who: r.Patient}
		}
	}
	return deny
}

func stateError(err error) Decision { return Decision{Code: CodeStateError, Err: err} }

func unix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// checkGrant judges the patient's grant to grantee; found reports whether
// there is one (in any state).
func checkGrant(s source, r *Request, grantee ptoy.ID) (d Decision, found bool) {
	g, ok, err := s.grant(r.Patient, grantee)
	return judgeGrant(r, grantee, &g, ok, err)
}

// judgeGrant judges a grant that was looked up (found, or err).
func judgeGrant(r *Request, grantee ptoy.ID, g *grantFacts, found bool, err error) (d Decision, _ bool) {
	if err != nil {
		return stateError(err), true
	}
	if !found {
		return Decision{}, false
	}
	now := r.Time.Unix()
	d = Decision{Who: grantee, By: g.by, Scope: g.cats, Purpose: g.purpose}
	switch {
	case !g.active:
		d.Code, d.At = CodeRevoked, unix(g.revoked)
	case g.notBefore != 0 && now < g.notBefore:
		d.Code, d.At = CodeNotYet, unix(g.notBefore)
	case g.expires != 0 && now >= g.expires:
		d.Code, d.At = CodeExpired, unix(g.expires)
	case r.Action == Read && !canRead(g.perm):
		d.Code = CodeWriteOnly
	case r.Action == Write && !canWrite(g.perm):
		d.Code = CodeReadOnly
	case r.Action == Read && r.Purpose == pb.Purpose_PURPOSE_UNSPECIFIED:
		d.Code = CodeNoPurpose
	case r.Purpose != pb.Purpose_PURPOSE_UNSPECIFIED && r.Purpose != g.purpose:
		d.Code = CodePurpose
	case r.Categories&^g.cats != 0:
		d.Code, d.Categories = CodeScope, r.Categories&^g.cats
	default:
		d.Allow, d.Via, d.Code, d.Expires = true, ViaGrant, CodeGrant, unix(g.expires)
	}
	return d, true
}

func checkDelegation(r *Request, g *delegationFacts) Decision {
	d := Decision{Who: r.Reader, Scope: g.cats}
	switch {
	case g.expires != 0 && r.Time.Unix() >= g.expires:
		d.Code, d.At = CodeDelegationExpired, unix(g.expires)
	case r.Categories&^g.cats != 0:
		d.Code, d.Categories = CodeDelegationScope, r.Categories&^g.cats
	default:
		d.Allow, d.Via, d.Code, d.Expires = true, ViaDelegation, CodeDelegation, unix(g.expires)
	}
	return d
}

func checkGlass(s source, r *Request, ev *glassFacts, org ptoy.ID) Decision {
	now := r.Time.Unix()
	d := Decision{Who: r.Reader, Org: ev.org, Scope: ev.cats, At: unix(ev.closes)}
	switch {
	case r.Purpose != pb.Purpose_PURPOSE_EMERGENCY && r.Purpose != pb.Purpose_PURPOSE_TREATMENT:
		d.Code, d.Purpose = CodeGlassPurpose, r.Purpose
		return d
	case now < ev.opened || now >= ev.closes:
		d.Code = CodeGlassClosed
		return d
	case !org.IsZero() && org != ev.org:
		d.Code = CodeGlassOrg
		return d
	}
	role, ok, err := s.role(ev.org, r.Reader)
	if err != nil {
		return stateError(err)
	}
	switch {
	case !ok || role != pb.Role_ROLE_EMERGENCY_PHYSICIAN:
		d.Code = CodeGlassRole
	case r.Categories&^ev.cats != 0:
		d.Code, d.Categories = CodeGlassScope, r.Categories&^ev.cats
	default:
		d.Allow, d.Via, d.Code, d.Expires = true, ViaBreakGlass, CodeBreakGlass, unix(ev.closes)
	}
	return d
}
