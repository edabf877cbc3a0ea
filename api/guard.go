package api

// Who may ask what. The network's public facts (status, accounts' public
// keys, organisations and their employee lists, proposals, parameters,
// supply, audit anchors) are answered to anyone. Every query about a
// person is answered only on a signed request (auth.CallerFrom), and only
// to:
//
//	ConsentService
//	  Access, Notifications      the patient and their delegates
//	  BreakGlassQueue(patient)   the patient and their delegates; a practitioner,
//	                             the break-glass events it opened
//	  BreakGlassQueue(org)       the organisation, its privacy officers and admins
//	  Patients(grantee)          the grantee; for an organisation, it and its employees
//	  Explain                    the patient and their delegates; the reader itself;
//	                             the organisation it reads for, its admins and privacy officers
//	  AuditEvents                the patient and their delegates (its own signature)
//	RecordService
//	  Records, Record,           the patient; others (delegates, grantees, employees
//	  RecordHistory              of a grantee organisation) see the records consent.Decide
//	                             lets them read, for the organisation and purpose the
//	                             request names (X-Ptoy-Org, X-Ptoy-Purpose); a writer also
//	                             sees the records it wrote
//	  KeySet                     the patient, delegates, and whoever may read or write
//	                             some category of the patient's records; the holder
//	                             bundle only of the caller itself
//	TokenService
//	  Balance, History, Usage    the account; a patient's delegates; an organisation's
//	                             admins and billing staff; the treasury's history and
//	                             usage, the member organisations and their admins
//
// Anything answered to someone other than the patient it is about, or
// refused to them, goes through the node's door (door.Access with a
// Rule), so it appears in the patient's audit trail.

import (
	"context"
	"net/http"

	"ptoy"
	"ptoy/auth"
	"ptoy/consent"
	"ptoy/door"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
)

// errUnsigned is the answer to a query about a person without credentials.
var errUnsigned = ptoy.E("api", ptoy.Unauthenticated,
	"sign the request (Authorization: "+auth.Scheme+" …) or sign in for a session: this query is about a person")

// caller returns the authenticated account of ctx's request.
func caller(ctx context.Context) (*pb.Account, error) {
	if a := auth.CallerFrom(ctx); a != nil {
		return a, nil
	}
	return nil, errUnsigned
}

// ask is one query about a person: who asks, about whom, and the
// verdict of the method's rule.
type ask struct {
	who     *pb.Account
	patient ptoy.ID // whose data: an audit trail is kept for patients only
	what    string  // what is asked, for the audit event ("access", "records", …)
	allow   bool
	reason  string // why not, in plain words
}

func (q ask) ok(why string) ask { q.allow, q.reason = true, why; return q }
func (q ask) no(why string) ask { q.allow, q.reason = false, why; return q }
func (q ask) self() bool        { return ptoy.ID(q.who.Id) == q.patient }
func (q ask) whoID() ptoy.ID    { return ptoy.ID(q.who.Id) }
func newAsk(who *pb.Account, patient ptoy.ID, what string) ask {
	return ask{who: who, patient: patient, what: what}
}

// guard decides queries about people on the node's committed state and
// records them through its door.
type guard struct{ b Backend }

// admit lets q through or refuses it (ptoy.PermissionDenied with its
// reason). A query about a patient by someone else is recorded in the
// patient's audit trail, allowed or not; nothing is answered if the
// record cannot be written (ptoy.Unavailable).
func (g guard) admit(ctx context.Context, q ask) error {
	if q.patient.IsZero() || q.self() || !g.isPatient(q.patient) {
		if !q.allow {
			return ptoy.E("api", ptoy.PermissionDenied, q.reason)
		}
		return nil
	}
	_, err := g.b.Door().Enter(ctx, door.Access{
		Reader: q.whoID(), Patient: q.patient, Action: "query", Object: q.what,
		Rule: func() (bool, string) { return q.allow, q.reason },
	})
	return err
}

func (g guard) isPatient(id ptoy.ID) bool {
	a, err := g.b.State().Account(id)
	return err == nil && a.Kind == pb.AccountKind_ACCOUNT_KIND_PATIENT
}

// delegate reports whether who acts for patient under a delegation in
// force.
func (g guard) delegate(who, patient ptoy.ID) bool {
	l := g.b.State()
	d, err := l.ConsentState().Delegation(patient, who)
	if err != nil || d == nil || d.Delegation == nil {
		return false
	}
	exp := d.Delegation.Expires
	return exp == 0 || l.BlockTime().Unix() < exp
}

// staff reports whether who is org itself or its employee with one of
// roles (any role when none is given).
func (g guard) staff(org, who ptoy.ID, roles ...pb.Role) bool {
	if org.IsZero() {
		return false
	}
	if org == who {
		return true
	}
	e, err := g.b.State().Employee(org, who)
	if err != nil {
		return false
	}
	if len(roles) == 0 {
		return true
	}
	for _, r := range roles {
		if e.Role == r {
			return true
		}
	}
	return false
}

