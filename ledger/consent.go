package ledger

// Consent on the ledger: grants and revocations, delegations,
// break-glass (with the patient's policy, notifications and the review
// queues), audit anchors and the patients' key sets. Who may read what is
// decided by consent.Decide over this state (ConsentState); this file
// keeps the state and checks the transactions that change it.
//
// State layout (ids are 20 bytes, numbers 8 bytes big-endian):
//
//	grant/    patient grantee    GrantState, without the two ids (they are the key),
//	                             granted_by only when a delegate signed
//	granted/  grantee patient    the grant's expiry (0 = none): the grantee's patient
//	                             list, without revoked grants
//	dlg/      patient delegate   DelegationState, without the two ids
//	dlgof/    delegate patient   the delegation's expiry: whom a delegate acts for
//	bgpol/    patient            BreakGlassPolicy (absent: the network's emergency set)
//	bg/       id                 BreakGlassEvent (with the patient's dispute, if any)
//	bglast/   patient practitioner  id of the latest break-glass
//	bgorg/    org id             1: the organisation's review queue
//	bgpat/    patient id         1: the patient's break-glass list
//	bgopen/   patient            (id, closes)…: the windows that may still be open
//	bgrecent/ practitioner       opened…: break-glass times within the flag window
//	ntf/      patient id         Notification, without the patient
//	anchor/   org batch          AuditAnchor, without the org
//	anchorhead/ org              batch, last: the latest anchored batch
//	keyset/   patient            KeySetState
//	cfg/next-break-glass, cfg/next-notification   the last ids given
//
// A grant costs 159 bytes of ledger state as the story makes it, 188 at
// most (key and value, with its patient-list entry; TestGrantBytes).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

var (
	prefixGrant        = []byte("grant/")
	prefixGranted      = []byte("granted/")
	prefixDelegation   = []byte("dlg/")
	prefixDelegateOf   = []byte("dlgof/")
	prefixGlassPolicy  = []byte("bgpol/")
	prefixGlass        = []byte("bg/")
	prefixGlassLast    = []byte("bglast/")
	prefixGlassOrg     = []byte("bgorg/")
	prefixGlassPatient = []byte("bgpat/")
	prefixGlassOpen    = []byte("bgopen/")
	prefixGlassRecent  = []byte("bgrecent/")
	prefixNotification = []byte("ntf/")
	prefixAnchor       = []byte("anchor/")
	prefixAnchorHead   = []byte("anchorhead/")
	prefixKeySet       = []byte("keyset/")
	keyNextGlass       = []byte("cfg/next-break-glass")
	keyNextNote        = []byte("cfg/next-notification")
)

func grantKey(patient, grantee ptoy.ID) []byte   { return cat(prefixGrant, patient[:], grantee[:]) }
func grantedKey(grantee, patient ptoy.ID) []byte { return cat(prefixGranted, grantee[:], patient[:]) }
func delegationKey(patient, d ptoy.ID) []byte    { return cat(prefixDelegation, patient[:], d[:]) }
func delegateOfKey(d, patient ptoy.ID) []byte    { return cat(prefixDelegateOf, d[:], patient[:]) }
func glassPolicyKey(patient ptoy.ID) []byte      { return cat(prefixGlassPolicy, patient[:]) }
func glassKey(id uint64) []byte                  { return binary.BigEndian.AppendUint64(cat(prefixGlass), id) }
func glassLastKey(patient, p ptoy.ID) []byte     { return cat(prefixGlassLast, patient[:], p[:]) }
func glassOrgKey(org ptoy.ID, id uint64) []byte {
	return binary.BigEndian.AppendUint64(cat(prefixGlassOrg, org[:]), id)
}
func glassPatientKey(patient ptoy.ID, id uint64) []byte {
	return binary.BigEndian.AppendUint64(cat(prefixGlassPatient, patient[:]), id)
}
func glassOpenKey(patient ptoy.ID) []byte { return cat(prefixGlassOpen, patient[:]) }
func glassRecentKey(p ptoy.ID) []byte     { return cat(prefixGlassRecent, p[:]) }
func notificationKey(patient ptoy.ID, id uint64) []byte {
	return binary.BigEndian.AppendUint64(cat(prefixNotification, patient[:]), id)
}
func anchorKey(org ptoy.ID, batch uint64) []byte {
	return binary.BigEndian.AppendUint64(cat(prefixAnchor, org[:]), batch)
}
func anchorHeadKey(org ptoy.ID) []byte         { return cat(prefixAnchorHead, org[:]) }
func keySetKey(patient ptoy.ID) []byte         { return cat(prefixKeySet, patient[:]) }
func underID(prefix []byte, id ptoy.ID) []byte { return cat(prefix, id[:]) }

// Limits.
const (
	sha256Len    = 32  // SHA-256: key bundles, key sets, reasons, roots
	maxRebundles = 512 // per Revoke
	maxRecent    = 256 // break-glass times kept per practitioner for flagging
)

