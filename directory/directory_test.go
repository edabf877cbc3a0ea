package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"ptoy"
	"ptoy/store"
)

// fakeClock is a fixed clock that tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	d      *Directory
	clock  *fakeClock
	outbox string
	dir    string
}

func testKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i*7 + 1)
	}
	return k
}

func newEnv(t *testing.T, change func(*Config)) *env {
	t.Helper()
	e := &env{
		clock:  newClock(),
		outbox: filepath.Join(t.TempDir(), "outbox.jsonl"),
		dir:    filepath.Join(t.TempDir(), "directory"),
	}
	cfg := Config{
		Dir:    e.dir,
		Key:    testKey(),
		Sender: &Outbox{Path: e.outbox},
		Now:    e.clock.Now,
	}
	if change != nil {
		change(&cfg)
	}
	d, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	e.d = d
	t.Cleanup(func() { d.Close() })
	return e
}

// code returns the latest code the outbox holds for phone.
func (e *env) code(t *testing.T, phone string) string {
	t.Helper()
	c, err := LatestCode(e.outbox, phone)
	if err != nil {
		t.Fatalf("LatestCode: %v", err)
	}
	return c
}

// register runs a whole registration and returns the profile.
func (e *env) register(t *testing.T, name, phone string, patient ptoy.ID) Profile {
	t.Helper()
	ctx := context.Background()
	reg, _, err := e.d.Start(ctx, name, phone)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	code := e.code(t, phone)
	if _, err := e.d.Claim(ctx, reg, code, patient); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	p, err := e.d.Complete(ctx, reg, code, patient)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	return p
}

func patientID(i int) ptoy.ID {
	return ptoy.IDFromKey([]byte(fmt.Sprintf("patient key %d", i)))
}

// wantKind fails unless err is a ptoy error of kind k whose message
// contains msg, and checks that err does not contain any secret.
func wantKind(t *testing.T, err error, k ptoy.Kind, msg string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", k)
	}
	if got := ptoy.KindOf(err); got != k {
		t.Fatalf("got %v (%v), want %v", got, err, k)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q does not say %q", err, msg)
	}
	noSecrets(t, err.Error(), secrets...)
}

func noSecrets(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, x := range secrets {
		if x != "" && strings.Contains(s, x) {
			t.Fatalf("%q contains PHI %q", s, x)
		}
	}
}

