// Package directory keeps what a node knows about the people it registered:
// their full names and phone numbers, which the ledger never sees.
//
// A patient registers at a node with a name and a phone number. Start
// sends a one-time code to the phone, Check verifies the code the patient
// types, Claim spends the code on one patient key (once), and once the
// caller has committed the patient's registration to the ledger, Complete
// records the profile under the patient's ledger id.
//
// Names and phone numbers are PHI. They are sealed at rest with
// XChaCha20-Poly1305 under a key derived from the node's master key, keys
// in the store hold only random ids, ledger ids and keyed hashes of phone
// numbers, and neither errors nor String output of this package ever
// contains them (Mask gives a form of a phone number that may be shown).
package directory

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"ptoy"
	"ptoy/store"
)

// Defaults of Config.
const (
	DefaultCodeTTL     = 10 * time.Minute // how long a code is valid
	DefaultMaxAttempts = 5                // wrong codes per registration
)

// Limits and messages.
const (
	codeDigits     = 6
	codeSpace      = 1_000_000 // 10^codeDigits
	maxStarts      = 5         // Starts per phone per rateWindow
	rateWindow     = time.Hour
	purgeGrace     = time.Hour // how long a dead or expired registration is remembered
	maxPurgeBatch  = 256       // entries one sweep deletes at most
	maxCodeLen     = 32        // bytes of a code Check looks at
	tooManyMsg     = "too many wrong codes; start again"
	expiredMsg     = "the code has expired; start again"
	registeredMsg  = "this phone number is already registered"
	unknownRegMsg  = "no such registration; start again"
	rateLimitedMsg = "too many codes sent to this number; try again later"
	usedMsg        = "this registration was already used; start again for a new code"
)

// Sender delivers a one-time code to a phone number.
type Sender interface {
	SendCode(ctx context.Context, phone, code string) error
}

// Config configures a Directory.
type Config struct {
	Dir         string           // Pebble directory
	Key         []byte           // 32-byte master key for encryption at rest; the caller keeps it
	Sender      Sender           // delivers codes; required
	Now         func() time.Time // clock; nil means time.Now
	CodeTTL     time.Duration    // how long a code is valid; 0 means DefaultCodeTTL
	MaxAttempts int              // wrong codes per registration; 0 means DefaultMaxAttempts
	Rand        io.Reader        // source of codes and registration ids; nil means crypto/rand.Reader
}

// Directory is a node's record of the patients it registered. Its methods
// are safe for concurrent use.
type Directory struct {
	keys        *keyring
	sender      Sender
	now         func() time.Time
	ttl         time.Duration
	maxAttempts int
	rand        io.Reader

	mu     sync.RWMutex // writers: Start, Check, Complete, Close
	db     *store.Pebble
	closed bool
}

// Profile is what the directory knows of a registered patient. Its String
// and GoString methods name only the patient id.
type Profile struct {
	Patient    ptoy.ID
	FullName   string
	Phone      string // normalised, "+<digits>"
	VerifiedAt time.Time
}

// String returns "profile of <id>"; it never includes the name or phone.
func (p Profile) String() string { return "profile of " + p.Patient.String() }

// GoString is String, so that %#v does not print the name or phone.
func (p Profile) GoString() string { return p.String() }

// pending is a registration between Start and Complete.
type pending struct {
	Name      string    `json:"n,omitempty"`
	Phone     string    `json:"p,omitempty"`
	CodeMAC   []byte    `json:"c,omitempty"`
	Expires   time.Time `json:"e"`
	PurgeAt   time.Time `json:"x"`
	Attempts  int       `json:"a"`
	CheckedAt time.Time `json:"v,omitzero"`  // first successful Check
	Claimed   []byte    `json:"k,omitempty"` // patient id of the Claim
	ClaimedAt time.Time `json:"t,omitzero"`
	// Done marks a completed registration, kept without name, phone or
	// code until its purge time so that a replay is told it was used.
	Done bool `json:"d,omitempty"`
	// Change is the patient whose new phone number this code verifies
	// (StartPhoneChange); empty for a registration.
	Change []byte `json:"g,omitempty"`
}

