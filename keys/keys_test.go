package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"ptoy"
)

var (
	algs     = []uint16{KEMHybrid, KEMX25519}
	testPass = []byte("correct horse battery staple")
	testTime = time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)
)

func generate(t testing.TB, alg uint16) *KeyPair {
	t.Helper()
	k, err := Generate(alg)
	if err != nil {
		t.Fatalf("Generate(%s): %v", KEMName(alg), err)
	}
	return k
}

func seal(t testing.TB, name string, k *KeyPair) []byte {
	t.Helper()
	data, err := Seal(name, k, testPass, TestKDF, testTime)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return data
}

func wantKind(t *testing.T, what string, err error, kind ptoy.Kind) {
	t.Helper()
	if got := ptoy.KindOf(err); err == nil || got != kind {
		t.Fatalf("%s: got error %v (kind %q), want kind %q", what, err, got, kind)
	}
}

// sameKeys reports whether a and b hold the same private keys.
func sameKeys(t testing.TB, a, b *KeyPair) bool {
	t.Helper()
	ab, err := a.KEM.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	bb, err := b.KEM.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return a.Signing.Equal(b.Signing) && a.KEMAlg() == b.KEMAlg() && bytes.Equal(ab, bb)
}

// decodeFile and encodeFile let tests make files Seal would not.
func decodeFile(t testing.TB, data []byte) *fileJSON {
	t.Helper()
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func encodeFile(t testing.TB, f *fileJSON) []byte {
	t.Helper()
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// reseal encrypts plain into f under testPass, authenticating f as it is.
func reseal(t testing.TB, f *fileJSON, plain []byte) []byte {
	t.Helper()
	aead, err := newAEAD(testPass, &f.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	f.Sealed.Ciphertext = aead.Seal(nil, f.Sealed.Nonce, plain, associatedData(f))
	return encodeFile(t, f)
}

func TestGenerateSignVerify(t *testing.T) {
	for _, alg := range algs {
		t.Run(KEMName(alg), func(t *testing.T) {
			k := generate(t, alg)
			if k.KEMAlg() != alg {
				t.Errorf("KEMAlg = %#04x, want %#04x", k.KEMAlg(), alg)
			}
			if k.ID() != ptoy.IDFromKey(k.SigningPublic()) {
				t.Error("ID is not derived from the signing public key")
			}
			msg := []byte("add practitioner")
			sig := k.Sign(msg)
			if !ed25519.Verify(k.SigningPublic(), msg, sig) {
				t.Error("signature does not verify")
			}
			if ed25519.Verify(k.SigningPublic(), []byte("something else"), sig) {
				t.Error("signature verifies another message")
			}
			if err := ValidKEMPublic(alg, k.KEMPublic()); err != nil {
				t.Errorf("ValidKEMPublic of own key: %v", err)
			}

			// The KEM key works: what is sealed to the public key opens.
			kem, _ := hpke.NewKEM(alg)
			pub, err := kem.NewPublicKey(k.KEMPublic())
			if err != nil {
				t.Fatal(err)
			}
			ct, err := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), nil, []byte("record key"))
			if err != nil {
				t.Fatal(err)
			}
			pt, err := hpke.Open(k.KEM, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), nil, ct)
			if err != nil || string(pt) != "record key" {
				t.Fatalf("hpke round trip: %q, %v", pt, err)
			}

			if other := generate(t, alg); other.ID() == k.ID() || bytes.Equal(other.KEMPublic(), k.KEMPublic()) {
				t.Error("two generated key pairs are equal")
			}
		})
	}
}

func TestGenerateUnknownAlg(t *testing.T) {
	for _, alg := range []uint16{0, 0x0010, 0x0041, 0x0042, 0xffff} {
		_, err := Generate(alg)
		wantKind(t, fmt.Sprintf("Generate(%#04x)", alg), err, ptoy.Invalid)
		if want := fmt.Sprintf("unknown KEM algorithm 0x%04x", alg); ptoy.Message(err) != want {
			t.Errorf("message %q, want %q", ptoy.Message(err), want)
		}
	}
}

