package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
)

// node stands in for the node's consent, wallet and profile parts at
// the app's edge: it answers reads and counts every change asked of it,
// so that a test sees whether a refused form reached the node.
type node struct {
	changes atomic.Int64
	sendErr error
}

var (
	hospital = ptoy.ID{0xa1}
	me       = ptoy.ID{1} // the stand-in session's patient
)

func (n *node) Organisations(context.Context) ([]*pb.Org, error) {
	return []*pb.Org{{Id: hospital.Bytes(), Name: "General Hospital", Kind: pb.OrgKind_ORG_KIND_HOSPITAL}}, nil
}
func (n *node) Grants(context.Context, string) ([]*pb.GrantState, error) {
	return []*pb.GrantState{{Status: pb.GrantStatus_GRANT_STATUS_ACTIVE, Grant: &pb.Grant{Patient: me.Bytes(), Grantee: hospital.Bytes(),
		Categories: 1 << pb.Category_CATEGORY_CONDITIONS, Purpose: pb.Purpose_PURPOSE_TREATMENT, Permission: pb.Permission_PERMISSION_READ}}}, nil
}
func (n *node) Grant(context.Context, string, ptoy.ID, agent.GrantOptions) error {
	n.changes.Add(1)
	return nil
}
func (n *node) Revoke(context.Context, string, ptoy.ID) error { n.changes.Add(1); return nil }
func (n *node) WhyNot(context.Context, string, ptoy.ID, pb.Category, pb.Purpose) (string, error) {
	return "", nil
}
func (n *node) Accesses(context.Context, string) (*client.AuditTrail, error) {
	return &client.AuditTrail{}, nil
}
func (n *node) Name(_ string, id, _ ptoy.ID) string { return id.String()[:8] }
func (n *node) Wallet(context.Context, string) (*WalletState, error) {
	return &WalletState{Balance: 5_000_000, Usage: &pb.UsageResponse{Used: 1000, Quota: 10_000_000},
		Plans: []*pb.Plan{{Id: 1, Name: "100 MB for a year", Bytes: 100_000_000, Price: 10_000_000, TermSeconds: 365 * 86400}}}, nil
}
func (n *node) Send(context.Context, string, ptoy.ID, uint64) error {
	n.changes.Add(1)
	return n.sendErr
}
func (n *node) BuyPlan(context.Context, string, uint32) error { n.changes.Add(1); return nil }
func (n *node) Profile(context.Context, string) (string, string, error) {
	return "Alice Example", "+1 ••• ••• 0001", nil
}
func (n *node) StartPhoneChange(context.Context, string, string) (string, error) {
	n.changes.Add(1)
	return strings.Repeat("ab", 16), nil
}
func (n *node) ChangePhone(context.Context, string, string, string) error {
	n.changes.Add(1)
	return nil
}
func (n *node) ChangePassphrase(context.Context, string, string, string) error {
	n.changes.Add(1)
	return nil
}

// fullApp is the app with every part, and a FHIR API that counts what it
// is asked to write.
func fullApp(t *testing.T) (*node, *atomic.Int64, http.Handler) {
	t.Helper()
	nd := &node{}
	var writes atomic.Int64
	fhir := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writes.Add(1)
		}
		http.NotFound(w, r)
	})
	s, err := New(Config{Patients: &patients{}, FHIR: fhir, Consent: nd, Wallet: nd, Profile: nd, Care: nd})
	if err != nil {
		t.Fatal(err)
	}
	return nd, &writes, s.Handler()
}

var csrfGood = &http.Cookie{Name: csrfCookie, Value: strings.Repeat("a", 43)}

