package web

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/match"
)

// Locator is the record locator, run by the node as the patient's
// session (tok): the demographics the patient gives go sealed to each
// member node, which answers with its proposals to link records it holds.
// A session that ended is ptoy.Unauthenticated.
type Locator interface {
	// FindRecords asks every member node; a node that could not be asked
	// is reported in its agent.Found. A bad person is ptoy.Invalid.
	FindRecords(ctx context.Context, tok string, p match.Person, earlier []match.Person) ([]agent.Found, error)
	// Confirm links the records of a proposal to the patient, giving the
	// organisation a one-day deposit-only grant first if it has none; it
	// returns how many records were linked. An organisation whose grant
	// does not let it file them is ptoy.PermissionDenied.
	Confirm(ctx context.Context, tok string, node client.LocatorNode, p client.Proposal) (int, error)
	// Reject tells the organisation a proposal is not the patient.
	Reject(ctx context.Context, tok string, node client.LocatorNode, p client.Proposal) error
	// OrgName names an organisation.
	OrgName(org ptoy.ID) string
}

// A session's last search: what the nodes answered (counts, categories
// and years; never the demographics asked with), so that a proposal can
// be confirmed or rejected without asking again.
type search struct {
	at    time.Time
	found []agent.Found
	done  string // what the last confirmation or rejection did
	// errs are messages by proposal id, from the last confirmation or
	// rejection that failed.
	errs map[string]string
}

const (
	maxSearches = 10_000
	searchTTL   = time.Hour
)

type searches struct {
	mu sync.Mutex
	m  map[string]*search
}

func (ss *searches) put(s *Server, tok string, x *search) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = map[string]*search{}
	}
	if len(ss.m) >= maxSearches {
		for t, old := range ss.m {
			if _, live := s.cfg.Patients.Session(t); !live || time.Since(old.at) > searchTTL {
				delete(ss.m, t)
			}
		}
	}
	if len(ss.m) < maxSearches {
		ss.m[tok] = x
	}
}

// with runs f on the session's last search, if it has one.
func (ss *searches) with(tok string, f func(*search)) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	x := ss.m[tok]
	if x == nil || time.Since(x.at) > searchTTL {
		delete(ss.m, tok)
		return false
	}
	f(x)
	return true
}

func (ss *searches) drop(tok string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, tok)
}

// findForm is what the patient gives the record locator: their
// demographics now, and optionally an address they had before.
type findForm struct {
	Given, Family, Sex, Birth, Phone, Street, City, Postcode, State string
	PrevStreet, PrevCity, PrevPostcode, PrevState                   string
	Errors                                                          errs
}

