package main

import (
	"net"
	"net/http"
	"os"
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
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := hc.Get(args[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not answer in time (last: %v)", args[0], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: wait-file PATH")
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear in time", args[0])
		}
		time.Sleep(50 * time.Millisecond)
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
