// Package npmdeps gives tests the npm packages they use (the official
// FHIR R4 examples and search parameters, a FHIR client not written
// here), installed by the project's own script tools/npm.sh.
package npmdeps

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	once sync.Once
	dir  string
	err  error
)

// Dir returns the node_modules directory that holds the packages of
// tools/npm/package.json, installing them on first use. A test fails if
// they cannot be installed: npm's registry is reachable wherever the
// tests run.
func Dir(t testing.TB) string {
	t.Helper()
	d, err := Modules()
	if err != nil {
		t.Fatalf("installing the npm packages the tests use (tools/npm.sh): %v", err)
	}
	return d
}

// Modules is Dir for programs outside go test (a benchmark command): it
// installs the packages once per process and returns the node_modules
// directory, or why it could not.
func Modules() (string, error) {
	once.Do(func() {
		var root string
		if root, err = moduleRoot(); err != nil {
			return
		}
		cmd := exec.Command("bash", filepath.Join(root, "tools", "npm.sh"))
		cmd.Stderr = os.Stderr
		var out []byte
		if out, err = cmd.Output(); err == nil {
			dir = strings.TrimSpace(string(out))
		}
	})
	return dir, err
}

// Package returns the directory of one installed package.
func Package(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Dir(t), name)
}

func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", os.ErrNotExist
		}
		d = up
	}
}
