package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

// Accounts is what authentication reads of the ledger. Errors carry ptoy
// kinds; an unknown key or id is ptoy.NotFound.
type Accounts interface {
	AccountByKey(key []byte) (*pb.Account, error)
	Account(id ptoy.ID) (*pb.Account, error)
}

// Authenticator says who made a request: a fresh, never-seen signature by
// an account's current signing key, or a live session of it. It is the
// first step of every door of a node (the gateway, the API, FHIR, the web
// app): authenticate, decide, record, answer.
type Authenticator struct {
	ChainID  string
	Now      func() time.Time
	Accounts Accounts
	Nonces   *Nonces
	Sessions *Sessions
	// MaxBody bounds the body of a signed request (0: unbounded, for
	// routes that bound it themselves).
	MaxBody int64
}

// ErrNoCredentials is the error of a request that carries none.
var ErrNoCredentials = ptoy.E("auth", ptoy.Unauthenticated, "sign the request (Authorization: "+Scheme+" …) or sign in for a session")

// Caller authenticates r and returns the caller's account. A signed
// request's body is checked against its signature as it is read.
func (a *Authenticator) Caller(r *http.Request) (*pb.Account, error) {
	const op = "auth.Caller"
	h := r.Header.Get("Authorization")
	if tok, ok := sessionToken(h); ok {
		id, key, ok := a.Sessions.Get(tok, a.Now())
		if !ok {
			return nil, ptoy.E(op, ptoy.Unauthenticated, "the session ended (logged out, idle for more than 15 minutes, or keys changed); sign in again")
		}
		acct, err := a.Accounts.Account(id)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(acct.SigningKey, key) {
			a.Sessions.End(tok)
			return nil, ptoy.E(op, ptoy.Unauthenticated, "the account's keys changed since sign-in; sign in again")
		}
		return acct, nil
	}
	if !Signed(r) {
		return nil, ErrNoCredentials
	}
	key, err := Verify(r, a.ChainID, a.Now(), a.Nonces)
	if err != nil {
		return nil, err
	}
	CheckBody(r, a.MaxBody)
	acct, err := a.Accounts.AccountByKey(key)
	if ptoy.KindOf(err) == ptoy.NotFound || (err == nil && !bytes.Equal(acct.SigningKey, key)) {
		return nil, ptoy.E(op, ptoy.Unauthenticated, "the request's key is not the current key of any account")
	}
	return acct, err
}

// SignIn starts a session for a signed request's signer (never from a
// session: a session does not beget sessions).
func (a *Authenticator) SignIn(r *http.Request) (*pb.Account, string, time.Time, error) {
	if !Signed(r) {
		return nil, "", time.Time{}, ptoy.E("auth.SignIn", ptoy.Unauthenticated, "sign in with a signed request")
	}
	acct, err := a.Caller(r)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	tok, exp, err := a.Sessions.New(ptoy.ID(acct.Id), acct.SigningKey, a.Now())
	return acct, tok, exp, err
}

// SignOut ends the request's session, if it has one.
func (a *Authenticator) SignOut(r *http.Request) bool {
	tok, ok := sessionToken(r.Header.Get("Authorization"))
	return ok && a.Sessions.End(tok)
}

type callerKey struct{}

// WithCaller returns ctx carrying the authenticated account.
func WithCaller(ctx context.Context, a *pb.Account) context.Context {
	return context.WithValue(ctx, callerKey{}, a)
}

// CallerFrom returns the account authenticated for ctx's request, or nil.
func CallerFrom(ctx context.Context) *pb.Account {
	a, _ := ctx.Value(callerKey{}).(*pb.Account)
	return a
}

// Middleware authenticates every request that carries credentials and
// puts the caller in its context (CallerFrom); bad credentials are refused
// with 401 before next runs. A request without credentials goes on with
// no caller: handlers that answer about a person refuse it.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			next.ServeHTTP(w, r)
			return
		}
		acct, err := a.Caller(r)
		if err != nil {
			// The body is a Connect error, which Connect clients and
			// people with curl read alike.
			code, name := http.StatusUnauthorized, "unauthenticated"
			if ptoy.KindOf(err) == ptoy.Unavailable {
				code, name = http.StatusServiceUnavailable, "unavailable"
			} else if ptoy.KindOf(err) != ptoy.Unauthenticated {
				code, name = http.StatusInternalServerError, "internal"
			}
			b, _ := json.Marshal(map[string]string{"code": name, "message": ptoy.Message(err)})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			w.Write(b)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), acct)))
	})
}
