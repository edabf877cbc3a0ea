package web_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"ptoy/devnet"
	"ptoy/keys"
)

var screenshots = flag.String("screenshots", "", "also keep the browser tests' screenshots in this directory (or $PTOY_SCREENSHOTS)")

// browser starts a headless Chromium (installed by tools/chromium.sh if
// missing) and returns a tab's context.
func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	out, err := exec.Command("../tools/chromium.sh").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("the browser tests need a headless Chromium: %v\n%s", err, stderr)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(strings.TrimSpace(string(out))),
		chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return bctx
}

// axeSource is axe-core, from the project's npm packages.
func axeSource(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("../tools/npm.sh").Output()
	if err != nil {
		t.Fatalf("installing the npm test packages (tools/npm.sh): %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pages checks and photographs each page the test visits.
type pages struct {
	t   *testing.T
	ctx context.Context
	axe string
	dir string
	n   int
}

type violation struct {
	ID, Impact, Help string
	Nodes            []string
}

// check screenshots the current page at desktop and phone widths and
// fails on any serious or critical axe-core violation at either.
func (p *pages) check(name string) {
	p.t.Helper()
	p.n++
	for _, w := range []int64{1280, 390} {
		h := int64(800)
		if w == 390 {
			h = 844
		}
		if err := chromedp.Do(p.ctx, chromedp.EmulateViewport(w, h)); err != nil {
			p.t.Fatal(err)
		}
		if w == 390 {
			// Usable on a phone: nothing wider than the screen.
			sw, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
			if err != nil || sw > int(w) {
				p.t.Errorf("%s at %d px is %d px wide (%v)", name, w, sw, err)
			}
		}
		shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			p.t.Fatal(err)
		}
		file := fmt.Sprintf("%02d-%s-%d.png", p.n, name, w)
		for _, d := range []string{p.dir, *screenshots, os.Getenv("PTOY_SCREENSHOTS")} {
			if d != "" {
				if err := os.WriteFile(filepath.Join(d, file), shot, 0o644); err != nil {
					p.t.Fatal(err)
				}
			}
		}
		if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[chromedp.Void](p.axe)); err != nil {
			p.t.Fatalf("injecting axe-core: %v", err)
		}
		raw, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => ({ID: v.id, Impact: v.impact, Help: v.help, Nodes: v.nodes.map(n => n.target.join(" "))}))))`, chromedp.EvalAwaitPromise))
		if err != nil {
			p.t.Fatalf("axe-core on %s: %v", name, err)
		}
		var vs []violation
		if err := json.Unmarshal([]byte(raw), &vs); err != nil {
			p.t.Fatal(err)
		}
		for _, v := range vs {
			if v.Impact == "serious" || v.Impact == "critical" {
				p.t.Errorf("%s at %d px: %s violation %s (%s) at %v", name, w, v.Impact, v.ID, v.Help, v.Nodes)
			} else {
				p.t.Logf("%s at %d px: %s violation %s (%s)", name, w, v.Impact, v.ID, v.Help)
			}
		}
	}
	if err := chromedp.Do(p.ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		p.t.Fatal(err)
	}
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// click clicks and waits for the page it leads to.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
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
	p := &pages{t: t, ctx: bctx, axe: axeSource(t), dir: t.TempDir()}
	t.Logf("screenshots in %s", p.dir)

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
	p.check("signin")

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
	p.check("signin-wrong-passphrase")

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
	p.check("timeline")

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
	p.check("lab-result")
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
	p.check("lab-chart")

	// LDL over the years.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/labs/18262-6")); err != nil {
		t.Fatal(err)
	}
	if rows, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("table tbody tr").length`)); rows < 2 {
		t.Errorf("LDL results in the table: %d", rows)
	}
	p.check("ldl-chart")

	// Log out: the session and the keys are gone.
	click(t, bctx, `form[action="/signout"] button`)
	if loc := location(t, bctx); !strings.HasPrefix(loc, base+"/signin") {
		t.Fatalf("after logging out: %s", loc)
	}
	p.check("signed-out")
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
