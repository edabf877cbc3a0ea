package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"google.golang.org/protobuf/proto"

	"ptoy/audit"
	"ptoy/client"
	"ptoy/devnet"
	"ptoy/directory"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// TestMain makes the test binary double as the ptoy command in scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ptoy": main,
	})
}

// TestScripts runs testdata/script/*.txtar. Besides ptoy itself, scripts
// have these commands:
//
//	devnet                start a 1-validator dev network in $WORK/dev (stopped
//	                      at the end); set PTOY_NODE and PTOY_KEYS to it and
//	                      write the passphrase of its keys to $WORK/pass
//	outbox-code PHONE VAR set $VAR to the newest code the dev network texted
//	                      to PHONE
//	ptoy-typing PHONE ARGS... run ptoy ARGS in this process with a stdin on
//	                      which the newest code for PHONE is typed when read
//
// PTOY_TEST_FAST_KDF=1 makes new keystores cheap; PTOY_NODE points nowhere
// until devnet runs.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv(envFastKDF, "1")
			env.Setenv(envNode, "http://127.0.0.1:9")
			env.Setenv(envKeys, filepath.Join(env.WorkDir, "keys"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"devnet":      cmdDevnet,
			"outbox-code": cmdOutboxCode,
			"ptoy-typing": cmdPtoyTyping,
			// consent, records and audit scripts
			"wait-audit":        cmdWaitAudit,
			"tamper-audit-node": cmdTamperAuditNode,
			"next-year":         cmdNextYear,
			// dev.txtar
			"free-port": cmdFreePort,
			"hold-port": cmdHoldPort,
			"wait-http": cmdWaitHTTP,
			"wait-file": cmdWaitFile,
			"node-api":  cmdNodeAPI,
			// backup.txtar
			"backup-dir": cmdBackupDir,
			// synth.txtar
			"count-files": cmdCountFiles,
			"same-dirs":   cmdSameDirs,
		},
	})
}

func cmdDevnet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: devnet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := devnet.Start(ctx, devnet.Options{Home: ts.MkAbs("dev"), Validators: 1, KDF: keys.TestKDF})
	if err != nil {
		ts.Fatalf("devnet: %v", err)
	}
	ts.Defer(n.Close)
	ts.Setenv(envNode, n.Info.API)
	ts.Setenv(envKeys, n.Info.KeysDir)
	ts.Check(os.WriteFile(ts.MkAbs("pass"), []byte(devnet.Passphrase+"\n"), 0o600))
}

// outbox returns the dev network's outbox file.
func outbox(ts *testscript.TestScript) string {
	b, err := os.ReadFile(ts.MkAbs("dev/dev.json"))
	if err != nil {
		ts.Fatalf("no dev network: run devnet first (%v)", err)
	}
	var info devnet.Info
	ts.Check(json.Unmarshal(b, &info))
	return info.Outbox
}

func cmdOutboxCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: outbox-code PHONE VAR")
	}
	code, err := directory.LatestCode(outbox(ts), args[0])
	if neg {
		if err == nil {
			ts.Fatalf("a code was sent to %s", args[0])
		}
		return
	}
	ts.Check(err)
	ts.Setenv(args[1], code)
	fmt.Fprintln(ts.Stdout(), code)
}

// typedCode is a stdin on which, when it is first read, the newest code
// of the outbox for a phone is typed.
type typedCode struct {
	once   sync.Once
	r      io.Reader
	outbox string
	phone  string
}

func (t *typedCode) Read(p []byte) (int, error) {
	t.once.Do(func() {
		code, err := directory.LatestCode(t.outbox, t.phone)
		if err != nil {
			code = "no-code"
		}
		t.r = strings.NewReader(code + "\n")
	})
	return t.r.Read(p)
}

