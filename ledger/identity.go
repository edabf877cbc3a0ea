package ledger

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"unicode"
	"unicode/utf8"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

// apply checks the signer and sequence, then runs the message.
func (b *Block) apply(t *tx.Tx) error {
	op := "ledger." + tx.Name(t.Body)
	signer, acct, err := b.signer(op, t)
	if err != nil {
		return err
	}
	if reg, ok := t.Body.Msg.(*pb.Body_RegisterPatient); ok {
		// Writes the new account whole, sequence included.
		return b.registerPatient(op, t, signer, acct, reg.RegisterPatient)
	}
	if acct == nil {
		err = ptoy.E(op, ptoy.Unauthenticated, "the signing key belongs to no account on this network")
	} else if acct.Kind == pb.AccountKind_ACCOUNT_KIND_NODE && !nodeMessage(t.Body) {
		err = ptoy.E(op, ptoy.PermissionDenied, "a node's account signs its organisation's audit anchors and escrow share releases, nothing else")
	} else {
		switch m := t.Body.Msg.(type) {
		case *pb.Body_ProposeOrg:
			err = b.proposeOrg(op, t, acct, m.ProposeOrg)
		case *pb.Body_ProposeRemoval:
			err = b.proposeRemoval(op, acct, m.ProposeRemoval)
		case *pb.Body_Vote:
			err = b.vote(op, acct, m.Vote)
		case *pb.Body_AddEmployee:
			err = b.addEmployee(op, t, acct, m.AddEmployee)
		case *pb.Body_RemoveEmployee:
			err = b.removeEmployee(op, acct, m.RemoveEmployee)
		case *pb.Body_SetRole:
			err = b.setRole(op, acct, m.SetRole)
		case *pb.Body_RotateKeys:
			err = b.rotateKeys(op, t, acct, m.RotateKeys)
		default:
			handled := false
			for _, module := range modules {
				if handled, err = module(b, op, t, acct); handled {
					break
				}
			}
			if !handled {
				err = ptoy.E(op, ptoy.Invalid, "unknown transaction type")
			}
		}
	}
	if err != nil {
		return err
	}
	// Re-read: the message may have created or changed the account.
	acct, err = b.account(signer)
	if err != nil {
		return err
	}
	acct.Sequence = t.Body.Sequence
	b.putMsg(accountKey(ptoy.ID(acct.Id)), acct)
	return nil
}

// modules apply the messages of consent, the token and records; each
// reports whether the message was its own.
var modules = []func(b *Block, op string, t *tx.Tx, acct *pb.Account) (bool, error){
	(*Block).applyConsent,
	(*Block).applyToken,
	(*Block).applyRecords,
	(*Block).applyResidency,
}

// signer resolves the envelope's key to its account (nil for a key that
// is not registered yet) and checks the sequence number.
func (b *Block) signer(op string, t *tx.Tx) (ptoy.ID, *pb.Account, error) {
	idb, err := b.get(signingKeyKey(t.Signer()))
	if err != nil {
		return ptoy.ID{}, nil, err
	}
	if idb == nil {
		if retired, err := b.get(accountKey(ptoy.IDFromKey(t.Signer()))); err != nil || retired != nil {
			if err != nil {
				return ptoy.ID{}, nil, err
			}
			return ptoy.ID{}, nil, ptoy.E(op, ptoy.Unauthenticated, "this signing key was retired by a key rotation")
		}
		if t.Body.Sequence != 1 {
			return ptoy.ID{}, nil, ptoy.E(op, ptoy.BadSequence, fmt.Sprintf("sequence %d skips ahead: a new account's first transaction is 1", t.Body.Sequence))
		}
		return ptoy.IDFromKey(t.Signer()), nil, nil
	}
	id, err := ptoy.IDFromBytes(idb)
	if err != nil {
		return id, nil, err
	}
	acct, err := b.account(id)
	if err != nil {
		return id, nil, err
	}
	next := acct.Sequence + 1
	switch {
	case t.Body.Sequence < next:
		return id, nil, ptoy.E(op, ptoy.BadSequence, fmt.Sprintf("sequence %d was already used (a replay?); the next is %d", t.Body.Sequence, next))
	case t.Body.Sequence > next:
		return id, nil, ptoy.E(op, ptoy.BadSequence, fmt.Sprintf("sequence %d skips ahead; the next is %d", t.Body.Sequence, next))
	}
	return id, acct, nil
}

