package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"ptoy"
	"ptoy/agent"
	pb "ptoy/gen/ptoy/v1"
)

// The stand-in node's break-glass and caregivers: break-glass 1 is open
// to dispute, 2 was disputed; carol (ptoy.ID{2}) is a caregiver and has
// the phone number +15550100002.
var (
	carol = ptoy.ID{2}
	novak = ptoy.ID{7}
)

func (n *node) BreakGlass(context.Context, string) ([]*pb.BreakGlassEvent, error) {
	return []*pb.BreakGlassEvent{
		{Id: 1, Patient: me.Bytes(), Practitioner: novak.Bytes(), Org: hospital.Bytes(), Opened: 1_767_225_600, Closes: 1_767_240_000, Categories: 1 << pb.Category_CATEGORY_ALLERGIES},
		{Id: 2, Patient: me.Bytes(), Practitioner: novak.Bytes(), Org: hospital.Bytes(), Opened: 1_767_225_700, Closes: 1_767_240_100, Categories: 1 << pb.Category_CATEGORY_ALLERGIES,
			Disputed: 1_767_230_000, DisputeHash: make([]byte, 32)},
	}, nil
}
func (n *node) Dispute(context.Context, string, uint64, string) error { n.changes.Add(1); return nil }
func (n *node) Policy(context.Context, string) (*pb.BreakGlassPolicy, error) {
	return &pb.BreakGlassPolicy{}, nil
}
func (n *node) SetPolicy(context.Context, string, bool, uint32) error { n.changes.Add(1); return nil }
func (n *node) Caregivers(context.Context, string) ([]*pb.DelegationState, error) {
	return []*pb.DelegationState{{Delegation: &pb.Delegate{Patient: me.Bytes(), Delegate: carol.Bytes(), Categories: 1 << pb.Category_CATEGORY_CONDITIONS}}}, nil
}
func (n *node) Person(_ context.Context, _ string, id ptoy.ID) (string, error) {
	switch id {
	case carol:
		return "Carol Example", nil
	case me:
		return "Alice Example", nil
	}
	return "", ptoy.E("node", ptoy.NotFound, "no such person")
}
func (n *node) FindByPhone(_ context.Context, _, phone string) (ptoy.ID, string, error) {
	switch {
	case !strings.HasPrefix(phone, "+"):
		return ptoy.ID{}, "", ptoy.E("node", ptoy.Invalid, "not a phone number")
	case phone == "+15550100002":
		return carol, "Carol Example", nil
	case phone == "+15550100001":
		return me, "Alice Example", nil
	}
	return ptoy.ID{}, "", ptoy.E("node", ptoy.NotFound, "no patient with this phone number")
}
func (n *node) AddCaregiver(context.Context, string, ptoy.ID, agent.DelegateOptions) error {
	n.changes.Add(1)
	return nil
}
func (n *node) RemoveCaregiver(context.Context, string, ptoy.ID) error { n.changes.Add(1); return nil }

func init() {
	validForms["/accesses/dispute/1"] = url.Values{"reason": {"I was awake and said no to this."}}
	validForms["/emergency"] = url.Values{"mode": {"limited"}, "category": {"5"}}
	validForms["/caregivers/add"] = url.Values{"who": {carol.String()}, "category": {"3"}, "confirm": {"yes"}, "found": {carol.String()}}
	validForms["/caregivers/remove"] = url.Values{"who": {carol.String()}}
	formErrors = append(formErrors, []formError{
		{"/accesses/dispute/1", "reason", "Say why", url.Values{"reason": {"  "}}},
		{"/accesses/dispute/1", "reason", "at least 10", url.Values{"reason": {"no"}}},
		{"/accesses/dispute/1", "reason", "1,000 characters", url.Values{"reason": {strings.Repeat("é", 1001)}}},
		{"/emergency", "mode", "Choose one", url.Values{"mode": {"sometimes"}}},
		{"/emergency", "category", "at least one", url.Values{"category": nil}},
		{"/emergency", "category", "from the list", url.Values{"category": {"7"}}},
		{"/caregivers/add", "who", "phone number or account id", url.Values{"who": {""}}},
		{"/caregivers/add", "who", "country code", url.Values{"who": {"carol"}}},
		{"/caregivers/add", "who", "No one registered at this node", url.Values{"who": {"+15550100099"}}},
		{"/caregivers/add", "who", "no person with this account id", url.Values{"who": {ptoy.ID{9}.String()}}},
		{"/caregivers/add", "who", "your own caregiver", url.Values{"who": {"+15550100001"}}},
		{"/caregivers/add", "category", "at least one", url.Values{"category": nil}},
		{"/caregivers/add", "until", "has passed", url.Values{"until": {"2001-01-01"}}},
	}...)
}

// TestCareForms: a dispute of an access already disputed, or of one that
// is not the patient's, is refused and reaches nothing; a caregiver is
// added only once the patient saw the name found and confirmed it; the
// pages show names, not account ids, and mark break-glass and disputes.
func TestCareForms(t *testing.T) {
	nd, _, h := fullApp(t)
	session := &http.Cookie{Name: sessionCookie, Value: "tok"}
	post := func(path string, form url.Values) *httptest.ResponseRecorder {
		form.Set(csrfField, csrfGood.Value)
		return postAs(h, path, form, "", csrfGood, session)
	}
	get := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil)
		r.AddCookie(session)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := post("/accesses/dispute/2", url.Values{"reason": {"I was awake and said no to this."}}); w.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(w.Body.String(), "You disputed this access already") {
		t.Errorf("a second dispute: %d", w.Code)
	}
	for _, id := range []string{"99", "x", "0"} {
		if w := post("/accesses/dispute/"+id, url.Values{"reason": {"I was awake and said no to this."}}); w.Code != http.StatusNotFound {
			t.Errorf("a dispute of break-glass %q: %d", id, w.Code)
		}
	}
	if w := post("/caregivers/remove", url.Values{"who": {ptoy.ID{9}.String()}}); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("removing someone who is no caregiver: %d", w.Code)
	}
	// The first step finds Carol by phone and asks to confirm.
	w := post("/caregivers/add", url.Values{"who": {"+15550100002"}, "category": {"3"}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Yes, add Carol Example") {
		t.Errorf("finding a caregiver by phone: %d\n%s", w.Code, w.Body.String())
	}
	// A confirmation for another person than the one found is a new lookup.
	w = post("/caregivers/add", url.Values{"who": {"+15550100002"}, "category": {"3"}, "confirm": {"yes"}, "found": {ptoy.ID{9}.String()}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Yes, add Carol Example") {
		t.Errorf("a confirmation for someone else: %d", w.Code)
	}
	if n := nd.changes.Load(); n != 0 {
		t.Fatalf("refused or unconfirmed forms reached the node %d times", n)
	}
	w = get("/accesses")
	body := w.Body.String()
	for _, want := range []string{`href="/accesses/dispute/1"`, "Disputed on", `class="badge disputed"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/accesses has no %q", want)
		}
	}
	if strings.Contains(body, `href="/accesses/dispute/2"`) {
		t.Error("/accesses offers to dispute an access disputed already")
	}
	w = get("/caregivers")
	if body := w.Body.String(); !strings.Contains(body, "<h3>Carol Example</h3>") || !strings.Contains(body, "Remove Carol Example") {
		t.Errorf("/caregivers does not name Carol:\n%s", body)
	}
	if w := get("/emergency"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Now:</strong> On") {
		t.Errorf("/emergency: %d", w.Code)
	}
}