func TestKEMName(t *testing.T) {
	for alg, want := range map[uint16]string{
		KEMHybrid: "ML-KEM-768+X25519",
		KEMX25519: "X25519",
		0x0041:    "unknown(0x0041)",
	} {
		if got := KEMName(alg); got != want {
			t.Errorf("KEMName(%#04x) = %q, want %q", alg, got, want)
		}
	}
}

func TestValidKEMPublic(t *testing.T) {
	for _, alg := range algs {
		pub := generate(t, alg).KEMPublic()
		if err := ValidKEMPublic(alg, pub); err != nil {
			t.Errorf("%s: %v", KEMName(alg), err)
		}
		wantKind(t, "truncated key", ValidKEMPublic(alg, pub[:len(pub)-1]), ptoy.Invalid)
		wantKind(t, "long key", ValidKEMPublic(alg, append(pub, 0)), ptoy.Invalid)
		wantKind(t, "empty key", ValidKEMPublic(alg, nil), ptoy.Invalid)
	}
	// ML-KEM-768 alone is a KEM crypto/hpke knows but this package does not
	// accept.
	mlkem, _ := hpke.MLKEM768().GenerateKey()
	wantKind(t, "ML-KEM-768", ValidKEMPublic(hpke.MLKEM768().ID(), mlkem.PublicKey().Bytes()), ptoy.Invalid)
	wantKind(t, "unknown alg", ValidKEMPublic(0x1234, make([]byte, 32)), ptoy.Invalid)
}

func TestSealOpen(t *testing.T) {
	for _, alg := range algs {
		t.Run(KEMName(alg), func(t *testing.T) {
			k := generate(t, alg)
			data := seal(t, "alice", k)
			if !json.Valid(data) {
				t.Fatalf("not JSON: %s", data)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, data); err != nil || !bytes.Equal(compact.Bytes(), bytes.TrimSuffix(data, []byte("\n"))) {
				t.Errorf("file is not compact JSON: %s", data)
			}
			got, info, err := Open(data, testPass)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !sameKeys(t, k, got) {
				t.Error("Open returned other keys")
			}
			want := Info{
				Name:          "alice",
				ID:            k.ID(),
				SigningPublic: k.SigningPublic(),
				KEMAlg:        alg,
				KEMPublic:     k.KEMPublic(),
				Created:       testTime,
			}
			if !reflect.DeepEqual(info, want) {
				t.Errorf("Info = %+v, want %+v", info, want)
			}
			ri, err := ReadInfo(data)
			if err != nil || !reflect.DeepEqual(ri, want) {
				t.Errorf("ReadInfo = %+v, %v; want %+v", ri, err, want)
			}
			// Without the trailing newline the file is the same.
			if _, _, err := Open(bytes.TrimSuffix(data, []byte("\n")), testPass); err != nil {
				t.Errorf("Open without newline: %v", err)
			}
			// Each sealing uses a fresh salt and nonce.
			if bytes.Equal(seal(t, "alice", k), data) {
				t.Error("two sealings are equal")
			}
		})
	}
}

func TestSealCreatedTime(t *testing.T) {
	k := generate(t, KEMX25519)
	local := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 5*3600))
	data, err := Seal("k", k, testPass, TestKDF, local)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ReadInfo(data)
	if err != nil || !info.Created.Equal(local) || info.Created.Location() != time.UTC {
		t.Errorf("Created = %v, %v; want %v in UTC", info.Created, err, local)
	}
	_, err = Seal("k", k, testPass, TestKDF, time.Time{})
	wantKind(t, "zero time", err, ptoy.Invalid)
	_, err = Seal("k", k, testPass, TestKDF, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	wantKind(t, "year 10000", err, ptoy.Invalid)
}