// applyConsent applies the consent messages.
func (b *Block) applyConsent(op string, t *tx.Tx, acct *pb.Account) (bool, error) {
	switch m := t.Body.Msg.(type) {
	case *pb.Body_Grant:
		return true, b.grant(op, acct, m.Grant)
	case *pb.Body_Revoke:
		return true, b.revoke(op, acct, m.Revoke)
	case *pb.Body_Delegate:
		return true, b.delegate(op, acct, m.Delegate)
	case *pb.Body_Undelegate:
		return true, b.undelegate(op, acct, m.Undelegate)
	case *pb.Body_BreakGlass:
		return true, b.breakGlass(op, acct, m.BreakGlass)
	case *pb.Body_BreakGlassPolicy:
		return true, b.setGlassPolicy(op, acct, m.BreakGlassPolicy)
	case *pb.Body_DisputeBreakGlass:
		return true, b.disputeGlass(op, acct, m.DisputeBreakGlass)
	case *pb.Body_AnchorAudit:
		return true, b.anchorAudit(op, acct, m.AnchorAudit)
	case *pb.Body_PublishKeys:
		return true, b.publishKeys(op, acct, m.PublishKeys)
	}
	return false, nil
}

// ---- reading consent state (shared by the block and the committed state) ----

type getFunc func(key []byte) ([]byte, error)

// readGrant returns the grant from patient to grantee with its ids filled
// in, nil if there is none.
func readGrant(get getFunc, patient, grantee ptoy.ID) (*pb.GrantState, error) {
	gs := new(pb.GrantState)
	ok, err := getMsg(get, grantKey(patient, grantee), gs)
	if err != nil || !ok {
		return nil, err
	}
	fillGrant(gs, patient, grantee)
	return gs, nil
}

func fillGrant(gs *pb.GrantState, patient, grantee ptoy.ID) {
	if gs.Grant == nil {
		gs.Grant = new(pb.Grant)
	}
	gs.Grant.Patient, gs.Grant.Grantee = patient.Bytes(), grantee.Bytes()
	if len(gs.GrantedBy) == 0 {
		gs.GrantedBy = patient.Bytes()
	}
}

func readDelegation(get getFunc, patient, delegate ptoy.ID) (*pb.DelegationState, error) {
	ds := new(pb.DelegationState)
	ok, err := getMsg(get, delegationKey(patient, delegate), ds)
	if err != nil || !ok {
		return nil, err
	}
	fillDelegation(ds, patient, delegate)
	return ds, nil
}

func fillDelegation(ds *pb.DelegationState, patient, delegate ptoy.ID) {
	if ds.Delegation == nil {
		ds.Delegation = new(pb.Delegate)
	}
	ds.Delegation.Patient, ds.Delegation.Delegate = patient.Bytes(), delegate.Bytes()
}

func readGlass(get getFunc, id uint64) (*pb.BreakGlassEvent, error) {
	ev := new(pb.BreakGlassEvent)
	ok, err := getMsg(get, glassKey(id), ev)
	if err != nil || !ok {
		return nil, err
	}
	return ev, nil
}

func readPolicy(get getFunc, patient ptoy.ID) (*pb.BreakGlassPolicy, error) {
	p := new(pb.BreakGlassPolicy)
	if _, err := getMsg(get, glassPolicyKey(patient), p); err != nil {
		return nil, err
	}
	return p, nil
}

// consentView is consent.State over a getFunc: the committed state
// (Ledger.ConsentState) or a block being applied (Block.consentState).
type consentView struct{ get getFunc }

func (v consentView) Account(id ptoy.ID) (*pb.Account, error) {
	a := new(pb.Account)
	ok, err := getMsg(v.get, accountKey(id), a)
	if err != nil || !ok {
		return nil, err
	}
	return a, nil
}

func (v consentView) Grant(patient, grantee ptoy.ID) (*pb.GrantState, error) {
	return readGrant(v.get, patient, grantee)
}

func (v consentView) Delegation(patient, delegate ptoy.ID) (*pb.DelegationState, error) {
	return readDelegation(v.get, patient, delegate)
}

func (v consentView) Employee(org, p ptoy.ID) (*pb.Employee, error) {
	e := new(pb.Employee)
	ok, err := getMsg(v.get, employeeKey(org, p), e)
	if err != nil || !ok {
		return nil, err
	}
	return e, nil
}

func (v consentView) BreakGlass(patient, p ptoy.ID) (*pb.BreakGlassEvent, error) {
	idb, err := v.get(glassLastKey(patient, p))
	if err != nil || idb == nil {
		return nil, err
	}
	return readGlass(v.get, readU64(idb))
}

func (v consentView) Names(id ptoy.ID) string {
	o := new(pb.Org)
	if ok, err := getMsg(v.get, orgKey(id), o); err == nil && ok {
		return o.Name
	}
	a, err := v.Account(id)
	if err != nil || a == nil {
		return consent.ShortID(id)
	}
	return consent.DefaultName(id, a.Kind)
}

// consentState is the consent.State of the block being applied: what
// the transactions before this one wrote is visible. For the records
// messages (a write checks consent.Decide with Action Write).
func (b *Block) consentState() consent.State { return consentView{b.get} }

// ConsentState is the consent.State of the committed state, for
// consent.Decide and consent.Explain at a gateway. Each call of a State
// method reads the store; a block committed between two calls of one
// decision is possible, and harmless (the next decision sees it whole).
func (l *Ledger) ConsentState() consent.State { return consentView{l.kv.Get} }

// mayWrite checks that signer may write records touching cats for
// patient, acting for org (zero: as itself), on the block's state:
// consent.Decide with Action Write. The patient, a delegate within its
// scope, a grantee with write permission, or an employee whose role
// covers the categories writing under its organisation's grant may.
// ptoy.PermissionDenied carries the reason in plain words.
func (b *Block) mayWrite(op string, signer, patient, org ptoy.ID, cats uint32) error {
	d := consent.Decide(b.consentState(), consent.Request{
		Reader: signer, Patient: patient, Categories: cats, Action: consent.Write, Time: b.time, Org: org,
	})
	switch {
	case d.Allow:
		return nil
	case d.Code == consent.CodeStateError:
		return d.Err
	}
	return ptoy.E(op, ptoy.PermissionDenied, d.Reason())
}

