package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"ptoy"
	"ptoy/directory"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// newHome writes the home of a one-validator network.
func newHome(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "node1")
	_, err := CreateNetwork(NetworkSpec{HomeDirs: []string{home}, Validators: 1, FreePorts: true, KDF: keys.TestKDF,
		Orgs: []OrgSpec{{Name: "General Hospital", Kind: pb.OrgKind_ORG_KIND_HOSPITAL}}})
	if err != nil {
		t.Fatal(err)
	}
	return home
}

func homePass(t *testing.T, home string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, "keys", "passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// openClose opens the node of home and closes it again.
func openClose(t *testing.T, home string, pass []byte) error {
	t.Helper()
	n, err := Open(home, Options{Passphrase: pass})
	if err != nil {
		return err
	}
	n.Close()
	return nil
}

// holds reports the files under root that contain secret, raw or in hex.
func holds(t *testing.T, root string, secret []byte) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, secret) || bytes.Contains(bytes.ToLower(b), []byte(hex.EncodeToString(secret))) {
			found = append(found, path)
		}
		return nil
	})
	return found
}

// TestDirectoryKeySealed: the key of a node's directory is sealed under
// the organisation key's passphrase; no file of the home holds it in
// clear, and a copy of the home without the passphrase does not open.
func TestDirectoryKeySealed(t *testing.T) {
	home := newHome(t)
	pass := homePass(t, home)
	if err := openClose(t, home, pass); err != nil {
		t.Fatal(err)
	}
	kd := keys.Dir{Path: filepath.Join(home, "keys")}
	dirKey, err := kd.LoadSecret(directorySecret, pass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "keys", plainDirectoryKey)); err == nil {
		t.Error("the home holds a plain directory key file")
	}
	if f := holds(t, home, dirKey); len(f) > 0 {
		t.Errorf("files hold the directory key in clear: %v", f)
	}

	// A copy of the home, its passphrase file left behind.
	stolen := filepath.Join(t.TempDir(), "stolen")
	if err := os.CopyFS(stolen, os.DirFS(home)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(stolen, "keys", "passphrase"))
	t.Setenv("PTOY_PASSPHRASE", "")
	if err := openClose(t, stolen, nil); err == nil {
		t.Fatal("a copied home opened without its passphrase")
	}
	if err := openClose(t, stolen, []byte("a guess")); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Fatalf("a copied home with a guessed passphrase: %v", err)
	}
	for _, s := range []string{directorySecret, phoneSecret} {
		if _, err := (keys.Dir{Path: filepath.Join(stolen, "keys")}).LoadSecret(s, []byte("a guess")); ptoy.KindOf(err) != ptoy.Unauthenticated {
			t.Errorf("secret %s with a guessed passphrase: %v", s, err)
		}
	}
}

// TestPlainDirectoryKeyMigrates: a home of an earlier version, whose
// directory key lies in clear in keys/directory.key, has it sealed on its
// next start and the plain file removed; what the directory held before
// still opens.
func TestPlainDirectoryKeyMigrates(t *testing.T) {
	home := newHome(t)
	pass := homePass(t, home)
	kd := keys.Dir{Path: filepath.Join(home, "keys")}
	// As an earlier version left it: no sealed key, a plain one, and a
	// patient in the directory sealed under it.
	os.Remove(filepath.Join(kd.Path, directorySecret+".secret"))
	plain := NewPhoneKey()
	plainPath := filepath.Join(kd.Path, plainDirectoryKey)
	if err := os.WriteFile(plainPath, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	d, err := directory.Open(directory.Config{Dir: filepath.Join(home, "data", "directory"), Key: plain, Sender: &directory.Outbox{Path: outbox}})
	if err != nil {
		t.Fatal(err)
	}
	patient := ptoy.IDFromKey([]byte("patient"))
	reg, _, err := d.Start(ctx, "Grace Hopper", "+15550100100")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := directory.LatestCode(outbox, "+15550100100")
	if _, err := d.Claim(ctx, reg, code, patient); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Complete(ctx, reg, code, patient); err != nil {
		t.Fatal(err)
	}
	d.Close()

	n, err := Open(home, Options{Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	p, err := n.dir.Profile(ctx, patient)
	n.Close()
	if err != nil || p.FullName != "Grace Hopper" {
		t.Fatalf("profile after migration: %v, %v", p, err)
	}
	if _, err := os.Stat(plainPath); err == nil {
		t.Error("the plain directory key is still there")
	}
	sealed, err := kd.LoadSecret(directorySecret, pass)
	if err != nil || !bytes.Equal(sealed, plain) {
		t.Fatalf("sealed key %x, %v; want the plain one", sealed, err)
	}
	if f := holds(t, home, plain); len(f) > 0 {
		t.Errorf("files hold the directory key in clear: %v", f)
	}
	// The next start opens the sealed key.
	again, err := loadDirectoryKey(kd, "org", pass, slog.New(slog.DiscardHandler))
	if err != nil || !bytes.Equal(again, plain) {
		t.Fatalf("next start: %x, %v", again, err)
	}
}

// TestNetworkPhoneKeyShared: every home of a network holds the same
// phone key, sealed under its own passphrase.
func TestNetworkPhoneKeyShared(t *testing.T) {
	out := t.TempDir()
	_, err := CreateNetwork(NetworkSpec{Out: out, Validators: 2, FreePorts: true, KDF: keys.TestKDF, Orgs: []OrgSpec{
		{Name: "General Hospital", Kind: pb.OrgKind_ORG_KIND_HOSPITAL}, {Name: "Riverside Clinic", Kind: pb.OrgKind_ORG_KIND_CLINIC}}})
	if err != nil {
		t.Fatal(err)
	}
	var first []byte
	for i, h := range []string{filepath.Join(out, "node1"), filepath.Join(out, "node2")} {
		k, err := (keys.Dir{Path: filepath.Join(h, "keys")}).LoadSecret(phoneSecret, homePass(t, h))
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 32 || (i > 0 && !bytes.Equal(k, first)) {
			t.Fatalf("node %d phone key %x; node 1 has %x", i+1, k, first)
		}
		first = k
		if f := holds(t, h, k); len(f) > 0 {
			t.Errorf("files hold the phone key in clear: %v", f)
		}
	}
}