func TestSealRejects(t *testing.T) {
	k := generate(t, KEMX25519)
	cases := []struct {
		name string
		k    *KeyPair
		pass []byte
		p    KDFParams
	}{
		{"empty passphrase", k, nil, TestKDF},
		{"bad name", k, testPass, TestKDF},
		{"zero KDF", k, testPass, KDFParams{}},
		{"nil key pair", nil, testPass, TestKDF},
		{"no KEM key", &KeyPair{Signing: k.Signing}, testPass, TestKDF},
		{"short signing key", &KeyPair{Signing: k.Signing[:32], KEM: k.KEM}, testPass, TestKDF},
		{"mismatched signing key", &KeyPair{Signing: append(slices.Clone(k.Signing[:32]), make([]byte, 32)...), KEM: k.KEM}, testPass, TestKDF},
	}
	for _, c := range cases {
		name := "k"
		if c.name == "bad name" {
			name = ".k"
		}
		_, err := Seal(name, c.k, c.pass, c.p, testTime)
		wantKind(t, c.name, err, ptoy.Invalid)
	}
	// A KEM this package does not accept.
	mlkem, _ := hpke.MLKEM768().GenerateKey()
	_, err := Seal("k", &KeyPair{Signing: k.Signing, KEM: mlkem}, testPass, TestKDF, testTime)
	wantKind(t, "ML-KEM-768 key", err, ptoy.Invalid)
}

func TestWrongPassphrase(t *testing.T) {
	data := seal(t, "alice", generate(t, KEMX25519))
	for _, pass := range [][]byte{[]byte("Correct horse battery staple"), []byte("x"), append(slices.Clone(testPass), 0)} {
		_, _, err := Open(data, pass)
		wantKind(t, "wrong passphrase", err, ptoy.Unauthenticated)
		if want := `wrong passphrase for key "alice"`; ptoy.Message(err) != want {
			t.Errorf("message %q, want %q", ptoy.Message(err), want)
		}
	}
	_, _, err := Open(data, nil)
	wantKind(t, "empty passphrase", err, ptoy.Invalid)
}

// TestFlipEveryBit flips each bit of a sealed file in turn: no flip may
// open, and the only errors are Invalid and Unauthenticated.
func TestFlipEveryBit(t *testing.T) {
	for _, alg := range algs {
		t.Run(KEMName(alg), func(t *testing.T) {
			data := seal(t, "alice", generate(t, alg))
			kinds := map[ptoy.Kind]int{}
			for i := range data {
				for bit := range 8 {
					mut := slices.Clone(data)
					mut[i] ^= 1 << bit
					k, _, err := Open(mut, testPass)
					if err == nil {
						t.Fatalf("byte %d bit %d: opened a changed file (%v): %s", i, bit, k, mut)
					}
					kind := ptoy.KindOf(err)
					if kind != ptoy.Invalid && kind != ptoy.Unauthenticated {
						t.Fatalf("byte %d bit %d: %v", i, bit, err)
					}
					kinds[kind]++
				}
			}
			if kinds[ptoy.Unauthenticated] == 0 {
				t.Error("no flip reached the authentication check")
			}
			t.Logf("%d bytes: %v", len(data), kinds)
		})
	}
}

// TestTamperPublicPart changes the public part in ways that keep the file
// well-formed: the sealed part must notice.
func TestTamperPublicPart(t *testing.T) {
	k := generate(t, KEMHybrid)
	other := generate(t, KEMHybrid)
	data := seal(t, "alice", k)
	edits := map[string]func(f *fileJSON){
		"name":    func(f *fileJSON) { f.Public.Name = "mallory" },
		"created": func(f *fileJSON) { f.Public.Created = "2020-01-01T00:00:00Z" },
		"KEM public key": func(f *fileJSON) {
			f.Public.KEMPublic = other.KEMPublic()
		},
		"signing key and id": func(f *fileJSON) {
			f.Public.SigningPublic = other.SigningPublic()
			f.Public.ID = other.ID().String()
		},
		"KDF time": func(f *fileJSON) { f.Sealed.Time = 2 },
	}
	for what, edit := range edits {
		f := decodeFile(t, data)
		edit(f)
		mut := encodeFile(t, f)
		if _, err := ReadInfo(mut); err != nil {
			t.Errorf("%s: ReadInfo: %v", what, err)
		}
		_, _, err := Open(mut, testPass)
		wantKind(t, what, err, ptoy.Unauthenticated)
	}
}