type profileRecord struct {
	Name       string    `json:"n"`
	Phone      string    `json:"p"`
	VerifiedAt time.Time `json:"v"`
}

type rateRecord struct {
	Starts  []time.Time `json:"s"`
	PurgeAt time.Time   `json:"x"`
}

// Open opens or creates the directory in cfg.Dir.
func Open(cfg Config) (*Directory, error) {
	const op = "directory.Open"
	if cfg.Dir == "" {
		return nil, ptoy.E(op, ptoy.Invalid, "directory needs a store directory")
	}
	if cfg.Sender == nil {
		return nil, ptoy.E(op, ptoy.Invalid, "directory needs a Sender for codes")
	}
	if cfg.CodeTTL < 0 || cfg.MaxAttempts < 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "code lifetime and attempts must not be negative")
	}
	keys, err := newKeyring(op, cfg.Key)
	if err != nil {
		return nil, err
	}
	d := &Directory{
		keys:        keys,
		sender:      cfg.Sender,
		now:         cfg.Now,
		ttl:         cfg.CodeTTL,
		maxAttempts: cfg.MaxAttempts,
		rand:        cfg.Rand,
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.ttl == 0 {
		d.ttl = DefaultCodeTTL
	}
	if d.maxAttempts == 0 {
		d.maxAttempts = DefaultMaxAttempts
	}
	if d.rand == nil {
		d.rand = rand.Reader
	}
	d.db, err = store.Open(cfg.Dir)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot open directory store", err)
	}
	return d, nil
}

// Close closes the directory. Later calls fail with ptoy.Unavailable.
func (d *Directory) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if err := d.db.Close(); err != nil {
		return ptoy.E("directory.Close", ptoy.Other, err)
	}
	return nil
}

// Start begins the registration of the person with the given full name
// and phone number: it validates both (ptoy.Invalid), makes a one-time
// code, stores the pending registration sealed and sends the code with
// the Sender. It returns an opaque registration id (32 hex digits) and
// when the code expires.
//
// A phone number that already belongs to a patient of this directory is
// ptoy.Exists; more than 5 Starts for one phone number within an hour is
// ptoy.Unavailable. If the Sender fails, the registration is dropped (it
// still counts towards the limit) and the error is ptoy.Unavailable; the
// Sender's error is not wrapped, since it may contain the phone number.
func (d *Directory) Start(ctx context.Context, name, phone string) (regID string, expires time.Time, err error) {
	const op = "directory.Start"
	if err := ctx.Err(); err != nil {
		return "", time.Time{}, ptoy.E(op, ptoy.Unavailable, err)
	}
	name, err = CheckName(name)
	if err != nil {
		return "", time.Time{}, err
	}
	phone, err = NormalizePhone(phone)
	if err != nil {
		return "", time.Time{}, err
	}
	id, code, expires, err := d.begin(op, name, phone, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := d.sender.SendCode(ctx, phone, code); err != nil {
		d.dropPending(op, id)
		return "", time.Time{}, ptoy.E(op, ptoy.Unavailable, "cannot send the code; try again later")
	}
	return hex.EncodeToString(id), expires, nil
}

// begin stores a new pending registration and returns its id, code
// and expiry.
func (d *Directory) begin(op, name, phone string, change []byte) (id []byte, code string, expires time.Time, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, "", time.Time{}, closedErr(op)
	}
	now := d.now()
	if err := d.sweep(op, now); err != nil {
		return nil, "", time.Time{}, err
	}
	hash := d.keys.phoneHash(phone)
	if v, err := d.db.Get(phoneKey(hash)); err != nil {
		return nil, "", time.Time{}, ptoy.E(op, ptoy.Other, err)
	} else if v != nil {
		return nil, "", time.Time{}, ptoy.E(op, ptoy.Exists, registeredMsg)
	}

	var writes []store.Write
	rk := rateKey(hash)
	var rate rateRecord
	if v, err := d.db.Get(rk); err != nil {
		return nil, "", time.Time{}, ptoy.E(op, ptoy.Other, err)
	} else if v != nil {
		if err := d.keys.openJSON(op, rk, v, &rate); err != nil {
			return nil, "", time.Time{}, err
		}
		writes = append(writes, store.Write{Key: purgeKey(rate.PurgeAt, rk)})
	}
	recent := rate.Starts[:0]
	for _, t := range rate.Starts {
		if now.Sub(t) < rateWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) >= maxStarts {
		return nil, "", time.Time{}, ptoy.E(op, ptoy.Unavailable, rateLimitedMsg)
	}
	rate = rateRecord{Starts: append(recent, now), PurgeAt: now.Add(rateWindow)}

	id = make([]byte, regIDLen)
	if _, err := io.ReadFull(d.rand, id); err != nil {
		return nil, "", time.Time{}, ptoy.E(op, ptoy.Other, "cannot make a registration id", err)
	}
	code, err = d.newCode(op)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	expires = now.Add(d.ttl)
	p := pending{
		Name:    name,
		Phone:   phone,
		CodeMAC: d.keys.codeMAC(id, code),
		Expires: expires,
		// A checked registration may be claimed up to ttl after its
		// Check, and completed up to ttl after its Claim, so keep it at
		// least that long past expiry.
		PurgeAt: expires.Add(2*d.ttl + purgeGrace),
		Change:  change,
	}
	pk := pendingKey(id)
	pv, err := d.keys.sealJSON(op, pk, p)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	rv, err := d.keys.sealJSON(op, rk, rate)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	writes = append(writes,
		store.Write{Key: pk, Value: pv},
		d.keys.purgeWrite(p.PurgeAt, pk),
		store.Write{Key: rk, Value: rv},
		d.keys.purgeWrite(rate.PurgeAt, rk),
	)
	if err := d.db.Commit(writes, true); err != nil {
		return nil, "", time.Time{}, ptoy.E(op, ptoy.Other, err)
	}
	return id, code, expires, nil
}