func (b *Block) account(id ptoy.ID) (*pb.Account, error) {
	a := new(pb.Account)
	ok, err := getMsg(b.get, accountKey(id), a)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ptoy.E("ledger.account", ptoy.NotFound, fmt.Sprintf("no account %s", id))
	}
	return a, nil
}

func (b *Block) org(op string, idb []byte) (ptoy.ID, *pb.Org, error) {
	id, err := ptoy.IDFromBytes(idb)
	if err != nil {
		return id, nil, ptoy.E(op, ptoy.Invalid, "organisation id", err)
	}
	o := new(pb.Org)
	ok, err := getMsg(b.get, orgKey(id), o)
	if err != nil {
		return id, nil, err
	}
	if !ok {
		return id, nil, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no organisation %s on this network", id))
	}
	return id, o, nil
}

// checkKEM validates an encryption key on its way into the ledger. The
// check is a pure function of the key, memoised because parsing an
// ML-KEM key costs tens of microseconds and CheckTx, recheck and
// FinalizeBlock each see the same key.
func (b *Block) checkKEM(op string, k *pb.KemKey) error {
	if k == nil {
		return ptoy.E(op, ptoy.Invalid, "an encryption (KEM) key is required")
	}
	if k.Alg > 0xffff {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown KEM algorithm %#x", k.Alg))
	}
	if err := b.l.kems.check(uint16(k.Alg), k.Key); err != nil {
		return ptoy.E(op, ptoy.Invalid, err)
	}
	return nil
}

// checkNewSigningKey validates a signing key that is to join the ledger.
func (b *Block) checkNewSigningKey(op string, t *tx.Tx, key []byte, who string) error {
	if len(key) != ed25519.PublicKeySize {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s signing key must be %d bytes, got %d", who, ed25519.PublicKeySize, len(key)))
	}
	if !t.Cosigned(key) {
		return ptoy.E(op, ptoy.Unauthenticated, fmt.Sprintf("the %s signing key must co-sign, to show that it is held", who))
	}
	return b.checkKeyUnused(op, key, who)
}

// checkKeyUnused refuses a signing key that is registered now or was
// retired: the account id derives from an account's first key, so a
// retired key must never found another account.
func (b *Block) checkKeyUnused(op string, key []byte, who string) error {
	used, err := b.get(signingKeyKey(key))
	if err != nil {
		return err
	}
	if used == nil {
		used, err = b.get(accountKey(ptoy.IDFromKey(key)))
		if err != nil {
			return err
		}
	}
	if used != nil {
		return ptoy.E(op, ptoy.Exists, fmt.Sprintf("the %s signing key is already registered", who))
	}
	return nil
}