func TestOpenMalformed(t *testing.T) {
	k := generate(t, KEMX25519)
	data := seal(t, "alice", k)
	edit := func(fn func(f *fileJSON)) []byte {
		f := decodeFile(t, data)
		fn(f)
		return encodeFile(t, f)
	}
	var indented bytes.Buffer
	json.Indent(&indented, data, "", "  ")
	cases := map[string][]byte{
		"empty":            nil,
		"null":             []byte("null"),
		"empty object":     []byte("{}"),
		"array":            []byte("[]"),
		"indented":         indented.Bytes(),
		"trailing data":    append(slices.Clone(data), "{}"...),
		"two newlines":     append(slices.Clone(data), '\n'),
		"leading space":    append([]byte(" "), data...),
		"unknown field":    bytes.Replace(data, []byte(`{"version":1,`), []byte(`{"version":1,"x":1,`), 1),
		"upper-case key":   bytes.Replace(data, []byte(`"version"`), []byte(`"Version"`), 1),
		"upper-case id":    bytes.Replace(data, []byte(k.ID().String()), []byte(strings.ToUpper(k.ID().String())), 1),
		"too large":        append(slices.Clone(data), bytes.Repeat([]byte(" "), maxFileSize)...),
		"version 2":        edit(func(f *fileJSON) { f.Version = 2 }),
		"bad name":         edit(func(f *fileJSON) { f.Public.Name = "../alice" }),
		"id mismatch":      edit(func(f *fileJSON) { f.Public.ID = generate(t, KEMX25519).ID().String() }),
		"short signing":    edit(func(f *fileJSON) { f.Public.SigningPublic = f.Public.SigningPublic[:31] }),
		"unknown KEM":      edit(func(f *fileJSON) { f.Public.KEMAlg = 0x0010 }),
		"wrong KEM":        edit(func(f *fileJSON) { f.Public.KEMAlg = KEMHybrid }),
		"local time":       edit(func(f *fileJSON) { f.Public.Created = "2026-03-04T06:06:07+01:00" }),
		"unknown KDF":      edit(func(f *fileJSON) { f.Sealed.KDF = "scrypt" }),
		"unknown cipher":   edit(func(f *fileJSON) { f.Sealed.Cipher = "aes-gcm" }),
		"short salt":       edit(func(f *fileJSON) { f.Sealed.Salt = f.Sealed.Salt[:8] }),
		"short nonce":      edit(func(f *fileJSON) { f.Sealed.Nonce = f.Sealed.Nonce[:12] }),
		"short ciphertext": edit(func(f *fileJSON) { f.Sealed.Ciphertext = f.Sealed.Ciphertext[:16] }),
		"long ciphertext":  edit(func(f *fileJSON) { f.Sealed.Ciphertext = make([]byte, 2000) }),
	}
	for what, mut := range cases {
		_, err := ReadInfo(mut)
		wantKind(t, what+": ReadInfo", err, ptoy.Invalid)
		_, _, err = Open(mut, testPass)
		wantKind(t, what+": Open", err, ptoy.Invalid)
	}
}

// TestInconsistent authenticates private material that does not match the
// public part, as only someone with the passphrase could.
func TestInconsistent(t *testing.T) {
	k := generate(t, KEMX25519)
	other := generate(t, KEMX25519)
	data := seal(t, "alice", k)
	kemPriv, _ := k.KEM.Bytes()
	otherKEM, _ := other.KEM.Bytes()
	plains := map[string][]byte{
		"other signing key": encodePrivate(other.Signing.Seed(), kemPriv),
		"other KEM key":     encodePrivate(k.Signing.Seed(), otherKEM),
		"short seed":        encodePrivate(k.Signing.Seed()[:31], kemPriv),
		"bad KEM key":       encodePrivate(k.Signing.Seed(), kemPriv[:31]),
		"trailing byte":     append(encodePrivate(k.Signing.Seed(), kemPriv), 0),
		"truncated":         encodePrivate(k.Signing.Seed(), kemPriv)[:40],
	}
	for what, plain := range plains {
		mut := reseal(t, decodeFile(t, data), plain)
		_, _, err := Open(mut, testPass)
		wantKind(t, what, err, ptoy.Invalid)
		if ptoy.Message(err) != "keystore is inconsistent" {
			t.Errorf("%s: message %q", what, ptoy.Message(err))
		}
	}
	// The helper itself makes files that open.
	good := reseal(t, decodeFile(t, data), encodePrivate(k.Signing.Seed(), kemPriv))
	if _, _, err := Open(good, testPass); err != nil {
		t.Fatalf("resealed file: %v", err)
	}
}

