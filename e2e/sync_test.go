package e2e

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ptoy/client"
	"ptoy/devnet"
	"ptoy/ehrsync"
	"ptoy/fhir/smart/backend"
	"ptoy/holdings"
	"ptoy/internal/ehrserver"
	"ptoy/keys"
	"ptoy/synth"
)

// syncedRe reads ptoy sync's progress lines.
var syncedRe = regexp.MustCompile(`^synced (\d+) resources`)

// killSyncHalfway runs ptoy sync with args until it reports at least
// half of total resources done, then kills it with SIGKILL.
func killSyncHalfway(t *testing.T, bin string, env []string, total int, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"sync"}, args...)...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	var tail []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		tail = append(tail, sc.Text())
		if m := syncedRe.FindStringSubmatch(sc.Text()); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= total/2 && !killed {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("ptoy sync ended before half of %d resources (%v):\n%s", total, err, strings.Join(tail, "\n"))
	}
}

// runSync runs ptoy sync to its end and returns its summary.
func runSync(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"sync", "--quiet"}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ptoy sync: %v\n%s", err, out)
	}
	return string(out)
}

// checkHeld checks that the hospital holds exactly the resources want
// (reference → digest) from source, each once.
func checkHeld(t *testing.T, ctx context.Context, c *client.Client, gh *keys.KeyPair, source string, want map[string]string) {
	t.Helper()
	h, err := c.Holdings(ctx, gh, source)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Records) != len(want) {
		t.Fatalf("%s: %d records held, %d in the source", source, len(h.Records), len(want))
	}
	for _, r := range h.Records {
		d, ok := want[r.Ref]
		switch {
		case !ok:
			t.Fatalf("%s: %s is held but not in the source", source, r.Ref)
		case d != r.Digest:
			t.Fatalf("%s: %s is held with another content", source, r.Ref)
		case r.Version != 1:
			t.Fatalf("%s: %s is at version %d: it was filed more than once", source, r.Ref, r.Version)
		}
	}
}

