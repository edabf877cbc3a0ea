package console_test

import (
	"context"
	"testing"

	"ptoy/internal/browsertest"
)

// The browser helpers are package browsertest's.

func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	return browsertest.Start(t, ctx)
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	return browsertest.Location(t, ctx)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return browsertest.Text(t, ctx, sel)
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	browsertest.Click(t, ctx, sel)
}
