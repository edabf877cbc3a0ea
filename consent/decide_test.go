package consent_test

import (
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

// The cast of the product story, by name.
func id(name string) ptoy.ID { return ptoy.IDFromKey([]byte("consent-test/" + name)) }

var (
	alice    = id("alice")
	bob      = id("bob")
	carol    = id("carol") // alice's caregiver
	hospital = id("hospital")
	clinic   = id("clinic")
	lab      = id("lab")
	acme     = id("acme")
	osei     = id("osei")  // physician at the hospital
	lee      = id("lee")   // nurse at the hospital
	park     = id("park")  // billing at the hospital
	ruiz     = id("ruiz")  // privacy officer at the hospital
	novak    = id("novak") // emergency physician at the clinic
	tech     = id("tech")  // lab technician at the lab
)

var names = map[ptoy.ID]string{
	alice: "Alice", bob: "Bob", carol: "Carol", hospital: "General Hospital", clinic: "Riverside Clinic",
	lab: "City Lab", acme: "Acme Insurance", osei: "Dr Osei", lee: "Lee", park: "Park", ruiz: "Ruiz",
	novak: "Dr Novak", tech: "Tech",
}

var (
	t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// endNext is the expiry of a grant given "until 2027-01-31": the end
	// of that day, midnight starting the next.
	endNext = time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
)

func bits(cs ...pb.Category) uint32 {
	var b uint32
	for _, c := range cs {
		b |= consent.Bit(c)
	}
	return b
}

const (
	demographics = pb.Category_CATEGORY_DEMOGRAPHICS
	encounters   = pb.Category_CATEGORY_ENCOUNTERS
	conditions   = pb.Category_CATEGORY_CONDITIONS
	medications  = pb.Category_CATEGORY_MEDICATIONS
	allergies    = pb.Category_CATEGORY_ALLERGIES
	labResults   = pb.Category_CATEGORY_LAB_RESULTS
	notes        = pb.Category_CATEGORY_NOTES
	billing      = pb.Category_CATEGORY_INSURANCE_BILLING
	mentalHealth = pb.Category_CATEGORY_MENTAL_HEALTH
	hiv          = pb.Category_CATEGORY_HIV

	treatment = pb.Purpose_PURPOSE_TREATMENT
	payment   = pb.Purpose_PURPOSE_PAYMENT
	emergency = pb.Purpose_PURPOSE_EMERGENCY

	read      = pb.Permission_PERMISSION_READ
	write     = pb.Permission_PERMISSION_WRITE
	readWrite = pb.Permission_PERMISSION_READ_WRITE
)

// world builds the story's state in an Index: the accounts, the
// employees, and Alice's grant to General Hospital (read and write for
// encounters, conditions, medications, lab results and notes, for
// treatment, until 2027-01-31).
func world() *consent.Index {
	x := consent.NewIndex()
	for _, p := range []ptoy.ID{alice, bob, carol} {
		x.SetAccount(&pb.Account{Id: p.Bytes(), Kind: pb.AccountKind_ACCOUNT_KIND_PATIENT})
	}
	for _, o := range []ptoy.ID{hospital, clinic, lab, acme} {
		x.SetAccount(&pb.Account{Id: o.Bytes(), Kind: pb.AccountKind_ACCOUNT_KIND_ORG})
	}
	for _, p := range []ptoy.ID{osei, lee, park, ruiz, novak, tech} {
		x.SetAccount(&pb.Account{Id: p.Bytes(), Kind: pb.AccountKind_ACCOUNT_KIND_PRACTITIONER})
	}
	for id, n := range names {
		x.SetName(id, n)
	}
	employ(x, hospital, osei, pb.Role_ROLE_PHYSICIAN)
	employ(x, hospital, lee, pb.Role_ROLE_NURSE)
	employ(x, hospital, park, pb.Role_ROLE_BILLING)
	employ(x, hospital, ruiz, pb.Role_ROLE_PRIVACY_OFFICER)
	employ(x, clinic, novak, pb.Role_ROLE_EMERGENCY_PHYSICIAN)
	employ(x, lab, tech, pb.Role_ROLE_LAB_TECHNICIAN)
	grant(x, alice, hospital, bits(encounters, conditions, medications, labResults, notes), treatment, readWrite, 0, endNext.Unix())
	return x
}

// hospitalNode is the account of General Hospital's node.
var hospitalNode = id("hospital-node")

// nodeOf puts hospitalNode on org's employee list with the node role.
func nodeOf(org ptoy.ID) func(x *consent.Index) {
	return func(x *consent.Index) {
		x.SetAccount(&pb.Account{Id: hospitalNode.Bytes(), Kind: pb.AccountKind_ACCOUNT_KIND_NODE, Org: org.Bytes()})
		employ(x, org, hospitalNode, pb.Role_ROLE_NODE)
	}
}

func employ(x *consent.Index, org, p ptoy.ID, r pb.Role) {
	x.SetEmployee(&pb.Employee{Org: org.Bytes(), Practitioner: p.Bytes(), Role: r})
}

func grant(x *consent.Index, patient, grantee ptoy.ID, cats uint32, purpose pb.Purpose, perm pb.Permission, notBefore, expires int64) *pb.GrantState {
	g := &pb.GrantState{
		Grant: &pb.Grant{Patient: patient.Bytes(), Grantee: grantee.Bytes(), Categories: cats, Purpose: purpose,
			Permission: perm, NotBefore: notBefore, Expires: expires, KeyBundle: make([]byte, 32)},
		Status:      pb.GrantStatus_GRANT_STATUS_ACTIVE,
		CreatedTime: t0.Add(-24 * time.Hour).Unix(),
		GrantedBy:   patient.Bytes(),
	}
	x.SetGrant(g)
	return g
}

func revoke(x *consent.Index, patient, grantee ptoy.ID, at time.Time) {
	old, _ := x.Grant(patient, grantee)
	g := &pb.GrantState{Grant: old.Grant, Status: pb.GrantStatus_GRANT_STATUS_REVOKED, CreatedTime: old.CreatedTime,
		RevokedTime: at.Unix(), GrantedBy: old.GrantedBy}
	x.SetGrant(g)
}

func delegate(x *consent.Index, patient, d ptoy.ID, cats uint32, mayGrant bool, expires int64) {
	x.SetDelegation(&pb.DelegationState{Delegation: &pb.Delegate{Patient: patient.Bytes(), Delegate: d.Bytes(),
		Categories: cats, MayGrant: mayGrant, Expires: expires, KeyBundle: make([]byte, 32)}})
}

// glass records a break-glass by novak for alice at the clinic, opened
// at t0 for four hours, over cats.
func glass(x *consent.Index, id uint64, cats uint32, closes time.Time) {
	x.SetBreakGlass(&pb.BreakGlassEvent{Id: id, Patient: alice.Bytes(), Practitioner: novak.Bytes(), Org: clinic.Bytes(),
		ReasonHash: make([]byte, 32), Opened: t0.Unix(), Closes: closes.Unix(), Categories: cats})
}

// req is a read by reader for alice at t0 for treatment.
func req(reader, org ptoy.ID, cats uint32) consent.Request {
	return consent.Request{Reader: reader, Patient: alice, Categories: cats, Action: consent.Read, Purpose: treatment, Time: t0, Org: org}
}

func TestDecide(t *testing.T) {
	none := ptoy.ID{}
	clinical := bits(conditions, medications)
	tests := []struct {
		name   string
		setup  func(x *consent.Index)
		req    consent.Request
		edit   func(r *consent.Request)
		allow  bool
		via    string
		code   consent.Code
		reason string // the whole reason; "" to skip
	}{
		{name: "the patient reads their own records", req: req(alice, none, bits(mentalHealth, hiv)),
			allow: true, via: consent.ViaPatient, code: consent.CodeOwn, reason: "the patient's own records"},
		{name: "the patient writes their own records", req: req(alice, none, bits(notes)), edit: func(r *consent.Request) { r.Action = consent.Write },
			allow: true, via: consent.ViaPatient},
		{name: "physician through the organisation's grant", req: req(osei, hospital, clinical),
			allow: true, via: consent.ViaOrgGrant, code: consent.CodeOrgGrant,
			reason: "granted to General Hospital by the patient until the end of 2027-01-31 for treatment"},
		{name: "nurse writes an encounter", req: req(lee, hospital, bits(encounters)), edit: func(r *consent.Request) { r.Action = consent.Write; r.Purpose = 0 },
			allow: true, via: consent.ViaOrgGrant},
		{name: "expiry exactly at block time is expired", req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Time = endNext },
			code: consent.CodeExpired, reason: "expired at the end of 2027-01-31"},
		{name: "one second before expiry", req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Time = endNext.Add(-time.Second) },
			allow: true, via: consent.ViaOrgGrant},
		{name: "half a second before expiry", req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Time = endNext.Add(-time.Second / 2) },
			allow: true, via: consent.ViaOrgGrant},
		{name: "before not_before", setup: func(x *consent.Index) {
			grant(x, alice, hospital, clinical, treatment, read, t0.Add(time.Hour).Unix(), 0)
		}, req: req(osei, hospital, clinical), code: consent.CodeNotYet, reason: "the grant starts on 2026-06-01 13:00 UTC"},
		{name: "at not_before", setup: func(x *consent.Index) {
			grant(x, alice, hospital, clinical, treatment, read, t0.Unix(), 0)
		}, req: req(osei, hospital, clinical), allow: true, via: consent.ViaOrgGrant,
			reason: "granted to General Hospital by the patient for treatment"},
		{name: "revoked", setup: func(x *consent.Index) {
			revoke(x, alice, hospital, time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC))
		}, req: req(osei, hospital, clinical), code: consent.CodeRevoked, reason: "revoked on 2026-05-02"},
		{name: "revoked then granted again", setup: func(x *consent.Index) {
			revoke(x, alice, hospital, t0.Add(-time.Hour))
			grant(x, alice, hospital, clinical, treatment, read, 0, 0)
		}, req: req(osei, hospital, clinical), allow: true, via: consent.ViaOrgGrant},
		{name: "billing clerk cannot read a clinical note", req: req(park, hospital, bits(notes)),
			code: consent.CodeRole, reason: "Park's role (billing) does not cover clinical notes"},
		{name: "billing clerk reads encounters", req: req(park, hospital, bits(encounters)), allow: true, via: consent.ViaOrgGrant},
		{name: "role changed to physician", setup: func(x *consent.Index) { employ(x, hospital, park, pb.Role_ROLE_PHYSICIAN) },
			req: req(park, hospital, bits(notes)), allow: true, via: consent.ViaOrgGrant},
		{name: "role changed to billing", setup: func(x *consent.Index) { employ(x, hospital, osei, pb.Role_ROLE_BILLING) },
			req: req(osei, hospital, bits(conditions)), code: consent.CodeRole, reason: "Dr Osei's role (billing) does not cover conditions"},
		{name: "privacy officer reads no charts", req: req(ruiz, hospital, bits(encounters)),
			code: consent.CodeRole, reason: "Ruiz's role (privacy officer) does not cover encounters"},
		{name: "a node's account reads nothing under its organisation's grant", setup: nodeOf(hospital),
			req: req(hospitalNode, hospital, bits(encounters)), code: consent.CodeRole,
			reason: "node " + consent.ShortID(hospitalNode) + "'s role (node) does not cover encounters"},
		{name: "a node's account writes nothing under its organisation's grant", setup: nodeOf(hospital),
			req: req(hospitalNode, hospital, bits(encounters)), edit: func(r *consent.Request) { r.Action = consent.Write; r.Purpose = 0 },
			code: consent.CodeRole},
		{name: "a node's account has no grant of its own", setup: nodeOf(hospital),
			req: req(hospitalNode, none, bits(encounters)), code: consent.CodeNoGrant},
		{name: "employee removed", setup: func(x *consent.Index) { x.DeleteEmployee(hospital, osei) },
			req: req(osei, hospital, clinical), code: consent.CodeNotEmployee, reason: "Dr Osei does not work for General Hospital"},
		{name: "acting for an organisation one does not work for", req: req(novak, hospital, clinical),
			code: consent.CodeNotEmployee},
		{name: "without acting for the organisation, no personal grant", req: req(osei, none, clinical),
			code: consent.CodeNoGrant, reason: "the patient has not granted Dr Osei access"},
		{name: "a personal grant serves while acting for the organisation", setup: func(x *consent.Index) {
			x.DeleteGrant(alice, hospital)
			grant(x, alice, osei, clinical, treatment, read, 0, 0)
		}, req: req(osei, hospital, clinical), allow: true, via: consent.ViaGrant, reason: "granted by the patient for treatment"},
		{name: "the organisation's own key reads under its grant", req: req(hospital, none, clinical), allow: true, via: consent.ViaGrant},
		{name: "the organisation's own key with Org set to itself", req: req(hospital, hospital, clinical), allow: true, via: consent.ViaGrant},
		{name: "sensitive label under a clinical grant", req: req(osei, hospital, bits(notes, mentalHealth)),
			code: consent.CodeScope, reason: "scope excludes mental health"},
		{name: "sensitive label named by the grant", setup: func(x *consent.Index) {
			grant(x, alice, hospital, bits(notes, mentalHealth), treatment, read, 0, 0)
		}, req: req(osei, hospital, bits(notes, mentalHealth)), allow: true, via: consent.ViaOrgGrant},
		{name: "all-clinical does not reach sensitive labels", setup: func(x *consent.Index) {
			grant(x, alice, hospital, consent.Clinical, treatment, read, 0, 0)
		}, req: req(osei, hospital, bits(hiv)), code: consent.CodeScope, reason: "scope excludes HIV"},
		{name: "out of scope", req: req(osei, hospital, bits(allergies)), code: consent.CodeScope, reason: "scope excludes allergies"},
		{name: "write-only grant cannot read", setup: func(x *consent.Index) {
			grant(x, alice, lab, bits(labResults), treatment, write, 0, 0)
		}, req: req(tech, lab, bits(labResults)), code: consent.CodeWriteOnly},
		{name: "write-only grant writes", setup: func(x *consent.Index) {
			grant(x, alice, lab, bits(labResults), treatment, write, 0, 0)
		}, req: req(tech, lab, bits(labResults)), edit: func(r *consent.Request) { r.Action = consent.Write },
			allow: true, via: consent.ViaOrgGrant},
		{name: "read-only grant cannot write", setup: func(x *consent.Index) {
			grant(x, alice, hospital, clinical, treatment, read, 0, 0)
		}, req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Action = consent.Write },
			code: consent.CodeReadOnly},
		{name: "purpose mismatch", req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Purpose = payment },
			code: consent.CodePurpose, reason: "granted for treatment, not for payment"},
		{name: "insurer reads billing for payment", setup: func(x *consent.Index) {
			grant(x, alice, acme, bits(billing, encounters), payment, read, 0, 0)
		}, req: req(acme, none, bits(billing)), edit: func(r *consent.Request) { r.Purpose = payment },
			allow: true, via: consent.ViaGrant},
		{name: "a read must state its purpose", req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Purpose = 0 },
			code: consent.CodeNoPurpose},
		{name: "purpose emergency is only by break-glass", req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Purpose = emergency },
			code: consent.CodeEmergencyOnly, reason: "emergency access is only by break-glass"},
		{name: "delegate reads within scope", setup: func(x *consent.Index) {
			delegate(x, alice, carol, clinical, false, 0)
		}, req: req(carol, none, bits(medications)), allow: true, via: consent.ViaDelegation, reason: "acting for the patient as a delegate"},
		{name: "delegate writes within scope", setup: func(x *consent.Index) {
			delegate(x, alice, carol, clinical, true, 0)
		}, req: req(carol, none, bits(medications)), edit: func(r *consent.Request) { r.Action = consent.Write; r.Purpose = 0 },
			allow: true, via: consent.ViaDelegation},
		{name: "delegate outside scope", setup: func(x *consent.Index) {
			delegate(x, alice, carol, clinical, true, 0)
		}, req: req(carol, none, bits(mentalHealth)), code: consent.CodeDelegationScope,
			reason: "the delegation's scope excludes mental health"},
		{name: "delegation expired", setup: func(x *consent.Index) {
			delegate(x, alice, carol, clinical, true, t0.Unix())
		}, req: req(carol, none, bits(medications)), code: consent.CodeDelegationExpired,
			reason: "the delegation expired on 2026-06-01 12:00 UTC"},
		{name: "a delegation does not serve another patient", setup: func(x *consent.Index) {
			delegate(x, alice, carol, clinical, true, 0)
		}, req: req(carol, none, bits(medications)), edit: func(r *consent.Request) { r.Patient = bob },
			code: consent.CodeNoGrant},
		{name: "break-glass opens the emergency set", setup: func(x *consent.Index) {
			glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
		}, req: req(novak, clinic, bits(allergies, medications)), edit: func(r *consent.Request) { r.Time = t0.Add(time.Hour); r.Purpose = emergency },
			allow: true, via: consent.ViaBreakGlass, reason: "break-glass by Dr Novak open until 2026-06-01 16:00 UTC"},
		{name: "break-glass serves treatment too", setup: func(x *consent.Index) {
			glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
		}, req: req(novak, clinic, bits(allergies)), allow: true, via: consent.ViaBreakGlass},
		{name: "break-glass at opening", setup: func(x *consent.Index) {
			glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
		}, req: req(novak, none, bits(allergies)), allow: true, via: consent.ViaBreakGlass},
		{name: "break-glass window ends at closes", setup: func(x *consent.Index) {
			glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
		}, req: req(novak, clinic, bits(allergies)), edit: func(r *consent.Request) { r.Time = t0.Add(4 * time.Hour) },
			code: consent.CodeGlassClosed, reason: "break-glass by Dr Novak closed at 2026-06-01 16:00 UTC"},
		{name: "break-glass one second before closes", setup: func(x *consent.Index) {
			glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
		}, req: req(novak, clinic, bits(allergies)), edit: func(r *consent.Request) { r.Time = t0.Add(4*time.Hour - time.Second) },
			allow: true, via: consent.ViaBreakGlass},
		{name: "break-glass excludes lab results", setup: func(x *consent.Index) {
			glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
		}, req: req(novak, clinic, bits(labResults)), code: consent.CodeGlassScope,
			reason: "break-glass opens only conditions, medications, allergies, immunizations and directives; it excludes lab results"},
		{name: "break-glass limited by the patient's policy", setup: func(x *consent.Index) {
			glass(x, 1, bits(allergies), t0.Add(4*time.Hour))
		}, req: req(novak, clinic, bits(medications)), code: consent.CodeGlassScope,
			reason: "break-glass opens only allergies; it excludes medications"},
		{name: "break-glass turned off by the patient closes the window", setup: func(x *consent.Index) {
			glass(x, 1, consent.EmergencySet, t0.Add(-time.Minute)) // the ledger set closes to the policy's block time
		}, req: req(novak, clinic, bits(allergies)), code: consent.CodeGlassClosed},
		{name: "break-glass reads only", setup: func(x *consent.Index) {
			glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
		}, req: req(novak, clinic, bits(allergies)), edit: func(r *consent.Request) { r.Action = consent.Write },
			code: consent.CodeNoGrant},
		{name: "break-glass does not serve payment", setup: func(x *consent.Index) {
			glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
		}, req: req(novak, clinic, bits(allergies)), edit: func(r *consent.Request) { r.Purpose = payment },
			code: consent.CodeGlassPurpose, reason: "break-glass serves emergency treatment, not payment"},
		{name: "break-glass for another organisation", setup: func(x *consent.Index) {
			employ(x, hospital, novak, pb.Role_ROLE_PHYSICIAN)
			glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
			x.DeleteGrant(alice, hospital)
		}, req: req(novak, hospital, bits(allergies)), code: consent.CodeGlassOrg,
			reason: "break-glass by Dr Novak was for Riverside Clinic, not General Hospital"},
		{name: "break-glass after the emergency role is taken away", setup: func(x *consent.Index) {
			glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
			employ(x, clinic, novak, pb.Role_ROLE_PHYSICIAN)
		}, req: req(novak, clinic, bits(allergies)), code: consent.CodeGlassRole,
			reason: "Dr Novak is no longer an emergency physician at Riverside Clinic"},
		{name: "a grant's reason matters more than a closed break-glass", setup: func(x *consent.Index) {
			grant(x, alice, clinic, bits(encounters), treatment, read, 0, 0)
			glass(x, 1, consent.EmergencySet, t0)
		}, req: req(novak, clinic, bits(allergies)), code: consent.CodeScope, reason: "scope excludes allergies"},
		{name: "the latest break-glass counts", setup: func(x *consent.Index) {
			glass(x, 2, consent.EmergencySet, t0.Add(4*time.Hour))
			glass(x, 1, consent.EmergencySet, t0) // an older event arriving late
		}, req: req(novak, clinic, bits(allergies)), allow: true, via: consent.ViaBreakGlass},
		{name: "no grant", req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Patient = bob },
			code: consent.CodeNoGrant, reason: "the patient has not granted General Hospital access"},
		{name: "no such patient", req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Patient = id("nobody") },
			code: consent.CodeNoPatient},
		{name: "not a patient", req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Patient = clinic },
			code: consent.CodeNotPatient, reason: "Riverside Clinic is not a patient"},
		{name: "no category", req: req(osei, hospital, 0), code: consent.CodeNoCategory},
		{name: "undefined category bits", req: req(osei, hospital, 1<<13|bits(conditions)), code: consent.CodeUnknownCategory,
			reason: "unknown category bits 0x2000"},
		{name: "unknown action", req: req(osei, hospital, clinical), edit: func(r *consent.Request) { r.Action = 0 },
			code: consent.CodeBadAction},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := world()
			if tc.setup != nil {
				tc.setup(x)
			}
			r := tc.req
			if tc.edit != nil {
				tc.edit(&r)
			}
			for _, d := range []consent.Decision{consent.Decide(x, r), x.Decide(r)} {
				if d.Allow != tc.allow || d.Via != tc.via && tc.allow {
					t.Fatalf("got %s (via %q), want allow=%v via %q", d, d.Via, tc.allow, tc.via)
				}
				if tc.code != 0 && d.Code != tc.code {
					t.Errorf("code %v, want %v (%s)", d.Code, tc.code, d)
				}
				if tc.reason != "" && d.Reason() != tc.reason {
					t.Errorf("reason\n  %q\nwant\n  %q", d.Reason(), tc.reason)
				}
				if !d.Allow && d.Via != "" {
					t.Errorf("denied with Via %q", d.Via)
				}
			}
		})
	}
}

