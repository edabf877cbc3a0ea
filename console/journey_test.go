package console_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"ptoy/internal/browsertest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"ptoy"
	"ptoy/agent"
	"ptoy/devnet"
	"ptoy/ehrsync"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/internal/wait"
	"ptoy/keys"
	"ptoy/node"
)

// TestConsoleJourneys walks the staff of General Hospital through the
// console in Chromium, on one network with the demo cast, Alice's
// history and the demo EHR: nurse Lee is told a wrong passphrase next to
// the field, signs in, finds Alice in the patient list, reads her chart
// by category and adds an encounter note that then shows in it; billing
// clerk Park opens the same chart and sees neither the note nor any
// clinical category, and may not open the employee list; the admin sees
// the EHR holdings (and leaves Park on the staff at the removal's
// confirmation), approves the match Alice's search left in the review
// queue, and adds an emergency physician (a key made here, her
// passphrase typed at the admin's desk, a wrong one first), who signs in
// and breaks the glass for Bob (without a reason first); Bob disputes it
// in the patient app; and Ruiz, the privacy officer, sees that
// break-glass first in her review queue, marked disputed with Bob's
// reason checked against the ledger, and checks its reason (a changed
// text first). Every page
// is photographed at 1280 and 390 px and checked with axe-core.
func TestConsoleJourneys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bctx := browser(t, ctx)
	p := browsertest.NewPages(t, bctx)

	export, _ := exportDir(t, 5, 8, 1)
	n, err := devnet.Start(ctx, devnet.Options{Home: t.TempDir(), KDF: keys.TestKDF, DemoRecords: true, DemoEHR: true, KeepKeystores: true,
		Override: func(i int, c *node.Config) {
			if i == 0 {
				c.EHRSources = []ehrsync.SourceConfig{{Name: "epic-export", Dir: export}}
			}
		}})
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
	alice, bob := id("alice"), id("bob")
	run := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatal(err)
		}
	}
	has := func(sel string, want ...string) string {
		t.Helper()
		got := text(t, bctx, sel)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Fatalf("%s has no %q:\n%s", sel, w, got)
			}
		}
		return got
	}
	at := func(want string) {
		t.Helper()
		if loc := location(t, bctx); loc != base+want {
			t.Fatalf("at %s, want %s:\n%s", loc, base+want, text(t, bctx, "main"))
		}
	}
	signIn := func(account, pass string) {
		t.Helper()
		run(chromedp.Navigate(base+"/console/signin"),
			chromedp.SendKeys(chromedp.ID("account"), account), chromedp.SendKeys(chromedp.ID("passphrase"), pass))
		click(t, bctx, `form[action="/console/signin"] button[type=submit]`)
	}
	signOut := func() {
		t.Helper()
		click(t, bctx, `form[action="/console/signout"] button`)
		if loc := location(t, bctx); !strings.HasPrefix(loc, base+"/console/signin") {
			t.Fatalf("after logging out: %s", loc)
		}
	}

	// A stranger is sent to sign in.
	run(chromedp.Navigate(base + "/console/"))
	at("/console/signin")
	p.Check("signin")

	// Nurse Lee: a wrong passphrase, then the patient list.
	signIn(id("nurse-lee"), "not her passphrase")
	has("#passphrase-error", "passphrase is wrong")
	p.Check("signin-wrong-passphrase")
	signIn(id("nurse-lee"), devnet.Passphrase)
	at("/console/patients")
	cookies, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies.Cookies {
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/console/" {
			t.Errorf("cookie %s: HttpOnly %v, SameSite %q, path %q", c.Name, c.HTTPOnly, c.SameSite, c.Path)
		}
	}
	has("main", "Signed in as Nurse Lee, nurse", "Alice Example", alice)
	p.Check("patients")
	run(chromedp.SendKeys(chromedp.ID("q"), "alice"))
	click(t, bctx, `form.search button[type=submit]`)
	if got := has("main", "Alice Example"); strings.Contains(got, "Bob Example") {
		t.Errorf("searching for alice lists Bob:\n%s", got)
	}
	p.Check("patients-search")

	// Alice's chart, by category.
	click(t, bctx, `a[href="/console/patients/`+alice+`"]`)
	has("main", "Alice Example", "Conditions", "Lab results", "Medications")
	p.Check("chart")
	click(t, bctx, `nav.tabs a[href$="category=lab-results"]`)
	if got := has("main", "Lab results"); strings.Contains(got, "\nConditions\n") {
		t.Errorf("the lab results tab shows conditions")
	}
	p.Check("chart-labs")

	// An encounter note: refused empty, then added, then in the chart.
	run(chromedp.Navigate(base + "/console/patients/" + alice + "/note"))
	click(t, bctx, `form[action$="/note"] button[type=submit]`)
	has("#title-error", "Give the note a title")
	has("#text-error", "Write the note")
	p.Check("note-errors")
	run(chromedp.SendKeys(chromedp.ID("title"), "Follow-up visit"), chromedp.SendKeys(chromedp.ID("text"), "Ankle healing well; walking without pain."))
	click(t, bctx, `form[action$="/note"] button[type=submit]`)
	at("/console/patients/" + alice + "?category=notes&added=note")
	has("main", "Your note is added", "Follow-up visit", "Ankle healing well")
	p.Check("chart-note-added")

	// A lab result: refused without a test or result, then added.
	run(chromedp.Navigate(base + "/console/patients/" + alice + "/lab"))
	click(t, bctx, `form[action$="/lab"] button[type=submit]`)
	has("#test-error", "Choose the test")
	has("#value-error", "Enter the result")
	p.Check("lab-errors")
	run(chromedp.SetValue(chromedp.ID("test"), "4548-4"), chromedp.SendKeys(chromedp.ID("value"), "6.4"),
		chromedp.SendKeys(chromedp.ID("low"), "4"), chromedp.SendKeys(chromedp.ID("high"), "5.6"))
	click(t, bctx, `form[action$="/lab"] button[type=submit]`)
	at("/console/patients/" + alice + "?category=lab-results&added=lab-result")
	has("main", "The lab result is added", "6.4 %")
	p.Check("chart-lab-added")
	signOut()
	p.Check("signed-out")

	// Dr Osei prescribes: refused without the medication, then added.
	signIn(id("dr-osei"), devnet.Passphrase)
	run(chromedp.Navigate(base + "/console/patients/" + alice + "/prescription"))
	click(t, bctx, `form[action$="/prescription"] button[type=submit]`)
	has("#medication-error", "Name the medication")
	has("#dosage-error", "Say how to take it")
	p.Check("prescription-errors")
	run(chromedp.SendKeys(chromedp.ID("medication"), "Metformin 500 mg tablet"), chromedp.SendKeys(chromedp.ID("rxnorm"), "860975"),
		chromedp.SendKeys(chromedp.ID("dosage"), "1 tablet twice a day with meals"))
	click(t, bctx, `form[action$="/prescription"] button[type=submit]`)
	at("/console/patients/" + alice + "?category=medications&added=prescription")
	has("main", "Your prescription is added", "Metformin 500 mg tablet", "1 tablet twice a day with meals")
	p.Check("chart-prescription-added")
	signOut()

	// Billing clerk Park: the chart without the note or clinical records.
	signIn(id("park"), devnet.Passphrase)
	at("/console/patients")
	run(chromedp.Navigate(base + "/console/patients/" + alice))
	got := has("main", "Alice Example")
	for _, no := range []string{"Follow-up visit", "Ankle healing", "Notes", "Conditions", "Lab results", "Medications"} {
		if strings.Contains(got, no) {
			t.Errorf("billing clerk Park sees %q in Alice's chart:\n%s", no, got)
		}
	}
	if strings.Contains(text(t, bctx, "main"), "Add an encounter note") {
		t.Error("Park is offered to add a note")
	}
	p.Check("chart-billing")
	run(chromedp.Navigate(base + "/console/employees"))
	has("main", "Your role (billing) does not let you manage the staff")
	p.Check("forbidden")
	signOut()

	// The admin: the EHR holdings, then a new emergency physician.
	signIn(id("gh-admin"), devnet.Passphrase)
	at("/console/employees")
	has("main", "Nurse Lee", "Park", "Ruiz")
	p.Check("employees")
	click(t, bctx, `form[action="/console/employees/remove"]:has(input[value="`+id("park")+`"]) button`)
	has("main", "Remove Park?")
	p.Check("employees-remove-confirm")
	click(t, bctx, `main a[href="/console/employees"]`)
	has("main", "Park")
	// An EHR sync of the export the configuration lists: started, then
	// finished, the broken resources listed with their reasons.
	run(chromedp.Navigate(base + "/console/sync"))
	has("main", "epic-export", "never run")
	p.Check("sync")
	click(t, bctx, `form[action="/console/sync/start"] button`)
	// Read in one step in the page: the refresh script replaces the
	// progress region's nodes while it runs.
	if !wait.For(2*time.Minute, func() bool {
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.querySelector("#progress .tag") || {}).textContent || ""`))
		return err == nil && strings.Contains(s, "finished")
	}) {
		t.Fatalf("the sync did not show finished:\n%s", text(t, bctx, "main"))
	}
	has("main", "What failed, and why", "Observation/bad-1")
	p.Check("sync-finished")
	// Alice asks the record locator with her current address alone: the
	// match waits in the hospital's review queue, and the admin approves it.
	aliceKey, err := n.Key("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.New(n.Client(0), aliceKey).FindRecords(ctx, devnet.AliceDemographics); err != nil {
		t.Fatal(err)
	}
	held := n.Nodes[0].Holdings().Summary()
	run(chromedp.Navigate(base + "/console/matching"))
	has("main", "What General Hospital holds", fmt.Sprintf("Records\n%d", held.Records), "Matches to review", "Alice Example", alice)
	p.Check("matching")
	click(t, bctx, `form[action="/console/matching/approve"] button[type=submit]`)
	at("/console/matching?done=approved")
	has("main", "The match is approved", "No match waits for review")
	p.Check("matching-approved")
	kd := keys.Dir{Path: t.TempDir(), KDF: keys.TestKDF}
	amara, _, err := kd.Create("dr-amara", keys.KEMHybrid, []byte("amara's own passphrase"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	run(chromedp.Navigate(base+"/console/employees"), chromedp.SendKeys(chromedp.ID("name"), "Dr Amara"),
		chromedp.SetValue(chromedp.ID("new-role"), "3"), // emergency physician
		chromedp.SetUploadFiles(chromedp.ID("keystore"), []string{filepath.Join(kd.Path, "dr-amara.key")}),
		chromedp.SendKeys(chromedp.ID("passphrase"), "a wrong passphrase"))
	click(t, bctx, `form[action="/console/employees/add"] button[type=submit]`)
	has("#passphrase-error", "does not open the keystore")
	p.Check("employees-wrong-passphrase")
	run(chromedp.SetUploadFiles(chromedp.ID("keystore"), []string{filepath.Join(kd.Path, "dr-amara.key")}),
		chromedp.SendKeys(chromedp.ID("passphrase"), "amara's own passphrase"))
	click(t, bctx, `form[action="/console/employees/add"] button[type=submit]`)
	at("/console/employees?done=added")
	has("main", "The employee is added", "Dr Amara", amara.ID().String())
	p.Check("employees-added")
	signOut()

	// Dr Amara signs in and breaks the glass for Bob.
	signIn(amara.ID().String(), "amara's own passphrase")
	at("/console/patients")
	has("main", "Signed in as Dr Amara, emergency physician")
	run(chromedp.Navigate(base+"/console/break-glass"), chromedp.SendKeys(chromedp.ID("patient"), bob))
	click(t, bctx, `form[action="/console/break-glass"] button[type=submit]`)
	has("#reason-error", "mandatory")
	p.Check("break-glass-no-reason")
	run(chromedp.SendKeys(chromedp.ID("reason"), "Unconscious on arrival; need allergies and medications."))
	click(t, bctx, `form[action="/console/break-glass"] button[type=submit]`)
	has("main", "Emergency access is open", "Bob Example", "Reason SHA-256")
	p.Check("break-glass-open")
	click(t, bctx, `a[href$="?emergency=1"]`)
	has("main", "Break-glass access", "Bob Example")
	p.Check("emergency-chart")
	signOut()

	// Bob, in the patient app, disputes it.
	const dispute = "I was conscious and told them my allergies myself."
	run(chromedp.Navigate(base+"/signin"), chromedp.SendKeys(chromedp.ID("account"), bob), chromedp.SendKeys(chromedp.ID("passphrase"), devnet.Passphrase))
	click(t, bctx, `form[action="/signin"] button[type=submit]`)
	run(chromedp.Navigate(base + "/accesses"))
	click(t, bctx, `a[href^="/accesses/dispute/"]`)
	run(chromedp.SendKeys(chromedp.ID("reason"), dispute))
	click(t, bctx, `form[action^="/accesses/dispute/"] button[type=submit]`)
	has("main", "Your dispute is on the ledger", "Disputed on")
	click(t, bctx, `form[action="/signout"] button`)
	// A later break-glass, for Alice, stays below the disputed one.
	later := sha256.Sum256([]byte("Collapsed in the waiting room."))
	if _, err := n.Client(0).Send(ctx, &pb.Body{Msg: &pb.Body_BreakGlass{BreakGlass: &pb.BreakGlass{
		Patient: aliceKey.ID().Bytes(), ReasonHash: later[:], Org: idOf(t, n, "general-hospital").Bytes()}}}, amara); err != nil {
		t.Fatal(err)
	}

	// Ruiz, the privacy officer: the break-glass in her queue, disputed,
	// at the top, with Bob's reason checked against the ledger.
	signIn(id("ruiz"), devnet.Passphrase)
	at("/console/break-glass/queue")
	has("main", "Break-glass #", "Dr Amara", "Bob Example", "open")
	has("main", "1 disputed by the patient")
	has("ul.cards > li:first-child", "Break-glass #1", "disputed by the patient", "Bob Example", dispute, "checked against the ledger's SHA-256")
	if got := has("ul.cards > li:nth-child(2)", "Break-glass #2", "Alice Example"); strings.Contains(got, "disputed") {
		t.Errorf("Alice's break-glass is marked disputed:\n%s", got)
	}
	p.Check("break-glass-queue")
	run(chromedp.SendKeys(chromedp.ID("reason"), "Unconscious on arrival; need allergies."))
	click(t, bctx, `form[action="/console/break-glass/queue"] button[type=submit]`)
	has("main", "reason of no break-glass")
	run(chromedp.Navigate(base+"/console/break-glass/queue"), chromedp.SendKeys(chromedp.ID("reason"), "Unconscious on arrival; need allergies and medications."))
	click(t, bctx, `form[action="/console/break-glass/queue"] button[type=submit]`)
	has("main", "This text is the reason of break-glass #1", "reason checked")
	p.Check("break-glass-reason-checked")
	signOut()
}

func idOf(t *testing.T, n *devnet.Net, key string) ptoy.ID {
	t.Helper()
	k, err := n.Key(key)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}
