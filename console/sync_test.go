package console_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"ptoy/devnet"
	"ptoy/ehrsync"
	"ptoy/internal/wait"
	"ptoy/keys"
	"ptoy/node"
	"ptoy/synth"
)

// exportDir writes an EHR export of n synthetic patients of seed, with
// years of history, as NDJSON, and a file of two resources that fail
// validation, into a new directory; it returns the directory and how
// many resources it holds.
func exportDir(t *testing.T, seed int64, n, years int) (string, int) {
	t.Helper()
	dir := t.TempDir()
	sum, err := synth.Write(context.Background(), seed, n, synth.Options{Years: years}, synth.WriteOptions{Dir: dir, Format: synth.FormatNDJSON})
	if err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(dir, "general-hospital")
	bad := `{"resourceType":"Observation","id":"bad-1","status":"not-a-status","code":{"text":"x"}}` + "\n" +
		`{"resourceType":"Patient","id":"bad-2","birthDate":"yesterday"}` + "\n"
	if err := os.WriteFile(filepath.Join(export, "zz-broken.ndjson"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	return export, sum.Resources + 2
}

// TestConsoleSync runs an EHR sync from the console over plain HTTP: the
// source General Hospital's configuration lists; an admin starts it (not
// without the CSRF token, not a source the configuration does not list;
// a nurse not at all), its progress shows until it finishes with every
// resource counted, the two broken ones listed with their reasons; a
// second run files nothing new; and the node's holdings hold the export.
func TestConsoleSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	export, total := exportDir(t, 5, 8, 1)
	big, bigTotal := exportDir(t, 6, 60, 10)
	n, err := devnet.Start(ctx, devnet.Options{Home: t.TempDir(), KDF: keys.TestKDF, NoPatients: true, KeepKeystores: true,
		Override: func(i int, c *node.Config) {
			if i == 0 {
				c.EHRSources = []ehrsync.SourceConfig{{Name: "epic-export", Dir: export}, {Name: "big-export", Dir: big}}
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
	nurse := newStaffClient(t, base)
	nurse.signIn(id("nurse-lee"))
	if resp, _ := nurse.get("/console/sync"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a nurse opens the EHR sync page: %d", resp.StatusCode)
	}
	if resp, _ := nurse.post("/console/sync/start", url.Values{"csrf": {nurse.csrf()}, "source": {"epic-export"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a nurse starts a sync: %d", resp.StatusCode)
	}

	admin := newStaffClient(t, base)
	admin.signIn(id("gh-admin"))
	resp, body := admin.get("/console/sync")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "epic-export") || !strings.Contains(body, "never run") || !strings.Contains(body, export) {
		t.Fatalf("the sync page before any run: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := admin.post("/console/sync/start", url.Values{"source": {"epic-export"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a start without the CSRF token: %d", resp.StatusCode)
	}
	resp, body = admin.post("/console/sync/start", url.Values{"csrf": {admin.csrf()}, "source": {"../etc"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "lists no EHR source") {
		t.Fatalf("a source the configuration does not list: %d\n%s", resp.StatusCode, body)
	}
	if st := n.Nodes[0].EHRSyncs(); len(st) != 2 || st[0].State != node.SyncIdle || st[1].State != node.SyncIdle {
		t.Fatalf("refused starts started something: %+v", st)
	}
	run := func(what string) string {
		t.Helper()
		resp, _ := admin.post("/console/sync/start", url.Values{"csrf": {admin.csrf()}, "source": {"epic-export"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/sync?done=started" {
			t.Fatalf("%s: starting: %d %s", what, resp.StatusCode, resp.Header.Get("Location"))
		}
		var page string
		if !wait.For(3*time.Minute, func() bool {
			_, page = admin.get("/console/sync")
			return strings.Contains(page, `<span class="tag">finished</span>`) || strings.Contains(page, `<span class="tag">failed</span>`)
		}) || !strings.Contains(page, `<span class="tag">finished</span>`) {
			t.Fatalf("%s did not finish:\n%s", what, page)
		}
		return page
	}
	page := run("the first sync")
	if !strings.Contains(page, thousandsOf(total)+" of "+thousandsOf(total)+" resources") || !strings.Contains(page, thousandsOf(total-2)+" new") ||
		!strings.Contains(page, "2 failed") {
		t.Fatalf("the finished sync's counts (%d resources):\n%s", total, page)
	}
	for _, want := range []string{"What failed, and why", "Observation/bad-1", "Patient/bad-2"} {
		if !strings.Contains(page, want) {
			t.Errorf("the failures do not show %q", want)
		}
	}
	if !regexp.MustCompile(`Observation/bad-1</code></td><td>[^<]*status`).MatchString(page) {
		t.Errorf("the broken Observation's reason does not name its status:\n%s", page)
	}
	if s := n.Nodes[0].Holdings().Summary(); s.Records != total-2 || s.Patients != 8 {
		t.Fatalf("holdings after the sync: %+v, want %d records of 8 patients", s, total-2)
	}
	page = run("the second sync")
	if !strings.Contains(page, "0 new, 0 changed, "+thousandsOf(total-2)+" unchanged, 2 failed") || strings.Count(page, "Observation/bad-1") != 1 {
		t.Fatalf("a second sync of the same export:\n%s", page)
	}
	// A larger export, stopped after its first batches and started
	// again: it resumes from its checkpoint, and every resource is held
	// once.
	if st := n.Nodes[0].EHRSyncs(); st[1].State != node.SyncIdle {
		t.Fatalf("the large export before it ran: %+v", st[1])
	}
	if err := n.Nodes[0].StartEHRSync("big-export"); err != nil {
		t.Fatal(err)
	}
	if err := n.Nodes[0].StartEHRSync("big-export"); err == nil || !strings.Contains(err.Error(), "running already") {
		t.Fatalf("a second start of a running sync: %v", err)
	}
	if !wait.For(2*time.Minute, func() bool { return n.Nodes[0].EHRSyncs()[1].Done >= 1000 }) {
		t.Fatal("the large export filed no batch")
	}
	resp, _ = admin.post("/console/sync/stop", url.Values{"csrf": {admin.csrf()}, "source": {"big-export"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("stopping the large export: %d", resp.StatusCode)
	}
	var st node.SyncStatus
	if !wait.For(2*time.Minute, func() bool { st = n.Nodes[0].EHRSyncs()[1]; return st.State != node.SyncRunning }) {
		t.Fatal("the large export did not stop")
	}
	if st.State != node.SyncStopped || st.Finished || st.Done >= bigTotal {
		t.Fatalf("after the stop: %s, %d of %d, finished %v", st.State, st.Done, bigTotal, st.Finished)
	}
	t.Logf("stopped at %d of %d resources", st.Done, bigTotal)
	if _, page := admin.get("/console/sync"); !strings.Contains(page, "Resume") {
		t.Error("a stopped sync offers no Resume")
	}
	if err := n.Nodes[0].StartEHRSync("big-export"); err != nil {
		t.Fatal(err)
	}
	if !wait.For(3*time.Minute, func() bool { st = n.Nodes[0].EHRSyncs()[1]; return st.State != node.SyncRunning }) || st.State != node.SyncFinished {
		t.Fatalf("the resumed export: %+v", st)
	}
	if st.Done != bigTotal || st.Created+st.Unchanged+st.Failed != bigTotal || st.Failed != 2 {
		t.Fatalf("the resumed export counted %d of %d (%d new, %d unchanged, %d failed)", st.Done, bigTotal, st.Created, st.Unchanged, st.Failed)
	}
	if s := n.Nodes[0].Holdings().Summary(); s.Records != total-2+bigTotal-2 {
		t.Fatalf("holdings after both exports: %d records, want %d", s.Records, total-2+bigTotal-2)
	}

	if resp, body := admin.post("/console/sync/stop", url.Values{"csrf": {admin.csrf()}, "source": {"epic-export"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "o sync of epic-export is running") {
		t.Fatalf("stopping a finished sync: %d\n%s", resp.StatusCode, body)
	}
}

// thousandsOf writes n as the console does.
func thousandsOf(n int) string {
	str := strconv.Itoa(n)
	var b strings.Builder
	for i := range str {
		if i > 0 && (len(str)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(str[i])
	}
	return b.String()
}
