package smart

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"ptoy"
)

// refreshRecord is what a refresh token stands for, stored in Pebble
// under the SHA-256 of the token.
type refreshRecord struct {
	Client   string    `json:"client"`
	Kind     Kind      `json:"kind"`
	Account  ptoy.ID   `json:"account"`
	Org      ptoy.ID   `json:"org"`
	Patient  ptoy.ID   `json:"patient"`
	Scope    string    `json:"scope"`
	FHIRUser string    `json:"fhir_user"`
	Expires  time.Time `json:"expires"`
}

func (s *Server) refreshKey(h [32]byte) []byte {
	k := append(append([]byte(nil), s.cfg.Prefix...), "refresh/"...)
	return append(k, hex.EncodeToString(h[:])...)
}

// newRefresh stores rec under a new refresh token and returns it.
func (s *Server) newRefresh(rec refreshRecord) (string, error) {
	s.sweepRefresh()
	tok, h := newSecret()
	b, err := json.Marshal(rec)
	if err != nil {
		return "", ptoy.E("smart.refresh", ptoy.Other, err)
	}
	if err := s.cfg.DB.Set(s.refreshKey(h), b, pebble.Sync); err != nil {
		return "", ptoy.E("smart.refresh", ptoy.Unavailable, "cannot store the refresh token", err)
	}
	return tok, nil
}

// takeRefresh returns the record of refresh token tok and deletes it:
// a refresh token is used once. Errors: ptoy.NotFound (unknown, used),
// ptoy.Expired.
func (s *Server) takeRefresh(tok string) (*refreshRecord, error) {
	const op = "smart.refresh"
	key := s.refreshKey(sha256.Sum256([]byte(tok)))
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	v, closer, err := s.cfg.DB.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ptoy.E(op, ptoy.NotFound, "unknown refresh token (each is used once)")
	}
	if err != nil {
		return nil, ptoy.E(op, ptoy.Unavailable, err)
	}
	var rec refreshRecord
	err = json.Unmarshal(v, &rec)
	closer.Close()
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "a stored refresh token is malformed", err)
	}
	if err := s.cfg.DB.Delete(key, pebble.Sync); err != nil {
		return nil, ptoy.E(op, ptoy.Unavailable, err)
	}
	if !s.cfg.Now().Before(rec.Expires) {
		return nil, ptoy.E(op, ptoy.Expired, "the refresh token has expired: sign in again")
	}
	return &rec, nil
}

// sweepRefresh drops the expired refresh tokens, at most once a minute.
func (s *Server) sweepRefresh() {
	now := s.cfg.Now()
	s.mu.Lock()
	due := now.Sub(s.lastRefreshSweep) >= sweepEvery || now.Before(s.lastRefreshSweep)
	if due {
		s.lastRefreshSweep = now
	}
	s.mu.Unlock()
	if due {
		s.dropRefresh(func(r *refreshRecord) bool { return !now.Before(r.Expires) })
	}
}

// dropRefresh deletes the refresh tokens drop picks (and malformed
// ones).
func (s *Server) dropRefresh(drop func(*refreshRecord) bool) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	b := s.cfg.DB.NewBatch()
	defer b.Close()
	err := s.scan("refresh/", func(k, v []byte) error {
		var rec refreshRecord
		if json.Unmarshal(v, &rec) != nil || drop(&rec) {
			return b.Delete(k, nil)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return ptoy.E("smart.refresh", ptoy.Unavailable, err)
	}
	return nil
}