func TestKDFParams(t *testing.T) {
	for _, p := range []KDFParams{DefaultKDF, TestKDF, {1, 8, 1}, {16, maxKDFMemory, 255}, {1, 8 * 255, 255}} {
		if err := p.check("test"); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	for _, p := range []KDFParams{{}, {0, 64, 1}, {17, 64, 1}, {1 << 31, 64, 1}, {1, 7, 1}, {1, maxKDFMemory + 1, 1}, {1, 1<<32 - 1, 1}, {1, 64, 0}, {1, 8*255 - 1, 255}} {
		wantKind(t, fmt.Sprintf("%+v", p), p.check("test"), ptoy.Invalid)
	}
}

// TestHostileKDF opens files whose KDF parameters would cost without
// bound: they are refused before any key derivation.
func TestHostileKDF(t *testing.T) {
	data := seal(t, "alice", generate(t, KEMX25519))
	for _, p := range []KDFParams{
		{0, 64, 1}, {17, 64, 1}, {1<<32 - 1, 64, 1},
		{1, 0, 1}, {1, 7, 1}, {1, maxKDFMemory + 1, 1}, {1, 1<<32 - 1, 1},
		{1, 64, 0}, {1, 64, 255}, {1<<32 - 1, 1<<32 - 1, 255},
	} {
		f := decodeFile(t, data)
		f.Sealed.Time, f.Sealed.MemoryKiB, f.Sealed.Threads = p.Time, p.MemoryKiB, p.Threads
		mut := encodeFile(t, f)

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := Open(mut, testPass)
		runtime.ReadMemStats(&after)
		wantKind(t, fmt.Sprintf("Open with %+v", p), err, ptoy.Invalid)
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("Open with %+v allocated %d bytes", p, n)
		}
		_, err = ReadInfo(mut)
		wantKind(t, fmt.Sprintf("ReadInfo with %+v", p), err, ptoy.Invalid)
	}
}

func TestNoSecretsInOutput(t *testing.T) {
	for _, alg := range algs {
		k := generate(t, alg)
		kemPriv, _ := k.KEM.Bytes()
		secrets := []string{}
		for _, s := range [][]byte{k.Signing.Seed(), kemPriv} {
			secrets = append(secrets, hex.EncodeToString(s), fmt.Sprint(s), fmt.Sprintf("%x", s[:8]),
				base64.StdEncoding.EncodeToString(s)[:16])
		}
		var out []string
		for _, format := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			out = append(out, fmt.Sprintf(format, k), fmt.Sprintf(format, *k), fmt.Sprintf(format, []*KeyPair{k}))
		}
		data := seal(t, "alice", k)
		_, _, err := Open(data, []byte("wrong"))
		out = append(out, err.Error(), string(data))
		for _, o := range out {
			for _, s := range secrets {
				if strings.Contains(strings.ToLower(o), strings.ToLower(s)) {
					t.Fatalf("output shows a private key: %s", o)
				}
			}
		}
		if want := fmt.Sprintf("keys.KeyPair(id=%s, kem=%s)", k.ID(), KEMName(alg)); fmt.Sprint(k) != want {
			t.Errorf("String = %q, want %q", fmt.Sprint(k), want)
		}
	}
}

