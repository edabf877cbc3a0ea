// Package browsertest drives the browser tests of the patient app and the
// provider console: a headless Chromium (Debian's, installed by
// tools/chromium.sh when missing), axe-core from the project's npm
// packages (tools/npm.sh), and a screenshot of every page at desktop and
// phone widths.
package browsertest

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

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

var screenshots = flag.String("screenshots", "", "also keep the browser tests' screenshots in this directory (or $PTOY_SCREENSHOTS)")

// Start starts a headless Chromium (installed by tools/chromium.sh if
// missing) and returns a tab's context.
func Start(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	out, err := exec.Command(filepath.Join(root(t), "tools", "chromium.sh")).Output()
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

// Axe is axe-core, from the project's npm packages.
func Axe(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(root(t), "tools", "npm.sh")).Output()
	if err != nil {
		t.Fatalf("installing the npm test packages (tools/npm.sh): %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Pages checks and photographs each page a test visits.
type Pages struct {
	t   *testing.T
	ctx context.Context
	axe string
	dir string
	n   int
}

// NewPages checks the pages of the browser tab ctx, keeping their
// screenshots in a temporary directory (and in -screenshots or
// $PTOY_SCREENSHOTS if set).
func NewPages(t *testing.T, ctx context.Context) *Pages {
	p := &Pages{t: t, ctx: ctx, axe: Axe(t), dir: t.TempDir()}
	t.Logf("screenshots in %s", p.dir)
	return p
}

type violation struct {
	ID, Impact, Help string
	Nodes            []string
}

// Check screenshots the current page at desktop and phone widths and
// fails on any serious or critical axe-core violation at either.
func (p *Pages) Check(name string) {
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
				wide, _ := chromedp.Run(p.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > innerWidth + 1).map(e => e.tagName + "#" + e.id + "." + e.className).slice(0, 8)`))
				p.t.Errorf("%s at %d px is %d px wide (%v): %v", name, w, sw, err, wide)
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

// Location is the tab's URL.
func Location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// Text is the text of the first element sel selects.
func Text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// Click clicks and waits for the page it leads to.
func Click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
}

// root is the repository's root: the directory above the test's that
// holds go.mod.
func root(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			t.Fatal("no go.mod above the test's directory")
		}
		d = up
	}
}