// Decide is consent.Decide on the committed state. A request without a
// time is judged at the last committed block's time.
func (l *Ledger) Decide(r consent.Request) consent.Decision {
	if r.Time.IsZero() {
		r.Time = l.BlockTime()
	}
	return consent.Decide(l.ConsentState(), r)
}

// ---- checks shared by the handlers ----

func checkScope(op string, cats uint32) error {
	if cats == 0 {
		return ptoy.E(op, ptoy.Invalid, "the scope names no category")
	}
	if bad := cats &^ consent.Defined; bad != 0 {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the scope has undefined category bits %#x", bad))
	}
	return nil
}

// checkSHA256 checks a SHA-256 field: 32 bytes, or empty when optional.
func checkSHA256(op, what string, h []byte, required bool) error {
	if len(h) == sha256Len || len(h) == 0 && !required {
		return nil
	}
	if len(h) == 0 {
		return ptoy.E(op, ptoy.Invalid, what+" is required (a 32-byte SHA-256)")
	}
	return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s must be a 32-byte SHA-256, got %d bytes", what, len(h)))
}

func timeWords(s int64) string { return consent.FormatTime(time.Unix(s, 0)) }

// endWords writes the end of an access: a midnight is the end of the day
// before, the day a person gave ("the end of 2027-12-31").
func endWords(s int64) string { return consent.FormatEnd(time.Unix(s, 0)) }

// idArg parses an id field of a message; what names it in errors.
func idArg(op, what string, b []byte) (ptoy.ID, error) {
	if len(b) == 0 {
		return ptoy.ID{}, ptoy.E(op, ptoy.Invalid, what+" is required")
	}
	id, err := ptoy.IDFromBytes(b)
	if err != nil {
		return id, ptoy.E(op, ptoy.Invalid, what, err)
	}
	return id, nil
}

// patientAccount checks that id is a registered patient.
func (b *Block) patientAccount(op string, id ptoy.ID) error {
	a := new(pb.Account)
	ok, err := getMsg(b.get, accountKey(id), a)
	if err != nil {
		return err
	}
	if !ok {
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no patient %s on this network", id))
	}
	if a.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s is not a patient", id))
	}
	return nil
}

// actForPatient resolves the patient a message is for (patientb, or the
// signer when empty) and checks that the signer may act for them in
// matters of consent: it is the patient, or a delegate whose delegation
// is in force and includes the right to grant. The delegation is
// returned (nil when the patient signs), for the caller to check scope.
func (b *Block) actForPatient(op string, acct *pb.Account, patientb []byte, what string) (ptoy.ID, *pb.Delegate, error) {
	signer := ptoy.ID(acct.Id)
	patient := signer
	if len(patientb) > 0 {
		var err error
		if patient, err = idArg(op, "patient id", patientb); err != nil {
			return patient, nil, err
		}
	}
	if err := b.patientAccount(op, patient); err != nil {
		return patient, nil, err
	}
	if patient == signer {
		return patient, nil, nil
	}
	ds, err := readDelegation(b.get, patient, signer)
	if err != nil {
		return patient, nil, err
	}
	switch {
	case ds == nil:
		return patient, nil, ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("only the patient, or a delegate allowed to grant, may %s for %s", what, patient))
	case ds.Delegation.Expires != 0 && b.time.Unix() >= ds.Delegation.Expires:
		return patient, nil, ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("your delegation from %s lasted until %s", patient, endWords(ds.Delegation.Expires)))
	case !ds.Delegation.MayGrant:
		return patient, nil, ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("your delegation from %s does not include the right to grant", patient))
	}
	return patient, ds.Delegation, nil
}

// delegateMayRekey checks that a delegate (dl, nil when the patient
// signs) may change the patient's key set: the key set, the patient's
// own bundle and the escrow hold the keys of every category, so only the
// patient, or a delegate for every category, changes them. A caregiver
// delegated demographics who could replace the key set would have every
// record written afterwards sealed to keys of its choosing.
func delegateMayRekey(op string, dl *pb.Delegate) error {
	if dl == nil || dl.Categories&consent.Defined == consent.Defined {
		return nil
	}
	return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf(
		"a caregiver delegated %s cannot change the patient's keys, which cover every category; only the patient can (or a delegate for all categories)",
		consent.DescribeCategories(dl.Categories)))
}

// delegateMaySetGlass checks that a delegate (dl, nil when the patient
// signs) may change the patient's break-glass policy: the policy governs
// the whole emergency set, so only the patient, or a delegate whose
// scope covers the whole emergency set, changes it.
func delegateMaySetGlass(op string, dl *pb.Delegate) error {
	if dl == nil || dl.Categories&consent.EmergencySet == consent.EmergencySet {
		return nil
	}
	return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf(
		"a caregiver delegated %s cannot change the patient's break-glass policy, which governs %s; only the patient can (or a delegate for all of these)",
		consent.DescribeCategories(dl.Categories), consent.DescribeCategories(consent.EmergencySet)))
}

// ---- grants ----

func (b *Block) putGrant(gs *pb.GrantState) {
	patient, grantee := ptoy.ID(gs.Grant.Patient), ptoy.ID(gs.Grant.Grantee)
	stored := proto.Clone(gs).(*pb.GrantState)
	stored.Grant.Patient, stored.Grant.Grantee = nil, nil
	if bytes.Equal(stored.GrantedBy, patient[:]) {
		stored.GrantedBy = nil
	}
	b.putMsg(grantKey(patient, grantee), stored)
}

