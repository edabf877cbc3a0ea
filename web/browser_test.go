package web_test

import (
	"context"
	"os"
	"path/filepath"
	"ptoy/internal/browsertest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"ptoy/devnet"
	"ptoy/keys"
)

// The browser helpers are package browsertest's.

func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	return browsertest.Start(t, ctx)
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	return browsertest.Location(t, ctx)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return browsertest.Text(t, ctx, sel)
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	browsertest.Click(t, ctx, sel)
}

// TestPatientApp walks Alice through the app in Chromium on a one-node
// network with her history at General Hospital: a wrong passphrase is
// told next to the field; she signs in, sees her timeline by year, opens
// a lab result and its chart over time, and logs out, after which the
// timeline sends her to sign in and the node holds no view of her
// records. Every page is photographed at 1280 and 390 px and checked
// with axe-core.
func TestPatientApp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bctx := browser(t, ctx)
	p := browsertest.NewPages(t, bctx)

	n, err := devnet.Start(ctx, devnet.Options{Home: t.TempDir(), DemoRecords: true, KDF: keys.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	alice, err := n.Key("alice")
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(n.Info.KeysDir, "alice.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Client(0).KeepKeystore(ctx, alice, file); err != nil {
		t.Fatal(err)
	}
	base := n.Info.Nodes[0].API

	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	if loc := location(t, bctx); loc != base+"/signin" {
		t.Fatalf("the app's start page sent a stranger to %s", loc)
	}
	// The keyboard reaches the skip link first, and focus is visible.
	if err := chromedp.Do(bctx, chromedp.KeyEvent("\t")); err != nil {
		t.Fatal(err)
	}
	focus, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[document.activeElement.textContent, getComputedStyle(document.activeElement).outlineStyle]`))
	if err != nil || len(focus) != 2 || focus[0] != "Skip to content" || focus[1] == "none" {
		t.Fatalf("the first Tab focuses %q (%v)", focus, err)
	}
	p.Check("signin")

	// A wrong passphrase: told next to the passphrase field.
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("account"), alice.ID().String()), chromedp.SendKeys(chromedp.ID("passphrase"), "not her passphrase")); err != nil {
		t.Fatal(err)
	}
	click(t, bctx, `form[action="/signin"] button[type=submit]`)
	if msg := text(t, bctx, "#passphrase-error"); !strings.Contains(msg, "passphrase is wrong") {
		t.Fatalf("the message for a wrong passphrase: %q", msg)
	}
	if v, _ := chromedp.Run(bctx, chromedp.Value(chromedp.ID("account"))); v != alice.ID().String() {
		t.Fatalf("the account id was not kept in the form: %q", v)
	}
	p.Check("signin-wrong-passphrase")

	// The right passphrase: the timeline.
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("passphrase"), devnet.Passphrase)); err != nil {
		t.Fatal(err)
	}
	click(t, bctx, `form[action="/signin"] button[type=submit]`)
	if loc := location(t, bctx); loc != base+"/timeline" {
		t.Fatalf("after signing in: %s (%s)", loc, text(t, bctx, "main"))
	}
	cookies, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies.Cookies {
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
			t.Errorf("cookie %s: HttpOnly %v, SameSite %q", c.Name, c.HTTPOnly, c.SameSite)
		}
	}
	main := text(t, bctx, "main")
	for _, want := range []string{"Your health timeline", "Visits", "Conditions", "Medications", "Immunisations", "Lab results", "Documents", "Claims", "Explanations of benefit"} {
		if !strings.Contains(main, want) {
			t.Errorf("the timeline has no %q", want)
		}
	}
	years, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("section.year h2")].map(h => h.textContent)`))
	if err != nil || len(years) < 2 {
		t.Fatalf("years on the timeline: %v %v", years, err)
	}
	p.Check("timeline")

	// A lab result with a value, unit and range, then its chart.
	href, err := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll(".entries li")].find(li => li.querySelector(".value .range") && li.querySelector("a[href^='/records/Observation/']")).querySelector("a").getAttribute("href")`))
	if err != nil {
		t.Fatalf("no lab result with a reference range on the timeline: %v", err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+href)); err != nil {
		t.Fatal(err)
	}
	rec := text(t, bctx, "main")
	for _, want := range []string{"Value", "Reference range", "All details"} {
		if !strings.Contains(rec, want) {
			t.Errorf("the lab's page has no %q: %s", want, rec)
		}
	}
	if strings.Contains(rec, `"resourceType"`) {
		t.Error("the lab's page shows JSON")
	}
	p.Check("lab-result")
	click(t, bctx, "a.button[href^='/labs/']")
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("table tbody tr").length`))
	if err != nil {
		t.Fatal(err)
	}
	dots, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart circle").length`))
	if err != nil {
		t.Fatal(err)
	}
	if rows == 0 || dots != rows {
		t.Fatalf("the chart has %d points and the table %d rows", dots, rows)
	}
	p.Check("lab-chart")

	// LDL over the years.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/labs/18262-6")); err != nil {
		t.Fatal(err)
	}
	if rows, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("table tbody tr").length`)); rows < 2 {
		t.Errorf("LDL results in the table: %d", rows)
	}
	p.Check("ldl-chart")

	// Log out: the session and the keys are gone.
	click(t, bctx, `form[action="/signout"] button`)
	if loc := location(t, bctx); !strings.HasPrefix(loc, base+"/signin") {
		t.Fatalf("after logging out: %s", loc)
	}
	p.Check("signed-out")
	if _, ok := n.Nodes[0].FHIR().ViewOf(alice.ID()); ok {
		t.Error("the node still holds a view of Alice's records after she logged out")
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/timeline")); err != nil {
		t.Fatal(err)
	}
	if loc := location(t, bctx); !strings.HasPrefix(loc, base+"/signin") {
		t.Fatalf("the timeline after logging out: %s", loc)
	}
}