func (b *Block) registerPatient(op string, t *tx.Tx, id ptoy.ID, acct *pb.Account, m *pb.RegisterPatient) error {
	if acct != nil {
		return ptoy.E(op, ptoy.Exists, fmt.Sprintf("account %s is already registered", id))
	}
	if err := b.checkKEM(op, m.Kem); err != nil {
		return err
	}
	if len(m.PhoneTag) != phoneTagLen {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a registration needs the %d-byte tag of the patient's phone number", phoneTagLen))
	}
	regID, org, err := b.org(op, m.Registrar)
	if err != nil {
		return ptoy.E(op, ptoy.Unauthenticated, "registration needs a member organisation's phone attestation", err)
	}
	if !MayAttest(org.Kind) {
		return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("%s is %s: only a hospital or a clinic may attest a patient's registration", org.Name, kindPhrase(org.Kind)))
	}
	reg, err := b.account(regID)
	if err != nil {
		return err
	}
	if !t.Cosigned(reg.SigningKey) {
		return ptoy.E(op, ptoy.Unauthenticated, "registration is not attested: the registering organisation did not co-sign it")
	}
	if used, err := b.get(phoneTagKey(m.PhoneTag)); err != nil {
		return err
	} else if used != nil {
		return ptoy.E(op, ptoy.Exists, "this phone number is already registered")
	}
	a := b.newAccount(id, pb.AccountKind_ACCOUNT_KIND_PATIENT, t.Signer(), m.Kem)
	a.Registrar = regID.Bytes()
	a.Sequence = t.Body.Sequence // as apply would set it, without reading the account back
	b.putMsg(accountKey(id), a)
	b.set(phoneTagKey(m.PhoneTag), id.Bytes())
	return nil
}

// phoneTagLen is the length of RegisterPatient.phone_tag, an HMAC-SHA256.
const phoneTagLen = 32

// MayAttest reports whether an organisation of kind k may attest a
// patient's registration (co-sign it as registrar, vouching that it
// verified the patient's phone): hospitals and clinics, which see
// patients in person, may; labs, pharmacies and insurers may not.
func MayAttest(k pb.OrgKind) bool {
	return k == pb.OrgKind_ORG_KIND_HOSPITAL || k == pb.OrgKind_ORG_KIND_CLINIC
}

// kindPhrase names an organisation kind with its article, for messages.
func kindPhrase(k pb.OrgKind) string {
	switch k {
	case pb.OrgKind_ORG_KIND_HOSPITAL:
		return "a hospital"
	case pb.OrgKind_ORG_KIND_CLINIC:
		return "a clinic"
	case pb.OrgKind_ORG_KIND_LAB:
		return "a lab"
	case pb.OrgKind_ORG_KIND_PHARMACY:
		return "a pharmacy"
	case pb.OrgKind_ORG_KIND_INSURER:
		return "an insurer"
	}
	return "an organisation of no known kind"
}

// newAccount indexes signingKey and returns a new account for the caller
// to complete and store.
func (b *Block) newAccount(id ptoy.ID, kind pb.AccountKind, signingKey []byte, kem *pb.KemKey) *pb.Account {
	b.set(signingKeyKey(signingKey), id.Bytes())
	return &pb.Account{
		Id:            id.Bytes(),
		Kind:          kind,
		SigningKey:    bytes.Clone(signingKey),
		Kem:           kem,
		CreatedHeight: b.height,
		CreatedTime:   b.time.Unix(),
	}
}

// actFor checks that acct may manage org: it is the organisation itself,
// or one of its employees with the admin role.
func (b *Block) actFor(op string, acct *pb.Account, orgIDb []byte) (ptoy.ID, *pb.Org, error) {
	if len(orgIDb) == 0 {
		if acct.Kind != pb.AccountKind_ACCOUNT_KIND_ORG {
			return ptoy.ID{}, nil, ptoy.E(op, ptoy.PermissionDenied, "only a member organisation, or one of its admins acting for it, may do this")
		}
		orgIDb = acct.Id
	}
	orgID, org, err := b.org(op, orgIDb)
	if err != nil {
		return orgID, nil, err
	}
	if bytes.Equal(acct.Id, orgID[:]) {
		return orgID, org, nil
	}
	e := new(pb.Employee)
	ok, err := getMsg(b.get, employeeKey(orgID, ptoy.ID(acct.Id)), e)
	if err != nil {
		return orgID, nil, err
	}
	if ok && e.Role == pb.Role_ROLE_ADMIN {
		return orgID, org, nil
	}
	return orgID, nil, ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("only %s or its admins may do this", org.Name))
}