func (b *Block) grant(op string, acct *pb.Account, m *pb.Grant) error {
	patient, dl, err := b.actForPatient(op, acct, m.Patient, "grant access")
	if err != nil {
		return err
	}
	grantee, err := idArg(op, "grantee id", m.Grantee)
	if err != nil {
		return err
	}
	if grantee == patient {
		return ptoy.E(op, ptoy.Invalid, "a patient does not grant access to themselves: they always have it")
	}
	if ok, err := getMsg(b.get, accountKey(grantee), new(pb.Account)); err != nil || !ok {
		if err != nil {
			return err
		}
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no account %s to grant access to", grantee))
	}
	if err := checkScope(op, m.Categories); err != nil {
		return err
	}
	switch {
	case m.Purpose == pb.Purpose_PURPOSE_EMERGENCY:
		return ptoy.E(op, ptoy.Invalid, "emergency access is by break-glass, not by a grant")
	case !consent.ValidPurpose(m.Purpose):
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a grant needs a purpose of use: treatment, payment, operations or research (got %d)", m.Purpose))
	case !consent.ValidPermission(m.Permission):
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a grant needs a permission: read, write or read-write (got %d)", m.Permission))
	}
	if m.Permission&pb.Permission_PERMISSION_READ != 0 {
		if err := checkSHA256(op, "the key bundle hash of a grant that reads", m.KeyBundle, true); err != nil {
			return err
		}
	} else if len(m.KeyBundle) > 0 {
		return ptoy.E(op, ptoy.Invalid, "a write-only grant carries no key bundle: its grantee must not read")
	}
	now := b.time.Unix()
	switch {
	case m.NotBefore < 0 || m.Expires < 0:
		return ptoy.E(op, ptoy.Invalid, "not_before and expires are Unix seconds, not negative")
	case m.Expires != 0 && m.Expires <= now:
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the grant would be expired already: it lasts until %s and this block is at %s", endWords(m.Expires), timeWords(now)))
	case m.Expires != 0 && m.NotBefore != 0 && m.Expires <= m.NotBefore:
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the grant must end (%s) after it starts (%s)", endWords(m.Expires), timeWords(m.NotBefore)))
	}
	gs := &pb.GrantState{
		Grant:       proto.Clone(m).(*pb.Grant),
		Status:      pb.GrantStatus_GRANT_STATUS_ACTIVE,
		CreatedTime: now,
		GrantedBy:   bytes.Clone(acct.Id),
	}
	gs.Grant.Patient = patient.Bytes()
	gs.Grant.Replace = false // an instruction to this transaction, not state
	if dl != nil {
		signer := ptoy.ID(acct.Id)
		switch {
		case grantee == signer:
			return ptoy.E(op, ptoy.PermissionDenied, "a delegate does not grant access to itself")
		case m.Categories&^dl.Categories != 0:
			return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("the grant covers %s, outside your delegation (%s)",
				consent.DescribeCategories(m.Categories&^dl.Categories), consent.DescribeCategories(dl.Categories)))
		case dl.Expires != 0 && (m.Expires == 0 || m.Expires > dl.Expires):
			return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("your delegation lasts until %s: a grant you sign must end by then", endWords(dl.Expires)))
		}
	}
	// A grant in force is replaced only when the new one says so: a
	// patient who grants lab results to a hospital that reads their notes
	// must not lose the notes without a word.
	old, err := readGrant(b.get, patient, grantee)
	if err != nil {
		return err
	}
	if old != nil && old.Status == pb.GrantStatus_GRANT_STATUS_ACTIVE && (old.Grant.Expires == 0 || now < old.Grant.Expires) {
		switch {
		case !m.Replace:
			return ptoy.E(op, ptoy.Exists, fmt.Sprintf("%s already holds a grant: %s. A new grant would replace it and all it covers: to do so, grant again with replace (ptoy grant --replace), naming every category it should keep",
				grantee, grantWords(old.Grant)))
		case dl != nil && old.Grant.Categories&^dl.Categories != 0:
			return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("the grant to %s in force covers %s, outside your delegation: only the patient replaces it",
				grantee, consent.DescribeCategories(old.Grant.Categories&^dl.Categories)))
		}
	}
	b.putGrant(gs)
	b.set(grantedKey(grantee, patient), u64(uint64(m.Expires)))
	return nil
}

// grantWords describes a grant in force: "read and write access to lab
// results for treatment, until the end of 2027-12-31".
func grantWords(g *pb.Grant) string {
	perm := map[pb.Permission]string{
		pb.Permission_PERMISSION_READ: "read", pb.Permission_PERMISSION_WRITE: "write-only",
		pb.Permission_PERMISSION_READ_WRITE: "read and write",
	}[g.Permission]
	s := fmt.Sprintf("%s access to %s for %s", perm, consent.DescribeCategories(g.Categories), consent.PurposeName(g.Purpose))
	if g.Expires != 0 {
		s += ", until " + endWords(g.Expires)
	}
	return s
}

