package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/devnet"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// staffClient is a browser without JavaScript: it keeps cookies and does
// not follow redirects.
type staffClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newStaffClient(t *testing.T, base string) *staffClient {
	jar, _ := cookiejar.New(nil)
	return &staffClient{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *staffClient) do(req *http.Request) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *staffClient) get(path string) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return c.do(req)
}

// csrf is the token of the console's CSRF cookie.
func (c *staffClient) csrf() string {
	c.t.Helper()
	u, _ := url.Parse(c.base + "/console/")
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == "neith_csrf" {
			return ck.Value
		}
	}
	c.get("/console/signin")
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == "neith_csrf" {
			return ck.Value
		}
	}
	c.t.Fatal("the console set no CSRF cookie")
	return ""
}

func (c *staffClient) post(path string, form url.Values, hdr ...string) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.do(req)
}

func (c *staffClient) signIn(account string) {
	c.t.Helper()
	resp, body := c.post("/console/signin", url.Values{"csrf": {c.csrf()}, "account": {account}, "passphrase": {devnet.Passphrase}})
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("signing in %s: %d\n%s", account, resp.StatusCode, body)
	}
}

// TestConsoleForms checks the console's forms over plain HTTP on one
// network with the demo cast and Alice's history: cookies are HttpOnly,
// SameSite=Strict and scoped to /console/, Secure off localhost; a post
// without the CSRF token, with another's, or from another origin is
// refused and changes nothing; bad input is told next to its field and
// nothing is half-saved; a patient is not staff, nor another
// organisation's practitioner (who may not keep a keystore here either),
// and the patient app does not sign staff in; a role's pages are
// closed to the others; an employee the admin removes is signed out
// at their next request; and a break-glass the patient disputed without
// this node is marked in the queue, its text not shown (this node keeps
// none) but checked against the ledger's SHA-256 when pasted.
func TestConsoleForms(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := devnet.Start(ctx, devnet.Options{Home: t.TempDir(), KDF: keys.TestKDF, DemoRecords: true, KeepKeystores: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	base := n.Info.Nodes[0].API
	id := func(key string) string {
		t.Helper()
		k, err := n.Key(key)
		if err != nil {
			t.Fatal(err)
		}
		return k.ID().String()
	}
	alice, lee := id("alice"), id("nurse-lee")

	// A practitioner keeps their keystore at their own organisation's
	// node only; the patient app does not sign staff in.
	other, err := n.Key("riverside-admin")
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(n.Info.KeysDir, "riverside-admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Client(0).KeepKeystore(ctx, other, file); ptoy.KindOf(err) != ptoy.PermissionDenied {
		t.Fatalf("Riverside's admin keeping a keystore at General Hospital's node: %v", err)
	}
	if _, _, err := n.Nodes[0].UnsealStaff(ctx, other.ID(), devnet.Passphrase); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("Riverside's admin signing in at General Hospital's console: %v", err)
	}
	if _, _, err := n.Nodes[0].UnsealStaff(ctx, ptoy.ID{1}, devnet.Passphrase); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("an unknown account signing in to the console: %v", err)
	}
	app := newStaffClient(t, base)
	resp, _ := app.get("/signin")
	var appCSRF string
	for _, ck := range resp.Cookies() {
		if ck.Name == "ptoy_csrf" {
			appCSRF = ck.Value
		}
	}
	if resp, _ := app.post("/signin", url.Values{"csrf": {appCSRF}, "account": {lee}, "passphrase": {devnet.Passphrase}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("nurse Lee signing in to the patient app: %d", resp.StatusCode)
	}

	// Cookies: the CSRF cookie's attributes, and Secure on a public host.
	c := newStaffClient(t, base)
	resp, _ = c.get("/console/signin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the sign-in page: %d", resp.StatusCode)
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"neith_csrf=", "Path=/console/", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(sc, want) {
			t.Errorf("the CSRF cookie %q has no %s", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("the CSRF cookie is Secure on 127.0.0.1: %q", sc)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/console/signin", nil)
	req.Host = "console.example.org"
	if resp, _ := newStaffClient(t, base).do(req); !strings.Contains(resp.Header.Get("Set-Cookie"), "Secure") {
		t.Errorf("the CSRF cookie on a public host is not Secure: %q", resp.Header.Get("Set-Cookie"))
	}

	// Sign-in: without the token; with bad input; a patient; then Lee.
	form := url.Values{"account": {lee}, "passphrase": {devnet.Passphrase}}
	if resp, _ := c.post("/console/signin", form); resp.StatusCode != http.StatusForbidden || strings.Contains(resp.Header.Get("Set-Cookie"), "neith_session") {
		t.Fatalf("a sign-in without the CSRF token: %d %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	resp, body := c.post("/console/signin", url.Values{"csrf": {c.csrf()}, "account": {"not-an-id"}, "passphrase": {""}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="account-error"`) || !strings.Contains(body, "40 characters") ||
		!strings.Contains(body, `id="passphrase-error"`) || !strings.Contains(body, `value="not-an-id"`) {
		t.Fatalf("a bad sign-in: %d\n%s", resp.StatusCode, body)
	}
	resp, body = c.post("/console/signin", url.Values{"csrf": {c.csrf()}, "account": {alice}, "passphrase": {devnet.Passphrase}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not on the staff") {
		t.Fatalf("a patient signing in to the console: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = c.post("/console/signin", url.Values{"csrf": {c.csrf()}, "account": {lee}, "passphrase": {devnet.Passphrase}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Lee's sign-in: %d", resp.StatusCode)
	}
	sc = resp.Header.Get("Set-Cookie")
	for _, want := range []string{"neith_session=", "Path=/console/", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(sc, want) {
			t.Errorf("the session cookie %q has no %s", sc, want)
		}
	}

	// A note: refused without the token, with another token, from another
	// origin, and when empty or too long; none of them is saved.
	note := "/console/patients/" + alice + "/note"
	good := url.Values{"csrf": {c.csrf()}, "title": {"Wound check"}, "text": {"Dressing changed."}}
	for name, try := range map[string]func() (*http.Response, string){
		"no token": func() (*http.Response, string) {
			return c.post(note, url.Values{"title": {"Wound check"}, "text": {"x"}})
		},
		"other token": func() (*http.Response, string) {
			return c.post(note, url.Values{"csrf": {strings.Repeat("A", 43)}, "title": {"Wound check"}, "text": {"x"}})
		},
		"cross origin": func() (*http.Response, string) { return c.post(note, good, "Origin", "https://evil.example") },
	} {
		if resp, body := try(); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "This form expired") {
			t.Errorf("a note with %s: %d", name, resp.StatusCode)
		}
	}
	resp, body = c.post(note, url.Values{"csrf": {c.csrf()}, "title": {""}, "text": {strings.Repeat("long ", 1001)}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="title-error"`) || !strings.Contains(body, "5,000 characters") {
		t.Fatalf("a note without a title and too long: %d\n%s", resp.StatusCode, body)
	}
	if _, chart := c.get("/console/patients/" + alice + "?category=notes"); strings.Contains(chart, "Wound check") {
		t.Fatal("a refused note is in the chart")
	}
	if resp, _ := c.post(note, good); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a good note: %d", resp.StatusCode)
	}
	if _, chart := c.get("/console/patients/" + alice + "?category=notes"); strings.Count(chart, "Wound check") != 1 {
		t.Fatalf("the note is not in the chart once:\n%s", chart)
	}

	// The patient search is a POST (no name in a URL), with the token.
	if resp, _ := c.post("/console/patients", url.Values{"q": {"alice"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a search without the CSRF token: %d", resp.StatusCode)
	}
	if resp, body := c.post("/console/patients", url.Values{"csrf": {c.csrf()}, "q": {"alice"}}); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, "Alice Example") || strings.Contains(body, "Bob Example") {
		t.Errorf("searching for alice: %d\n%s", resp.StatusCode, body)
	}

	// A prescription is for physicians: Lee may not open its form; Dr
	// Osei's bad input is told next to each field and saves nothing, then
	// a good one is in the chart with its dosage. A lab result: Lee's
	// refused input (no test, a result that is no number, a range upside
	// down, a date to come) saves nothing; a good one is in the chart.
	rx := "/console/patients/" + alice + "/prescription"
	if resp, _ := c.get(rx); resp.StatusCode != http.StatusForbidden {
		t.Errorf("nurse Lee opens the prescription form: %d", resp.StatusCode)
	}
	oseiC := newStaffClient(t, base)
	oseiC.signIn(id("dr-osei"))
	if _, chart := oseiC.get("/console/patients/" + alice); !strings.Contains(chart, "Add a prescription") || !strings.Contains(chart, "Add a lab result") {
		t.Fatal("Dr Osei's chart of Alice offers no prescription or lab result")
	}
	resp, body = oseiC.post(rx, url.Values{"csrf": {oseiC.csrf()}, "medication": {""}, "rxnorm": {"86-0975"}, "dosage": {""}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="medication-error"`) || !strings.Contains(body, `id="rxnorm-error"`) ||
		!strings.Contains(body, `id="dosage-error"`) || !strings.Contains(body, `value="86-0975"`) {
		t.Fatalf("a bad prescription: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := oseiC.post(rx, url.Values{"medication": {"Amoxicillin 500 mg capsule"}, "dosage": {"1 capsule three times a day"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a prescription without the CSRF token: %d", resp.StatusCode)
	}
	if _, chart := oseiC.get("/console/patients/" + alice + "?category=medications"); strings.Contains(chart, "Amoxicillin 500 mg capsule") {
		t.Fatal("a refused prescription is in the chart")
	}
	resp, _ = oseiC.post(rx, url.Values{"csrf": {oseiC.csrf()}, "medication": {"Amoxicillin 500 mg capsule"}, "rxnorm": {"308191"}, "dosage": {"1 capsule three times a day for 7 days"}, "reason": {"Otitis media"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "added=prescription") {
		t.Fatalf("a good prescription: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, chart := oseiC.get("/console/patients/" + alice + "?category=medications&added=prescription"); strings.Count(chart, "Amoxicillin 500 mg capsule") != 1 ||
		!strings.Contains(chart, "1 capsule three times a day for 7 days") || !strings.Contains(chart, "Your prescription is added") {
		t.Fatalf("the prescription is not in the chart once:\n%s", chart)
	}
	lab := "/console/patients/" + alice + "/lab"
	if resp, _ := c.get(lab); resp.StatusCode != http.StatusOK {
		t.Fatalf("nurse Lee opens the lab result form: %d", resp.StatusCode)
	}
	tomorrow := time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly)
	resp, body = c.post(lab, url.Values{"csrf": {c.csrf()}, "test": {"1-1"}, "value": {"high"}, "low": {"5"}, "high": {"4"}, "date": {tomorrow}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="test-error"`) || !strings.Contains(body, `id="value-error"`) ||
		!strings.Contains(body, "above the low end") || !strings.Contains(body, "in the future") {
		t.Fatalf("a bad lab result: %d\n%s", resp.StatusCode, body)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	resp, _ = c.post(lab, url.Values{"csrf": {c.csrf()}, "test": {"2823-3"}, "value": {"4.2"}, "low": {"3.5"}, "high": {"5.1"}, "date": {today}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a good lab result: %d", resp.StatusCode)
	}
	if _, chart := c.get("/console/patients/" + alice + "?category=lab-results"); !strings.Contains(chart, "Potassium") || !strings.Contains(chart, "4.2 mmol/L") {
		t.Fatalf("the lab result is not in the chart:\n%s", chart)
	}

	// Lee's role opens neither the staff nor the review queues; a bad
	// patient id is told.
	for _, p := range []string{"/console/employees", "/console/matching", "/console/break-glass", "/console/break-glass/queue"} {
		if resp, _ := c.get(p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("nurse Lee opens %s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := c.get("/console/patients/xyz"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a malformed patient id: %d", resp.StatusCode)
	}

	// The admin: bad input to the add form, then Lee is removed and her
	// next request sends her to sign in.
	admin := newStaffClient(t, base)
	admin.signIn(id("gh-admin"))
	resp, body = admin.post("/console/employees/add", url.Values{"csrf": {admin.csrf()}, "name": {""}, "role": {"99"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="name-error"`) || !strings.Contains(body, `id="role-error"`) ||
		!strings.Contains(body, `id="keystore-error"`) || !strings.Contains(body, `id="passphrase-error"`) {
		t.Fatalf("an empty add: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = admin.post("/console/employees/remove", url.Values{"employee": {lee}, "confirm": {"1"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("removing without the CSRF token: %d", resp.StatusCode)
	}
	if resp, _ := c.get("/console/patients"); resp.StatusCode != http.StatusOK {
		t.Fatalf("Lee after a refused removal: %d", resp.StatusCode)
	}
	resp, body = admin.post("/console/employees/role", url.Values{"csrf": {admin.csrf()}, "employee": {lee}, "role": {"99"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose one of the roles") {
		t.Fatalf("a role that is none: %d", resp.StatusCode)
	}
	// A role changes; the node's own account stays as it is.
	if resp, body := admin.post("/console/employees/role", url.Values{"csrf": {admin.csrf()}, "employee": {id("park")}, "role": {"7"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Park to lab technician: %d\n%s", resp.StatusCode, body)
	}
	gh, err := n.Key("general-hospital")
	if err != nil {
		t.Fatal(err)
	}
	es, err := n.Client(0).Employees(ctx, gh.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		switch e.Role {
		case pb.Role_ROLE_NODE:
			node := hex.EncodeToString(e.Practitioner)
			if resp, _ := admin.post("/console/employees/remove", url.Values{"csrf": {admin.csrf()}, "employee": {node}, "confirm": {"1"}}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("removing the node's own account: %d", resp.StatusCode)
			}
		case pb.Role_ROLE_LAB_TECHNICIAN:
			if hex.EncodeToString(e.Practitioner) != id("park") {
				t.Errorf("a lab technician who is not Park: %x", e.Practitioner)
			}
		}
	}
	if _, body := admin.get("/console/employees"); !strings.Contains(body, "lab technician") {
		t.Error("the employee list does not show Park's new role")
	}
	resp, body = admin.post("/console/employees/remove", url.Values{"csrf": {admin.csrf()}, "employee": {lee}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Remove Nurse Lee") {
		t.Fatalf("a removal is not confirmed first: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := c.get("/console/patients"); resp.StatusCode != http.StatusOK {
		t.Fatalf("Lee before the removal is confirmed: %d", resp.StatusCode)
	}
	if resp, body := admin.post("/console/employees/remove", url.Values{"csrf": {admin.csrf()}, "employee": {lee}, "confirm": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("removing Lee: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = c.get("/console/patients")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signin?ended=1" {
		t.Fatalf("Lee after her removal: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A dispute made without this node (signed by Alice's own key, its
	// text kept by her): the queue marks it and says to ask her; her text
	// checks against the ledger's SHA-256, another does not.
	osei, aliceKey := keyOf(t, n, "dr-osei"), keyOf(t, n, "alice")
	if resp, body := admin.post("/console/employees/role", url.Values{"csrf": {admin.csrf()}, "employee": {osei.ID().String()}, "role": {"3"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Dr Osei to emergency physician: %d\n%s", resp.StatusCode, body)
	}
	glassReason := sha256.Sum256([]byte("Found unresponsive at home."))
	if _, err := n.Client(0).Send(ctx, &pb.Body{Msg: &pb.Body_BreakGlass{BreakGlass: &pb.BreakGlass{
		Patient: aliceKey.ID().Bytes(), ReasonHash: glassReason[:], Org: gh.ID().Bytes()}}}, osei); err != nil {
		t.Fatal(err)
	}
	const why = "I was at work all day; this was not me."
	disputeHash := sha256.Sum256([]byte(why))
	if _, err := n.Client(0).Send(ctx, &pb.Body{Msg: &pb.Body_DisputeBreakGlass{DisputeBreakGlass: &pb.DisputeBreakGlass{
		Event: 1, ReasonHash: disputeHash[:]}}}, aliceKey); err != nil {
		t.Fatal(err)
	}
	ruiz := newStaffClient(t, base)
	ruiz.signIn(id("ruiz"))
	_, body = ruiz.get("/console/break-glass/queue")
	for _, want := range []string{"1 disputed by the patient", "disputed by the patient</span>", "ask the patient for it", hex.EncodeToString(disputeHash[:])} {
		if !strings.Contains(body, want) {
			t.Errorf("the queue has no %q", want)
		}
	}
	if strings.Contains(body, "checked against the ledger") {
		t.Error("the queue shows a dispute's text this node does not keep")
	}
	if _, body := ruiz.post("/console/break-glass/queue", url.Values{"csrf": {ruiz.csrf()}, "reason": {why}}); !strings.Contains(body, "the patient's reason for disputing break-glass #1") {
		t.Errorf("Alice's text does not check against her dispute:\n%s", body)
	}
	if _, body := ruiz.post("/console/break-glass/queue", url.Values{"csrf": {ruiz.csrf()}, "reason": {strings.Replace(why, "day", "week", 1)}}); !strings.Contains(body, "reason of no break-glass (or dispute)") {
		t.Errorf("a changed text checks against a dispute:\n%s", body)
	}
}

func keyOf(t *testing.T, n *devnet.Net, name string) *keys.KeyPair {
	t.Helper()
	k, err := n.Key(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