var (
	birthRE    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	proposalRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// plain checks a text field: printable characters only.
func plain(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// readFind reads and checks the find form; the persons are nil if a
// field is wrong.
func readFind(r *http.Request, now time.Time) (findForm, *match.Person, []match.Person) {
	f := findForm{
		Given: value(r, "given", 100), Family: value(r, "family", 100), Sex: value(r, "sex", 10), Birth: value(r, "birth", 10),
		Phone: value(r, "phone", 32), Street: value(r, "street", 200), City: value(r, "city", 100),
		Postcode: value(r, "postcode", 16), State: value(r, "state", 100),
		PrevStreet: value(r, "prev-street", 200), PrevCity: value(r, "prev-city", 100),
		PrevPostcode: value(r, "prev-postcode", 16), PrevState: value(r, "prev-state", 100),
		Errors: errs{},
	}
	if f.Given == "" {
		f.Errors["given"] = "Enter your given name."
	}
	if f.Family == "" {
		f.Errors["family"] = "Enter your family name."
	}
	switch f.Sex {
	case "", "female", "male", "other":
	default:
		f.Errors["sex"] = "Choose from the list."
	}
	if f.Birth == "" {
		f.Errors["birth"] = "Enter your date of birth."
	} else if t, err := time.Parse(time.DateOnly, f.Birth); !birthRE.MatchString(f.Birth) || err != nil {
		f.Errors["birth"] = "Enter a date as year-month-day, like 1985-03-14."
	} else if t.After(now) || t.Year() < 1900 {
		f.Errors["birth"] = "Enter a date of birth between 1900 and today."
	}
	if f.Phone != "" {
		n := 0
		for _, c := range f.Phone {
			switch {
			case c >= '0' && c <= '9':
				n++
			case strings.ContainsRune("+-(). ", c):
			default:
				n = -100
			}
		}
		if n < 6 || n > 15 {
			f.Errors["phone"] = "Enter a phone number of 6 to 15 digits, like +1 555 010 0123."
		}
	}
	for _, fd := range []struct{ name, v string }{
		{"given", f.Given}, {"family", f.Family}, {"street", f.Street}, {"city", f.City}, {"postcode", f.Postcode}, {"state", f.State},
		{"prev-street", f.PrevStreet}, {"prev-city", f.PrevCity}, {"prev-postcode", f.PrevPostcode}, {"prev-state", f.PrevState},
	} {
		if !plain(fd.v) && f.Errors[fd.name] == "" {
			f.Errors[fd.name] = "This field holds characters that are not allowed."
		}
	}
	if f.PrevStreet == "" && (f.PrevCity != "" || f.PrevPostcode != "" || f.PrevState != "") {
		f.Errors["prev-street"] = "Enter the street of your previous address, or leave the whole address empty."
	}
	if len(f.Errors) > 0 {
		return f, nil, nil
	}
	p := match.Person{Given: f.Given, Family: f.Family, Sex: f.Sex, Birth: f.Birth, Phone: f.Phone,
		Street: f.Street, City: f.City, Postcode: f.Postcode, State: f.State}
	if err := p.Validate(); err != nil {
		f.Errors[""] = "These details cannot be used: check the date of birth and the phone number."
		return f, nil, nil
	}
	var earlier []match.Person
	if f.PrevStreet != "" {
		q := p
		q.Street, q.Postcode = f.PrevStreet, f.PrevPostcode
		q.City, q.State = cmp.Or(f.PrevCity, f.City), cmp.Or(f.PrevState, f.State)
		earlier = append(earlier, q)
	}
	return f, &p, earlier
}

// proposalView is one proposal as the page shows it: who, how many, of
// what, over which years.
type proposalView struct {
	Org, OrgName, ID string
	Records          int
	Categories       string
	Years            string
	Status           string
	Grant            string // what confirming gives the organisation
	Error            string
}

type findView struct {
	Searched    bool
	Asked       int
	Proposals   []proposalView
	Unreachable []string
	Done        string
}

// view describes a search's answers for the page.
func (s *Server) view(ctx context.Context, tok string, x *search) findView {
	v := findView{Searched: true, Asked: len(x.found), Done: x.done}
	var grants []*pb.GrantState
	if s.cfg.Consent != nil {
		grants, _ = s.cfg.Consent.Grants(ctx, tok)
	}
	for _, f := range x.found {
		name := s.cfg.Locator.OrgName(f.Node.Org)
		if f.Err != nil {
			v.Unreachable = append(v.Unreachable, name)
			continue
		}
		for _, p := range f.Proposals {
			pv := proposalView{Org: f.Node.Org.String(), OrgName: name, ID: p.ID, Records: p.Records, Status: p.Status,
				Categories: categoryWords(p.Categories), Years: years(p.From, p.To), Error: x.errs[p.ID]}
			if p.Status == "proposed" {
				pv.Grant = grantNote(grants, f.Node.Org, p.Cats, name)
			}
			v.Proposals = append(v.Proposals, pv)
		}
	}
	slices.Sort(v.Unreachable)
	return v
}

// categoryWords lists a proposal's categories, the most records first,
// in the words of the timeline.
func categoryWords(cs map[string]int) string {
	type c struct {
		name string
		n    int
	}
	var l []c
	for name, n := range cs {
		if name == "encounters" {
			name = "visits"
		}
		l = append(l, c{name, n})
	}
	slices.SortFunc(l, func(a, b c) int { return cmp.Or(b.n-a.n, strings.Compare(a.name, b.name)) })
	var w []string
	for _, x := range l {
		w = append(w, x.name)
	}
	switch len(w) {
	case 0:
		return ""
	case 1:
		return capital(w[0])
	}
	return capital(strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1])
}

func years(from, to int) string {
	switch {
	case from == 0:
		return ""
	case to <= from:
		return fmt.Sprintf("%d", from)
	}
	return fmt.Sprintf("%d to %d", from, to)
}

// grantNote says what confirming a proposal of org gives org.
func grantNote(grants []*pb.GrantState, org ptoy.ID, cats uint32, name string) string {
	for _, g := range grants {
		if ptoy.ID(g.Grant.Grantee) != org || g.Status != pb.GrantStatus_GRANT_STATUS_ACTIVE {
			continue
		}
		if g.Grant.Permission&pb.Permission_PERMISSION_WRITE != 0 && cats&^g.Grant.Categories == 0 {
			return "What you already allow " + name + " lets it file these records under your account."
		}
		return "What you allow " + name + " now does not let it file all of these records: widen or revoke that access under “Who can see” first."
	}
	return "To file them, " + name + " gets leave to add records of these kinds to your account for one day. It cannot read your records with it."
}

func (s *Server) findPage(w http.ResponseWriter, r *http.Request) {
	tok, id, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	if s.cfg.Locator == nil {
		s.unavailable(w, r)
		return
	}
	var v findView
	s.found.with(tok, func(x *search) { v = s.view(r.Context(), tok, x) })
	welcome := ""
	if r.URL.Query().Get("welcome") == "1" {
		welcome = id.String()
	}
	s.renderFind(w, r, http.StatusOK, findForm{Errors: errs{}}, v, welcome)
}

func (s *Server) renderFind(w http.ResponseWriter, r *http.Request, status int, f findForm, v findView, welcome string) {
	s.render(w, r, status, "find", page{Title: "Find my records", SignedIn: true, Nav: "/find", Data: map[string]any{
		"Form": f, "Found": v, "Welcome": welcome,
	}})
}

func (s *Server) find(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Locator == nil {
		s.unavailable(w, r)
		return
	}
	f, p, earlier := readFind(r, time.Now())
	if p == nil {
		s.renderFind(w, r, http.StatusUnprocessableEntity, f, findView{}, "")
		return
	}
	found, err := s.cfg.Locator.FindRecords(r.Context(), tok, *p, earlier)
	if err != nil {
		if ptoy.KindOf(err) == ptoy.Unauthenticated {
			s.fail(w, r, err)
			return
		}
		f.Errors[""] = s.say("a search for records", err)
		s.renderFind(w, r, http.StatusUnprocessableEntity, f, findView{}, "")
		return
	}
	x := &search{at: time.Now(), found: found}
	s.found.put(s, tok, x)
	s.renderFind(w, r, http.StatusOK, f, s.view(r.Context(), tok, x), "")
}

// answer confirms or rejects a proposal of the session's last search.
func (s *Server) answer(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if s.cfg.Locator == nil {
		s.unavailable(w, r)
		return
	}
	confirm := r.URL.Path == "/find/confirm"
	org, err := ptoy.ParseID(value(r, "org", 64))
	pid := value(r, "proposal", 32)
	if err != nil || !proposalRE.MatchString(pid) {
		s.errorPage(w, r, http.StatusUnprocessableEntity, "This proposal is unknown. Search for your records again.")
		return
	}
	var node client.LocatorNode
	var prop client.Proposal
	found := false
	s.found.with(tok, func(x *search) {
		for _, f := range x.found {
			if f.Node.Org != org {
				continue
			}
			for _, p := range f.Proposals {
				if p.ID == pid {
					node, prop, found = f.Node, p, true
				}
			}
		}
	})
	if !found {
		s.errorPage(w, r, http.StatusUnprocessableEntity, "This proposal is unknown or your last search is too old. Search for your records again.")
		return
	}
	name := s.cfg.Locator.OrgName(org)
	var done string
	if confirm {
		var n int
		n, err = s.cfg.Locator.Confirm(r.Context(), tok, node, prop)
		done = fmt.Sprintf("%s linked %d %s to you. They are in your timeline.", name, n, plural(n, "record", "records"))
	} else {
		err = s.cfg.Locator.Reject(r.Context(), tok, node, prop)
		done = fmt.Sprintf("You told %s these records are not yours. It will not propose them again.", name)
	}
	if ptoy.KindOf(err) == ptoy.Unauthenticated {
		s.fail(w, r, err)
		return
	}
	msg := ""
	if err != nil {
		what := "a confirmation"
		if !confirm {
			what = "a rejection"
		}
		msg = s.say(what, err)
	}
	s.found.with(tok, func(x *search) {
		x.done, x.errs = "", map[string]string{}
		if err != nil {
			x.errs[pid] = msg
			return
		}
		x.done = done
		for i := range x.found {
			if x.found[i].Node.Org != org {
				continue
			}
			ps := x.found[i].Proposals
			for j := range ps {
				if ps[j].ID != pid {
					continue
				}
				if confirm {
					ps[j].Status = "confirmed"
				} else {
					ps = slices.Delete(ps, j, j+1)
					break
				}
			}
			x.found[i].Proposals = ps
		}
	})
	http.Redirect(w, r, "/find#results", http.StatusSeeOther)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