func TestDecideExpires(t *testing.T) {
	x := world()
	d := consent.Decide(x, req(osei, hospital, bits(conditions)))
	if !d.Expires.Equal(endNext) {
		t.Errorf("org grant: Expires %v, want %v", d.Expires, endNext)
	}
	glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
	d = consent.Decide(x, req(novak, clinic, bits(allergies)))
	if !d.Allow || !d.Expires.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("break-glass: %s, Expires %v", d, d.Expires)
	}
	d = consent.Decide(x, req(alice, none(), bits(allergies)))
	if !d.Expires.IsZero() {
		t.Errorf("patient: Expires %v", d.Expires)
	}
}

func none() ptoy.ID { return ptoy.ID{} }

// A grant signed by a delegate says so.
func TestReasonGrantedByDelegate(t *testing.T) {
	x := world()
	g := grant(x, alice, lab, bits(labResults), treatment, read, 0, 0)
	g.GrantedBy = carol.Bytes()
	x.SetGrant(g)
	d := consent.Decide(x, req(tech, lab, bits(labResults)))
	if want := "granted to City Lab by Carol for the patient for treatment"; d.Reason() != want {
		t.Errorf("reason %q, want %q", d.Reason(), want)
	}
}

func TestExplain(t *testing.T) {
	x := world()
	for _, tc := range []struct {
		r    consent.Request
		want string
	}{
		{req(park, hospital, bits(notes)),
			"Park (for General Hospital) cannot read the patient's clinical notes: Park's role (billing) does not cover clinical notes. That role covers demographics, encounters and insurance and billing."},
		{req(osei, hospital, bits(conditions, medications)),
			"Dr Osei (for General Hospital) can read the patient's conditions and medications: granted to General Hospital by the patient until the end of 2027-01-31 for treatment. Dr Osei's role (physician) covers conditions and medications."},
		{req(osei, hospital, bits(notes, mentalHealth)),
			"Dr Osei (for General Hospital) cannot read the patient's clinical notes and mental health: scope excludes mental health. It covers encounters, conditions, medications, lab results and clinical notes. Sensitive categories are reached only when the patient names them."},
		{req(alice, none(), bits(notes)), "The patient can read their own records."},
		{req(ruiz, hospital, bits(encounters)),
			"Ruiz (for General Hospital) cannot read the patient's encounters: Ruiz's role (privacy officer) does not cover encounters. That role manages and reviews; it does not read charts."},
	} {
		if got := consent.Explain(x, tc.r); got != tc.want {
			t.Errorf("Explain\n  %s\nwant\n  %s", got, tc.want)
		}
	}
}