func postAs(h http.Handler, path string, form url.Values, origin string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// validForms are forms that pass every check, one per action.
var validForms = map[string]url.Values{
	"/access/grant":          {"org": {hospital.String()}, "category": {"3", "7"}, "permission": {"read"}, "purpose": {"treatment"}},
	"/access/revoke":         {"grantee": {hospital.String()}},
	"/wallet/send":           {"to": {ptoy.ID{2}.String()}, "amount": {"2.5"}},
	"/wallet/plan":           {"plan": {"1"}},
	"/account/phone":         {"phone": {"+15550100077"}},
	"/account/phone/confirm": {"change": {strings.Repeat("ab", 16)}, "code": {"123456"}},
	"/account/passphrase":    {"current": {"old passphrase"}, "new": {"a new long passphrase"}, "again": {"a new long passphrase"}},
	"/records/new":           {"kind": {"bp"}, "systolic": {"120"}, "diastolic": {"80"}},
}

// TestActionsNeedCSRF: every form that acts is refused without the
// form's token, with another token than its cookie's, or from another
// site, and reaches neither the node nor the FHIR API; with the token,
// each goes through.
func TestActionsNeedCSRF(t *testing.T) {
	nd, writes, h := fullApp(t)
	session := &http.Cookie{Name: sessionCookie, Value: "tok"}
	for path, form := range validForms {
		with := func(tok string) url.Values {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if tok != "" {
				f.Set(csrfField, tok)
			}
			return f
		}
		for _, c := range []struct {
			name   string
			w      *httptest.ResponseRecorder
			origin string
		}{
			{"no token", postAs(h, path, with(""), "", csrfGood, session), ""},
			{"no cookie", postAs(h, path, with(csrfGood.Value), "", session), ""},
			{"another token", postAs(h, path, with(strings.Repeat("b", 43)), "", csrfGood, session), ""},
			{"another site", postAs(h, path, with(csrfGood.Value), "http://evil.example", csrfGood, session), ""},
		} {
			if c.w.Code != http.StatusForbidden {
				t.Errorf("%s %s: %d", c.name, path, c.w.Code)
			}
		}
		if n, w := nd.changes.Load(), writes.Load(); n != 0 || w != 0 {
			t.Fatalf("refused %s posts reached the node %d times and FHIR %d times", path, n, w)
		}
	}
	for path, form := range validForms {
		f := url.Values{csrfField: {csrfGood.Value}}
		for k, v := range form {
			f[k] = v
		}
		before := nd.changes.Load() + writes.Load()
		w := postAs(h, path, f, "http://127.0.0.1:8080", csrfGood, session)
		if after := nd.changes.Load() + writes.Load(); after != before+1 {
			t.Errorf("%s with the token: %d, %d changes asked", path, w.Code, after-before)
		}
	}
}

// formError is a form with one bad field: the message expected next to it.
type formError struct {
	path, field, msg string
	change           url.Values
}

var tomorrow = time.Now().UTC().Add(48 * time.Hour).Format("2006-01-02T15:04")

// formErrors are the bad inputs TestFormErrors tries.
var formErrors = []formError{
	{"/access/grant", "org", "Choose who", url.Values{"org": {""}}},
	{"/access/grant", "org", "from the list", url.Values{"org": {ptoy.ID{9}.String()}}},
	{"/access/grant", "category", "at least one", url.Values{"category": nil}},
	{"/access/grant", "category", "from the list", url.Values{"category": {"99"}}},
	{"/access/grant", "permission", "what they may do", url.Values{"permission": {"admin"}}},
	{"/access/grant", "purpose", "from the list", url.Values{"purpose": {"emergency"}}},
	{"/access/grant", "until", "has passed", url.Values{"until": {"2001-01-01"}}},
	{"/access/grant", "until", "like 2027-12-31", url.Values{"until": {"next week"}}},
	{"/wallet/send", "to", "Enter the account id", url.Values{"to": {""}}},
	{"/wallet/send", "to", "40 characters", url.Values{"to": {"bob"}}},
	{"/wallet/send", "to", "your own account", url.Values{"to": {me.String()}}},
	{"/wallet/send", "amount", "Enter an amount", url.Values{"amount": {""}}},
	{"/wallet/send", "amount", "at most 6 decimals", url.Values{"amount": {"-1"}}},
	{"/wallet/send", "amount", "at most 6 decimals", url.Values{"amount": {"1.0000001"}}},
	{"/wallet/send", "amount", "above zero", url.Values{"amount": {"0"}}},
	{"/wallet/plan", "plan", "from the list", url.Values{"plan": {"7"}}},
	{"/account/phone", "phone", "new phone number", url.Values{"phone": {""}}},
	{"/account/phone/confirm", "code", "6 digits", url.Values{"code": {"12a"}}},
	{"/account/phone/confirm", "code", "Enter the code", url.Values{"code": {""}}},
	{"/account/passphrase", "current", "current passphrase", url.Values{"current": {""}}},
	{"/account/passphrase", "new", "at least 10", url.Values{"new": {"short"}, "again": {"short"}}},
	{"/account/passphrase", "new", "Choose a new one", url.Values{"new": {"old passphrase"}, "again": {"old passphrase"}}},
	{"/account/passphrase", "again", "not the same", url.Values{"again": {"another passphrase"}}},
	{"/records/new", "systolic", "whole number", url.Values{"systolic": {"12O"}}},
	{"/records/new", "systolic", "from 50 to 300", url.Values{"systolic": {"400"}}},
	{"/records/new", "diastolic", "must be below", url.Values{"diastolic": {"130"}}},
	{"/records/new", "when", "in the future", url.Values{"when": {tomorrow}}},
	{"/records/new", "when", "like 2026-03-01", url.Values{"when": {"yesterday"}}},
	{"/records/new", "title", "title", url.Values{"kind": {"note"}, "text": {"text"}}},
	{"/records/new", "text", "Write the note", url.Values{"kind": {"note"}, "title": {"A title"}}},
}

// TestFormErrors: bad input is refused with 422 and a message next to
// its field (the field points at it with aria-describedby and is marked
// invalid), and nothing reaches the node or the FHIR API.
func TestFormErrors(t *testing.T) {
	nd, writes, h := fullApp(t)
	session := &http.Cookie{Name: sessionCookie, Value: "tok"}
	cases := formErrors
	for _, c := range cases {
		f := url.Values{csrfField: {csrfGood.Value}}
		for k, v := range validForms[c.path] {
			f[k] = v
		}
		for k, v := range c.change {
			if v == nil {
				f.Del(k)
			} else {
				f[k] = v
			}
		}
		w := postAs(h, c.path, f, "", csrfGood, session)
		body := w.Body.String()
		if w.Code != http.StatusUnprocessableEntity {
			t.Errorf("%s %v: %d", c.path, c.change, w.Code)
			continue
		}
		m := regexp.MustCompile(`<p class="field-error" id="` + c.field + `-error">([^<]*)</p>`).FindStringSubmatch(body)
		if m == nil || !strings.Contains(m[1], c.msg) {
			t.Errorf("%s %v: no message %q next to %s (%v)", c.path, c.change, c.msg, c.field, m)
			continue
		}
		if !regexp.MustCompile(`aria-describedby="[^"]*\b` + c.field + `-error\b`).MatchString(body) {
			t.Errorf("%s %v: nothing points at %s-error", c.path, c.change, c.field)
		}
	}
	if n, w := nd.changes.Load(), writes.Load(); n != 0 || w != 0 {
		t.Fatalf("refused forms reached the node %d times and FHIR %d times", n, w)
	}

	f := url.Values{csrfField: {csrfGood.Value}, "kind": {"x"}}
	if w := postAs(h, "/records/new", f, "", csrfGood, session); w.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(w.Body.String(), `role="alert">Choose what to add`) {
		t.Errorf("a record of an unknown kind: %d", w.Code)
	}

	// What the node refuses is told next to the field too.
	nd.sendErr = ptoy.E("ledger", ptoy.Invalid, "the balance is 5 PTOY, less than 6 PTOY")
	f = url.Values{csrfField: {csrfGood.Value}, "to": {ptoy.ID{2}.String()}, "amount": {"6"}}
	w := postAs(h, "/wallet/send", f, "", csrfGood, session)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="amount-error">The balance is 5 PTOY, less than 6 PTOY<`) {
		t.Errorf("a transfer the ledger refused: %d\n%s", w.Code, w.Body.String())
	}
	// A revoke of a grant that is not active is refused.
	f = url.Values{csrfField: {csrfGood.Value}, "grantee": {ptoy.ID{9}.String()}}
	if w := postAs(h, "/access/revoke", f, "", csrfGood, session); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("revoking a grant that is not there: %d", w.Code)
	}
}

// TestNewPagesNeedSession: without a live session every new page and
// form sends the browser to sign in.
func TestNewPagesNeedSession(t *testing.T) {
	nd, _, h := fullApp(t)
	for _, path := range []string{"/access", "/accesses", "/wallet", "/account", "/records/new", "/accesses/dispute/1", "/emergency", "/caregivers"} {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "ended"})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/signin") {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Header().Get("Location"))
		}
	}
	for path, form := range validForms {
		f := url.Values{csrfField: {csrfGood.Value}}
		for k, v := range form {
			f[k] = v
		}
		w := postAs(h, path, f, "", csrfGood, &http.Cookie{Name: sessionCookie, Value: "ended"})
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/signin") {
			b, _ := io.ReadAll(w.Body)
			t.Errorf("POST %s: %d %s %.200s", path, w.Code, w.Header().Get("Location"), b)
		}
	}
	if n := nd.changes.Load(); n != 0 {
		t.Fatalf("posts without a session reached the node %d times", n)
	}
}
