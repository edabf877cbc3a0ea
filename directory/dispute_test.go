package directory

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"ptoy"
)

// A dispute's text is kept once per break-glass, sealed at rest (the
// store's files do not hold it), and survives a reopen.
func TestDispute(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	const text = "I was awake and refused; ask my GP about the penicillin note"
	if _, _, err := e.d.Dispute(ctx, 7); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("Dispute before any: %v, want NotFound", err)
	}
	if err := e.d.KeepDispute(ctx, 7, patientID(1), text); err != nil {
		t.Fatal(err)
	}
	wantKind(t, e.d.KeepDispute(ctx, 7, patientID(1), "another text"), ptoy.Exists, "already has a dispute")
	wantKind(t, e.d.KeepDispute(ctx, 0, patientID(1), text), ptoy.Invalid, "names its break-glass")
	wantKind(t, e.d.KeepDispute(ctx, 8, patientID(1), ""), ptoy.Invalid, "has a text")
	e.d.Close()
	files, _ := filepath.Glob(filepath.Join(e.dir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("penicillin")) {
			t.Errorf("%s holds the dispute's text in the clear", filepath.Base(f))
		}
	}
	d, err := Open(Config{Dir: e.dir, Key: testKey(), Sender: &Outbox{Path: e.outbox}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p, got, err := d.Dispute(ctx, 7)
	if err != nil || p != patientID(1) || got != text {
		t.Fatalf("after reopen: %v %q %v", p, got, err)
	}
}