// personal is the rule of the queries about a patient that only the
// patient and their delegates may ask.
func (g guard) personal(q ask) ask {
	switch {
	case q.self():
		return q.ok("the patient's own")
	case g.delegate(q.whoID(), q.patient):
		return q.ok("a delegate of the patient")
	}
	return q.no("only the patient or their delegate may see this")
}

// ---- ConsentService ----

// consentAsk is the rule of each ConsentService query about a person.
func (g guard) consentAsk(who *pb.Account, msg any) (ask, error) {
	switch m := msg.(type) {
	case *pb.AccessRequest:
		p, err := idArg("patient", m.Patient)
		return g.personal(newAsk(who, p, "access")), err
	case *pb.NotificationsRequest:
		p, err := idArg("patient", m.Patient)
		return g.personal(newAsk(who, p, "notifications")), err
	case *pb.BreakGlassQueueRequest:
		if len(m.Org) == 0 {
			// Others see only the events they opened (consentSvc
			// filters them).
			p, err := idArg("patient", m.Patient)
			q := g.personal(newAsk(who, p, "break-glass events"))
			if !q.allow && g.openedBreakGlass(q.whoID(), p) {
				q = q.ok("the practitioner's own break-glass")
			}
			return q, err
		}
		org, err := idArg("org", m.Org)
		q := newAsk(who, ptoy.ID{}, "break-glass queue")
		if g.staff(org, q.whoID(), pb.Role_ROLE_PRIVACY_OFFICER, pb.Role_ROLE_ADMIN) {
			return q.ok("the organisation's review queue"), err
		}
		return q.no("only the organisation, its privacy officers and its admins see its break-glass review queue"), err
	case *pb.PatientsRequest:
		gr, err := idArg("grantee", m.Grantee)
		q := newAsk(who, ptoy.ID{}, "patients")
		if g.staff(gr, q.whoID()) {
			return q.ok("its own patient list"), err
		}
		return q.no("only the grantee (an organisation: it and its employees) sees its patient list"), err
	case *pb.ExplainRequest:
		p, err := idArg("patient", m.Patient)
		if err != nil {
			return ask{}, err
		}
		r, err := idArg("reader", m.Reader)
		if err != nil {
			return ask{}, err
		}
		org := r
		if len(m.Org) > 0 {
			if org, err = idArg("org", m.Org); err != nil {
				return ask{}, err
			}
		}
		q := g.personal(newAsk(who, p, "explain"))
		switch {
		case q.allow:
		case q.whoID() == r:
			q = q.ok("the reader asks about itself")
		case g.staff(org, q.whoID(), pb.Role_ROLE_ADMIN, pb.Role_ROLE_PRIVACY_OFFICER) && (org == r || g.staff(org, r)):
			q = q.ok("an admin or privacy officer of the organisation the reader reads for")
		default:
			q = q.no("only the patient, their delegates, the reader itself, or the admins and privacy officers of its organisation may ask")
		}
		return q, nil
	}
	return ask{}, ptoy.E("api", ptoy.Other, "no rule for this query")
}

// openedBreakGlass reports whether practitioner ever broke the glass for
// patient.
func (g guard) openedBreakGlass(practitioner, patient ptoy.ID) bool {
	ev, err := g.b.State().ConsentState().BreakGlass(patient, practitioner)
	return err == nil && ev != nil
}

// ---- RecordService ----

// readerView judges which of a patient's records a caller may see: the
// patient all; anyone else what consent.Decide lets them read for the
// organisation (X-Ptoy-Org, else each organisation they work for) and
// purpose (X-Ptoy-Purpose, default treatment) the request names.
type readerView struct {
	g       guard
	q       ask
	orgs    []ptoy.ID // to try, in order; the zero id: as itself
	purpose pb.Purpose
}

func (g guard) reader(who *pb.Account, patient ptoy.ID, what string, h http.Header) (*readerView, error) {
	v := &readerView{g: g, q: newAsk(who, patient, what), purpose: pb.Purpose_PURPOSE_TREATMENT}
	if s := h.Get(auth.HeaderPurpose); s != "" {
		p, err := consent.ParsePurpose(s)
		if err != nil {
			return nil, ptoy.E("api", ptoy.Invalid, auth.HeaderPurpose+": "+ptoy.Message(err))
		}
		v.purpose = p
	}
	if s := h.Get(auth.HeaderOrg); s != "" {
		org, err := ptoy.ParseID(s)
		if err != nil {
			return nil, ptoy.E("api", ptoy.Invalid, auth.HeaderOrg+" must be an account id")
		}
		v.orgs = []ptoy.ID{org}
		return v, nil
	}
	v.orgs = []ptoy.ID{{}}
	if who.Kind == pb.AccountKind_ACCOUNT_KIND_PRACTITIONER {
		es, err := g.b.State().Employments(ptoy.ID(who.Id))
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			v.orgs = append(v.orgs, ptoy.ID(e.Org))
		}
	}
	return v, nil
}