func TestDir(t *testing.T) {
	d := Dir{Path: filepath.Join(t.TempDir(), "keys"), KDF: TestKDF}

	if infos, err := d.List(); err != nil || len(infos) != 0 {
		t.Fatalf("List of missing directory = %v, %v", infos, err)
	}
	alice, aliceInfo, err := d.Create("alice", KEMHybrid, testPass, testTime)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if aliceInfo.Name != "alice" || aliceInfo.ID != alice.ID() || aliceInfo.KEMAlg != KEMHybrid || !aliceInfo.Created.Equal(testTime) {
		t.Errorf("Create info = %+v", aliceInfo)
	}
	if _, _, err := d.Create("a-b", KEMX25519, testPass, testTime); err != nil {
		t.Fatal(err)
	}
	bob := generate(t, KEMX25519)
	if _, err := d.Save("bob", bob, []byte("bob's"), testTime); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 64)
	if _, _, err := d.Create(long, KEMX25519, testPass, testTime); err != nil {
		t.Errorf("64-character name: %v", err)
	}

	// Modes.
	if fi, err := os.Stat(d.Path); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, %v", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(d.Path)
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", e.Name(), fi.Mode())
		}
	}
	if want := []string{"a-b.key", "alice.key", "bob.key", long + ".key"}; !slices.Equal(files, want) {
		t.Errorf("files %v, want %v (temporary files left?)", files, want)
	}

	// Existing names.
	_, _, err = d.Create("alice", KEMX25519, testPass, testTime)
	wantKind(t, "Create existing", err, ptoy.Exists)
	_, err = d.Save("bob", generate(t, KEMX25519), testPass, testTime)
	wantKind(t, "Save existing", err, ptoy.Exists)

	// Load.
	k, info, err := d.Load("alice", testPass)
	if err != nil || !sameKeys(t, k, alice) || !reflect.DeepEqual(info, aliceInfo) {
		t.Errorf("Load alice: %v, %+v, %v", k, info, err)
	}
	if k, _, err := d.Load("bob", []byte("bob's")); err != nil || !sameKeys(t, k, bob) {
		t.Errorf("Load bob: %v", err)
	}
	_, _, err = d.Load("bob", testPass)
	wantKind(t, "Load with wrong passphrase", err, ptoy.Unauthenticated)
	_, _, err = d.Load("carol", testPass)
	wantKind(t, "Load missing", err, ptoy.NotFound)

	// List.
	infos, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range infos {
		names = append(names, i.Name)
	}
	if want := []string{"a-b", "alice", "bob", long}; !slices.Equal(names, want) {
		t.Errorf("List names %v, want %v", names, want)
	}
	if !reflect.DeepEqual(infos[1], aliceInfo) {
		t.Errorf("List info %+v, want %+v", infos[1], aliceInfo)
	}

	// Export and import.
	exported, err := d.Export("alice")
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(filepath.Join(d.Path, "alice.key"))
	if !bytes.Equal(exported, onDisk) {
		t.Error("Export differs from the file")
	}
	_, err = d.Export("carol")
	wantKind(t, "Export missing", err, ptoy.NotFound)

	d2 := Dir{Path: filepath.Join(t.TempDir(), "other")}
	info, err = d2.Import("alice", exported)
	if err != nil || !reflect.DeepEqual(info, aliceInfo) {
		t.Fatalf("Import: %+v, %v", info, err)
	}
	if k, _, err := d2.Load("alice", testPass); err != nil || !sameKeys(t, k, alice) {
		t.Errorf("Load imported: %v", err)
	}
	_, err = d2.Import("alice", exported)
	wantKind(t, "Import existing", err, ptoy.Exists)
	_, err = d2.Import("alice2", exported)
	wantKind(t, "Import under another name", err, ptoy.Invalid)
	_, err = d2.Import("junk", []byte(`{"version":1}`))
	wantKind(t, "Import junk", err, ptoy.Invalid)
	if _, err := os.Stat(filepath.Join(d2.Path, "junk.key")); !os.IsNotExist(err) {
		t.Error("Import of junk wrote a file")
	}

	// A renamed file does not pass for another key.
	if err := os.Rename(filepath.Join(d2.Path, "alice.key"), filepath.Join(d2.Path, "eve.key")); err != nil {
		t.Fatal(err)
	}
	_, _, err = d2.Load("eve", testPass)
	wantKind(t, "Load renamed", err, ptoy.Invalid)
	_, err = d2.List()
	wantKind(t, "List with renamed", err, ptoy.Invalid)
}

func TestDirDefaultKDF(t *testing.T) {
	if testing.Short() {
		t.Skip("DefaultKDF is slow")
	}
	d := Dir{Path: t.TempDir()}
	if _, _, err := d.Create("k", KEMX25519, testPass, testTime); err != nil {
		t.Fatal(err)
	}
	data, _ := d.Export("k")
	if f := decodeFile(t, data); f.Sealed.Time != DefaultKDF.Time || f.Sealed.MemoryKiB != DefaultKDF.MemoryKiB || f.Sealed.Threads != DefaultKDF.Threads {
		t.Errorf("zero Dir.KDF sealed with %+v", f.Sealed)
	}
}