// dropPending deletes a registration whose code could not be sent. It is
// best effort: a leftover entry is purged in time anyway.
func (d *Directory) dropPending(op string, id []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	pk := pendingKey(id)
	v, err := d.db.Get(pk)
	if err != nil || v == nil {
		return
	}
	var p pending
	if d.keys.openJSON(op, pk, v, &p) != nil {
		return
	}
	d.db.Commit([]store.Write{{Key: pk}, {Key: purgeKey(p.PurgeAt, pk)}}, true)
}

// newCode returns a uniformly random code of codeDigits decimal digits.
func (d *Directory) newCode(op string) (string, error) {
	const limit = (1 << 32) / codeSpace * codeSpace // largest multiple of codeSpace in 2^32
	var b [4]byte
	for {
		if _, err := io.ReadFull(d.rand, b[:]); err != nil {
			return "", ptoy.E(op, ptoy.Other, "cannot make a code", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return fmt.Sprintf("%0*d", codeDigits, v%codeSpace), nil
		}
	}
}

// Check verifies the code of registration regID without consuming it. An
// unknown id is ptoy.NotFound and an expired code ptoy.Expired. A wrong
// code is ptoy.PermissionDenied and counts an attempt; after MaxAttempts
// wrong codes the registration is dead and every later Check or Complete
// is ptoy.PermissionDenied. A code that is not 6 digits is ptoy.Invalid
// and does not count.
func (d *Directory) Check(ctx context.Context, regID, code string) error {
	const op = "directory.Check"
	if err := ctx.Err(); err != nil {
		return ptoy.E(op, ptoy.Unavailable, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return closedErr(op)
	}
	now := d.now()
	id, pk, p, err := d.loadPending(op, regID)
	if err != nil {
		return err
	}
	if len(p.Change) > 0 {
		return ptoy.E(op, ptoy.NotFound, unknownRegMsg)
	}
	if len(p.Claimed) > 0 {
		return ptoy.E(op, ptoy.PermissionDenied, usedMsg)
	}
	if err := d.verify(op, id, pk, &p, code, p.Expires, now); err != nil {
		return err
	}
	if !p.CheckedAt.IsZero() {
		return nil
	}
	p.CheckedAt = now
	return d.putPending(op, pk, &p)
}

// Claim spends the code of registration regID on patient, once: it
// verifies the code as Check does, then marks the registration as used
// by patient, durably, before it returns. The caller claims before it
// vouches for the registration (the node co-signs only after Claim), so
// that one code yields at most one patient however many requests race
// with it. A registration that was already claimed is
// ptoy.PermissionDenied ("this registration was already used"), even
// with the right code and the same patient. A phone number that already
// belongs to a patient of this directory is ptoy.Exists. Claim returns
// the normalised phone number the code was sent to.
//
// A claimed registration may be completed for CodeTTL after the claim.
func (d *Directory) Claim(ctx context.Context, regID, code string, patient ptoy.ID) (phone string, err error) {
	const op = "directory.Claim"
	if err := ctx.Err(); err != nil {
		return "", ptoy.E(op, ptoy.Unavailable, err)
	}
	if patient.IsZero() {
		return "", ptoy.E(op, ptoy.Invalid, "patient id is missing")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", closedErr(op)
	}
	now := d.now()
	id, pk, p, err := d.loadPending(op, regID)
	if err != nil {
		return "", err
	}
	if len(p.Change) > 0 {
		return "", ptoy.E(op, ptoy.NotFound, unknownRegMsg)
	}
	if len(p.Claimed) > 0 {
		return "", ptoy.E(op, ptoy.PermissionDenied, usedMsg)
	}
	deadline := p.Expires
	if t := p.CheckedAt.Add(d.ttl); !p.CheckedAt.IsZero() && t.After(deadline) {
		deadline = t
	}
	if err := d.verify(op, id, pk, &p, code, deadline, now); err != nil {
		return "", err
	}
	if v, err := d.db.Get(phoneKey(d.keys.phoneHash(p.Phone))); err != nil {
		return "", ptoy.E(op, ptoy.Other, err)
	} else if v != nil {
		return "", ptoy.E(op, ptoy.Exists, registeredMsg)
	}
	if p.CheckedAt.IsZero() {
		p.CheckedAt = now
	}
	p.Claimed, p.ClaimedAt = patient.Bytes(), now
	if err := d.putPending(op, pk, &p); err != nil {
		return "", err
	}
	return p.Phone, nil
}

// Complete records that the person of registration regID is the patient
// with ledger id patient, once the caller has committed the registration
// to the ledger. It needs an earlier Claim of the registration by the
// same patient, within CodeTTL, and the same code again, which it
// verifies as Check does. It stores the profile sealed, indexes it by
// patient id and by a keyed hash of the phone number, and keeps of the
// pending registration only that it was used (no name, phone or code),
// until it is purged.
//
// If the phone number or the patient is already in the directory, the
// error is ptoy.Exists.
func (d *Directory) Complete(ctx context.Context, regID, code string, patient ptoy.ID) (Profile, error) {
	const op = "directory.Complete"
	if err := ctx.Err(); err != nil {
		return Profile{}, ptoy.E(op, ptoy.Unavailable, err)
	}
	if patient.IsZero() {
		return Profile{}, ptoy.E(op, ptoy.Invalid, "patient id is missing")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return Profile{}, closedErr(op)
	}
	now := d.now()
	id, pk, p, err := d.loadPending(op, regID)
	if err != nil {
		return Profile{}, err
	}
	switch {
	case p.Done:
		return Profile{}, ptoy.E(op, ptoy.PermissionDenied, usedMsg)
	case p.Attempts >= d.maxAttempts || p.CodeMAC == nil:
		return Profile{}, ptoy.E(op, ptoy.PermissionDenied, tooManyMsg)
	case len(p.Claimed) == 0:
		return Profile{}, ptoy.E(op, ptoy.PermissionDenied, "the code has not been claimed yet")
	case !bytes.Equal(p.Claimed, patient[:]):
		return Profile{}, ptoy.E(op, ptoy.PermissionDenied, usedMsg)
	}
	if err := d.verify(op, id, pk, &p, code, p.ClaimedAt.Add(d.ttl), now); err != nil {
		return Profile{}, err
	}

	hk := phoneKey(d.keys.phoneHash(p.Phone))
	if v, err := d.db.Get(hk); err != nil {
		return Profile{}, ptoy.E(op, ptoy.Other, err)
	} else if v != nil {
		return Profile{}, ptoy.E(op, ptoy.Exists, registeredMsg)
	}
	uk := profileKey(patient)
	if v, err := d.db.Get(uk); err != nil {
		return Profile{}, ptoy.E(op, ptoy.Other, err)
	} else if v != nil {
		return Profile{}, ptoy.E(op, ptoy.Exists, "this patient is already in the directory")
	}

	rec := profileRecord{Name: p.Name, Phone: p.Phone, VerifiedAt: p.CheckedAt}
	uv, err := d.keys.sealJSON(op, uk, rec)
	if err != nil {
		return Profile{}, err
	}
	done := pending{Expires: p.Expires, PurgeAt: p.PurgeAt, Attempts: p.Attempts, Claimed: p.Claimed, ClaimedAt: p.ClaimedAt, Done: true}
	dv, err := d.keys.sealJSON(op, pk, done)
	if err != nil {
		return Profile{}, err
	}
	writes := []store.Write{
		{Key: uk, Value: uv},
		{Key: hk, Value: d.keys.seal(hk, patient[:])},
		{Key: pk, Value: dv}, // purged at p.PurgeAt, as scheduled
	}
	if err := d.db.Commit(writes, true); err != nil {
		return Profile{}, ptoy.E(op, ptoy.Other, err)
	}
	return Profile{Patient: patient, FullName: rec.Name, Phone: rec.Phone, VerifiedAt: rec.VerifiedAt}, nil
}

// Profile returns the profile of patient, or ptoy.NotFound.
func (d *Directory) Profile(ctx context.Context, patient ptoy.ID) (Profile, error) {
	const op = "directory.Profile"
	if err := ctx.Err(); err != nil {
		return Profile{}, ptoy.E(op, ptoy.Unavailable, err)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return Profile{}, closedErr(op)
	}
	uk := profileKey(patient)
	v, err := d.db.Get(uk)
	if err != nil {
		return Profile{}, ptoy.E(op, ptoy.Other, err)
	}
	if v == nil {
		return Profile{}, ptoy.E(op, ptoy.NotFound, "patient "+patient.String()+" is not in this directory")
	}
	var rec profileRecord
	if err := d.keys.openJSON(op, uk, v, &rec); err != nil {
		return Profile{}, err
	}
	return Profile{Patient: patient, FullName: rec.Name, Phone: rec.Phone, VerifiedAt: rec.VerifiedAt}, nil
}

// FindByPhone returns the patient whose phone number is phone, in any form
// NormalizePhone accepts, or ptoy.NotFound.
func (d *Directory) FindByPhone(ctx context.Context, phone string) (ptoy.ID, error) {
	const op = "directory.FindByPhone"
	if err := ctx.Err(); err != nil {
		return ptoy.ID{}, ptoy.E(op, ptoy.Unavailable, err)
	}
	phone, err := NormalizePhone(phone)
	if err != nil {
		return ptoy.ID{}, err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ptoy.ID{}, closedErr(op)
	}
	hk := phoneKey(d.keys.phoneHash(phone))
	v, err := d.db.Get(hk)
	if err != nil {
		return ptoy.ID{}, ptoy.E(op, ptoy.Other, err)
	}
	if v == nil {
		return ptoy.ID{}, ptoy.E(op, ptoy.NotFound, "no patient with this phone number")
	}
	b, err := d.keys.open(op, hk, v)
	if err != nil {
		return ptoy.ID{}, err
	}
	id, err := ptoy.IDFromBytes(b)
	if err != nil {
		return ptoy.ID{}, ptoy.E(op, ptoy.Other, corruptMsg)
	}
	return id, nil
}

// loadPending reads the pending registration regID.
func (d *Directory) loadPending(op, regID string) (id, key []byte, p pending, err error) {
	id, err = hex.DecodeString(regID)
	if err != nil || len(id) != regIDLen {
		return nil, nil, p, ptoy.E(op, ptoy.NotFound, unknownRegMsg)
	}
	key = pendingKey(id)
	v, err := d.db.Get(key)
	if err != nil {
		return nil, nil, p, ptoy.E(op, ptoy.Other, err)
	}
	if v == nil {
		return nil, nil, p, ptoy.E(op, ptoy.NotFound, unknownRegMsg)
	}
	if err := d.keys.openJSON(op, key, v, &p); err != nil {
		return nil, nil, p, err
	}
	return id, key, p, nil
}

// putPending stores p under key.
func (d *Directory) putPending(op string, key []byte, p *pending) error {
	v, err := d.keys.sealJSON(op, key, p)
	if err != nil {
		return err
	}
	if err := d.db.Commit([]store.Write{{Key: key, Value: v}}, true); err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	return nil
}

// verify checks code against registration p, valid until deadline. A
// wrong code counts an attempt, stored before verify returns; the attempt
// that reaches the limit also erases the name, phone and code hash, since
// the registration can no longer be completed.
func (d *Directory) verify(op string, id, key []byte, p *pending, code string, deadline, now time.Time) error {
	if err := d.usable(op, p, deadline, now); err != nil {
		return err
	}
	code = strings.TrimSpace(code)
	if !validCode(code) {
		return ptoy.E(op, ptoy.Invalid, "the code is 6 digits")
	}
	if hmac.Equal(d.keys.codeMAC(id, code), p.CodeMAC) {
		return nil
	}
	p.Attempts++
	left := d.maxAttempts - p.Attempts
	if left <= 0 {
		p.Name, p.Phone, p.CodeMAC = "", "", nil
	}
	if err := d.putPending(op, key, p); err != nil {
		return err
	}
	switch left {
	case 0:
		return ptoy.E(op, ptoy.PermissionDenied, tooManyMsg)
	case 1:
		return ptoy.E(op, ptoy.PermissionDenied, "wrong code; 1 attempt left")
	default:
		return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("wrong code; %d attempts left", left))
	}
}

// usable reports whether registration p, valid until deadline, may still
// take a code: it is ptoy.Expired after the deadline and
// ptoy.PermissionDenied once dead.
func (d *Directory) usable(op string, p *pending, deadline, now time.Time) error {
	if !now.Before(deadline) {
		return ptoy.E(op, ptoy.Expired, expiredMsg)
	}
	if p.Attempts >= d.maxAttempts || p.CodeMAC == nil {
		return ptoy.E(op, ptoy.PermissionDenied, tooManyMsg)
	}
	return nil
}

// validCode reports whether code is codeDigits ASCII digits.
func validCode(code string) bool {
	if len(code) != codeDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// stopScan ends a sweep's scan early; it never leaves sweep.
type stopScan struct{}

func (stopScan) Error() string { return "stop" }

// sweep deletes pending registrations and rate records whose purge time
// has come, at most maxPurgeBatch of them.
func (d *Directory) sweep(op string, now time.Time) error {
	prefix := []byte(prefixPurge)
	end := binary.BigEndian.AppendUint64([]byte(prefixPurge), uint64(max(now.UnixNano(), 0)+1))
	var writes []store.Write
	err := d.db.Scan(prefix, end, func(k, v []byte) error {
		if len(writes) >= 2*maxPurgeBatch {
			return stopScan{}
		}
		if len(k) <= len(prefix)+8 {
			return ptoy.E(op, ptoy.Other, corruptMsg)
		}
		if _, err := d.keys.open(op, k, v); err != nil {
			return err
		}
		writes = append(writes,
			store.Write{Key: append([]byte(nil), k...)},
			store.Write{Key: append([]byte(nil), k[len(prefix)+8:]...)},
		)
		return nil
	})
	if _, ok := err.(stopScan); err != nil && !ok {
		return err
	}
	if len(writes) == 0 {
		return nil
	}
	if err := d.db.Commit(writes, true); err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	return nil
}

func closedErr(op string) error {
	return ptoy.E(op, ptoy.Unavailable, "directory is closed")
}
