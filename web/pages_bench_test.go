package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"ptoy/auth"
	"ptoy/devnet"
	"ptoy/keys"
)

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// BenchmarkPages times the patient app's pages for a patient with 1,000
// records (the demo history and 700 more lab results), signed in over
// real HTTP on a one-validator network, and prints each page's p50 and
// p99 over -benchtime requests (the client's wall time on the loopback:
// the server's time and a few tens of microseconds), then the first
// /timeline and /accesses of a new session (first-…-ms).
//
//	go test -run '^$' -bench Pages -benchtime 200x ./web
func BenchmarkPages(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	n, err := devnet.Start(ctx, devnet.Options{Home: b.TempDir(), DemoRecords: true, KDF: keys.TestKDF})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	alice, err := n.Key("alice")
	if err != nil {
		b.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(n.Info.KeysDir, "alice.key"))
	if err != nil {
		b.Fatal(err)
	}
	c := n.Client(0)
	if err := c.KeepKeystore(ctx, alice, file); err != nil {
		b.Fatal(err)
	}
	tok, err := c.Unseal(ctx, alice.ID(), devnet.Passphrase)
	if err != nil {
		b.Fatal(err)
	}
	base := n.Info.Nodes[0].API
	pid := alice.ID().String()
	// 700 more LDL results, as seven transactions of her own.
	for batch := range 7 {
		var entries []string
		for i := range 100 {
			day := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (batch*100+i)*9)
			entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"18262-6","display":"LDL Cholesterol"}]},"subject":{"reference":"Patient/%s"},"effectiveDateTime":"%s","valueQuantity":{"value":%d,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"},"referenceRange":[{"high":{"value":100,"unit":"mg/dL"}}]},"request":{"method":"POST","url":"Observation"}}`,
				pid, day.Format("2006-01-02"), 70+(batch*100+i)%90))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/fhir", strings.NewReader(`{"resourceType":"Bundle","type":"transaction","entry":[`+strings.Join(entries, ",")+`]}`))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Authorization", auth.SessionScheme+" "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("filing lab results: %d %s", resp.StatusCode, msg)
		}
	}
	// Sign in as a browser does.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) []byte {
		resp, err := hc.Get(base + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return body
	}
	post := func(path string, form url.Values) {
		resp, err := hc.PostForm(base+path, form)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	signIn := func() {
		m := csrfRe.FindSubmatch(get("/signin"))
		if m == nil {
			b.Fatal("no CSRF token on the sign-in page")
		}
		post("/signin", url.Values{"csrf": {string(m[1])}, "account": {pid}, "passphrase": {devnet.Passphrase}})
	}
	signIn()
	timeline := get("/timeline?year=2005")
	if !bytes.Contains(timeline, []byte("LDL")) {
		b.Fatal("the timeline does not show the lab results")
	}
	rec := regexp.MustCompile(`href="(/records/Observation/[^"]+)"`).FindSubmatch(timeline)
	if rec == nil {
		b.Fatal("no record link on the timeline")
	}
	pages := []string{"/timeline", "/timeline?year=2005", string(rec[1]), "/labs/18262-6", "/access", "/accesses", "/wallet", "/account", "/find"}
	b.ResetTimer()
	for _, p := range pages {
		times := make([]time.Duration, 0, b.N)
		for range b.N {
			t0 := time.Now()
			get(p)
			times = append(times, time.Since(t0))
		}
		slices.Sort(times)
		name := strings.Split(strings.TrimPrefix(p, "/"), "/")[0]
		if y, ok := strings.CutPrefix(p, "/timeline?year="); ok {
			name = "timeline-" + y
		}
		b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	// The first visit of a new session: her view of her records is
	// built again from the ledger, and her audit trail checked whole.
	m := csrfRe.FindSubmatch(get("/account"))
	if m == nil {
		b.Fatal("no CSRF token on the account page")
	}
	post("/signout", url.Values{"csrf": {string(m[1])}})
	signIn()
	for _, p := range []string{"/timeline", "/accesses"} {
		t0 := time.Now()
		get(p)
		b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "first-"+strings.TrimPrefix(p, "/")+"-ms")
	}
}
