package e2e

import (
	"context"
	"testing"
	"time"
)

// eventually polls cond until it holds, and fails the test, saying what it
// waited for, if ctx ends first. Every wait in these tests is one.
func eventually(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