func cmdPtoyTyping(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: ptoy-typing PHONE ARGS...")
	}
	lookup := func(k string) (string, bool) {
		v := ts.Getenv(k)
		return v, v != ""
	}
	e := &env{stdin: &typedCode{outbox: outbox(ts), phone: args[0]}, stdout: ts.Stdout(), stderr: ts.Stderr(), getenv: lookup}
	code := run(e, args[1:])
	if neg != (code != 0) {
		ts.Fatalf("ptoy exited with %d", code)
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  string
		x    bool
	}{
		{[]string{"a", "-x", "b"}, "a b", true},
		{[]string{"-x", "a"}, "a", true},
		{[]string{"a", "b"}, "a b", false},
		{[]string{"a", "--", "-x", "b"}, "a -x b", false},
		{[]string{"--", "-x"}, "-x", false},
		{nil, "", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		x := fs.Bool("x", false, "")
		pos, err := parseArgs(fs, tc.args)
		if err != nil || strings.Join(pos, " ") != tc.pos || *x != tc.x {
			t.Errorf("parseArgs(%q) = %q, x=%v, %v; want %q, x=%v", tc.args, pos, *x, err, tc.pos, tc.x)
		}
	}
}

// ---- consent, records and audit scripts (consent*, record*, audit*,
// breakglass*.txtar) ----
//
//	wait-audit KEY N       wait (up to 60 s) until the node proves N or more
//	                       audit events of the patient of demo key KEY, and
//	                       none is pending anchoring
//	tamper-audit-node VAR  set $VAR to the URL of a proxy of $PTOY_NODE that
//	                       alters the reason of the first audit event it
//	                       serves, as a dishonest node would
//	next-year VAR          set $VAR to next year (2027 in 2026)

// scriptKey opens a demo key of the dev network's keystore.
func scriptKey(ts *testscript.TestScript, name string) *keys.KeyPair {
	k, _, err := keys.Dir{Path: ts.Getenv(envKeys), KDF: keys.TestKDF}.Load(name, []byte(devnet.Passphrase))
	ts.Check(err)
	return k
}

func cmdWaitAudit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: wait-audit KEY N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	k := scriptKey(ts, args[0])
	cl := client.New(ts.Getenv(envNode), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		trail, err := cl.AuditEvents(ctx, k, k.ID(), time.Time{}, time.Time{})
		if err == nil && len(trail.Verified) >= want && len(trail.Pending) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			if err != nil {
				ts.Fatalf("wait-audit: %v", err)
			}
			ts.Fatalf("wait-audit: %d verified and %d pending audit events, want %d verified", len(trail.Verified), len(trail.Pending), want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func cmdTamperAuditNode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: tamper-audit-node VAR")
	}
	target, err := url.Parse(ts.Getenv(envNode))
	ts.Check(err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	director := proxy.Director
	proxy.Director = func(r *http.Request) {
		director(r)
		// Uncompressed answers, to alter them.
		r.Header.Del("Accept-Encoding")
		r.Header.Del("Connect-Accept-Encoding")
	}
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != "/ptoy.v1.ConsentService/AuditEvents" || resp.StatusCode != http.StatusOK {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var m pb.AuditEventsResponse
		if err := proto.Unmarshal(b, &m); err != nil {
			return err
		}
		if len(m.Events) > 0 {
			ev, err := audit.DecodeEvent(m.Events[0].Event)
			if err != nil {
				return err
			}
			ev.Reason = "nothing to see here"
			m.Events[0].Event = ev.Encode()
		}
		if b, err = proto.Marshal(&m); err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := httptest.NewServer(proxy)
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL)
}

// cmdNextYear sets $VAR to next year, for grants "until the end of next
// year".
func cmdNextYear(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: next-year VAR")
	}
	ts.Setenv(args[0], strconv.Itoa(time.Now().Year()+1))
}

// cmdBackupDir sets $VAR to the newest backup of the dev network's node 1.
func cmdBackupDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: backup-dir VAR")
	}
	dirs, err := filepath.Glob(ts.MkAbs("dev/nodes/node1/backups/2*"))
	ts.Check(err)
	if len(dirs) == 0 {
		ts.Fatalf("node 1 has no backup")
	}
	ts.Setenv(args[0], dirs[len(dirs)-1])
}
