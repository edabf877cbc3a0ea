package console

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

// maxKeystore bounds an uploaded keystore file.
const maxKeystore = 64 << 10

// roles are the roles an admin gives, in the order the form lists them.
var roles = []pb.Role{
	pb.Role_ROLE_PHYSICIAN, pb.Role_ROLE_NURSE, pb.Role_ROLE_EMERGENCY_PHYSICIAN, pb.Role_ROLE_BILLING,
	pb.Role_ROLE_LAB_TECHNICIAN, pb.Role_ROLE_PHARMACIST, pb.Role_ROLE_PRIVACY_OFFICER, pb.Role_ROLE_ADMIN,
}

type roleOption struct {
	Value int32
	Name  string
}

func roleOptions() []roleOption {
	out := make([]roleOption, len(roles))
	for i, r := range roles {
		out[i] = roleOption{int32(r), consent.RoleName(r)}
	}
	return out
}

// parseRole reads a role from a form.
func parseRole(v string) (pb.Role, bool) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false
	}
	for _, r := range roles {
		if int32(r) == int32(n) {
			return r, true
		}
	}
	return 0, false
}

// employeeForm is the add form: what was entered (never the passphrase).
type employeeForm struct {
	Name   string
	Role   int32
	Errors errs
}

func (s *Server) employees(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.signedIn(w, r)
	if !ok || !s.allowed(w, r, m, m.Role == pb.Role_ROLE_ADMIN, "manage the staff") {
		return
	}
	done := ""
	switch r.URL.Query().Get("done") {
	case "added":
		done = "The employee is added. They sign in here with their account id and their passphrase."
	case "removed":
		done = "The employee is taken off the staff; their sessions here ended."
	case "role":
		done = "The role is changed."
	}
	s.renderEmployees(w, r, tok, m, http.StatusOK, employeeForm{Role: int32(pb.Role_ROLE_NURSE), Errors: errs{}}, done)
}

func (s *Server) renderEmployees(w http.ResponseWriter, r *http.Request, tok string, m Member, status int, f employeeForm, done string) {
	es, err := s.cfg.Org.Employees(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "employees", page{Title: "Employees", Member: &m, Nav: "/console/employees", Data: map[string]any{
		"Employees": es, "Form": f, "Roles": roleOptions(), "Done": done, "Me": m.ID,
	}})
}

// addEmployee adds the practitioner of an uploaded keystore file, whose
// passphrase they type at the admin's desk: the node opens the file to
// co-sign with their key and keeps it so that they sign in here.
func (s *Server) addEmployee(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm+maxKeystore)
	if err := r.ParseMultipartForm(maxForm + maxKeystore); err != nil && !errors.Is(err, http.ErrNotMultipart) || !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "This form expired, or the file is larger than a keystore (64 KiB). Go back, reload the page and try again.")
		return
	}
	tok, m, ok := s.signedIn(w, r)
	if !ok || !s.allowed(w, r, m, m.Role == pb.Role_ROLE_ADMIN, "manage the staff") {
		return
	}
	f := employeeForm{Name: value(r, "name", 201), Errors: errs{}}
	role, ok := parseRole(r.PostFormValue("role"))
	f.Role = int32(role)
	if !ok {
		f.Errors["role"] = "Choose a role."
	}
	switch n := utf8.RuneCountInString(f.Name); {
	case n == 0:
		f.Errors["name"] = "Enter the employee's full name."
	case n > 200:
		f.Errors["name"] = "Keep the name to 200 characters."
	}
	var file []byte
	if fh, _, err := r.FormFile("keystore"); err != nil {
		f.Errors["keystore"] = "Choose the employee's keystore file (made with “ptoy keys new”)."
	} else {
		file, err = io.ReadAll(io.LimitReader(fh, maxKeystore+1))
		fh.Close()
		if err != nil || len(file) == 0 || len(file) > maxKeystore {
			f.Errors["keystore"] = "A keystore file is at most 64 KiB."
		}
	}
	pass := r.PostFormValue("passphrase")
	if pass == "" {
		f.Errors["passphrase"] = "The employee types the passphrase of their keystore here."
	}
	if len(f.Errors) > 0 {
		s.renderEmployees(w, r, tok, m, http.StatusUnprocessableEntity, f, "")
		return
	}
	_, err := s.cfg.Org.AddEmployee(r.Context(), tok, NewEmployee{Name: f.Name, Keystore: file, Passphrase: pass, Role: role})
	if err != nil {
		switch ptoy.KindOf(err) {
		case ptoy.Unauthenticated:
			s.fail(w, r, err)
			return
		case ptoy.PermissionDenied:
			f.Errors["passphrase"] = s.say("adding an employee", err)
		case ptoy.Invalid:
			f.Errors["keystore"] = s.say("adding an employee", err)
		default:
			f.Errors[""] = s.say("adding an employee", err)
		}
		s.renderEmployees(w, r, tok, m, http.StatusUnprocessableEntity, f, "")
		return
	}
	http.Redirect(w, r, "/console/employees?done=added", http.StatusSeeOther)
}