// digests reads a source to its end: each resource's reference and the
// digest the node keeps of it.
func digests(t *testing.T, ctx context.Context, src ehrsync.Source) map[string]string {
	t.Helper()
	want := map[string]string{}
	for {
		b, _, err := src.Next(ctx, 1000)
		for _, r := range b {
			var m struct{ ResourceType, ID string }
			json.Unmarshal(r, &m)
			want[m.ResourceType+"/"+m.ID] = holdings.Digest(r)
		}
		if err == io.EOF {
			return want
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// TestSyncKilledAndResumed syncs General Hospital's EHR from a
// directory of transaction Bundles and from a FHIR server the test
// starts (medplum, with SMART Backend Services tokens that expire during
// the run and a burst of 429s and 503s), each killed with SIGKILL
// halfway and started again: every resource arrives exactly once,
// compared resource by resource.
func TestSyncKilledAndResumed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	bin := buildPtoy(t)
	home := t.TempDir()
	info := startDev(t, ctx, bin, home)
	gh, _, err := keys.Dir{Path: info.KeysDir}.Load("general-hospital", []byte(devnet.Passphrase))
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(info.Nodes[0].API, nil)
	env := append(os.Environ(), "PTOY_KEYS="+info.KeysDir, "PTOY_PASSPHRASE="+devnet.Passphrase, "PTOY_NODE="+info.Nodes[0].API, "PTOY_TEST_FAST_KDF=1")
	work := t.TempDir()

	t.Run("directory", func(t *testing.T) {
		dir := filepath.Join(work, "ehr")
		if _, err := synth.Write(ctx, 41, 40, synth.Options{Hospital: "General Hospital"}, synth.WriteOptions{Dir: dir, Format: synth.FormatBundle}); err != nil {
			t.Fatal(err)
		}
		src, err := ehrsync.OpenDir(dir, "gh-bundles")
		if err != nil {
			t.Fatal(err)
		}
		want := digests(t, ctx, src)
		cp := filepath.Join(work, "dir.json")
		args := []string{"--as", "general-hospital", "--dir", dir, "--source", "gh-bundles", "--checkpoint", cp, "--batch", "100"}
		killSyncHalfway(t, bin, env, len(want), args...)
		if c, err := ehrsync.ReadCheckpoint(cp); err != nil || c.Finished || c.Done == 0 {
			t.Fatalf("the checkpoint after the kill: %+v %v", c, err)
		}
		out := runSync(t, bin, env, args...)
		if !strings.Contains(out, "resumed:") {
			t.Fatalf("the second run did not resume:\n%s", out)
		}
		checkHeld(t, ctx, c, gh, "gh-bundles", want)
		// A finished sync run again files nothing.
		out = runSync(t, bin, env, args...)
		if !strings.Contains(out, fmt.Sprintf("(0 new, 0 changed, %d unchanged)", len(want))) {
			t.Fatalf("a sync of an unchanged source:\n%s", out)
		}
	})

	t.Run("server", func(t *testing.T) {
		key, jwk, err := backend.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		srv := ehrserver.Start(t, ehrserver.Options{PageSize: 25, ClientID: "ptoy-gh", JWK: jwk, TokenTTL: 3 * time.Second})
		n := 0
		ps, _ := synth.Generate(43, 15, synth.Options{Hospital: "General Hospital"})
		for p := range ps {
			// A batch of PUTs: the EHR keeps the ids it has.
			var entries []string
			err := p.Record.Each(func(typ string, b []byte) error {
				var m struct{ ID string }
				json.Unmarshal(b, &m)
				entries = append(entries, fmt.Sprintf(`{"resource":%s,"request":{"method":"PUT","url":"%s/%s"}}`, b, typ, m.ID))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			srv.Load(t, []byte(`{"resourceType":"Bundle","type":"batch","entry":[`+strings.Join(entries, ",")+`]}`))
			n += len(entries)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		keyFile := filepath.Join(work, "client.pem")
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		// What the server holds, read as the sync reads it.
		tok, _, err := backend.Token(ctx, nil, srv.TokenURL, "ptoy-gh", backend.KeyID(&key.PublicKey), key, "system/*.read")
		if err != nil {
			t.Fatal(err)
		}
		src, err := ehrsync.OpenServer(ctx, srv.URL, "gh-fhir", ehrsync.ServerOptions{
			Token: func(context.Context) (string, time.Time, error) { return tok, time.Now().Add(time.Hour), nil }})
		if err != nil {
			t.Fatal(err)
		}
		want := digests(t, ctx, src)
		if len(want) != n {
			t.Fatalf("the server holds %d resources of the types synced, %d were loaded", len(want), n)
		}
		cp := filepath.Join(work, "server.json")
		args := []string{"--as", "general-hospital", "--fhir", srv.URL, "--source", "gh-fhir", "--checkpoint", cp, "--batch", "50",
			"--page-size", "25", "--client-id", "ptoy-gh", "--client-key", keyFile}
		srv.Faults(t, 429, 2, 1)
		killSyncHalfway(t, bin, env, n, args...)
		srv.Faults(t, 503, 3, 0)
		out := runSync(t, bin, env, args...)
		if !strings.Contains(out, "resumed:") {
			t.Fatalf("the second run did not resume:\n%s", out)
		}
		checkHeld(t, ctx, c, gh, "gh-fhir", want)
		if st := srv.Stats(t); st.Tokens < 2 {
			t.Fatalf("the sync took %d tokens: it should have renewed them", st.Tokens)
		}
	})

	t.Run("export and since", func(t *testing.T) {
		srv := ehrserver.Start(t, ehrserver.Options{Export: true, ExportPolls: 2})
		load := func(seed int64, n int) int {
			total := 0
			ps, _ := synth.Generate(seed, n, synth.Options{Hospital: "General Hospital"})
			for p := range ps {
				var entries []string
				p.Record.Each(func(typ string, b []byte) error {
					var m struct{ ID string }
					json.Unmarshal(b, &m)
					entries = append(entries, fmt.Sprintf(`{"resource":%s,"request":{"method":"PUT","url":"%s/%s"}}`, b, typ, m.ID))
					return nil
				})
				srv.Load(t, []byte(`{"resourceType":"Bundle","type":"batch","entry":[`+strings.Join(entries, ",")+`]}`))
				total += len(entries)
			}
			return total
		}
		first := load(45, 6)
		args := []string{"--as", "general-hospital", "--fhir", srv.URL, "--source", "gh-export", "--checkpoint", filepath.Join(work, "export.json")}
		out := runSync(t, bin, env, args...)
		if !strings.Contains(out, fmt.Sprintf("(%d new, 0 changed, 0 unchanged)", first)) {
			t.Fatalf("the export sync:\n%s", out)
		}
		if st := srv.Stats(t); st.ExportKickoffs != 1 || st.ExportFiles == 0 || st.SearchPages != 0 {
			t.Fatalf("the sync did not read through $export: %+v", st)
		}
		// Later: what changed since the first sync, and only that.
		since := time.Now().UTC().Format(time.RFC3339Nano)
		more := load(47, 2)
		out = runSync(t, bin, env, append(args, "--since", since)...)
		if !strings.Contains(out, fmt.Sprintf(" %d (%d new, 0 changed, 0 unchanged)", more, more)) {
			t.Fatalf("the incremental sync:\n%s", out)
		}
		src, err := ehrsync.OpenServer(ctx, srv.URL, "gh-export", ehrsync.ServerOptions{NoExport: true})
		if err != nil {
			t.Fatal(err)
		}
		checkHeld(t, ctx, c, gh, "gh-export", digests(t, ctx, src))
	})
}
