package ledger

import (
	"testing"

	"ptoy/internal/deps"
)

// TestLedgerIsPure: the state machine imports no storage engine, no
// keystore and no network; it sees its state through the KV interface.
func TestLedgerIsPure(t *testing.T) {
	deps.Forbid(t, "ptoy/ledger", "github.com/cockroachdb/pebble", "ptoy/store", "ptoy/keys",
		"golang.org/x/crypto/argon2", "net/http", "github.com/cometbft")
}
