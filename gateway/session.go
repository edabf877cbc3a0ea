package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

// Sessions spare a busy client (the web app, a provider's system reading
// a chart) one signature check per request: a signed POST /v1/session
// returns a bearer token for the signer's account, valid for SessionTTL,
// sent as "Authorization: PTOY-Session <token>". Tokens live in the
// node's memory only; a restart ends them.
const (
	SessionScheme = "PTOY-Session"
	SessionTTL    = 15 * time.Minute
	maxSessions   = 100_000
)

type session struct {
	account ptoy.ID
	expires time.Time
}

type sessions struct {
	mu sync.Mutex
	m  map[string]session
}

func (s *sessions) add(id ptoy.ID, now time.Time) (string, time.Time, error) {
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	exp := now.Add(SessionTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]session{}
	}
	if len(s.m) >= maxSessions {
		for k, v := range s.m {
			if now.After(v.expires) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= maxSessions {
			return "", exp, ptoy.E("gateway", ptoy.Unavailable, "too many sessions; sign each request instead")
		}
	}
	s.m[tok] = session{account: id, expires: exp}
	return tok, exp, nil
}

func (s *sessions) get(tok string, now time.Time) (ptoy.ID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[tok]
	if !ok {
		return ptoy.ID{}, false
	}
	if now.After(v.expires) {
		delete(s.m, tok)
		return ptoy.ID{}, false
	}
	return v.account, true
}

// newSession answers a signed POST /v1/session with a token.
func (g *Gateway) newSession(w http.ResponseWriter, r *http.Request) {
	a, err := g.caller(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	tok, exp, err := g.sessions.add(ptoy.ID(a.Id), g.cfg.Now())
	if err != nil {
		g.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"token\":%q,\"expires\":%d}\n", tok, exp.Unix())
}

// sessionCaller resolves a session token to its account.
func (g *Gateway) sessionCaller(h string) (*pb.Account, bool, error) {
	tok, ok := strings.CutPrefix(h, SessionScheme+" ")
	if !ok {
		return nil, false, nil
	}
	id, ok := g.sessions.get(strings.TrimSpace(tok), g.cfg.Now())
	if !ok {
		return nil, true, ptoy.E("gateway", ptoy.Unauthenticated, "the session expired or is unknown; sign in again")
	}
	a, err := g.cfg.Ledger.Account(id)
	return a, true, err
}
