package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

// ---- synth.txtar ----
//
//	count-files DIR N   DIR holds N files
//	same-dirs A B       A and B hold the same files, byte for byte

func cmdCountFiles(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: count-files DIR N")
	}
	ents, err := os.ReadDir(ts.MkAbs(args[0]))
	ts.Check(err)
	if want, _ := strconv.Atoi(args[1]); (len(ents) == want) == neg {
		ts.Fatalf("%s holds %d files", args[0], len(ents))
	}
}

func cmdSameDirs(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: same-dirs A B")
	}
	a, b := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	ea, err := os.ReadDir(a)
	ts.Check(err)
	eb, err := os.ReadDir(b)
	ts.Check(err)
	same := len(ea) == len(eb)
	for i := 0; same && i < len(ea); i++ {
		x, err := os.ReadFile(filepath.Join(a, ea[i].Name()))
		ts.Check(err)
		y, err := os.ReadFile(filepath.Join(b, ea[i].Name()))
		same = err == nil && bytes.Equal(x, y) && ea[i].Name() == eb[i].Name()
	}
	if same == neg {
		ts.Fatalf("%s and %s: same=%v", args[0], args[1], same)
	}
}
