// Package wait polls a condition until it holds or a deadline passes: how
// tests (and tools) wait for a node, never for a fixed time.
package wait

import "time"

// Every is how often For checks its condition.
const Every = 10 * time.Millisecond

// For checks cond every Every until it holds, and reports false if it
// still does not after d.
func For(d time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(Every)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
			if cond() {
				return true
			}
		}
	}
}