func TestDirBadNames(t *testing.T) {
	d := Dir{Path: t.TempDir(), KDF: TestKDF}
	k := generate(t, KEMX25519)
	data := seal(t, "alice", k)
	for _, name := range []string{"", ".", "..", ".alice", "a/b", "../alice", `a\b`, "a b", "alice\n", "é", "a:b", strings.Repeat("x", 65)} {
		_, _, err := d.Create(name, KEMX25519, testPass, testTime)
		wantKind(t, fmt.Sprintf("Create(%q)", name), err, ptoy.Invalid)
		_, err = d.Save(name, k, testPass, testTime)
		wantKind(t, fmt.Sprintf("Save(%q)", name), err, ptoy.Invalid)
		_, _, err = d.Load(name, testPass)
		wantKind(t, fmt.Sprintf("Load(%q)", name), err, ptoy.Invalid)
		_, err = d.Export(name)
		wantKind(t, fmt.Sprintf("Export(%q)", name), err, ptoy.Invalid)
		_, err = d.Import(name, data)
		wantKind(t, fmt.Sprintf("Import(%q)", name), err, ptoy.Invalid)
	}
	if entries, _ := os.ReadDir(d.Path); len(entries) != 0 {
		t.Errorf("bad names wrote %v", entries)
	}
}