func TestRegisterAndLookUp(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	const name, phone = "  Ada Lovelace  ", "+44 20 7946 0958"
	const norm = "+442079460958"
	start := e.clock.Now()

	reg, expires, err := e.d.Start(ctx, name, phone)
	if err != nil {
		t.Fatal(err)
	}
	if len(reg) != 32 {
		t.Errorf("registration id %q is not 32 hex digits", reg)
	}
	if want := start.Add(DefaultCodeTTL); !expires.Equal(want) {
		t.Errorf("expires %v, want %v", expires, want)
	}
	code := e.code(t, norm)
	if len(code) != 6 {
		t.Fatalf("code %q is not 6 digits", code)
	}

	// Complete before Claim is refused.
	_, err = e.d.Complete(ctx, reg, code, patientID(1))
	wantKind(t, err, ptoy.PermissionDenied, "not been claimed")

	e.clock.Advance(time.Minute)
	checked := e.clock.Now()
	if err := e.d.Check(ctx, reg, code); err != nil {
		t.Fatalf("Check: %v", err)
	}
	e.clock.Advance(time.Minute)
	// Check does not consume the code.
	if err := e.d.Check(ctx, reg, " "+code+" "); err != nil {
		t.Fatalf("second Check: %v", err)
	}
	// Claim spends the code on one patient key, once: a second Claim,
	// by the same key or another, is refused, and only the claiming key
	// completes.
	got0, err := e.d.Claim(ctx, reg, code, patientID(1))
	if err != nil || got0 != norm {
		t.Fatalf("Claim = %q, %v; want the phone", got0, err)
	}
	for _, id := range []ptoy.ID{patientID(1), patientID(2)} {
		_, err = e.d.Claim(ctx, reg, code, id)
		wantKind(t, err, ptoy.PermissionDenied, "this registration was already used; start again for a new code")
	}
	_, err = e.d.Complete(ctx, reg, code, patientID(2))
	wantKind(t, err, ptoy.PermissionDenied, "already used")

	p, err := e.d.Complete(ctx, reg, code, patientID(1))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	want := Profile{Patient: patientID(1), FullName: "Ada Lovelace", Phone: norm, VerifiedAt: checked}
	if p != want {
		t.Errorf("Complete = %+v, want %+v", p, want)
	}
	got, err := e.d.Profile(ctx, patientID(1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Patient != want.Patient || got.FullName != want.FullName || got.Phone != want.Phone || !got.VerifiedAt.Equal(want.VerifiedAt) {
		t.Errorf("Profile = %+v, want %+v", got, want)
	}
	for _, q := range []string{norm, phone, "+44 (20) 7946-0958"} {
		id, err := e.d.FindByPhone(ctx, q)
		if err != nil {
			t.Fatalf("FindByPhone(%q): %v", q, err)
		}
		if id != patientID(1) {
			t.Errorf("FindByPhone(%q) = %v, want %v", q, id, patientID(1))
		}
	}

	// The registration is used: replays are told so.
	wantKind(t, e.d.Check(ctx, reg, code), ptoy.PermissionDenied, "already used")
	_, err = e.d.Claim(ctx, reg, code, patientID(1))
	wantKind(t, err, ptoy.PermissionDenied, "already used")
	_, err = e.d.Complete(ctx, reg, code, patientID(1))
	wantKind(t, err, ptoy.PermissionDenied, "already used")

	_, err = e.d.Profile(ctx, patientID(2))
	wantKind(t, err, ptoy.NotFound, "not in this directory")
	_, err = e.d.FindByPhone(ctx, "+1 555 010 0199")
	wantKind(t, err, ptoy.NotFound, "no patient", "5550100199")
	_, err = e.d.FindByPhone(ctx, "020 7946 0958")
	wantKind(t, err, ptoy.Invalid, "international form", "7946")

	// The profile prints without PHI.
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		s := fmt.Sprintf(f, got)
		noSecrets(t, s, "Ada", "Lovelace", "7946", "0958")
		if !strings.Contains(s, "profile of "+patientID(1).String()) {
			t.Errorf("Sprintf(%q) = %q", f, s)
		}
	}

	wantKind(t, e.d.Check(ctx, "not hex", code), ptoy.NotFound, "no such registration")
	wantKind(t, e.d.Check(ctx, strings.Repeat("ab", 16), code), ptoy.NotFound, "no such registration")
}

func TestStartValidates(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	_, _, err := e.d.Start(ctx, "\t", "+15550100100")
	wantKind(t, err, ptoy.Invalid, "full name")
	_, _, err = e.d.Start(ctx, "Grace Hopper", "5550100100")
	wantKind(t, err, ptoy.Invalid, "international form", "5550100100")
	_, err = e.d.Complete(ctx, strings.Repeat("ab", 16), "123456", ptoy.ID{})
	wantKind(t, err, ptoy.Invalid, "patient id")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = e.d.Start(cctx, "Grace Hopper", "+15550100100")
	wantKind(t, err, ptoy.Unavailable, "")
}

func TestWrongCodes(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxAttempts = 3 })
	ctx := context.Background()
	const name, phone = "Grace Hopper", "+15550100100"
	reg, _, err := e.d.Start(ctx, name, phone)
	if err != nil {
		t.Fatal(err)
	}
	code := e.code(t, phone)
	wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000)

	// Malformed codes are Invalid and do not count.
	for _, c := range []string{"", "12345", "1234567", "12a456", "１２３４５６"} {
		wantKind(t, e.d.Check(ctx, reg, c), ptoy.Invalid, "6 digits")
	}
	wantKind(t, e.d.Check(ctx, reg, wrong), ptoy.PermissionDenied, "wrong code; 2 attempts left", name, phone)
	wantKind(t, e.d.Check(ctx, reg, wrong), ptoy.PermissionDenied, "wrong code; 1 attempt left")
	wantKind(t, e.d.Check(ctx, reg, wrong), ptoy.PermissionDenied, "too many wrong codes; start again")
	// Dead: even the right code no longer works.
	wantKind(t, e.d.Check(ctx, reg, code), ptoy.PermissionDenied, "too many wrong codes; start again")
	_, err = e.d.Complete(ctx, reg, code, patientID(1))
	wantKind(t, err, ptoy.PermissionDenied, "too many wrong codes; start again")

	// A dead registration forgets the name and phone.
	_, _, p, err := e.d.loadPending("test", reg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "" || p.Phone != "" || p.CodeMAC != nil {
		t.Errorf("dead registration still holds its data")
	}

	// Wrong codes at Complete count too, after a good Claim.
	reg, _, err = e.d.Start(ctx, name, phone)
	if err != nil {
		t.Fatal(err)
	}
	code = e.code(t, phone)
	wrong = fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000)
	wantKind(t, e.d.Check(ctx, reg, wrong), ptoy.PermissionDenied, "2 attempts left")
	if _, err := e.d.Claim(ctx, reg, code, patientID(1)); err != nil {
		t.Fatal(err)
	}
	_, err = e.d.Complete(ctx, reg, wrong, patientID(1))
	wantKind(t, err, ptoy.PermissionDenied, "1 attempt left")
	if _, err := e.d.Complete(ctx, reg, code, patientID(1)); err != nil {
		t.Fatalf("Complete: %v", err)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CodeTTL = 5 * time.Minute })
	ctx := context.Background()
	const phone = "+15550100101"
	reg, expires, err := e.d.Start(ctx, "Alan Turing", phone)
	if err != nil {
		t.Fatal(err)
	}
	code := e.code(t, phone)
	e.clock.Advance(5*time.Minute - time.Second)
	if err := e.d.Check(ctx, reg, code); err != nil {
		t.Fatalf("Check just before expiry: %v", err)
	}
	e.clock.Advance(time.Second)
	if !e.clock.Now().Equal(expires) {
		t.Fatalf("clock %v, expiry %v", e.clock.Now(), expires)
	}
	wantKind(t, e.d.Check(ctx, reg, code), ptoy.Expired, "expired")
	// A checked registration may still be claimed for a while, and a
	// claimed one completed.
	e.clock.Advance(time.Minute)
	if _, err := e.d.Claim(ctx, reg, code, patientID(1)); err != nil {
		t.Fatalf("Claim after Check: %v", err)
	}
	e.clock.Advance(4 * time.Minute)
	if _, err := e.d.Complete(ctx, reg, code, patientID(1)); err != nil {
		t.Fatalf("Complete after Claim: %v", err)
	}

	// Unchecked and expired.
	const phone2 = "+15550100102"
	reg, _, err = e.d.Start(ctx, "Alan Turing", phone2)
	if err != nil {
		t.Fatal(err)
	}
	code = e.code(t, phone2)
	e.clock.Advance(6 * time.Minute)
	wantKind(t, e.d.Check(ctx, reg, code), ptoy.Expired, "expired")
	_, err = e.d.Claim(ctx, reg, code, patientID(2))
	wantKind(t, err, ptoy.Expired, "expired")

	// Checked, but the grace after Check has passed too.
	const phone3 = "+15550100103"
	reg, _, err = e.d.Start(ctx, "Alan Turing", phone3)
	if err != nil {
		t.Fatal(err)
	}
	code = e.code(t, phone3)
	if err := e.d.Check(ctx, reg, code); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Minute)
	_, err = e.d.Claim(ctx, reg, code, patientID(3))
	wantKind(t, err, ptoy.Expired, "expired")

	// Claimed, but not completed within CodeTTL of the Claim.
	const phone5 = "+15550100105"
	reg5, _, err := e.d.Start(ctx, "Alan Turing", phone5)
	if err != nil {
		t.Fatal(err)
	}
	code5 := e.code(t, phone5)
	if _, err := e.d.Claim(ctx, reg5, code5, patientID(5)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Minute)
	_, err = e.d.Complete(ctx, reg5, code5, patientID(5))
	wantKind(t, err, ptoy.Expired, "expired")

	// Long after, the registration is purged by a later Start.
	e.clock.Advance(3 * time.Hour)
	if _, _, err := e.d.Start(ctx, "Someone Else", "+15550100104"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, e.d.Check(ctx, reg, code), ptoy.NotFound, "no such registration")
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	const phone = "+15550100100"
	for i := range maxStarts {
		if _, _, err := e.d.Start(ctx, "Grace Hopper", "+1 555 010 0100"); err != nil {
			t.Fatalf("Start %d: %v", i, err)
		}
		e.clock.Advance(time.Minute)
	}
	_, _, err := e.d.Start(ctx, "Grace Hopper", phone)
	wantKind(t, err, ptoy.Unavailable, "too many codes sent to this number; try again later", phone)
	// Another number is not limited.
	if _, _, err := e.d.Start(ctx, "Grace Hopper", "+15550100199"); err != nil {
		t.Fatal(err)
	}
	// An hour after the first Start, one more is allowed.
	e.clock.Advance(rateWindow - maxStarts*time.Minute)
	reg, _, err := e.d.Start(ctx, "Grace Hopper", phone)
	if err != nil {
		t.Fatalf("Start after an hour: %v", err)
	}
	_, _, err = e.d.Start(ctx, "Grace Hopper", phone)
	wantKind(t, err, ptoy.Unavailable, "too many codes")
	// The limit does not stop the registrations already started.
	code := e.code(t, phone)
	if err := e.d.Check(ctx, reg, code); err != nil {
		t.Fatal(err)
	}
	// Rate records are purged once stale.
	e.clock.Advance(2 * time.Hour)
	if _, _, err := e.d.Start(ctx, "Grace Hopper", "+15550100198"); err != nil {
		t.Fatal(err)
	}
	n := 0
	e.d.db.Scan([]byte(prefixRate), store.PrefixEnd([]byte(prefixRate)), func(k, v []byte) error {
		n++
		return nil
	})
	if n != 1 {
		t.Errorf("%d rate records left, want 1", n)
	}
}

