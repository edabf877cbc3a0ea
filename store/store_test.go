package store

import (
	"fmt"
	"path/filepath"
	"testing"

	"ptoy"
)

// A checkpoint holds what was committed before it and nothing after, and
// opens as a store of its own.
func TestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	p, err := Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 100 {
		if err := p.Commit([]Write{{Key: fmt.Appendf(nil, "k%03d", i), Value: []byte("v")}}, i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	cp := filepath.Join(dir, "cp")
	if err := p.Checkpoint(cp); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit([]Write{{Key: []byte("later"), Value: []byte("v")}}, true); err != nil {
		t.Fatal(err)
	}
	if err := p.Checkpoint(cp); ptoy.KindOf(err) != ptoy.Exists {
		t.Fatalf("checkpoint into an existing directory: %v, want Exists", err)
	}
	c, err := Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	if err := c.Scan(nil, nil, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 100 {
		t.Fatalf("checkpoint holds %d keys, want 100", n)
	}
	if v, _ := c.Get([]byte("later")); v != nil {
		t.Fatal("checkpoint holds a key written after it")
	}
}