// nodeMessage reports whether a node's account may sign body.
func nodeMessage(body *pb.Body) bool {
	switch body.Msg.(type) {
	case *pb.Body_AnchorAudit, *pb.Body_ReleaseShare:
		return true
	}
	return false
}

// addNode creates a node account for org and puts it on the employee
// list with the node role.
func (b *Block) addNode(orgID ptoy.ID, signingKey []byte, kem *pb.KemKey) {
	id := ptoy.IDFromKey(signingKey)
	a := b.newAccount(id, pb.AccountKind_ACCOUNT_KIND_NODE, signingKey, kem)
	a.Org = orgID.Bytes()
	b.putMsg(accountKey(id), a)
	b.putMsg(employeeKey(orgID, id), &pb.Employee{Org: orgID.Bytes(), Practitioner: id.Bytes(), Role: pb.Role_ROLE_NODE, SinceHeight: b.height})
	b.set(employmentKey(id, orgID), []byte{1})
}

// signsForOrg resolves the organisation a node transaction (an audit
// anchor, an escrow share release) is for: the signer itself if it is an
// organisation, or the organisation of a node account still on its
// employee list with the node role.
func (b *Block) signsForOrg(op string, acct *pb.Account, what string) (ptoy.ID, *pb.Org, error) {
	switch acct.Kind {
	case pb.AccountKind_ACCOUNT_KIND_ORG:
		return b.org(op, acct.Id)
	case pb.AccountKind_ACCOUNT_KIND_NODE:
		orgID, org, err := b.org(op, acct.Org)
		if err != nil {
			return orgID, nil, err
		}
		e := new(pb.Employee)
		ok, err := getMsg(b.get, employeeKey(orgID, ptoy.ID(acct.Id)), e)
		if err != nil {
			return orgID, nil, err
		}
		if !ok || e.Role != pb.Role_ROLE_NODE {
			return orgID, nil, ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("this node account was removed from %s's employee list: it no longer %s", org.Name, what))
		}
		return orgID, org, nil
	}
	return ptoy.ID{}, nil, ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("only an organisation or its node's account %s", what))
}

func validRole(r pb.Role) bool {
	_, ok := pb.Role_name[int32(r)]
	return ok && r != pb.Role_ROLE_UNSPECIFIED
}

func (b *Block) addEmployee(op string, t *tx.Tx, acct *pb.Account, m *pb.AddEmployee) error {
	orgID, _, err := b.actFor(op, acct, m.Org)
	if err != nil {
		return err
	}
	if !validRole(m.Role) {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown role %d", m.Role))
	}
	if len(m.SigningKey) != ed25519.PublicKeySize {
		return ptoy.E(op, ptoy.Invalid, "employee signing key must be 32 bytes")
	}
	if !t.Cosigned(m.SigningKey) {
		return ptoy.E(op, ptoy.Unauthenticated, "the employee must co-sign to show it holds its key")
	}
	if m.Role == pb.Role_ROLE_NODE {
		// A node's account is new, serves one organisation and does
		// nothing else: an existing account never becomes one.
		if err := b.checkKEM(op, m.Kem); err != nil {
			return err
		}
		if err := b.checkKeyUnused(op, m.SigningKey, "node"); err != nil {
			return err
		}
		b.addNode(orgID, m.SigningKey, m.Kem)
		return nil
	}
	var pid ptoy.ID
	idb, err := b.get(signingKeyKey(m.SigningKey))
	if err != nil {
		return err
	}
	if idb != nil {
		pid = ptoy.ID(idb)
		p, err := b.account(pid)
		if err != nil {
			return err
		}
		if p.Kind != pb.AccountKind_ACCOUNT_KIND_PRACTITIONER {
			return ptoy.E(op, ptoy.Invalid, "that key belongs to an account that is not a practitioner")
		}
	} else {
		if err := b.checkKEM(op, m.Kem); err != nil {
			return err
		}
		if err := b.checkKeyUnused(op, m.SigningKey, "employee"); err != nil {
			return err
		}
		pid = ptoy.IDFromKey(m.SigningKey)
		b.putMsg(accountKey(pid), b.newAccount(pid, pb.AccountKind_ACCOUNT_KIND_PRACTITIONER, m.SigningKey, m.Kem))
	}
	present, err := b.get(employeeKey(orgID, pid))
	if err != nil {
		return err
	}
	if present != nil {
		return ptoy.E(op, ptoy.Exists, fmt.Sprintf("%s is already on the employee list", pid))
	}
	b.putMsg(employeeKey(orgID, pid), &pb.Employee{Org: orgID.Bytes(), Practitioner: pid.Bytes(), Role: m.Role, SinceHeight: b.height})
	b.set(employmentKey(pid, orgID), []byte{1})
	return nil
}

