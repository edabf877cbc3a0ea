package auditlog

import (
	"sync"
	"time"

	"ptoy"
	"ptoy/audit"
)

// limiter holds a token bucket per actor for denied events and one for
// allowed events.
type limiter struct {
	deny, allow Limit

	mu     sync.Mutex
	actors map[ptoy.ID]*bucket
}

type bucket struct {
	deny, allow float64   // tokens left
	at          time.Time // when they were counted
	quietUntil  time.Time // refusals before this are not recorded
}

// maxActors is how many buckets the limiter keeps before it drops the
// full ones (a full bucket is the same as none).
const maxActors = 10000

// take spends a token of e's actor for e. over reports that the actor is
// over its limit; record, that this refusal is the first in its window
// and is to be stored. Time is the events' own (the node's clock); a
// clock that steps back refills nothing.
func (lim *limiter) take(e audit.Event) (over, record bool) {
	l := lim.allow
	if e.Decision != audit.Allow {
		l = lim.deny
	}
	if e.Actor.IsZero() || l.Rate <= 0 {
		return false, false
	}
	lim.mu.Lock()
	defer lim.mu.Unlock()
	b := lim.actors[e.Actor]
	if b == nil {
		if len(lim.actors) >= maxActors {
			lim.prune(e.Time)
		}
		b = &bucket{deny: float64(lim.deny.Burst), allow: float64(lim.allow.Burst), at: e.Time}
		lim.actors[e.Actor] = b
	}
	if d := e.Time.Sub(b.at).Seconds(); d > 0 {
		b.deny = min(float64(lim.deny.Burst), b.deny+d*lim.deny.Rate)
		b.allow = min(float64(lim.allow.Burst), b.allow+d*lim.allow.Rate)
		b.at = e.Time
	}
	tokens := &b.allow
	if e.Decision != audit.Allow {
		tokens = &b.deny
	}
	if *tokens >= 1 {
		*tokens--
		return false, false
	}
	if e.Time.Before(b.quietUntil) {
		return true, false
	}
	b.quietUntil = e.Time.Add(limitWindow)
	return true, true
}

// prune drops the buckets that have refilled and are out of their quiet
// window.
func (lim *limiter) prune(now time.Time) {
	for id, b := range lim.actors {
		d := now.Sub(b.at).Seconds()
		full := func(tokens float64, l Limit) bool {
			return l.Rate <= 0 || tokens+d*l.Rate >= float64(l.Burst)
		}
		if full(b.deny, lim.deny) && full(b.allow, lim.allow) && !now.Before(b.quietUntil) {
			delete(lim.actors, id)
		}
	}
}
