package node

import (
	"strings"
	"testing"
	"time"

	"ptoy"
)

// TestStartLimits: codes are limited per client address (an IPv6 /64
// counts as one) and for the whole node, each refilling over time, and a
// refusal says when to try again.
func TestStartLimits(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l, err := newStartLimits(RegisterLimits{ClientBurst: 2, ClientEvery: "10m", NodeBurst: 3, NodeEvery: "1m"}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	want := func(client string, msg string) {
		t.Helper()
		err := l.take("test", client)
		if msg == "" {
			if err != nil {
				t.Fatalf("%s: %v", client, err)
			}
			return
		}
		if ptoy.KindOf(err) != ptoy.Unavailable || !strings.Contains(err.Error(), msg) {
			t.Fatalf("%s: %v; want unavailable %q", client, err, msg)
		}
	}
	want("192.0.2.1:1000", "")
	want("192.0.2.1:1001", "") // another port, the same client
	want("192.0.2.1:1002", "too many registrations from your address; try again in 10m0s")
	want("[2001:db8::1]:1", "")
	// The node's bucket is empty now: any client waits for it.
	want("[2001:db8::2]:1", "this node is sending too many codes; try again in 1m0s")
	now = now.Add(30 * time.Second)
	want("198.51.100.7:1", "try again in 30s")
	now = now.Add(30 * time.Second)
	// Same /64 as 2001:db8::1: one token left of its 2.
	want("[2001:db8::2]:1", "")
	now = now.Add(time.Minute)
	want("[2001:db8::3]:1", "too many registrations from your address")
	// After ten minutes the first client has a code again.
	now = now.Add(8 * time.Minute)
	want("192.0.2.1:1003", "")
	if _, err := newStartLimits(RegisterLimits{ClientBurst: 0, ClientEvery: "1m", NodeBurst: 1, NodeEvery: "1m"}, nil); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("a zero burst: %v", err)
	}
}
