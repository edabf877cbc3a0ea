package devnet

import (
	"context"
	"testing"
	"time"

	"ptoy/keys"
)

// startNet starts a development network for a test, in a temporary home
// with the cheap test KDF unless opt says otherwise, and a context that
// ends after d; both end with the test.
func startNet(t *testing.T, d time.Duration, opt Options) (context.Context, *Net) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	if opt.Home == "" {
		opt.Home = t.TempDir()
	}
	if opt.KDF == (keys.KDFParams{}) {
		opt.KDF = keys.TestKDF
	}
	n, err := Start(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return ctx, n
}
