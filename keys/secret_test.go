package keys

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ptoy"
)

func TestSecretRoundTrip(t *testing.T) {
	d := Dir{Path: filepath.Join(t.TempDir(), "keys"), KDF: TestKDF}
	secret := bytes.Repeat([]byte{0xA5}, 32)
	if err := d.SaveSecret("directory", secret, testPass); err != nil {
		t.Fatal(err)
	}
	got, err := d.LoadSecret("directory", testPass)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("LoadSecret = %x, %v", got, err)
	}
	// Never overwritten; a wrong passphrase and a missing secret say so.
	if err := d.SaveSecret("directory", secret, testPass); ptoy.KindOf(err) != ptoy.Exists {
		t.Errorf("second SaveSecret: %v, want exists", err)
	}
	if _, err := d.LoadSecret("directory", []byte("wrong")); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Errorf("wrong passphrase: %v", err)
	}
	if _, err := d.LoadSecret("phone", testPass); ptoy.KindOf(err) != ptoy.NotFound || !strings.Contains(err.Error(), `no secret "phone"`) {
		t.Errorf("missing secret: %v", err)
	}
	// The file does not hold the secret in clear, and is mode 0600.
	path := filepath.Join(d.Path, "directory.secret")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, secret) || bytes.Contains(data, secret[:8]) {
		t.Error("secret file holds the secret in clear")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	// Secrets are not keys: List ignores them.
	if infos, err := d.List(); err != nil || len(infos) != 0 {
		t.Errorf("List = %v, %v", infos, err)
	}
	// Renamed, or with a field edited, the file no longer opens.
	if err := os.WriteFile(filepath.Join(d.Path, "phone.secret"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LoadSecret("phone", testPass); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("renamed secret: %v", err)
	}
	edited := bytes.Replace(data, []byte(`"time":1`), []byte(`"time":2`), 1)
	if _, _, err := OpenSecret(edited, testPass); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Errorf("edited secret: %v", err)
	}
	if p, err := SecretKDF(data); err != nil || p != TestKDF {
		t.Errorf("SecretKDF = %v, %v", p, err)
	}
}

func FuzzOpenSecret(f *testing.F) {
	data, err := SealSecret("fuzz", []byte("0123456789abcdef0123456789abcdef"), testPass, TestKDF)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"version":1,"name":"x","sealed":{}}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if parsed, err := parseSecret("fuzz", data); err == nil && (parsed.Sealed.MemoryKiB > 256 || parsed.Sealed.Time > 2) {
			return // valid but costly parameters
		}
		name, secret, err := OpenSecret(data, testPass)
		if err != nil {
			return
		}
		again, err := SealSecret(name, secret, testPass, TestKDF)
		if err != nil {
			t.Fatalf("an opened secret does not seal again: %v", err)
		}
		if n2, s2, err := OpenSecret(again, testPass); err != nil || n2 != name || !bytes.Equal(s2, secret) {
			t.Fatalf("round trip: %q %x %v", n2, s2, err)
		}
	})
}