func TestPassphrase(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	env := map[string]string{"PTOY_PASS": "from env", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	noInput := strings.NewReader("")

	for _, c := range []struct {
		name, file, env string
		in              string
		want            string
	}{
		{"file", write("p1", "from file\nsecond line\n"), "PTOY_PASS", "typed\n", "from file"},
		{"file without newline", write("p2", "  spaced  "), "", "", "  spaced  "},
		{"file with CRLF", write("p3", "crlf\r\n"), "", "", "crlf"},
		{"env", "", "PTOY_PASS", "typed\n", "from env"},
		{"empty env", "", "EMPTY", "typed\n", "typed"},
		{"unset env", "", "UNSET", "typed\r\nmore", "typed"},
		{"prompt without newline", "", "", "typed", "typed"},
	} {
		var prompt bytes.Buffer
		got, err := Passphrase(c.file, c.env, lookup, strings.NewReader(c.in), &prompt)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
		if typed := c.want == "typed"; typed != (prompt.Len() > 0) {
			t.Errorf("%s: prompt %q", c.name, prompt.String())
		}
	}

	// Only one line is consumed from the reader.
	in := strings.NewReader("first\nrest")
	var prompt bytes.Buffer
	if got, err := Passphrase("", "", nil, in, &prompt); err != nil || string(got) != "first" {
		t.Errorf("prompt: %q, %v", got, err)
	}
	if prompt.String() != "Passphrase: " {
		t.Errorf("prompt %q", prompt.String())
	}
	if rest, _ := io.ReadAll(in); string(rest) != "rest" {
		t.Errorf("left %q in the reader", rest)
	}
	if got, err := Passphrase("", "", nil, strings.NewReader("no prompt\n"), nil); err != nil || string(got) != "no prompt" {
		t.Errorf("nil prompt: %q, %v", got, err)
	}

	// Failures.
	_, err := Passphrase(write("empty", ""), "PTOY_PASS", lookup, noInput, nil)
	wantKind(t, "empty file", err, ptoy.Invalid)
	_, err = Passphrase(write("blank", "\nsecond\n"), "PTOY_PASS", lookup, noInput, nil)
	wantKind(t, "blank first line", err, ptoy.Invalid)
	_, err = Passphrase(filepath.Join(dir, "missing"), "PTOY_PASS", lookup, noInput, nil)
	wantKind(t, "missing file", err, ptoy.NotFound)
	_, err = Passphrase("", "EMPTY", lookup, strings.NewReader("\n"), io.Discard)
	wantKind(t, "all empty", err, ptoy.Invalid)
	_, err = Passphrase("", "", nil, nil, nil)
	wantKind(t, "no source", err, ptoy.Invalid)
	_, err = Passphrase("", "", nil, strings.NewReader(strings.Repeat("x", maxPassphrase+1)), nil)
	wantKind(t, "too long", err, ptoy.Invalid)
	if got, err := Passphrase("", "", nil, strings.NewReader(strings.Repeat("x", maxPassphrase)), nil); err != nil || len(got) != maxPassphrase {
		t.Errorf("longest passphrase: %d, %v", len(got), err)
	}
}

// Example makes a key pair, seals it in a keystore file and opens it again.
func Example() {
	k, err := Generate(KEMHybrid)
	if err != nil {
		panic(err)
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	file, err := Seal("clinic", k, []byte("passphrase"), TestKDF, created) // DefaultKDF for real keys
	if err != nil {
		panic(err)
	}

	info, _ := ReadInfo(file) // no passphrase needed
	fmt.Println(info.Name, KEMName(info.KEMAlg), info.Created.Format(time.DateOnly), info.ID == k.ID())

	_, _, err = Open(file, []byte("guess"))
	fmt.Println(ptoy.KindOf(err), "-", ptoy.Message(err))

	opened, _, err := Open(file, []byte("passphrase"))
	if err != nil {
		panic(err)
	}
	sig := opened.Sign([]byte("hello"))
	fmt.Println(ed25519.Verify(k.SigningPublic(), []byte("hello"), sig))
	// Output:
	// clinic ML-KEM-768+X25519 2026-01-01 true
	// unauthenticated - wrong passphrase for key "clinic"
	// true
}

// FuzzOpen checks that no file makes Open or ReadInfo panic, that Open
// succeeds only on files ReadInfo accepts, with the same Info, and with
// keys that match it.
func FuzzOpen(f *testing.F) {
	for _, alg := range algs {
		k := generate(f, alg)
		data := seal(f, "fuzz", k)
		f.Add(data)
		f.Add(bytes.TrimSuffix(data, []byte("\n")))
	}
	f.Add([]byte(`{"version":1,"public":{},"sealed":{}}`))
	f.Add([]byte("null"))

	f.Fuzz(func(t *testing.T, data []byte) {
		info, rerr := ReadInfo(data)
		if parsed, _, err := parse("fuzz", data); err == nil && (parsed.Sealed.MemoryKiB > 256 || parsed.Sealed.Time > 2) {
			// Valid but costly parameters: Open would only spend them
			// (TestHostileKDF covers the limits).
			return
		}
		k, oinfo, err := Open(data, testPass)
		if err != nil {
			if rerr == nil && ptoy.KindOf(err) == ptoy.Invalid && !strings.Contains(err.Error(), "inconsistent") {
				t.Fatalf("ReadInfo accepts what Open finds malformed: %v", err)
			}
			return
		}
		if rerr != nil {
			t.Fatalf("Open succeeds where ReadInfo fails: %v", rerr)
		}
		if !reflect.DeepEqual(oinfo, info) {
			t.Fatalf("Open info %+v, ReadInfo %+v", oinfo, info)
		}
		if k.ID() != info.ID || !bytes.Equal(k.KEMPublic(), info.KEMPublic) || k.KEMAlg() != info.KEMAlg {
			t.Fatal("opened keys do not match the info")
		}
	})
}

func TestDirChainID(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	if _, err := d.ChainID(); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("a new directory's chain: %v", err)
	}
	for _, bad := range []string{"", "two words", strings.Repeat("x", 51), "tab\there"} {
		if err := d.SetChainID(bad); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("SetChainID(%q): %v", bad, err)
		}
	}
	if err := d.SetChainID("ptoy-dev"); err != nil {
		t.Fatal(err)
	}
	if got, err := d.ChainID(); err != nil || got != "ptoy-dev" {
		t.Fatalf("ChainID: %q %v", got, err)
	}
	if infos, err := d.List(); err != nil || len(infos) != 0 {
		t.Fatalf("the chain file is not a key: %v %v", infos, err)
	}
	if err := (Dir{Path: filepath.Join(d.Path, "missing")}).SetChainID("x"); err == nil {
		t.Fatal("recorded a chain in a directory that does not exist")
	}
}