// Deciding allocates nothing, allowed or denied: the reason is built
// only when asked for.
func TestDecideAllocatesNothing(t *testing.T) {
	x := world()
	glass(x, 1, consent.EmergencySet, t0.Add(4*time.Hour))
	for _, r := range []consent.Request{
		req(osei, hospital, bits(conditions)),
		req(park, hospital, bits(notes)),
		req(osei, hospital, bits(mentalHealth)),
		req(novak, clinic, bits(allergies)),
		req(alice, none(), bits(allergies)),
	} {
		var d consent.Decision
		if n := testing.AllocsPerRun(200, func() { d = consent.Decide(x, r) }); n != 0 {
			t.Errorf("%s: %v allocations per Decide", d, n)
		}
		if n := testing.AllocsPerRun(200, func() { d = x.Decide(r) }); n != 0 {
			t.Errorf("%s: %v allocations per Index.Decide", d, n)
		}
	}
}

func TestDecisionString(t *testing.T) {
	x := world()
	d := consent.Decide(x, req(osei, hospital, bits(conditions)))
	if s := d.String(); !strings.HasPrefix(s, "allow (org grant): granted to General Hospital") {
		t.Errorf("String %q", s)
	}
	d = consent.Decide(x, req(park, hospital, bits(notes)))
	if s := d.String(); s != "deny: Park's role (billing) does not cover clinical notes" {
		t.Errorf("String %q", s)
	}
	if d.Code.String() != "role" {
		t.Errorf("code word %q", d.Code.String())
	}
}

