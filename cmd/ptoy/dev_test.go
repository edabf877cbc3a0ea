package main

import (
	"net"
	"net/http"
	"os"
	"ptoy/internal/wait"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"ptoy/node"
)

// Script commands for ptoy dev runs (dev.txtar):
//
//	free-port VAR        set $VAR to a port free on 127.0.0.1 now
//	hold-port VAR        listen on a free port until the script ends; set $VAR to it
//	wait-http URL        poll URL until it answers 200 (two minutes at most)
//	wait-file PATH       poll until PATH exists (two minutes at most)
//	node-api HOME VAR    set $VAR to the API URL of the node whose home is HOME

func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: free-port VAR")
	}
	ports, err := node.FreePorts("127.0.0.1", 1)
	ts.Check(err)
	ts.Setenv(args[0], strconv.Itoa(ports[0]))
}

func cmdHoldPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hold-port VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Defer(func() { ln.Close() })
	ts.Setenv(args[0], strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}

func cmdWaitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: wait-http URL")
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	var err error
	if !wait.For(2*time.Minute, func() bool {
		var resp *http.Response
		if resp, err = hc.Get(args[0]); err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		ts.Fatalf("%s did not answer in time (last: %v)", args[0], err)
	}
}

func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: wait-file PATH")
	}
	if !wait.For(2*time.Minute, func() bool { _, err := os.Stat(ts.MkAbs(args[0])); return err == nil }) {
		ts.Fatalf("%s did not appear in time", args[0])
	}
}

func cmdNodeAPI(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: node-api HOME VAR")
	}
	c, err := node.LoadConfig(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Setenv(args[1], "http://"+c.HTTPAddr)
}
