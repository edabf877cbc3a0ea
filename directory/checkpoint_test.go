package directory

import (
	"context"
	"path/filepath"
	"testing"

	"ptoy"
)

// A checkpoint opens with the directory's key and knows the patients
// registered before it.
func TestCheckpoint(t *testing.T) {
	e := newEnv(t, nil)
	p := e.register(t, "Ada Lovelace", "+447700900123", patientID(1))
	cp := filepath.Join(t.TempDir(), "cp")
	if err := e.d.Checkpoint(cp); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Checkpoint(cp); ptoy.KindOf(err) != ptoy.Exists {
		t.Fatalf("checkpoint into an existing directory: %v, want Exists", err)
	}
	c, err := Open(Config{Dir: cp, Key: testKey(), Sender: &Outbox{Path: e.outbox}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Profile(context.Background(), p.Patient)
	if err != nil || got.Phone != p.Phone || got.FullName != p.FullName {
		t.Fatalf("profile in the checkpoint: %v, %v", got, err)
	}
	e.d.Close()
	if err := e.d.Checkpoint(filepath.Join(t.TempDir(), "cp2")); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("checkpoint of a closed directory: %v, want Unavailable", err)
	}
}