func (b *Block) revoke(op string, acct *pb.Account, m *pb.Revoke) error {
	patient, dl, err := b.actForPatient(op, acct, m.Patient, "revoke access")
	if err != nil {
		return err
	}
	grantee, err := idArg(op, "grantee id", m.Grantee)
	if err != nil {
		return err
	}
	gs, err := readGrant(b.get, patient, grantee)
	if err != nil {
		return err
	}
	if gs == nil {
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("%s holds no grant from the patient", grantee))
	}
	if gs.Status != pb.GrantStatus_GRANT_STATUS_ACTIVE {
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("the grant to %s was already revoked on %s", grantee, timeWords(gs.RevokedTime)))
	}
	if dl != nil && gs.Grant.Categories&^dl.Categories != 0 {
		return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("the grant to %s covers %s, outside your delegation", grantee,
			consent.DescribeCategories(gs.Grant.Categories&^dl.Categories)))
	}
	if err := checkRekey(op, dl, m.KeySet, m.OwnBundle, m.Rebundles); err != nil {
		return err
	}
	gs.Status, gs.RevokedTime = pb.GrantStatus_GRANT_STATUS_REVOKED, b.time.Unix()
	b.putGrant(gs)
	b.del(grantedKey(grantee, patient))
	return b.rekey(op, patient, grantee, "the grantee being revoked", m.KeySet, m.OwnBundle, m.Rebundles)
}

// checkRekey checks the new key epoch a Revoke or an Undelegate may
// carry: the new key set's hash, the patient's own bundle with the new
// epochs and a bundle of the new keys for each other holder, all or
// nothing of it; dl is the delegate who signs (nil: the patient).
func checkRekey(op string, dl *pb.Delegate, keySet, ownBundle []byte, rebundles []*pb.Rebundle) error {
	if err := checkSHA256(op, "key_set", keySet, false); err != nil {
		return err
	}
	if err := checkSHA256(op, "own_bundle", ownBundle, false); err != nil {
		return err
	}
	if (len(rebundles) > 0 || len(ownBundle) > 0) && len(keySet) == 0 {
		return ptoy.E(op, ptoy.Invalid, "rebundles and the patient's own bundle carry the keys of a new key set: give key_set too")
	}
	if len(rebundles) > maxRebundles {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("at most %d rebundles in one transaction", maxRebundles))
	}
	if len(keySet) > 0 {
		return delegateMayRekey(op, dl)
	}
	return nil
}

// rekey applies what checkRekey checked: each rebundle replaces the key
// bundle of a grant that reads or a delegation in force (never of
// losing, the one whose access ends, described as who), then the new key
// set.
func (b *Block) rekey(op string, patient, losing ptoy.ID, who string, keySet, ownBundle []byte, rebundles []*pb.Rebundle) error {
	now := b.time.Unix()
	seen := make(map[ptoy.ID]bool, len(rebundles)) // membership only; never iterated
	for i, rb := range rebundles {
		holder, err := idArg(op, fmt.Sprintf("rebundle %d: holder id", i+1), rb.Holder)
		if err != nil {
			return err
		}
		switch {
		case seen[holder]:
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("rebundle %d: %s is named twice", i+1, holder))
		case holder == losing:
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("rebundle %d: %s is %s", i+1, holder, who))
		case holder == patient:
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("rebundle %d: the patient needs no bundle", i+1))
		}
		seen[holder] = true
		if err := checkSHA256(op, fmt.Sprintf("rebundle %d: key bundle", i+1), rb.KeyBundle, true); err != nil {
			return err
		}
		updated := false
		g, err := readGrant(b.get, patient, holder)
		if err != nil {
			return err
		}
		if g != nil && g.Status == pb.GrantStatus_GRANT_STATUS_ACTIVE && (g.Grant.Expires == 0 || now < g.Grant.Expires) &&
			g.Grant.Permission&pb.Permission_PERMISSION_READ != 0 {
			g.Grant.KeyBundle = bytes.Clone(rb.KeyBundle)
			b.putGrant(g)
			updated = true
		}
		d, err := readDelegation(b.get, patient, holder)
		if err != nil {
			return err
		}
		if d != nil && (d.Delegation.Expires == 0 || now < d.Delegation.Expires) {
			d.Delegation.KeyBundle = bytes.Clone(rb.KeyBundle)
			b.putDelegation(d)
			updated = true
		}
		if !updated {
			return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("rebundle %d: %s holds no grant that reads, nor a delegation, in force", i+1, holder))
		}
	}
	if len(keySet) > 0 {
		return b.updateKeySet(patient, keySet, nil, ownBundle)
	}
	return nil
}

// ---- delegations ----

func (b *Block) putDelegation(ds *pb.DelegationState) {
	patient, delegate := ptoy.ID(ds.Delegation.Patient), ptoy.ID(ds.Delegation.Delegate)
	stored := proto.Clone(ds).(*pb.DelegationState)
	stored.Delegation.Patient, stored.Delegation.Delegate = nil, nil
	b.putMsg(delegationKey(patient, delegate), stored)
}