// An Index answers while it is being updated (run with -race).
func TestIndexConcurrent(t *testing.T) {
	x := world()
	done := make(chan bool)
	go func() {
		defer close(done)
		for i := range 2000 {
			if i%2 == 0 {
				revoke(x, alice, hospital, t0)
			} else {
				grant(x, alice, hospital, bits(conditions), treatment, read, 0, 0)
			}
			employ(x, hospital, park, pb.Role(1+i%8))
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		d := x.Decide(req(osei, hospital, bits(conditions)))
		_ = d.Reason()
		if d.Code != consent.CodeOrgGrant && d.Code != consent.CodeRevoked {
			t.Fatalf("unexpected decision %s", d)
		}
		x.Decide(req(park, hospital, bits(notes)))
	}
}

// A grant given until a day ("--until 2027-12-31", stored as the
// midnight that starts 2028-01-01) is said to last until that day, not
// the next; an end at another time is said as it is.
func TestEndIsTheDayGiven(t *testing.T) {
	x := world()
	end := time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
	grant(x, alice, lab, bits(labResults), treatment, read, 0, end.Unix())
	r := req(tech, lab, bits(labResults))
	if got, want := consent.Decide(x, r).Reason(), "granted to City Lab by the patient until the end of 2027-12-31 for treatment"; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	r.Time = end
	if got, want := consent.Decide(x, r).Reason(), "expired at the end of 2027-12-31"; got != want {
		t.Errorf("after the end: reason %q, want %q", got, want)
	}
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{end, "the end of 2027-12-31"},
		{end.Add(-time.Second), "2027-12-31 23:59:59 UTC"},
		{end.Add(90 * time.Minute), "2028-01-01 01:30 UTC"},
	} {
		if got := consent.FormatEnd(c.t); got != c.want {
			t.Errorf("FormatEnd(%v) = %q, want %q", c.t, got, c.want)
		}
	}
}