func TestDuplicatePhone(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	const phone = "+15550100100"

	// Two registrations for one phone: only the first completes.
	reg1, _, err := e.d.Start(ctx, "Grace Hopper", phone)
	if err != nil {
		t.Fatal(err)
	}
	code1 := e.code(t, phone)
	reg2, _, err := e.d.Start(ctx, "Grace B. Hopper", phone)
	if err != nil {
		t.Fatal(err)
	}
	code2 := e.code(t, phone)
	for i, rc := range [][2]string{{reg1, code1}, {reg2, code2}} {
		if _, err := e.d.Claim(ctx, rc[0], rc[1], patientID(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.d.Complete(ctx, reg1, code1, patientID(1)); err != nil {
		t.Fatal(err)
	}
	_, err = e.d.Complete(ctx, reg2, code2, patientID(2))
	wantKind(t, err, ptoy.Exists, "this phone number is already registered", phone)

	_, _, err = e.d.Start(ctx, "Grace Hopper", "+1 (555) 010-0100")
	wantKind(t, err, ptoy.Exists, "this phone number is already registered", phone, "Grace")

	// One patient, two phones.
	reg3, _, err := e.d.Start(ctx, "Grace Hopper", "+15550100101")
	if err != nil {
		t.Fatal(err)
	}
	code3 := e.code(t, "+15550100101")
	if _, err := e.d.Claim(ctx, reg3, code3, patientID(1)); err != nil {
		t.Fatal(err)
	}
	_, err = e.d.Complete(ctx, reg3, code3, patientID(1))
	wantKind(t, err, ptoy.Exists, "patient is already")
}

type failingSender struct{}

func (failingSender) SendCode(ctx context.Context, phone, code string) error {
	return errors.New("carrier rejected " + phone)
}

func TestSenderFails(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Sender = failingSender{} })
	_, _, err := e.d.Start(context.Background(), "Grace Hopper", "+15550100100")
	wantKind(t, err, ptoy.Unavailable, "cannot send", "5550100100")
	n := 0
	e.d.db.Scan([]byte(prefixPending), store.PrefixEnd([]byte(prefixPending)), func(k, v []byte) error {
		n++
		return nil
	})
	if n != 0 {
		t.Errorf("%d pending registrations left after failed send", n)
	}
}

func TestOpenConfig(t *testing.T) {
	dir := t.TempDir()
	ob := &Outbox{Path: filepath.Join(dir, "o")}
	for _, cfg := range []Config{
		{Dir: dir, Key: make([]byte, 31), Sender: ob},
		{Dir: dir, Key: make([]byte, 32)},
		{Key: make([]byte, 32), Sender: ob},
		{Dir: dir, Key: make([]byte, 32), Sender: ob, MaxAttempts: -1},
	} {
		_, err := Open(cfg)
		wantKind(t, err, ptoy.Invalid, "")
	}
}

func TestClosed(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if err := e.d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err := e.d.Start(ctx, "Grace Hopper", "+15550100100")
	wantKind(t, err, ptoy.Unavailable, "closed")
	wantKind(t, e.d.Check(ctx, strings.Repeat("00", 16), "123456"), ptoy.Unavailable, "closed")
	_, err = e.d.Profile(ctx, patientID(1))
	wantKind(t, err, ptoy.Unavailable, "closed")
	_, err = e.d.FindByPhone(ctx, "+15550100100")
	wantKind(t, err, ptoy.Unavailable, "closed")
}

func TestReopen(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.register(t, "Grace Hopper", "+15550100100", patientID(1))
	e.d.Close()
	d, err := Open(Config{Dir: e.dir, Key: testKey(), Sender: &Outbox{Path: e.outbox}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p, err := d.Profile(ctx, patientID(1))
	if err != nil || p.FullName != "Grace Hopper" {
		t.Fatalf("Profile after reopen = %v, %v", p, err)
	}
	d.Close()

	// With another key nothing opens.
	other := testKey()
	other[0] ^= 1
	d, err = Open(Config{Dir: e.dir, Key: other, Sender: &Outbox{Path: e.outbox}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Profile(ctx, patientID(1))
	wantKind(t, err, ptoy.Other, "directory entry is corrupt")
	// Nor is the phone found, since its hash differs.
	_, err = d.FindByPhone(ctx, "+15550100100")
	wantKind(t, err, ptoy.NotFound, "")
}

func TestCodes(t *testing.T) {
	e := newEnv(t, nil)
	// 0xffffffff is above the largest multiple of 10^6 below 2^32 and
	// must be rejected, not reduced.
	e.d.rand = bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 0, 1, 0xe2, 0x40, 0, 0, 0, 7})
	for _, want := range []string{"123456", "000007"} {
		got, err := e.d.newCode("test")
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("newCode = %q, want %q", got, want)
		}
	}
	_, err := e.d.newCode("test")
	wantKind(t, err, ptoy.Other, "cannot make a code")

	e.d.rand = strings.NewReader("")
	_, _, err = e.d.Start(context.Background(), "Grace Hopper", "+15550100100")
	wantKind(t, err, ptoy.Other, "registration id")
}

// TestMovedValueFailsToOpen checks that a sealed value is bound to its key.
func TestMovedValueFailsToOpen(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.register(t, "Grace Hopper", "+15550100100", patientID(1))
	e.register(t, "Alan Turing", "+15550100101", patientID(2))

	copyValue := func(from, to []byte) {
		t.Helper()
		v, err := e.d.db.Get(from)
		if err != nil || v == nil {
			t.Fatalf("Get: %v, %v", v, err)
		}
		if err := e.d.db.Commit([]store.Write{{Key: to, Value: v}}, true); err != nil {
			t.Fatal(err)
		}
	}

	copyValue(profileKey(patientID(1)), profileKey(patientID(2)))
	_, err := e.d.Profile(ctx, patientID(2))
	wantKind(t, err, ptoy.Other, "directory entry is corrupt", "Grace", "Turing")
	if p, err := e.d.Profile(ctx, patientID(1)); err != nil || p.FullName != "Grace Hopper" {
		t.Fatalf("untouched profile: %v, %v", p, err)
	}

	h1 := phoneKey(e.d.keys.phoneHash("+15550100100"))
	h2 := phoneKey(e.d.keys.phoneHash("+15550100101"))
	copyValue(h1, h2)
	_, err = e.d.FindByPhone(ctx, "+15550100101")
	wantKind(t, err, ptoy.Other, "directory entry is corrupt")

	// A pending registration moved under another id.
	const phone = "+15550100102"
	reg, _, err := e.d.Start(ctx, "Ada Lovelace", phone)
	if err != nil {
		t.Fatal(err)
	}
	id, _, _, err := e.d.loadPending("test", reg)
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Repeat([]byte{0x42}, regIDLen)
	copyValue(pendingKey(id), pendingKey(other))
	wantKind(t, e.d.Check(ctx, fmt.Sprintf("%x", other), e.code(t, phone)), ptoy.Other, "directory entry is corrupt")

	// A flipped bit in place.
	v, _ := e.d.db.Get(pendingKey(id))
	v[len(v)-1] ^= 1
	e.d.db.Commit([]store.Write{{Key: pendingKey(id), Value: v}}, true)
	wantKind(t, e.d.Check(ctx, reg, e.code(t, phone)), ptoy.Other, "directory entry is corrupt")
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(string, ...any)        {}
func (quietLogger) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// TestNoPlaintextAtRest registers many people, makes Pebble flush its
// tables, and reads every file of the store looking for a name or phone.
func TestNoPlaintextAtRest(t *testing.T) {
	e := newEnv(t, nil)
	const n = 50
	var secrets []string
	for i := range n {
		name := fmt.Sprintf("Xanthippe Quillfeather-%c%c", 'A'+i%26, 'a'+i/26)
		phone := fmt.Sprintf("+1555%07d", 1234500+i)
		e.register(t, name, phone, patientID(i))
		secrets = append(secrets, name, phone, phone[1:], "Quillfeather")
	}
	// Some registrations left pending, and some dead, hold PHI too.
	ctx := context.Background()
	for i := range 5 {
		phone := fmt.Sprintf("+1555%07d", 7654300+i)
		name := fmt.Sprintf("Pending Zyzzyva-%c", 'A'+i)
		reg, _, err := e.d.Start(ctx, name, phone)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := e.d.Check(ctx, reg, e.code(t, phone)); err != nil {
				t.Fatal(err)
			}
		}
		secrets = append(secrets, name, phone, phone[1:], "Zyzzyva")
	}
	ids := make([]ptoy.ID, 0, n)
	for i := range n {
		p, err := e.d.Profile(ctx, patientID(i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.Patient)
	}
	// A canary written in the clear shows that the scan would see
	// plaintext if there were any.
	const canary = "Canary Plaintext +15559990000"
	if err := e.d.db.Commit([]store.Write{{Key: []byte("canary"), Value: []byte(canary)}}, true); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Close(); err != nil {
		t.Fatal(err)
	}

	// Flush the memtable to sstables, uncompressed so that compression
	// cannot hide plaintext from the scan.
	opts := &pebble.Options{Logger: quietLogger{}}
	opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	db, err := pebble.Open(e.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ssts, total, canaries := 0, 0, 0
	err = filepath.WalkDir(e.dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		total += len(b)
		if strings.HasSuffix(path, ".sst") {
			ssts++
			if bytes.Contains(b, []byte(canary)) {
				canaries++
			}
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s contains %q", filepath.Base(path), s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ssts == 0 || canaries == 0 {
		t.Errorf("%d sstables written, %d with the canary", ssts, canaries)
	}
	// The data is there, only sealed: the ids, which are not secret, are
	// in the keys.
	found := 0
	err = filepath.WalkDir(e.dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(path, ".sst") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, id := range ids {
			// Keys are prefix-compressed in sstables, so look for
			// the tail of each id.
			if bytes.Contains(b, id[4:]) {
				found++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < n {
		t.Errorf("only %d of %d patient ids found in sstables; the scan looked at the wrong data", found, n)
	}
	t.Logf("scanned %d bytes in the store, %d sstables", total, ssts)
}

func TestOutbox(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.jsonl")
	var console bytes.Buffer
	o := &Outbox{Path: path, Console: &console}
	ctx := context.Background()

	if _, err := LatestCode(path, "+15550100100"); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("LatestCode on missing file: %v", err)
	}
	sends := [][2]string{
		{"+15550100100", "111111"},
		{"+442079460958", "222222"},
		{"+15550100100", "333333"},
		{"+442079460958", "444444"},
	}
	for _, s := range sends {
		if err := o.SendCode(ctx, s[0], s[1]); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("outbox mode %v, want 0600", perm)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != len(sends) {
		t.Fatalf("%d lines, want %d", len(lines), len(sends))
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if len(m) != 3 || m["to"] != sends[i][0] || m["code"] != sends[i][1] || m["time"] == nil {
			t.Errorf("line %d = %s", i, l)
		}
	}
	msgs, err := ReadOutbox(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(sends) {
		t.Fatalf("ReadOutbox: %d messages", len(msgs))
	}
	for i, m := range msgs {
		if m.To != sends[i][0] || m.Code != sends[i][1] || m.Time.IsZero() {
			t.Errorf("message %d = %+v", i, m)
		}
	}

	for _, c := range []struct{ phone, want string }{
		{"+15550100100", "333333"},
		{"+1 555 010 0100", "333333"},
		{"+442079460958", "444444"},
	} {
		got, err := LatestCode(path, c.phone)
		if err != nil || got != c.want {
			t.Errorf("LatestCode(%q) = %q, %v; want %q", c.phone, got, err, c.want)
		}
	}
	_, err = LatestCode(path, "+15550100199")
	wantKind(t, err, ptoy.NotFound, "no code", "5550100199")

	wantConsole := "dev outbox: code 111111 for +1••••••0100\n" +
		"dev outbox: code 222222 for +4•••••••0958\n" +
		"dev outbox: code 333333 for +1••••••0100\n" +
		"dev outbox: code 444444 for +4•••••••0958\n"
	if console.String() != wantConsole {
		t.Errorf("console:\n%s\nwant:\n%s", console.String(), wantConsole)
	}

	// A line still being written is left out; a bad line is an error
	// that does not quote it.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-01-01T00:00:00Z","to":"+1555`)
	f.Close()
	if msgs, err := ReadOutbox(path); err != nil || len(msgs) != len(sends) {
		t.Errorf("with a partial line: %d messages, %v", len(msgs), err)
	}
	f, _ = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("0100999 garbage\n")
	f.Close()
	_, err = ReadOutbox(path)
	wantKind(t, err, ptoy.Invalid, "line 5", "0100999")

	// Outbox with no console, used concurrently.
	o2 := &Outbox{Path: filepath.Join(dir, "o2")}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := o2.SendCode(ctx, "+15550100100", fmt.Sprintf("%06d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if msgs, err := ReadOutbox(o2.Path); err != nil || len(msgs) != 20 {
		t.Errorf("concurrent sends: %d messages, %v", len(msgs), err)
	}
}

func TestMask(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"+15550100100", "+1••••••0100"},
		{"+1555010100", "+1•••••0100"},
		{"+442079460958", "+4•••••••0958"},
		{"+12345678", "+1•••5678"},
		{"+123456789012345", "+1••••••••••2345"},
		{"+1 555 010 0100", "+1••••••0100"},
		{"15550100100", "1••••••0100"},
		{"+1234567", "+•••••••"},
		{"1234", "••••"},
		{"+", "+"},
		{"", ""},
		{"Grace", ""},
	} {
		if got := Mask(c.in); got != c.want {
			t.Errorf("Mask(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	good := []struct{ in, want string }{
		{"+15550100100", "+15550100100"},
		{"+1 555 010 0100", "+15550100100"},
		{"+1-555-010-0100", "+15550100100"},
		{"+1.555.010.0100", "+15550100100"},
		{"+1 (555) 010-0100", "+15550100100"},
		{"+1(555)0100100", "+15550100100"},
		{"  +44 20 7946 0958\n", "+442079460958"},
		{"+12345678", "+12345678"},
		{"+123456789012345", "+123456789012345"},
		{"+49 (0) 30 1234567", "+490301234567"},
		{"+1 555  010--0100", "+15550100100"},
	}
	for _, c := range good {
		got, err := NormalizePhone(c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, msg string }{
		{"", "international form"},
		{"+", "international form"},
		{"15550100100", "international form"},
		{"001 555 010 0100", "international form"},
		{"++15550100100", "international form"},
		{"+ 1 555 010 0100", "international form"},
		{"+(1) 555 010 0100", "international form"},
		{"+1 555 010 0100 ", ""}, // trailing space is trimmed: good, checked below
		{"+1 555 010 0100-", "international form"},
		{"+1 555 010 0100)", "international form"},
		{"+1 (555 010 0100", "international form"},
		{"+1 ((555)) 010 0100", "international form"},
		{"+1 () 555 010 0100", "international form"},
		{"+1 (555 ) 010 0100", "international form"},
		{"+1 555 010 0100 ext 5", "international form"},
		{"+1/555/010/0100", "international form"},
		{"+1 555 O10 0100", "international form"},
		{"+１５５５０１００１００", "international form"},
		{"+1555010", "8 to 15 digits"},
		{"+1234567890123456", "8 to 15 digits"},
		{"+05550100100", "never begins with 0"},
		{"+1" + strings.Repeat(" ", 70) + "5550100100", "international form"},
	}
	for _, c := range bad {
		got, err := NormalizePhone(c.in)
		if c.msg == "" {
			if err != nil {
				t.Errorf("NormalizePhone(%q): %v", c.in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("NormalizePhone(%q) = %q, want error", c.in, got)
			continue
		}
		secret := strings.TrimSpace(c.in)
		if len(secret) < 4 {
			secret = "" // too short to tell from the message's example
		}
		wantKind(t, err, ptoy.Invalid, c.msg, secret)
	}
	_, err := NormalizePhone("5550100100")
	if m := ptoy.Message(err); m != phoneFormMsg {
		t.Errorf("message %q", m)
	}
}

func TestCheckName(t *testing.T) {
	long := strings.Repeat("é", maxNameRunes)
	good := []struct{ in, want string }{
		{"Grace Hopper", "Grace Hopper"},
		{"  Grace Hopper \n", "Grace Hopper"},
		{"A", "A"},
		{"Zoë Ñúñez-O'Brien", "Zoë Ñúñez-O'Brien"},
		{"李小龍", "李小龍"},
		{"Мария Иванова", "Мария Иванова"},
		{"John Smith 3rd", "John Smith 3rd"},
		{long, long},
	}
	for _, c := range good {
		got, err := CheckName(c.in)
		if err != nil || got != c.want {
			t.Errorf("CheckName(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, msg string }{
		{"", "required"},
		{"   \t\n", "required"},
		{long + "x", "at most 200"},
		{"Grace\tHopper", "not allowed"},
		{"Grace\nHopper", "not allowed"},
		{"Grace\x00Hopper", "not allowed"},
		{"Grace\u202eHopper", "not allowed"},
		{"12345", "letter"},
		{"- . -", "letter"},
		{"Grace\xffHopper", "not valid text"},
	}
	for _, c := range bad {
		_, err := CheckName(c.in)
		wantKind(t, err, ptoy.Invalid, c.msg, "Grace", "Hopper")
	}
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"+15550100100", "+1 (555) 010-0100", "+44 20 7946 0958", "+1..2", "+(1)",
		"", "+", "0", "+0123456789", "+1 555 010 0100)", "+１２３", "+1 ( ) 2", "+10100100",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizePhone(s)
		if err != nil {
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("NormalizePhone(%q): %v is not Invalid", s, err)
			}
			if got != "" {
				t.Fatalf("NormalizePhone(%q) = %q with an error", s, got)
			}
			return
		}
		if len(got) < 1+minPhoneDigits || len(got) > 1+maxPhoneDigits || got[0] != '+' || got[1] == '0' {
			t.Fatalf("NormalizePhone(%q) = %q", s, got)
		}
		again, err := NormalizePhone(got)
		if err != nil || again != got {
			t.Fatalf("NormalizePhone(%q) = %q, but NormalizePhone(%q) = %q, %v", s, got, got, again, err)
		}
		m := Mask(got)
		if m != got[:2]+strings.Repeat("•", len(got)-6)+got[len(got)-4:] {
			t.Fatalf("Mask(%q) = %q", got, m)
		}
	})
}

// TestClaimOnce: many requests race to spend one code, each for its own
// patient key; exactly one wins, and only it completes.
func TestClaimOnce(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	const phone = "+15550100100"
	reg, _, err := e.d.Start(ctx, "Grace Hopper", phone)
	if err != nil {
		t.Fatal(err)
	}
	code := e.code(t, phone)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = e.d.Claim(ctx, reg, code, patientID(i)) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("patients %d and %d both claimed one code", winner, i)
			}
			winner = i
			continue
		}
		wantKind(t, err, ptoy.PermissionDenied, "already used")
	}
	if winner < 0 {
		t.Fatal("no Claim succeeded")
	}
	for i := range n {
		if i == winner {
			continue
		}
		_, err := e.d.Complete(ctx, reg, code, patientID(i))
		wantKind(t, err, ptoy.PermissionDenied, "already used")
	}
	if _, err := e.d.Complete(ctx, reg, code, patientID(winner)); err != nil {
		t.Fatalf("Complete by the winner: %v", err)
	}
}
