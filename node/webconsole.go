package node

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"ptoy"
	"ptoy/client"
	"ptoy/consent"
	"ptoy/console"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// The provider console (package console) signs the organisation's staff
// in as the web app signs patients in: the node keeps each employee's
// keystore, sealed under their passphrase (PUT /v1/keystore, or added by
// an admin in the console), and opens it into a session holding their
// keys. What the console does beyond reading and writing records (staff
// changes, the review queues, break-glass) the node does as the member,
// signed with the keys of their session, through its own API in process
// (selfClient): the same checks as any client's.

// staffNames are the names of the organisation's staff as the node knows
// them (the ledger holds no person's name): given by an admin who adds
// someone in the console. They are kept in HOME/data/staff-names.json.
type staffNames struct {
	mu    sync.Mutex
	path  string
	names map[ptoy.ID]string
}

func (s *staffNames) load() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names != nil {
		return
	}
	s.names = map[ptoy.ID]string{}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return
	}
	var m map[string]string
	if json.Unmarshal(b, &m) != nil {
		return
	}
	for k, v := range m {
		if id, err := ptoy.ParseID(k); err == nil {
			s.names[id] = v
		}
	}
}

func (s *staffNames) get(id ptoy.ID) string {
	s.load()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names[id]
}

func (s *staffNames) set(id ptoy.ID, name string) error {
	s.load()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[id] = name
	m := map[string]string{}
	for k, v := range s.names {
		m[k.String()] = v
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return writeFile(s.path, b, 0o600)
}

// SetStaffName records the name the console shows for an employee.
func (n *Node) SetStaffName(id ptoy.ID, name string) error {
	if name = strings.TrimSpace(name); name == "" || len(name) > 200 {
		return ptoy.E("node.SetStaffName", ptoy.Invalid, "a name is 1 to 200 characters")
	}
	return n.staff.set(id, name)
}

// employee returns id's employment at the node's organisation, or nil.
func (n *Node) employee(id ptoy.ID) *pb.Employee {
	e, err := n.ledger.Employee(n.Org(), id)
	if err != nil || e == nil {
		return nil
	}
	return e
}

// UnsealStaff opens the keystore the node keeps for an employee of its
// organisation with their passphrase into a session holding their keys,
// as UnsealPatient does for patients. Someone not on the staff is
// ptoy.Unauthenticated before any passphrase is tried.
func (n *Node) UnsealStaff(ctx context.Context, id ptoy.ID, passphrase string) (string, time.Time, error) {
	if n.employee(id) == nil {
		return "", time.Time{}, ptoy.E("node.unseal", ptoy.Unauthenticated, "the account id or the passphrase is wrong, or this account is not on the staff here")
	}
	tok, exp, err := n.UnsealPatient(ctx, id, passphrase)
	if ptoy.KindOf(err) == ptoy.Unauthenticated {
		err = ptoy.E("node.unseal", ptoy.Unauthenticated, "the account id or the passphrase is wrong, or this node does not keep your keystore", err)
	}
	return tok, exp, err
}

// consoleStaff gives the console the staff's sessions.
type consoleStaff struct{ n *Node }

func (s consoleStaff) SignIn(ctx context.Context, id ptoy.ID, passphrase string) (string, time.Time, error) {
	return s.n.UnsealStaff(ctx, id, passphrase)
}

func (s consoleStaff) Member(tok string) (console.Member, bool) {
	id, ok := s.n.PatientSession(tok)
	if !ok {
		return console.Member{}, false
	}
	e := s.n.employee(id)
	if e == nil {
		s.n.EndSession(tok) // off the staff: the keys go now
		return console.Member{}, false
	}
	return console.Member{ID: id, Name: s.n.staffName(id), Role: e.Role}, true
}

func (s consoleStaff) SignOut(tok string) { s.n.EndSession(tok) }

// staffName names an employee: the name the node knows, else by role.
func (n *Node) staffName(id ptoy.ID) string {
	if name := n.staff.get(id); name != "" {
		return name
	}
	if e := n.employee(id); e != nil {
		return capitalFirst(consent.RoleName(e.Role)) + " " + consent.ShortID(id)
	}
	return "practitioner " + consent.ShortID(id)
}

func capitalFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// consoleOrg acts for the console's signed-in member.
type consoleOrg struct{ n *Node }

var _ console.Org = consoleOrg{}

// member returns the employee of a console session and the keys it holds.
func (o consoleOrg) member(tok string) (ptoy.ID, *pb.Employee, *keys.KeyPair, error) {
	id, ok := o.n.PatientSession(tok)
	if ok {
		if e := o.n.employee(id); e != nil {
			if kp, held := o.n.patientKeys(id, true); held {
				return id, e, kp, nil
			}
		}
	}
	return ptoy.ID{}, nil, nil, ptoy.E("node.console", ptoy.Unauthenticated, "your session ended; sign in again")
}

func (o consoleOrg) role(tok string, ok func(pb.Role) bool, what string) (*keys.KeyPair, error) {
	_, e, kp, err := o.member(tok)
	if err != nil {
		return nil, err
	}
	if !ok(e.Role) {
		return nil, ptoy.E("node.console", ptoy.PermissionDenied, "your role does not "+what)
	}
	return kp, nil
}

func isAdmin(r pb.Role) bool { return r == pb.Role_ROLE_ADMIN }

func (o consoleOrg) Org() (ptoy.ID, string) {
	id := o.n.Org()
	if org, err := o.n.ledger.Org(id); err == nil && org != nil {
		return id, org.Name
	}
	return id, "your organisation"
}

func (o consoleOrg) Patients(ctx context.Context, tok string) ([]console.Patient, error) {
	if _, _, _, err := o.member(tok); err != nil {
		return nil, err
	}
	list, err := o.n.ledger.PatientList(o.n.Org())
	if err != nil {
		return nil, err
	}
	out := make([]console.Patient, 0, len(list))
	for _, e := range list {
		g := e.Grant.GetGrant()
		out = append(out, console.Patient{ID: e.Patient, Name: o.patientName(ctx, e.Patient), Categories: g.GetCategories(),
			Permission: g.GetPermission(), Purpose: g.GetPurpose(), Expires: g.GetExpires(), Status: e.Status})
	}
	return out, nil
}

// patientName is the name of a patient the organisation registered (its
// directory's), else "".
func (o consoleOrg) patientName(ctx context.Context, id ptoy.ID) string {
	a, err := o.n.ledger.Account(id)
	if err != nil || a == nil || a.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT {
		return ""
	}
	if reg, err := ptoy.IDFromBytes(a.Registrar); err != nil || reg != o.n.Org() {
		return ""
	}
	p, err := o.n.dir.Profile(ctx, id)
	if err != nil {
		return ""
	}
	return p.FullName
}

func (o consoleOrg) Employees(_ context.Context, tok string) ([]console.Employee, error) {
	if _, err := o.role(tok, isAdmin, "manage the staff"); err != nil {
		return nil, err
	}
	es, err := o.n.ledger.Employees(o.n.Org())
	if err != nil {
		return nil, err
	}
	out := make([]console.Employee, 0, len(es))
	for _, e := range es {
		id, err := ptoy.IDFromBytes(e.Practitioner)
		if err != nil {
			continue
		}
		out = append(out, console.Employee{ID: id, Name: o.n.staffName(id), Role: e.Role, Since: e.SinceHeight})
	}
	slices.SortFunc(out, func(a, b console.Employee) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return out, nil
}

// AddEmployee opens the new employee's keystore with the passphrase they
// typed, puts them on the staff (signed by the admin, co-signed by them),
// keeps their keystore here and records their name.
func (o consoleOrg) AddEmployee(ctx context.Context, tok string, ne console.NewEmployee) (ptoy.ID, error) {
	const op = "node.AddEmployee"
	admin, err := o.role(tok, isAdmin, "manage the staff")
	if err != nil {
		return ptoy.ID{}, err
	}
	info, err := keys.ReadInfo(ne.Keystore)
	if err != nil {
		return ptoy.ID{}, ptoy.E(op, ptoy.Invalid, "this file is not a ptoy keystore", err)
	}
	if o.n.employee(info.ID) != nil {
		return ptoy.ID{}, ptoy.E(op, ptoy.Exists, "this key's practitioner is on the staff already")
	}
	if a, err := o.n.ledger.Account(info.ID); err == nil && a != nil && a.Kind != pb.AccountKind_ACCOUNT_KIND_PRACTITIONER {
		return ptoy.ID{}, ptoy.E(op, ptoy.Invalid, "this key belongs to an account that is not a practitioner's")
	}
	select {
	case o.n.unseal.slots <- struct{}{}:
	case <-ctx.Done():
		return ptoy.ID{}, ptoy.E(op, ptoy.Unavailable, ctx.Err())
	}
	emp, _, err := keys.Open(ne.Keystore, []byte(ne.Passphrase))
	<-o.n.unseal.slots
	if err != nil {
		return ptoy.ID{}, ptoy.E(op, ptoy.PermissionDenied, "this passphrase does not open the keystore")
	}
	defer clear(emp.Signing)
	m := &pb.AddEmployee{Org: o.n.Org().Bytes(), SigningKey: emp.SigningPublic(), Kem: client.KEM(emp), Role: ne.Role}
	if _, err := o.n.selfClient().Send(ctx, &pb.Body{Msg: &pb.Body_AddEmployee{AddEmployee: m}}, admin, emp); err != nil {
		return ptoy.ID{}, err
	}
	id := emp.ID()
	if err := writeFile(o.n.keystorePath(id), ne.Keystore, 0o600); err != nil {
		return id, ptoy.E(op, ptoy.Unavailable, "the employee is added, but the node could not keep their keystore: they keep it with ptoy keystore put", err)
	}
	if err := o.n.SetStaffName(id, ne.Name); err != nil {
		o.n.log.Warn("console: keeping a staff name", "err", err)
	}
	return id, nil
}

// staffChange checks that id may be changed by an admin: on the staff,
// and not the node's own account.
func (o consoleOrg) staffChange(id ptoy.ID) error {
	e := o.n.employee(id)
	switch {
	case e == nil:
		return ptoy.E("node.console", ptoy.NotFound, "this account is not on the staff")
	case e.Role == pb.Role_ROLE_NODE:
		return ptoy.E("node.console", ptoy.PermissionDenied, "the node's own account stays on the staff as it is")
	}
	return nil
}

func (o consoleOrg) RemoveEmployee(ctx context.Context, tok string, id ptoy.ID) error {
	admin, err := o.role(tok, isAdmin, "manage the staff")
	if err != nil {
		return err
	}
	if err := o.staffChange(id); err != nil {
		return err
	}
	m := &pb.RemoveEmployee{Org: o.n.Org().Bytes(), Employee: id.Bytes()}
	if _, err := o.n.selfClient().Send(ctx, &pb.Body{Msg: &pb.Body_RemoveEmployee{RemoveEmployee: m}}, admin); err != nil {
		return err
	}
	o.n.auth.Sessions.EndAccount(id)
	return nil
}

func (o consoleOrg) SetRole(ctx context.Context, tok string, id ptoy.ID, role pb.Role) error {
	admin, err := o.role(tok, isAdmin, "manage the staff")
	if err != nil {
		return err
	}
	if err := o.staffChange(id); err != nil {
		return err
	}
	m := &pb.SetRole{Org: o.n.Org().Bytes(), Employee: id.Bytes(), Role: role}
	_, err = o.n.selfClient().Send(ctx, &pb.Body{Msg: &pb.Body_SetRole{SetRole: m}}, admin)
	return err
}

func (o consoleOrg) Review(ctx context.Context, tok string) ([]console.Match, error) {
	admin, err := o.role(tok, isAdmin, "review EHR matches")
	if err != nil {
		return nil, err
	}
	q, err := o.n.selfClient().Review(ctx, admin)
	if err != nil {
		return nil, err
	}
	out := make([]console.Match, len(q))
	for i, x := range q {
		out[i] = console.Match{Patient: x.Patient, Proposal: x.Proposal, Score: x.Score, Records: x.Records}
	}
	return out, nil
}

func (o consoleOrg) Approve(ctx context.Context, tok string, patient ptoy.ID, proposal string) error {
	admin, err := o.role(tok, isAdmin, "review EHR matches")
	if err != nil {
		return err
	}
	return o.n.selfClient().Approve(ctx, admin, patient, proposal)
}

func (o consoleOrg) Holdings(_ context.Context, tok string) (console.Holdings, error) {
	if _, err := o.role(tok, isAdmin, "see the EHR holdings"); err != nil {
		return console.Holdings{}, err
	}
	s := o.n.Holdings().Summary()
	return console.Holdings{Records: s.Records, Patients: s.Patients, Linked: s.Linked}, nil
}

func (o consoleOrg) BreakGlass(ctx context.Context, tok string, patient ptoy.ID, reason string) (*pb.BreakGlassEvent, error) {
	kp, err := o.role(tok, func(r pb.Role) bool { return r == pb.Role_ROLE_EMERGENCY_PHYSICIAN }, "break the glass")
	if err != nil {
		return nil, err
	}
	if a, err := o.n.ledger.Account(patient); err != nil || a == nil || a.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT {
		return nil, ptoy.E("node.BreakGlass", ptoy.NotFound, "there is no patient with this account id")
	}
	h := sha256.Sum256([]byte(reason))
	m := &pb.BreakGlass{Patient: patient.Bytes(), ReasonHash: h[:], Org: o.n.Org().Bytes()}
	c := o.n.selfClient()
	if _, err := c.Send(ctx, &pb.Body{Msg: &pb.Body_BreakGlass{BreakGlass: m}}, kp); err != nil {
		return nil, err
	}
	// The event just opened: the newest of this practitioner for the patient.
	var ev *pb.BreakGlassEvent
	if evs, err := c.As(kp).BreakGlassOf(ctx, patient); err == nil {
		for _, x := range evs {
			if string(x.ReasonHash) == string(h[:]) && string(x.Practitioner) == string(kp.ID().Bytes()) && (ev == nil || x.Id > ev.Id) {
				ev = x
			}
		}
	}
	return ev, nil
}

func (o consoleOrg) GlassQueue(ctx context.Context, tok string) ([]*pb.BreakGlassEvent, error) {
	kp, err := o.role(tok, func(r pb.Role) bool { return r == pb.Role_ROLE_ADMIN || r == pb.Role_ROLE_PRIVACY_OFFICER }, "review break-glass")
	if err != nil {
		return nil, err
	}
	return o.n.selfClient().As(kp).BreakGlassQueue(ctx, o.n.Org())
}

func (o consoleOrg) DisputeText(ctx context.Context, tok string, event uint64) (string, error) {
	const op = "node.DisputeText"
	if _, err := o.role(tok, func(r pb.Role) bool { return r == pb.Role_ROLE_ADMIN || r == pb.Role_ROLE_PRIVACY_OFFICER }, "review break-glass"); err != nil {
		return "", err
	}
	ev, err := o.n.ledger.BreakGlassEvent(event)
	if err != nil {
		return "", err
	}
	if ptoy.ID(ev.Org) != o.n.Org() {
		return "", ptoy.E(op, ptoy.NotFound, fmt.Sprintf("break-glass %d is not in your organisation's queue", event))
	}
	if ev.Disputed == 0 {
		return "", nil
	}
	patient, text, err := o.n.dir.Dispute(ctx, event)
	switch {
	case ptoy.KindOf(err) == ptoy.NotFound:
		return "", nil
	case err != nil:
		return "", err
	}
	if h := sha256.Sum256([]byte(text)); patient != ptoy.ID(ev.Patient) || string(h[:]) != string(ev.DisputeHash) {
		return "", ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the text this node keeps for the dispute of break-glass %d does not match the ledger's SHA-256", event))
	}
	return text, nil
}

func (o consoleOrg) Name(id ptoy.ID) string {
	if o.n.employee(id) != nil || o.n.staff.get(id) != "" {
		return o.n.staffName(id)
	}
	if org, err := o.n.ledger.Org(id); err == nil && org != nil {
		return org.Name
	}
	if name := o.patientName(context.Background(), id); name != "" {
		return name
	}
	a, err := o.n.ledger.Account(id)
	if err != nil || a == nil {
		return "account " + consent.ShortID(id)
	}
	return capitalFirst(consent.DefaultName(id, a.Kind))
}

// openConsole makes the provider console the node serves at /console/.
func (n *Node) openConsole() (*console.Server, error) {
	n.staff = &staffNames{path: n.path("data", "staff-names.json")}
	return console.New(console.Config{Staff: consoleStaff{n}, Org: consoleOrg{n}, FHIR: n.fhir.Handler(), Log: n.log})
}

func (o consoleOrg) Syncs(_ context.Context, tok string) ([]console.Sync, error) {
	if _, err := o.role(tok, isAdmin, "run EHR syncs"); err != nil {
		return nil, err
	}
	var out []console.Sync
	for _, st := range o.n.EHRSyncs() {
		s := console.Sync{Name: st.Name, Kind: st.Kind, Where: st.Where, State: string(st.State),
			Done: st.Done, Total: st.Total, Created: st.Created, Updated: st.Updated, Unchanged: st.Unchanged, Failed: st.Failed,
			PerSecond: st.PerSecond, Left: st.Left, Started: st.Started, Ended: st.Ended, Error: st.Error}
		for _, f := range st.Failures {
			s.Failures = append(s.Failures, console.SyncFailure{Ref: f.Ref, Reason: f.Reason})
		}
		out = append(out, s)
	}
	return out, nil
}

func (o consoleOrg) StartSync(_ context.Context, tok, name string) error {
	id, e, _, err := o.member(tok)
	if err != nil {
		return err
	}
	if !isAdmin(e.Role) {
		return ptoy.E("node.console", ptoy.PermissionDenied, "your role does not run EHR syncs")
	}
	if err := o.n.StartEHRSync(name); err != nil {
		return err
	}
	o.n.log.Info("ehr sync started from the console", "source", name, "by", id.String())
	return nil
}

func (o consoleOrg) StopSync(_ context.Context, tok, name string) error {
	if _, err := o.role(tok, isAdmin, "run EHR syncs"); err != nil {
		return err
	}
	return o.n.StopEHRSync(name)
}