func (b *Block) employee(op string, orgID ptoy.ID, eb []byte) (ptoy.ID, *pb.Employee, error) {
	pid, err := ptoy.IDFromBytes(eb)
	if err != nil {
		return pid, nil, ptoy.E(op, ptoy.Invalid, "employee id", err)
	}
	e := new(pb.Employee)
	ok, err := getMsg(b.get, employeeKey(orgID, pid), e)
	if err != nil {
		return pid, nil, err
	}
	if !ok {
		return pid, nil, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("%s is not on the employee list", pid))
	}
	return pid, e, nil
}

func (b *Block) removeEmployee(op string, acct *pb.Account, m *pb.RemoveEmployee) error {
	orgID, _, err := b.actFor(op, acct, m.Org)
	if err != nil {
		return err
	}
	pid, _, err := b.employee(op, orgID, m.Employee)
	if err != nil {
		return err
	}
	b.del(employeeKey(orgID, pid))
	b.del(employmentKey(pid, orgID))
	return nil
}

func (b *Block) setRole(op string, acct *pb.Account, m *pb.SetRole) error {
	orgID, _, err := b.actFor(op, acct, m.Org)
	if err != nil {
		return err
	}
	if !validRole(m.Role) {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown role %d", m.Role))
	}
	pid, e, err := b.employee(op, orgID, m.Employee)
	if err != nil {
		return err
	}
	if m.Role == pb.Role_ROLE_NODE || e.Role == pb.Role_ROLE_NODE {
		return ptoy.E(op, ptoy.Invalid, "the node role is neither given nor taken by a role change: add a node with a new key, remove it from the employee list")
	}
	e.Role = m.Role
	b.putMsg(employeeKey(orgID, pid), e)
	return nil
}

func (b *Block) rotateKeys(op string, t *tx.Tx, acct *pb.Account, m *pb.RotateKeys) error {
	if m.Kem == nil && len(m.SigningKey) == 0 {
		return ptoy.E(op, ptoy.Invalid, "nothing to rotate: give a new encryption key, a new signing key, or both")
	}
	if m.Kem != nil {
		if err := b.checkKEM(op, m.Kem); err != nil {
			return err
		}
		acct.Kem = m.Kem
	}
	if len(m.SigningKey) > 0 {
		if err := b.checkNewSigningKey(op, t, m.SigningKey, "new"); err != nil {
			return err
		}
		b.del(signingKeyKey(acct.SigningKey))
		acct.SigningKey = bytes.Clone(m.SigningKey)
		b.set(signingKeyKey(acct.SigningKey), acct.Id)
	}
	b.putMsg(accountKey(ptoy.ID(acct.Id)), acct)
	return nil
}

// checkName validates an organisation's display name.
func checkName(op, name string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > 128 || !utf8.ValidString(name) {
		return ptoy.E(op, ptoy.Invalid, "an organisation name is 1 to 128 characters")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return ptoy.E(op, ptoy.Invalid, "an organisation name has only printable characters")
		}
	}
	return nil
}
