package gateway

import (
	"slices"
	"testing"

	"ptoy"
	"ptoy/blob"
)

// TestPendingUploadsBounded: one account's uploads that no transaction
// references yet are capped, the same content twice costs nothing more,
// and what a transaction references or collection deletes is given back;
// another account is not affected.
func TestPendingUploadsBounded(t *testing.T) {
	var p pendingUploads
	alice, bob := ptoy.ID{1}, ptoy.ID{2}
	h := func(i byte) blob.Hash { return blob.Sum([]byte{i}) }
	const max = 100
	if err := p.reserve(alice, h(1), 60, max); err != nil {
		t.Fatal(err)
	}
	if err := p.reserve(alice, h(1), 60, max); err != nil {
		t.Fatalf("the same upload again: %v", err)
	}
	if err := p.reserve(alice, h(2), 50, max); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("over the cap: %v", err)
	}
	if err := p.reserve(bob, h(3), 90, max); err != nil {
		t.Fatalf("another account: %v", err)
	}
	p.settle(alice, h(1), 40) // the upload was smaller than announced
	if err := p.reserve(alice, h(2), 50, max); err != nil {
		t.Fatalf("after settling the true size: %v", err)
	}
	if err := p.reserve(alice, h(4), 20, max); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("over the cap again: %v", err)
	}
	p.release(h(1)) // referenced by a committed transaction
	if err := p.reserve(alice, h(4), 20, max); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

// TestFetchOrder: a blob is asked of the node it was written through
// first, then of its placement, then of every other storage node, each
// once.
func TestFetchOrder(t *testing.T) {
	a, b, c, d := ptoy.ID{1}, ptoy.ID{2}, ptoy.ID{3}, ptoy.ID{4}
	all := []string{a.String(), b.String(), c.String(), d.String()}
	placed := []string{c.String(), a.String(), d.String()}
	got := fetchOrder(a, placed, all)
	want := []string{a.String(), c.String(), d.String(), b.String()}
	if !slices.Equal(got, want) {
		t.Errorf("via a: %v, want %v", got, want)
	}
	if got := fetchOrder(ptoy.ID{}, placed, all); !slices.Equal(got, []string{c.String(), a.String(), d.String(), b.String()}) {
		t.Errorf("no via: %v", got)
	}
	// A writer that runs no storage node is asked first all the same: the
	// fetch skips what is not a peer.
	e := ptoy.ID{5}
	if got := fetchOrder(e, placed, all); len(got) != 5 || got[0] != e.String() {
		t.Errorf("via a non-storage organisation: %v", got)
	}
}
