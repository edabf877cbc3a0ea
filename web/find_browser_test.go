package web_test

import (
	"context"
	"fmt"
	"ptoy/internal/browsertest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ptoy"
	"ptoy/devnet"
	"ptoy/keys"
	"ptoy/match"
)

// TestSignupAndFindRecords walks a new patient, in Chromium, through
// sign-up and "find my records" on a one-node network whose General
// Hospital synced its EHR (Alice is in it as "Alicia", at the address she
// had before): she signs up with her name and phone (the code from the
// outbox; passphrases that differ, then a wrong code, first), lands on "find my records" with
// her account id, searches with Bob's details and finds nothing, searches
// with hers and her previous address and is proposed General Hospital's
// records (their count and years), confirms, and sees them in her
// timeline; searching again shows them confirmed, not proposed again;
// she logs out and signs in with her account id and passphrase.
// Every page is photographed at 1280 and 390 px and checked with
// axe-core.
func TestSignupAndFindRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bctx := browser(t, ctx)
	p := browsertest.NewPages(t, bctx)

	n, err := devnet.Start(ctx, devnet.Options{Home: t.TempDir(), KDF: keys.TestKDF, NoPatients: true, DemoEHR: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	_, alicia, err := devnet.DemoEHR(devnet.DemoEHRPatients)
	if err != nil {
		t.Fatal(err)
	}
	base := n.Info.Nodes[0].API
	run := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatal(err)
		}
	}
	has := func(sel, want string) {
		t.Helper()
		if got := text(t, bctx, sel); !strings.Contains(got, want) {
			t.Fatalf("%s has no %q:\n%s", sel, want, got)
		}
	}
	count := func(sel string) int {
		t.Helper()
		c, err := chromedp.Run(bctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// fill types into the fields of the find form.
	fill := func(q match.Person, prev *match.Person) {
		t.Helper()
		run(chromedp.Navigate(base + "/find"))
		for id, v := range map[string]string{"given": q.Given, "family": q.Family, "phone": q.Phone, "street": q.Street,
			"city": q.City, "postcode": q.Postcode, "state": q.State} {
			run(chromedp.SendKeys(chromedp.ID(id), v))
		}
		run(chromedp.SetValue(chromedp.ID("birth"), q.Birth), chromedp.SetValue(chromedp.ID("sex"), q.Sex))
		if prev != nil {
			run(chromedp.SendKeys(chromedp.ID("prev-street"), prev.Street), chromedp.SendKeys(chromedp.ID("prev-postcode"), prev.Postcode))
		}
		click(t, bctx, `form[action="/find"] button[type=submit]`)
	}

	// Sign up: from the sign-in page.
	run(chromedp.Navigate(base + "/"))
	click(t, bctx, `a[href="/signup"]`)
	p.Check("signup")
	click(t, bctx, `form[action="/signup"] button[type=submit]`)
	has("#name-error", "Enter your full name")
	p.Check("signup-errors")
	const phone = "+1 555 010 0001"
	run(chromedp.SendKeys(chromedp.ID("name"), "Alice Example"), chromedp.SendKeys(chromedp.ID("phone"), phone))
	click(t, bctx, `form[action="/signup"] button[type=submit]`)
	has("main", "We sent a 6-digit code to")
	p.Check("signup-code")
	code, err := n.OutboxCode(phone)
	if err != nil {
		t.Fatal(err)
	}
	// Passphrases that differ are told, and register no one.
	run(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.SendKeys(chromedp.ID("passphrase"), "harbour lights at dusk"),
		chromedp.SendKeys(chromedp.ID("again"), "harbour lights at dawn"))
	click(t, bctx, `form[action="/signup/complete"] button[type=submit]`)
	has("#again-error", "not the same")
	p.Check("signup-code-errors")
	// A wrong code is told next to it, and the same form then goes on
	// with the right one.
	clearCode := func() {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("code").value = ""`)); err != nil {
			t.Fatal(err)
		}
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	clearCode()
	run(chromedp.SendKeys(chromedp.ID("code"), wrong), chromedp.SendKeys(chromedp.ID("passphrase"), "harbour lights at dusk"),
		chromedp.SendKeys(chromedp.ID("again"), "harbour lights at dusk"))
	click(t, bctx, `form[action="/signup/complete"] button[type=submit]`)
	has("#code-error", "Wrong code; 4 attempts left")
	if v, _ := chromedp.Run(bctx, chromedp.Value(chromedp.ID("code"))); v != wrong {
		t.Errorf("the code typed was not kept in the form: %q", v)
	}
	clearCode()
	run(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.SendKeys(chromedp.ID("passphrase"), "harbour lights at dusk"),
		chromedp.SendKeys(chromedp.ID("again"), "harbour lights at dusk"))
	click(t, bctx, `form[action="/signup/complete"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/find?welcome=1" {
		t.Fatalf("after signing up: %s\n%s", loc, text(t, bctx, "main"))
	}
	account := text(t, bctx, "code.account")
	id, err := ptoy.ParseID(account)
	if err != nil {
		t.Fatalf("the account id shown: %q", account)
	}
	if a, err := n.Nodes[0].Ledger().Account(id); err != nil || a == nil {
		t.Fatalf("the new patient on the ledger: %v", err)
	}
	if ks, err := n.Nodes[0].Ledger().KeySet(id); err != nil || ks == nil {
		t.Fatalf("the new patient's category keys: %v", err)
	}
	has("nav", "Find my records")
	p.Check("find-welcome")

	// A search with a field missing is told next to it.
	run(chromedp.SendKeys(chromedp.ID("given"), "Alice"))
	click(t, bctx, `form[action="/find"] button[type=submit]`)
	has("#family-error", "family name")
	has("#birth-error", "date of birth")
	p.Check("find-errors")

	// Bob's details: nothing found.
	fill(devnet.BobDemographics, nil)
	has("#results", "Nothing found")
	if c := count(".proposal"); c != 0 {
		t.Fatalf("Bob's details found %d proposals", c)
	}
	p.Check("find-nothing")

	// Hers, with the address she had before: General Hospital's records.
	fill(devnet.AliceDemographics, &devnet.AliceBefore)
	if c := count(".proposal"); c != 1 {
		t.Fatalf("Alice's details found %d proposals:\n%s", c, text(t, bctx, "main"))
	}
	has(".proposal h3", "General Hospital")
	if dd, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(".proposal dd").textContent`)); dd != fmt.Sprint(alicia) {
		t.Errorf("the proposal's count: %q, want %d", dd, alicia)
	}
	years := text(t, bctx, ".proposal dl")
	if !strings.Contains(years, " to 20") {
		t.Errorf("the proposal's years: %q", years)
	}
	has(".proposal", "for one day")
	if v, _ := chromedp.Run(bctx, chromedp.Value(chromedp.ID("given"))); v != "Alice" {
		t.Errorf("the form lost what was typed: %q", v)
	}
	p.Check("find-proposal")

	click(t, bctx, `form[action="/find/confirm"] button[type=submit]`)
	has("#results", fmt.Sprintf("General Hospital linked %d records to you", alicia))
	has(".proposal", "Confirmed.")
	if c := count(`form[action="/find/confirm"]`); c != 0 {
		t.Errorf("a confirmed proposal still offers Confirm")
	}
	p.Check("find-confirmed")

	// The records are in her timeline.
	click(t, bctx, `nav a[href="/timeline"]`)
	if c := count(".entries li"); c < 5 {
		t.Fatalf("the timeline after confirming holds %d entries:\n%s", c, text(t, bctx, "main"))
	}
	has("main", "Conditions")

	// Asking again: confirmed, not proposed again.
	fill(devnet.AliceDemographics, &devnet.AliceBefore)
	if c := count(".proposal"); c != 1 {
		t.Fatalf("asking again: %d proposals", c)
	}
	has(".proposal", "Confirmed.")
	if c := count(`form[action="/find/confirm"]`); c != 0 {
		t.Errorf("asking again offers Confirm again")
	}
	p.Check("find-again")

	// The keystore the node kept opens with her passphrase: she logs out
	// and signs in with her account id.
	click(t, bctx, `form[action="/signout"] button`)
	run(chromedp.SendKeys(chromedp.ID("account"), account), chromedp.SendKeys(chromedp.ID("passphrase"), "harbour lights at dusk"))
	click(t, bctx, `form[action="/signin"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/timeline" {
		t.Fatalf("signing in after sign-up: %s\n%s", loc, text(t, bctx, "main"))
	}
}