// decide is consent.Decide for the caller on cats, for the first of its
// organisations that allows it.
func (v *readerView) decide(action consent.Action, cats uint32) (bool, string) {
	if v.q.self() {
		return true, "the patient's own"
	}
	l := v.g.b.State()
	reason := ""
	for _, org := range v.orgs {
		r := consent.Request{Reader: v.q.whoID(), Patient: v.q.patient, Categories: cats, Action: action, Org: org}
		if action == consent.Read {
			r.Purpose = v.purpose
		}
		d := l.Decide(r)
		if d.Allow {
			return true, d.Reason()
		}
		if reason == "" {
			reason = d.Reason()
		}
	}
	return false, reason
}

// related reports whether the caller may read, or with write also
// write, some category of the patient's records.
func (v *readerView) related(write bool) (bool, string) {
	reason := ""
	for c := pb.Category(0); c < 32; c++ {
		b := consent.Bit(c)
		if b&consent.Defined == 0 {
			continue
		}
		ok, why := v.decide(consent.Read, b)
		if !ok && write {
			ok, why = v.decide(consent.Write, b)
		}
		if ok {
			return true, why
		}
		if reason == "" {
			reason = why
		}
	}
	return false, "you may not read any of the patient's records: " + reason
}

// sees says whether the caller may see a record version's metadata: it
// may read the record, or it (or its organisation) wrote it.
func (v *readerView) sees(st *pb.RecordState) bool {
	if ok, _ := v.decide(consent.Read, st.Entry.Labels|consent.Bit(st.Entry.Category)); ok {
		return true
	}
	w := ptoy.ID(st.Writer)
	return w == v.q.whoID() || (len(st.Org) > 0 && v.g.staff(ptoy.ID(st.Org), v.q.whoID()))
}

// filter keeps the record versions the caller may see; when it may see
// none and has no access to the patient's records at all, the query is
// refused.
func (v *readerView) filter(sts []*pb.RecordState) ([]*pb.RecordState, ask) {
	if v.q.self() {
		return sts, v.q.ok("the patient's own")
	}
	var out []*pb.RecordState
	for _, st := range sts {
		if v.sees(st) {
			out = append(out, st)
		}
	}
	if len(out) > 0 {
		return out, v.q.ok("records the reader may read or wrote")
	}
	if ok, why := v.related(true); !ok {
		return nil, v.q.no(why)
	}
	return nil, v.q.ok("none the reader may read")
}

// keySetAsk is the rule of KeySet: the public keys are for whoever may
// read or write for the patient; the holder bundle is the caller's own.
func (v *readerView) keySetAsk(holder ptoy.ID) ask {
	q := v.q
	switch {
	case !holder.IsZero() && holder != q.whoID():
		return q.no("you may ask only for your own key bundle")
	case q.self():
		return q.ok("the patient's own")
	case v.g.delegate(q.whoID(), q.patient):
		return q.ok("a delegate of the patient")
	}
	if ok, why := v.related(true); !ok {
		return q.no(why)
	}
	return q.ok("may read or write for the patient")
}

// ---- TokenService ----

// tokenAsk is the rule of Balance, History and Usage of an account.
func (g guard) tokenAsk(who *pb.Account, id ptoy.ID, what string) ask {
	q := newAsk(who, id, what)
	if q.self() {
		return q.ok("the account's own")
	}
	l := g.b.State()
	if id == ledger.Treasury {
		if what == "balance" {
			return q.ok("the treasury's balance is public")
		}
		if _, err := l.Org(q.whoID()); err == nil {
			return q.ok("a member organisation")
		}
		if es, err := l.Employments(q.whoID()); err == nil {
			for _, e := range es {
				if e.Role == pb.Role_ROLE_ADMIN {
					return q.ok("an admin of a member organisation")
				}
			}
		}
		return q.no("only the member organisations and their admins see the treasury's payments")
	}
	a, err := l.Account(id)
	if ptoy.KindOf(err) == ptoy.NotFound {
		return q.ok("no such account") // which accounts exist is public
	}
	if err != nil {
		return q.no("only the account itself may see this")
	}
	switch a.Kind {
	case pb.AccountKind_ACCOUNT_KIND_PATIENT:
		if g.delegate(q.whoID(), id) {
			return q.ok("a delegate of the patient")
		}
		return q.no("only the patient or their delegate may see this")
	case pb.AccountKind_ACCOUNT_KIND_ORG:
		if g.staff(id, q.whoID(), pb.Role_ROLE_ADMIN, pb.Role_ROLE_BILLING) {
			return q.ok("an admin or billing clerk of the organisation")
		}
		return q.no("only the organisation, its admins and its billing staff may see this")
	}
	return q.no("only the account itself may see this")
}
