package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"ptoy/internal/browsertest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ptoy"
	"ptoy/audit"
	"ptoy/auth"
	"ptoy/devnet"
	"ptoy/directory"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/internal/wait"
	"ptoy/keys"
	"ptoy/ledger"
	"ptoy/store"
)

// TestPatientJourney walks Alice, in Chromium, through the pages that
// act for her on a one-node network with no records yet: she grants
// General Hospital her conditions, lab results and notes (a form with a
// missing category is told next to the field first), adds a home
// blood-pressure reading, a note and a scanned letter (downloaded back
// from its page) and sees them on her timeline, sees Dr Osei's read
// of it in her access log with its proof checked, and nurse Lee sees her
// note in the console's chart, revokes the hospital (and Lee's chart of
// her is empty),
// sends PTOY to Bob (a bad amount first), changes her phone with the
// code from the outbox (a wrong code first), and changes her passphrase,
// which the next sign-in needs. Dr Novak breaks the glass for her and
// she disputes it (no reason first); she limits break-glass to her
// allergies (no category first); she adds Bob as a caregiver, found by
// his phone number and confirmed by name, and removes him. Every page is photographed at 1280 and
// 390 px and checked with axe-core.
func TestPatientJourney(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bctx := browser(t, ctx)
	p := browsertest.NewPages(t, bctx)

	n, err := devnet.Start(ctx, devnet.Options{Home: t.TempDir(), KDF: keys.TestKDF, KeepKeystores: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	key := func(name string) *keys.KeyPair {
		k, err := n.Key(name)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	alice, bob, gh, osei := key("alice"), key("bob"), key("general-hospital"), key("dr-osei")
	base := n.Info.Nodes[0].API
	run := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatal(err)
		}
	}
	visit := func(path string) {
		t.Helper()
		run(chromedp.Navigate(base + path))
	}
	has := func(sel, want string) {
		t.Helper()
		if got := text(t, bctx, sel); !strings.Contains(got, want) {
			t.Fatalf("%s has no %q:\n%s", sel, want, got)
		}
	}
	signIn := func(pass string) {
		t.Helper()
		visit("/signin")
		run(chromedp.SendKeys(chromedp.ID("account"), alice.ID().String()), chromedp.SendKeys(chromedp.ID("passphrase"), pass))
		click(t, bctx, `form[action="/signin"] button[type=submit]`)
		if loc := location(t, bctx); loc != base+"/timeline" {
			t.Fatalf("after signing in: %s (%s)", loc, text(t, bctx, "main"))
		}
	}
	signIn(devnet.Passphrase)

	// Who can see: no one yet.
	click(t, bctx, `nav a[href="/access"]`)
	has("main", "You have given no one access")
	p.Check("access-none")

	// A grant without a category is told next to the categories.
	ghOption, err := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#org option")].find(o => o.textContent.startsWith("General Hospital")).value`))
	if err != nil {
		t.Fatal(err)
	}
	if ghOption != gh.ID().String() {
		t.Fatalf("the organisation list offers General Hospital as %q", ghOption)
	}
	run(chromedp.SetValue(chromedp.ID("org"), ghOption), chromedp.Click(chromedp.ID("perm-read-write")))
	click(t, bctx, `form[action="/access/grant"] button[type=submit]`)
	has("#category-error", "Choose at least one category")
	if v, _ := chromedp.Run(bctx, chromedp.Value(chromedp.ID("org"))); v != ghOption {
		t.Errorf("the organisation was not kept in the form: %q", v)
	}
	p.Check("access-form-error")
	if gs, _ := n.Nodes[0].Ledger().GrantsOf(alice.ID()); len(gs) != 0 {
		t.Fatalf("a refused form left %d grants", len(gs))
	}

	// The grant: conditions, lab results and notes, read and write.
	for _, c := range []string{"3", "7", "9"} {
		run(chromedp.Click(chromedp.ID("cat-" + c)))
	}
	click(t, bctx, `form[action="/access/grant"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/access?done=granted" {
		t.Fatalf("after granting: %s\n%s", loc, text(t, bctx, "main"))
	}
	has(".cards", "General Hospital")
	has(".cards", "Conditions, lab results and clinical notes")
	has(".cards", "Read and write")
	has(".cards", "Treatment")
	whyNot, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(".whynot").textContent`))
	t.Logf("why not: %.300s", whyNot)
	if !strings.Contains(whyNot, "Mental health") || !strings.Contains(whyNot, "Medications") {
		t.Errorf("the categories the hospital cannot see, and why: %s", whyNot)
	}
	p.Check("access-granted")

	// A home blood-pressure reading: a bad value first.
	click(t, bctx, `nav a[href="/records/new"]`)
	p.Check("add-record")
	run(chromedp.SendKeys(chromedp.ID("systolic"), "128"), chromedp.SendKeys(chromedp.ID("diastolic"), "140"))
	click(t, bctx, `form[action="/records/new"] button[type=submit]`)
	has("#diastolic-error", "below the systolic")
	p.Check("add-record-error")
	run(chromedp.Clear(chromedp.ID("diastolic")), chromedp.SendKeys(chromedp.ID("diastolic"), "82"))
	click(t, bctx, `form[action="/records/new"] button[type=submit]`)
	if loc := location(t, bctx); !strings.HasPrefix(loc, base+"/records/Observation/") {
		t.Fatalf("after adding a reading: %s\n%s", loc, text(t, bctx, "main"))
	}
	has("main", "128/82 mmHg")
	p.Check("record-added")
	// A note: its text on its page.
	click(t, bctx, `nav a[href="/records/new"]`)
	click(t, bctx, `a[href="/records/new?kind=note"]`)
	run(chromedp.SendKeys(chromedp.ID("title"), "Dizzy after the new tablets"), chromedp.SendKeys(chromedp.ID("text"), "Felt dizzy twice this week,\nboth times in the morning."))
	click(t, bctx, `form[action="/records/new"] button[type=submit]`)
	if loc := location(t, bctx); !strings.HasPrefix(loc, base+"/records/DocumentReference/") {
		t.Fatalf("after adding a note: %s\n%s", loc, text(t, bctx, "main"))
	}
	has(".text", "both times in the morning")
	p.Check("note-added")
	// A document: a scan as PNG, then downloaded back from its page.
	scan := filepath.Join(t.TempDir(), "scan.png")
	if err := os.WriteFile(scan, scanPNG, 0o600); err != nil {
		t.Fatal(err)
	}
	visit("/records/new?kind=document")
	p.Check("add-document")
	run(chromedp.SendKeys(chromedp.ID("title"), "Letter from the cardiologist"), chromedp.SetUploadFiles(`#file`, []string{scan}))
	click(t, bctx, `form[action="/records/document"] button[type=submit]`)
	if loc := location(t, bctx); !strings.HasPrefix(loc, base+"/records/DocumentReference/") {
		t.Fatalf("after adding a document: %s\n%s", loc, text(t, bctx, "main"))
	}
	has("main", "Download the file")
	p.Check("document-added")
	got, err := chromedp.Run(bctx, chromedp.Evaluate[string](`fetch(document.querySelector("a[download]").href).then(r => r.arrayBuffer().then(b => r.status + " " + r.headers.get("content-type") + " " + b.byteLength))`, chromedp.EvalAwaitPromise))
	if want := fmt.Sprintf("200 image/png %d", len(scanPNG)); err != nil || got != want {
		t.Fatalf("downloading the document: %q (%v), want %q", got, err, want)
	}
	click(t, bctx, `nav a[href="/timeline"]`)
	has("main", "Dizzy after the new tablets")
	has("main", "Letter from the cardiologist")
	has("main", "Vital signs")
	has("main", "128/82 mmHg")
	p.Check("timeline-with-reading")

	// Dr Osei reads it through General Hospital's FHIR API.
	var status int
	if !wait.For(30*time.Second, func() bool {
		status = fhirSearch(t, ctx, n, osei, gh.ID(), "Observation?patient="+alice.ID().String()+"&category=vital-signs")
		return status == http.StatusOK
	}) {
		t.Fatalf("Dr Osei's search of Alice's vital signs: %d", status)
	}

	// Nurse Lee opens Alice's chart in General Hospital's console, in the
	// same browser (the console's cookies are its own): she sees the note.
	lee := key("nurse-lee")
	leeChart := func() string {
		t.Helper()
		visit("/console/patients/" + alice.ID().String())
		return text(t, bctx, "main")
	}
	visit("/console/signin")
	run(chromedp.SendKeys(chromedp.ID("account"), lee.ID().String()), chromedp.SendKeys(chromedp.ID("passphrase"), devnet.Passphrase))
	click(t, bctx, `form[action="/console/signin"] button[type=submit]`)
	if !wait.For(30*time.Second, func() bool { return strings.Contains(leeChart(), "Dizzy after the new tablets") }) {
		t.Fatalf("nurse Lee's chart of Alice after the grant:\n%s", text(t, bctx, "main"))
	}
	p.Check("console-chart-granted")

	// Who has seen: the read, with its proof checked against the ledger.
	if !wait.For(60*time.Second, func() bool {
		visit("/accesses")
		m := text(t, bctx, "main")
		return strings.Contains(m, "practitioner "+consentShort(osei.ID())+", physician") && strings.Contains(m, "✓ Verified") &&
			!strings.Contains(m, "Not yet anchored")
	}) {
		t.Fatalf("the access log does not show Dr Osei's read, verified:\n%s", text(t, bctx, "main"))
	}
	has("main", "General Hospital")
	has("main", "Searched your records")
	has("main", "None is left out")
	p.Check("accesses")

	// Dr Novak of Riverside Clinic breaks the glass for Alice; she
	// disputes it (without a reason first), and the ledger keeps the time
	// and the SHA-256 of her reason.
	novak, riverside := key("dr-novak"), key("riverside-clinic")
	reasonHash := sha256.Sum256([]byte("Unconscious on arrival."))
	if _, err := n.Client(0).Send(ctx, &pb.Body{Msg: &pb.Body_BreakGlass{BreakGlass: &pb.BreakGlass{
		Patient: alice.ID().Bytes(), ReasonHash: reasonHash[:], Org: riverside.ID().Bytes()}}}, novak); err != nil {
		t.Fatal(err)
	}
	visit("/accesses")
	has("main", "Riverside Clinic")
	has("main", "Not disputed")
	click(t, bctx, `a[href^="/accesses/dispute/"]`)
	p.Check("dispute")
	click(t, bctx, `form[action^="/accesses/dispute/"] button[type=submit]`)
	has("#reason-error", "Say why you dispute this access")
	p.Check("dispute-error")
	const why = "I was awake and able to answer; no one asked me."
	run(chromedp.SendKeys(chromedp.ID("reason"), why))
	click(t, bctx, `form[action^="/accesses/dispute/"] button[type=submit]`)
	if loc := location(t, bctx); !strings.HasPrefix(loc, base+"/accesses?disputed=") {
		t.Fatalf("after disputing: %s\n%s", loc, text(t, bctx, "main"))
	}
	has("main", "Your dispute is on the ledger")
	has("main", "Disputed on")
	if n, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('a[href^="/accesses/dispute/"]').length`)); n != 0 {
		t.Errorf("a disputed break-glass still offers %d dispute links", n)
	}
	p.Check("accesses-disputed")
	evs, err := n.Nodes[0].Ledger().BreakGlassOf(alice.ID())
	if err != nil || len(evs) != 1 {
		t.Fatalf("Alice's break-glass on the ledger: %v %v", evs, err)
	}
	if sum := sha256.Sum256([]byte(why)); evs[0].Disputed == 0 || !bytes.Equal(evs[0].DisputeHash, sum[:]) {
		t.Errorf("the ledger's dispute: at %d, hash %x", evs[0].Disputed, evs[0].DisputeHash)
	}

	// Emergency access settings: limited, without a category first.
	visit("/emergency")
	has("main", "Now: On")
	p.Check("emergency")
	run(chromedp.Click(chromedp.ID("mode-limited")))
	click(t, bctx, `form[action="/emergency"] button[type=submit]`)
	has("#category-error", "Choose at least one category")
	p.Check("emergency-error")
	run(chromedp.Click(chromedp.ID("cat-5"))) // allergies
	click(t, bctx, `form[action="/emergency"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/emergency?done=saved" {
		t.Fatalf("after saving the emergency settings: %s\n%s", loc, text(t, bctx, "main"))
	}
	has("main", "Now: Limited")
	if pol, err := n.Nodes[0].Ledger().BreakGlassPolicy(alice.ID()); err != nil || pol.Disabled || pol.Categories != 1<<pb.Category_CATEGORY_ALLERGIES {
		t.Errorf("Alice's break-glass policy on the ledger: %v %v", pol, err)
	}

	// Caregivers: Bob, found by his phone number, confirmed by name, then
	// removed.
	click(t, bctx, `nav a[href="/caregivers"]`)
	has("main", "No one acts for you")
	p.Check("caregivers")
	run(chromedp.SendKeys(chromedp.ID("who"), "+1 555 010 0002"), chromedp.Click(chromedp.ID("cat-3")))
	click(t, bctx, `form[action="/caregivers/add"] button[type=submit]:not([name])`)
	has(".confirm", "Add Bob Example")
	p.Check("caregivers-confirm")
	click(t, bctx, `form[action="/caregivers/add"] button[name=confirm]`)
	if loc := location(t, bctx); loc != base+"/caregivers?done=added" {
		t.Fatalf("after adding a caregiver: %s\n%s", loc, text(t, bctx, "main"))
	}
	has(".cards", "Bob Example")
	has(".cards", "Conditions")
	p.Check("caregivers-added")
	if ds, err := n.Nodes[0].Ledger().Delegations(alice.ID()); err != nil || len(ds) != 1 || ptoy.ID(ds[0].Delegation.Delegate) != bob.ID() {
		t.Errorf("Alice's delegations on the ledger: %v %v", ds, err)
	}
	click(t, bctx, `form[action="/caregivers/remove"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/caregivers?done=removed" {
		t.Fatalf("after removing a caregiver: %s\n%s", loc, text(t, bctx, "main"))
	}
	has("main", "No one acts for you")

	// Revoke.
	click(t, bctx, `nav a[href="/access"]`)
	click(t, bctx, `form[action="/access/revoke"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/access?done=revoked" {
		t.Fatalf("after revoking: %s\n%s", loc, text(t, bctx, "main"))
	}
	has(".cards", "Revoked")
	if n, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("form[action='/access/revoke']").length`)); n != 0 {
		t.Errorf("a revoked grant still offers %d revoke buttons", n)
	}
	p.Check("access-revoked")
	// Nurse Lee no longer sees anything of Alice's.
	if !wait.For(30*time.Second, func() bool {
		m := leeChart()
		return !strings.Contains(m, "Dizzy after the new tablets") && strings.Contains(m, "No record of this patient is open to you")
	}) {
		t.Fatalf("nurse Lee's chart of Alice after the revocation:\n%s", text(t, bctx, "main"))
	}
	p.Check("console-chart-revoked")
	visit("/access")

	// Wallet: a bad amount is told next to it; then 2.5 PTOY to Bob.
	before := balance(t, n, alice)
	click(t, bctx, `nav a[href="/wallet"]`)
	has("main", ledger.FormatPTOY(before))
	p.Check("wallet")
	run(chromedp.SendKeys(chromedp.ID("to"), bob.ID().String()), chromedp.SendKeys(chromedp.ID("amount"), "2.5.1"))
	click(t, bctx, `form[action="/wallet/send"] button[type=submit]`)
	has("#amount-error", "at most 6 decimals")
	p.Check("wallet-error")
	if got := balance(t, n, alice); got != before {
		t.Fatalf("a refused form moved PTOY: %d → %d", before, got)
	}
	run(chromedp.Clear(chromedp.ID("amount")), chromedp.SendKeys(chromedp.ID("amount"), "2.5"))
	click(t, bctx, `form[action="/wallet/send"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/wallet?done=sent" {
		t.Fatalf("after sending: %s\n%s", loc, text(t, bctx, "main"))
	}
	if got := balance(t, n, alice); before-got < 2_500_000 {
		t.Fatalf("Alice's balance after sending 2.5 PTOY: %d → %d", before, got)
	}
	p.Check("wallet-sent")

	// More storage: the 100 MB plan for 10 PTOY.
	run(chromedp.Click(chromedp.CSS(`input[name=plan]`)))
	click(t, bctx, `form[action="/wallet/plan"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/wallet?done=plan" {
		t.Fatalf("after buying a plan: %s\n%s", loc, text(t, bctx, "main"))
	}
	has("main", "of 110 MB")
	has("main", "Plan")
	p.Check("wallet-plan")

	// Account: a new phone number, confirmed with the code sent to it.
	click(t, bctx, `nav a[href="/account"]`)
	has("main", "Alice Example")
	p.Check("account")
	const newPhone = "+15550100077"
	run(chromedp.SendKeys(chromedp.ID("phone"), newPhone))
	click(t, bctx, `form[action="/account/phone"] button[type=submit]`)
	has("main", "We sent a 6-digit code")
	p.Check("account-code")
	code, err := directory.LatestCode(n.Info.Outbox, newPhone)
	if err != nil {
		t.Fatal(err)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	run(chromedp.SendKeys(chromedp.ID("code"), wrong))
	click(t, bctx, `form[action="/account/phone/confirm"] button[type=submit]`)
	has("#code-error", "Wrong code")
	run(chromedp.Clear(chromedp.ID("code")), chromedp.SendKeys(chromedp.ID("code"), code))
	click(t, bctx, `form[action="/account/phone/confirm"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/account?done=phone" {
		t.Fatalf("after confirming the code: %s\n%s", loc, text(t, bctx, "main"))
	}
	has("main", directory.Mask(newPhone))
	p.Check("account-phone-changed")

	// A new passphrase: the old one no longer opens the keystore.
	const newPass = "correct horse battery"
	run(chromedp.SendKeys(chromedp.ID("current"), devnet.Passphrase), chromedp.SendKeys(chromedp.ID("new"), newPass),
		chromedp.SendKeys(chromedp.ID("again"), newPass))
	click(t, bctx, `form[action="/account/passphrase"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/account?done=passphrase" {
		t.Fatalf("after changing the passphrase: %s\n%s", loc, text(t, bctx, "main"))
	}
	click(t, bctx, `form[action="/signout"] button`)
	visit("/signin")
	run(chromedp.SendKeys(chromedp.ID("account"), alice.ID().String()), chromedp.SendKeys(chromedp.ID("passphrase"), devnet.Passphrase))
	click(t, bctx, `form[action="/signin"] button[type=submit]`)
	has("#passphrase-error", "passphrase is wrong")
	signIn(newPass)

	// The node's operator edits Dr Osei's access in the node's audit
	// store: its proof fails, and the page says so on that entry and of
	// the list as a whole.
	n.StopNode(0)
	db, err := store.Open(n.Info.Nodes[0].Home + "/data/audit")
	if err != nil {
		t.Fatal(err)
	}
	var edits []store.Write
	db.Scan(nil, nil, func(k, v []byte) error {
		e, err := audit.DecodeEvent(v)
		if err == nil && e.Patient == alice.ID() && e.Actor == osei.ID() && len(edits) == 0 {
			e.Reason = "nothing happened here"
			edits = append(edits, store.Write{Key: bytes.Clone(k), Value: e.Encode()})
		}
		return nil
	})
	if len(edits) != 1 {
		t.Fatal("no event of Dr Osei's in the node's audit store")
	}
	if err := db.Commit(edits, true); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := n.StartNode(0); err != nil {
		t.Fatal(err)
	}
	signIn(newPass)
	visit("/accesses")
	// (Other events in its batch fail too: their proofs pass through it.)
	has("main", "failed the check")
	has("main", "The list does not check against the ledger")
	// The edited event is among the failed ones (with others of its
	// batch, such as nurse Lee's reads, in any order).
	failed, err := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll(".card.failed")].map(c => c.textContent).join("\n---\n")`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"practitioner " + consentShort(osei.ID()), "Failed: node node1 served an audit event that does not match its anchored batch"} {
		if !strings.Contains(failed, want) {
			t.Fatalf("the failed entries have no %q:\n%s", want, failed)
		}
	}
	p.Check("accesses-tampered")
}

// fhirSearch searches the FHIR API of node 1 as practitioner k acting
// for org, and returns the status.
func fhirSearch(t *testing.T, ctx context.Context, n *devnet.Net, k *keys.KeyPair, org ptoy.ID, query string) int {
	t.Helper()
	nd := n.Nodes[0]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, nd.Config().FHIRBase()+"/"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(auth.HeaderOrg, org.String())
	if err := auth.Sign(req, nd.ChainID(), k, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := nd.Transport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct {
		Total int `json:"total"`
		Entry []any
	}
	raw, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(raw, &b) != nil || len(b.Entry) == 0 {
		return http.StatusNotFound
	}
	return resp.StatusCode
}

func balance(t *testing.T, n *devnet.Net, k *keys.KeyPair) uint64 {
	t.Helper()
	r, err := n.Client(0).As(k).Balance(context.Background(), k.ID())
	if err != nil {
		t.Fatal(err)
	}
	return r.Balance
}

func consentShort(id ptoy.ID) string { return id.String()[:8] }

// scanPNG is a one-pixel PNG: a patient's scan.
var scanPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