func (b *Block) delegate(op string, acct *pb.Account, m *pb.Delegate) error {
	signer := ptoy.ID(acct.Id)
	patient := signer
	if len(m.Patient) > 0 {
		var err error
		if patient, err = idArg(op, "patient id", m.Patient); err != nil {
			return err
		}
	}
	if patient != signer {
		return ptoy.E(op, ptoy.PermissionDenied, "only the patient may delegate access to their records")
	}
	if err := b.patientAccount(op, patient); err != nil {
		return err
	}
	delegate, err := idArg(op, "delegate id", m.Delegate)
	if err != nil {
		return err
	}
	if delegate == patient {
		return ptoy.E(op, ptoy.Invalid, "a patient does not delegate to themselves")
	}
	da := new(pb.Account)
	ok, err := getMsg(b.get, accountKey(delegate), da)
	if err != nil {
		return err
	}
	if !ok {
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no account %s to delegate to", delegate))
	}
	if da.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT && da.Kind != pb.AccountKind_ACCOUNT_KIND_PRACTITIONER {
		return ptoy.E(op, ptoy.Invalid, "a delegate is a person (a patient's or a practitioner's account), not an organisation")
	}
	if err := checkScope(op, m.Categories); err != nil {
		return err
	}
	now := b.time.Unix()
	if m.Expires < 0 || m.Expires != 0 && m.Expires <= now {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the delegation would be expired already: it lasts until %s and this block is at %s", endWords(m.Expires), timeWords(now)))
	}
	if err := checkSHA256(op, "the key bundle hash of a delegation", m.KeyBundle, true); err != nil {
		return err
	}
	ds := &pb.DelegationState{Delegation: proto.Clone(m).(*pb.Delegate), CreatedTime: now}
	ds.Delegation.Patient = patient.Bytes()
	b.putDelegation(ds)
	b.set(delegateOfKey(delegate, patient), u64(uint64(m.Expires)))
	return nil
}

func (b *Block) undelegate(op string, acct *pb.Account, m *pb.Undelegate) error {
	signer := ptoy.ID(acct.Id)
	patient := signer
	if len(m.Patient) > 0 {
		var err error
		if patient, err = idArg(op, "patient id", m.Patient); err != nil {
			return err
		}
	}
	delegate, err := idArg(op, "delegate id", m.Delegate)
	if err != nil {
		return err
	}
	if signer != patient && signer != delegate {
		return ptoy.E(op, ptoy.PermissionDenied, "only the patient, or the delegate itself, may end a delegation")
	}
	present, err := b.get(delegationKey(patient, delegate))
	if err != nil {
		return err
	}
	if present == nil {
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("%s is not a delegate of %s", delegate, patient))
	}
	rekeys := len(m.KeySet) > 0 || len(m.OwnBundle) > 0 || len(m.Rebundles) > 0
	if rekeys && signer != patient {
		return ptoy.E(op, ptoy.PermissionDenied, "only the patient starts a new key epoch when a delegation ends")
	}
	if err := checkRekey(op, nil, m.KeySet, m.OwnBundle, m.Rebundles); err != nil {
		return err
	}
	b.del(delegationKey(patient, delegate))
	b.del(delegateOfKey(delegate, patient))
	return b.rekey(op, patient, delegate, "the delegate whose delegation ends", m.KeySet, m.OwnBundle, m.Rebundles)
}

// ---- break-glass ----

// nextCounter increments the counter at key and returns the new value.
func (b *Block) nextCounter(key []byte) (uint64, error) {
	v, err := b.get(key)
	if err != nil {
		return 0, err
	}
	id := readU64(v) + 1
	b.set(key, u64(id))
	return id, nil
}

// unpackU64s reads a packed list of 8-byte numbers.
func unpackU64s(v []byte) []uint64 {
	out := make([]uint64, 0, len(v)/8)
	for ; len(v) >= 8; v = v[8:] {
		out = append(out, binary.BigEndian.Uint64(v))
	}
	return out
}

func packU64s(list []uint64) []byte {
	b := make([]byte, 0, 8*len(list))
	for _, n := range list {
		b = binary.BigEndian.AppendUint64(b, n)
	}
	return b
}

// setOrDel stores a packed list, or deletes the key when it is empty.
func (b *Block) setOrDel(key []byte, list []uint64) {
	if len(list) == 0 {
		if v, _ := b.get(key); v != nil {
			b.del(key)
		}
		return
	}
	b.set(key, packU64s(list))
}

func (b *Block) breakGlass(op string, acct *pb.Account, m *pb.BreakGlass) error {
	if len(m.Org) == 0 {
		return ptoy.E(op, ptoy.Invalid, "name the organisation you act for (org)")
	}
	orgID, org, err := b.org(op, m.Org)
	if err != nil {
		return err
	}
	prac := ptoy.ID(acct.Id)
	e := new(pb.Employee)
	ok, err := getMsg(b.get, employeeKey(orgID, prac), e)
	if err != nil {
		return err
	}
	if !ok || e.Role != pb.Role_ROLE_EMERGENCY_PHYSICIAN {
		return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("only an emergency physician of %s may break the glass for it", org.Name))
	}
	patient, err := idArg(op, "patient id", m.Patient)
	if err != nil {
		return err
	}
	if err := b.patientAccount(op, patient); err != nil {
		return err
	}
	if err := checkSHA256(op, "the reason hash", m.ReasonHash, true); err != nil {
		return err
	}
	pol, err := readPolicy(b.get, patient)
	if err != nil {
		return err
	}
	if pol.Disabled {
		return ptoy.E(op, ptoy.PermissionDenied, "the patient has turned break-glass off")
	}
	cats := consent.EmergencySet
	if pol.Categories != 0 {
		cats = pol.Categories
	}
	params, err := b.params()
	if err != nil {
		return err
	}
	now := b.time.Unix()
	id, err := b.nextCounter(keyNextGlass)
	if err != nil {
		return err
	}
	// Flag the practitioner's break_glass_flag_count-th break-glass
	// within the window, and every one after it.
	rv, err := b.get(glassRecentKey(prac))
	if err != nil {
		return err
	}
	var recent []uint64
	for _, t := range unpackU64s(rv) {
		if int64(t) > now-params.BreakGlassFlagWindow {
			recent = append(recent, t)
		}
	}
	recent = append(recent, uint64(now))
	if len(recent) > maxRecent {
		recent = recent[len(recent)-maxRecent:]
	}
	flagged := params.BreakGlassFlagCount > 0 && len(recent) >= int(params.BreakGlassFlagCount)
	b.set(glassRecentKey(prac), packU64s(recent))

	ev := &pb.BreakGlassEvent{
		Id:           id,
		Patient:      patient.Bytes(),
		Practitioner: prac.Bytes(),
		Org:          orgID.Bytes(),
		ReasonHash:   bytes.Clone(m.ReasonHash),
		Opened:       now,
		Closes:       now + params.BreakGlassSeconds,
		Categories:   cats,
		Flagged:      flagged,
	}
	b.putMsg(glassKey(id), ev)
	b.set(glassLastKey(patient, prac), u64(id))
	b.set(glassOrgKey(orgID, id), []byte{1})
	b.set(glassPatientKey(patient, id), []byte{1})
	if err := b.trackOpen(patient, func(list []uint64) []uint64 { return append(list, id, uint64(ev.Closes)) }); err != nil {
		return err
	}
	text := fmt.Sprintf("Emergency access to your %s was opened on %s by %s of %s, until %s. %s's privacy officer will review it.",
		consent.DescribeCategories(cats), timeWords(now), consent.DefaultName(prac, pb.AccountKind_ACCOUNT_KIND_PRACTITIONER),
		org.Name, timeWords(ev.Closes), org.Name)
	if flagged {
		text += fmt.Sprintf(" This practitioner broke the glass %d times within %s; the access is flagged.", len(recent), durationWords(params.BreakGlassFlagWindow))
	}
	return b.notifyPatient(patient, "break-glass", text)
}