// employeeArg reads the employee a form names: one on the staff, not the
// admin themselves.
func (s *Server) employeeArg(w http.ResponseWriter, r *http.Request, m Member) (ptoy.ID, bool) {
	id, err := ptoy.ParseID(r.PostFormValue("employee"))
	if err != nil {
		s.errorPage(w, r, http.StatusUnprocessableEntity, "This form names no employee. Go back to the employee list and try again.")
		return id, false
	}
	if id == m.ID {
		s.errorPage(w, r, http.StatusUnprocessableEntity, "You cannot remove yourself or change your own role: ask another admin.")
		return id, false
	}
	return id, true
}

func (s *Server) removeEmployee(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.form(w, r)
	if !ok || !s.allowed(w, r, m, m.Role == pb.Role_ROLE_ADMIN, "manage the staff") {
		return
	}
	id, ok := s.employeeArg(w, r, m)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "1" {
		// A removal is confirmed on a page of its own.
		s.render(w, r, http.StatusOK, "confirm", page{Title: "Remove an employee", Member: &m, Nav: "/console/employees",
			Data: map[string]any{"ID": id.String(), "Name": s.cfg.Org.Name(id)}})
		return
	}
	if err := s.cfg.Org.RemoveEmployee(r.Context(), tok, id); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/console/employees?done=removed", http.StatusSeeOther)
}

func (s *Server) setRole(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.form(w, r)
	if !ok || !s.allowed(w, r, m, m.Role == pb.Role_ROLE_ADMIN, "manage the staff") {
		return
	}
	id, ok := s.employeeArg(w, r, m)
	if !ok {
		return
	}
	role, ok := parseRole(r.PostFormValue("role"))
	if !ok {
		s.errorPage(w, r, http.StatusUnprocessableEntity, "Choose one of the roles the list offers.")
		return
	}
	if err := s.cfg.Org.SetRole(r.Context(), tok, id, role); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/console/employees?done=role", http.StatusSeeOther)
}

// matching shows the admin the summary of the EHR holdings and the
// matching review queue.
func (s *Server) matching(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.signedIn(w, r)
	if !ok || !s.allowed(w, r, m, m.Role == pb.Role_ROLE_ADMIN, "review EHR matches") {
		return
	}
	h, err := s.cfg.Org.Holdings(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := s.cfg.Org.Review(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type row struct {
		Match
		Label, Score string
	}
	rows := make([]row, len(q))
	for i, x := range q {
		rows[i] = row{Match: x, Label: s.cfg.Org.Name(x.Patient), Score: strconv.FormatFloat(x.Score, 'f', 2, 64)}
	}
	s.render(w, r, http.StatusOK, "matching", page{Title: "EHR matching", Member: &m, Nav: "/console/matching", Data: map[string]any{
		"Holdings": h, "Queue": rows, "Approved": r.URL.Query().Get("done") == "approved",
	}})
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.form(w, r)
	if !ok || !s.allowed(w, r, m, m.Role == pb.Role_ROLE_ADMIN, "review EHR matches") {
		return
	}
	patient, err := ptoy.ParseID(r.PostFormValue("patient"))
	proposal := value(r, "proposal", 128)
	if err != nil || proposal == "" {
		s.errorPage(w, r, http.StatusUnprocessableEntity, "This form names no match. Go back to the review queue and try again.")
		return
	}
	if err := s.cfg.Org.Approve(r.Context(), tok, patient, proposal); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/console/matching?done=approved", http.StatusSeeOther)
}
