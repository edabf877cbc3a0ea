package client

import (
	"testing"

	"ptoy/internal/deps"
)

// TestClientLinksNoServer: a Go program that only talks to a node links
// no storage engine and none of the node's packages.
func TestClientLinksNoServer(t *testing.T) {
	deps.Forbid(t, "ptoy/client", "github.com/cockroachdb/pebble", "github.com/cometbft", "ptoy/store",
		"ptoy/ledger", "ptoy/api", "ptoy/audit/auditlog", "ptoy/blob/disk", "ptoy/node", "ptoy/gateway")
}