// trackOpen rewrites the patient's list of possibly open windows, pairs
// (id, closes): it drops the closed ones, then applies edit.
func (b *Block) trackOpen(patient ptoy.ID, edit func([]uint64) []uint64) error {
	v, err := b.get(glassOpenKey(patient))
	if err != nil {
		return err
	}
	now := uint64(b.time.Unix())
	all := unpackU64s(v)
	var open []uint64
	for i := 0; i+1 < len(all); i += 2 {
		if all[i+1] > now {
			open = append(open, all[i], all[i+1])
		}
	}
	b.setOrDel(glassOpenKey(patient), edit(open))
	return nil
}

func (b *Block) notifyPatient(patient ptoy.ID, kind, text string) error {
	id, err := b.nextCounter(keyNextNote)
	if err != nil {
		return err
	}
	b.putMsg(notificationKey(patient, id), &pb.Notification{Id: id, Kind: kind, Text: text, Time: b.time.Unix()})
	return nil
}

func (b *Block) setGlassPolicy(op string, acct *pb.Account, m *pb.SetBreakGlassPolicy) error {
	patient, dl, err := b.actForPatient(op, acct, m.Patient, "set the break-glass policy")
	if err != nil {
		return err
	}
	if err := delegateMaySetGlass(op, dl); err != nil {
		return err
	}
	if m.Disabled && m.Categories != 0 {
		return ptoy.E(op, ptoy.Invalid, "a policy that turns break-glass off names no categories")
	}
	if bad := m.Categories &^ consent.EmergencySet; bad != 0 {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("break-glass can be limited within the emergency set (%s) only; %s is not in it",
			consent.DescribeCategories(consent.EmergencySet), describeBits(bad)))
	}
	if !m.Disabled && m.Categories == 0 {
		if v, err := b.get(glassPolicyKey(patient)); err != nil {
			return err
		} else if v != nil {
			b.del(glassPolicyKey(patient))
		}
	} else {
		b.putMsg(glassPolicyKey(patient), &pb.BreakGlassPolicy{Disabled: m.Disabled, Categories: m.Categories})
	}
	if !m.Disabled && m.Categories == 0 {
		return nil
	}
	// The policy applies at once: turning break-glass off closes the open
	// windows; a limit narrows them.
	now := b.time.Unix()
	var ferr error
	err = b.trackOpen(patient, func(open []uint64) []uint64 {
		var keep []uint64
		for i := 0; i+1 < len(open); i += 2 {
			ev, err := readGlass(b.get, open[i])
			if err != nil || ev == nil {
				ferr = err
				continue
			}
			if m.Disabled {
				ev.Closes = now
			} else {
				ev.Categories &= m.Categories
				if ev.Categories == 0 {
					ev.Closes = now
				}
			}
			b.putMsg(glassKey(ev.Id), ev)
			if ev.Closes > now {
				keep = append(keep, ev.Id, uint64(ev.Closes))
			}
		}
		return keep
	})
	if err != nil {
		return err
	}
	return ferr
}

