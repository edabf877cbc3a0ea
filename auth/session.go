package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"ptoy"
)

// SessionScheme is the Authorization scheme of a bearer session.
const SessionScheme = "PTOY-Session"

// Session limits. A session ends after SessionIdle without a request
// (automatic log-off), after SessionMaxAge whatever happens, at log-out,
// and when its account's signing key changes. An account holds at most
// SessionsPerAccount sessions: signing in again drops its oldest, so one
// signer cannot crowd out the others.
const (
	SessionIdle        = 15 * time.Minute
	SessionMaxAge      = 8 * time.Hour
	SessionsPerAccount = 8
	MaxSessions        = 100_000
)

type session struct {
	account ptoy.ID
	key     ed25519.PublicKey // the key that signed in: a rotation ends the session
	created time.Time
	seen    time.Time
	held    Held // what the session unsealed (a patient's keys), if anything
}

// Held is what a session keeps for its account while it lives: a
// patient's keys unsealed with their passphrase. Drop is called when the
// session ends, however it ends, to clear it.
type Held interface{ Drop() }

// Sessions holds a node's bearer sessions, in memory only: a restart ends
// them. Tokens are kept by their SHA-256, never as given.
type Sessions struct {
	mu     sync.Mutex
	byTok  map[[32]byte]*session
	byAcct map[ptoy.ID][][32]byte // oldest first
}

// NewSessions returns an empty session table.
func NewSessions() *Sessions {
	return &Sessions{byTok: map[[32]byte]*session{}, byAcct: map[ptoy.ID][][32]byte{}}
}

func (s *session) expired(now time.Time) bool {
	return now.Sub(s.seen) > SessionIdle || now.Sub(s.created) > SessionMaxAge
}

// New starts a session for account, signed in with key. It returns the
// token and when it ends if unused.
func (t *Sessions) New(account ptoy.ID, key ed25519.PublicKey, now time.Time) (string, time.Time, error) {
	return t.NewHolding(account, key, nil, now)
}

// NewHolding is New for a session that keeps held (nil: nothing) until
// it ends.
func (t *Sessions) NewHolding(account ptoy.ID, key ed25519.PublicKey, held Held, now time.Time) (string, time.Time, error) {
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(tok))
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byTok) >= MaxSessions {
		for k, v := range t.byTok {
			if v.expired(now) {
				t.drop(k)
			}
		}
		if len(t.byTok) >= MaxSessions {
			return "", time.Time{}, ptoy.E("auth.Sessions", ptoy.Unavailable, "too many sessions; sign each request instead")
		}
	}
	list := t.byAcct[account]
	for len(list) >= SessionsPerAccount {
		t.drop(list[0])
		list = t.byAcct[account]
	}
	t.byTok[h] = &session{account: account, key: key, created: now, seen: now, held: held}
	t.byAcct[account] = append(list, h)
	return tok, now.Add(SessionIdle), nil
}

// drop removes a session; t.mu is held.
func (t *Sessions) drop(h [32]byte) {
	s, ok := t.byTok[h]
	if !ok {
		return
	}
	delete(t.byTok, h)
	if s.held != nil {
		s.held.Drop()
	}
	list := t.byAcct[s.account]
	for i, x := range list {
		if x == h {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(t.byAcct, s.account)
	} else {
		t.byAcct[s.account] = list
	}
}

// Get returns the account and sign-in key of a live session and marks it
// used now.
func (t *Sessions) Get(tok string, now time.Time) (ptoy.ID, ed25519.PublicKey, bool) {
	h := sha256.Sum256([]byte(tok))
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byTok[h]
	if !ok {
		return ptoy.ID{}, nil, false
	}
	if s.expired(now) {
		t.drop(h)
		return ptoy.ID{}, nil, false
	}
	s.seen = now
	return s.account, s.key, true
}

// Holding returns what the account's newest live session holding
// something keeps; with touch, that session counts as used now (an app
// working with the keys keeps the session alive).
func (t *Sessions) Holding(account ptoy.ID, now time.Time, touch bool) (Held, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range append([][32]byte(nil), t.byAcct[account]...) {
		if s := t.byTok[h]; s != nil && s.expired(now) {
			t.drop(h) // its keys are cleared now, not at the next request
		}
	}
	return t.holdingLocked(account, now, touch)
}

func (t *Sessions) holdingLocked(account ptoy.ID, now time.Time, touch bool) (Held, bool) {
	list := t.byAcct[account]
	for i := len(list) - 1; i >= 0; i-- {
		s := t.byTok[list[i]]
		if s == nil || s.held == nil {
			continue
		}
		if touch {
			s.seen = now
		}
		return s.held, true
	}
	return nil, false
}

// End ends one session (log-out); it reports whether there was one.
func (t *Sessions) End(tok string) bool {
	h := sha256.Sum256([]byte(tok))
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.byTok[h]
	t.drop(h)
	return ok
}

// EndAccount ends every session of an account (its keys changed).
func (t *Sessions) EndAccount(id ptoy.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range append([][32]byte(nil), t.byAcct[id]...) {
		t.drop(h)
	}
}

// Len is the number of sessions held.
func (t *Sessions) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byTok)
}

// sessionToken returns the token of a PTOY-Session header.
func sessionToken(h string) (string, bool) {
	tok, ok := strings.CutPrefix(h, SessionScheme+" ")
	return strings.TrimSpace(tok), ok
}
