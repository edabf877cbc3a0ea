package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"ptoy/devnet"
	"ptoy/directory"
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