// disputeGlass records the patient's dispute of a break-glass on their
// records: the time and the SHA-256 of the reason, once. The patient
// signs, or a delegate in force who may grant and whose scope covers
// every category (a dispute speaks for the patient as a whole).
func (b *Block) disputeGlass(op string, acct *pb.Account, m *pb.DisputeBreakGlass) error {
	patient, dl, err := b.actForPatient(op, acct, m.Patient, "dispute a break-glass")
	if err != nil {
		return err
	}
	if dl != nil && dl.Categories&consent.Defined != consent.Defined {
		return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf(
			"a caregiver delegated %s cannot dispute a break-glass; only the patient can (or a delegate for all categories)",
			consent.DescribeCategories(dl.Categories)))
	}
	if err := checkSHA256(op, "the dispute's reason hash", m.ReasonHash, true); err != nil {
		return err
	}
	if m.Event == 0 {
		return ptoy.E(op, ptoy.Invalid, "name the break-glass to dispute (event)")
	}
	ev, err := readGlass(b.get, m.Event)
	if err != nil {
		return err
	}
	// Another patient's break-glass is answered as an unknown one: the
	// signer learns nothing of it.
	if ev == nil || ptoy.ID(ev.Patient) != patient {
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("%s has no break-glass %d", patient, m.Event))
	}
	if ev.Disputed != 0 {
		return ptoy.E(op, ptoy.Exists, fmt.Sprintf("break-glass %d was already disputed on %s", m.Event, timeWords(ev.Disputed)))
	}
	ev.Disputed, ev.DisputeHash = b.time.Unix(), bytes.Clone(m.ReasonHash)
	if signer := ptoy.ID(acct.Id); signer != patient {
		ev.DisputedBy = signer.Bytes()
	}
	b.putMsg(glassKey(ev.Id), ev)
	return nil
}

// durationWords writes a number of seconds in words: "30 days", "4 hours".
func durationWords(s int64) string {
	switch {
	case s%86400 == 0 && s > 86400:
		return fmt.Sprintf("%d days", s/86400)
	case s%3600 == 0 && s > 3600:
		return fmt.Sprintf("%d hours", s/3600)
	case s%60 == 0 && s > 60:
		return fmt.Sprintf("%d minutes", s/60)
	}
	return fmt.Sprintf("%d seconds", s)
}

func describeBits(bits uint32) string {
	if bits&^consent.Defined != 0 {
		return fmt.Sprintf("category bits %#x", bits)
	}
	return consent.DescribeCategories(bits)
}

// ---- audit anchors ----

func (b *Block) anchorAudit(op string, acct *pb.Account, m *pb.AnchorAudit) error {
	orgID, _, err := b.signsForOrg(op, acct, "anchors audit batches")
	if err != nil {
		return err
	}
	if err := checkSHA256(op, "the batch's Merkle root", m.Root, true); err != nil {
		return err
	}
	if err := checkSHA256(op, "the batch's patients' root", m.Patients, true); err != nil {
		return err
	}
	if m.Batch == 0 || m.First == 0 || m.Last < m.First {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("batches and events are numbered from 1, and a batch holds events first to last (got batch %d, events %d to %d)", m.Batch, m.First, m.Last))
	}
	hv, err := b.get(anchorHeadKey(orgID))
	if err != nil {
		return err
	}
	var head, last uint64
	if len(hv) == 16 {
		head, last = binary.BigEndian.Uint64(hv), binary.BigEndian.Uint64(hv[8:])
	}
	switch {
	case m.Batch <= head:
		return ptoy.E(op, ptoy.Exists, fmt.Sprintf("audit batch %d is already anchored; the next is %d", m.Batch, head+1))
	case m.Batch > head+1:
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("audit batch %d skips ahead; the next is %d", m.Batch, head+1))
	case m.First != last+1:
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("audit batch %d must start at event %d, right after the previous batch", m.Batch, last+1))
	}
	b.putMsg(anchorKey(orgID, m.Batch), &pb.AuditAnchor{
		Batch: m.Batch, First: m.First, Last: m.Last, Root: bytes.Clone(m.Root), Height: b.height, Time: b.time.Unix(),
		Patients: bytes.Clone(m.Patients),
	})
	b.set(anchorHeadKey(orgID), binary.BigEndian.AppendUint64(u64(m.Batch), m.Last))
	return nil
}

// ---- key sets ----

func (b *Block) publishKeys(op string, acct *pb.Account, m *pb.PublishKeys) error {
	patient, dl, err := b.actForPatient(op, acct, m.Patient, "publish keys")
	if err != nil {
		return err
	}
	if err := delegateMayRekey(op, dl); err != nil {
		return err
	}
	if err := checkSHA256(op, "key_set", m.KeySet, true); err != nil {
		return err
	}
	if err := checkSHA256(op, "escrow", m.Escrow, false); err != nil {
		return err
	}
	if err := checkSHA256(op, "own_bundle", m.OwnBundle, false); err != nil {
		return err
	}
	return b.updateKeySet(patient, m.KeySet, m.Escrow, m.OwnBundle)
}

// updateKeySet sets the patient's key set (and the escrow and the
// patient's own bundle, each when given) and increments its version.
func (b *Block) updateKeySet(patient ptoy.ID, keySet, escrow, ownBundle []byte) error {
	ks := new(pb.KeySetState)
	if _, err := getMsg(b.get, keySetKey(patient), ks); err != nil {
		return err
	}
	ks.KeySet = bytes.Clone(keySet)
	if len(escrow) > 0 {
		ks.Escrow = bytes.Clone(escrow)
	}
	if len(ownBundle) > 0 {
		ks.OwnBundle = bytes.Clone(ownBundle)
	}
	ks.Version++
	ks.UpdatedTime = b.time.Unix()
	b.putMsg(keySetKey(patient), ks)
	return nil
}

// ParseGrantKey splits a committed grant key into patient and grantee; ok
// is false for other keys. Subscribers use it on commit write sets (a
// node's FHIR index follows the grants to its organisation).
func ParseGrantKey(k []byte) (patient, grantee ptoy.ID, ok bool) {
	rest, found := bytes.CutPrefix(k, prefixGrant)
	if !found || len(rest) != 2*ptoy.IDLen {
		return patient, grantee, false
	}
	copy(patient[:], rest)
	copy(grantee[:], rest[ptoy.IDLen:])
	return patient, grantee, true
}
