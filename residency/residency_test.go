package residency_test

import (
	"fmt"
	"slices"
	"testing"

	"ptoy"
	"ptoy/blob"
	"ptoy/residency"
)

func TestParse(t *testing.T) {
	good := map[string]string{"DE": "DE", "de": "DE", " us-ca ": "US-CA", "FR-75": "FR-75", "GB-ENG": "GB-ENG"}
	for in, want := range good {
		got, err := residency.Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "D", "DEU", "XX", "ZZ", "EU", "US-", "US-CALI", "US_CA", "US-C A", "12", "DE-ö"} {
		if got, err := residency.Parse(in); err == nil || ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("Parse(%q) = %q, %v; want an invalid-input error", in, got, err)
		}
	}
}

func TestRule(t *testing.T) {
	r, err := residency.ParseRule([]string{"fr", "DE", "US-CA", "DE"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (residency.Rule{"DE", "FR", "US-CA"}); !slices.Equal(r, want) {
		t.Fatalf("ParseRule = %v, want %v", r, want)
	}
	for j, want := range map[string]bool{"DE": true, "DE-BY": true, "FR": true, "US-CA": true, "US": false, "US-NY": false, "": false, "DEU": false} {
		if got := r.Allows(j); got != want {
			t.Errorf("%v.Allows(%q) = %v", r, j, got)
		}
	}
	if !(residency.Rule{}).Allows("") || !(residency.Rule{}).Allows("US") {
		t.Error("an empty rule must allow every node")
	}
	if _, err := residency.ParseRule(make([]string, residency.MaxRule+1)); err == nil {
		t.Error("a rule longer than MaxRule was accepted")
	}
	network := residency.Rule{"DE", "FR"}
	if err := (residency.Rule{"DE-BY", "FR"}).Within(network); err != nil {
		t.Errorf("a narrower rule is refused: %v", err)
	}
	if err := (residency.Rule{"DE", "US"}).Within(network); ptoy.KindOf(err) != ptoy.PermissionDenied {
		t.Errorf("a rule that widens the network's: %v", err)
	}
	if err := (residency.Rule{"US"}).Within(nil); err != nil {
		t.Errorf("no network rule: %v", err)
	}
	e := residency.Effective{Network: network, Patient: residency.Rule{"DE"}}
	if e.Allows("FR") || !e.Allows("DE-BE") || !e.Limited() {
		t.Errorf("effective rule %v", e)
	}
}

// Placement with a rule chooses among the allowed nodes only, keeps the
// replication factor while there are enough of them, and a node outside
// the rule (a new member elsewhere) changes nothing.
func TestPlacementWithRule(t *testing.T) {
	nodes := map[string]string{"a": "DE", "b": "DE-BY", "c": "FR", "d": "US", "e": ""}
	de := residency.Rule{"DE"}
	eligible := residency.Eligible(nodes, de)
	if !slices.Equal(eligible, []string{"a", "b"}) {
		t.Fatalf("eligible for DE = %v", eligible)
	}
	grown := map[string]string{"f": "US-CA", "g": "BR"}
	for k, v := range nodes {
		grown[k] = v
	}
	for i := range 200 {
		h := blob.Sum(fmt.Appendf(nil, "blob %d", i))
		got := blob.Place(h, eligible, 3)
		if len(got) != 2 || !slices.Contains(got, "a") || !slices.Contains(got, "b") {
			t.Fatalf("blob %d placed on %v, want exactly the DE nodes", i, got)
		}
		all := blob.Place(h, residency.Eligible(nodes, residency.Rule{"DE", "FR"}), 2)
		for _, n := range all {
			if n != "a" && n != "b" && n != "c" {
				t.Fatalf("blob %d placed on %s (%s) outside DE, FR", i, n, nodes[n])
			}
		}
		if after := blob.Place(h, residency.Eligible(grown, residency.Rule{"DE", "FR"}), 2); !slices.Equal(after, all) {
			t.Fatalf("blob %d moved from %v to %v when members outside the rule joined", i, all, after)
		}
		if got := blob.Place(h, residency.Eligible(nodes, residency.Rule{"JP"}), 3); len(got) != 0 {
			t.Fatalf("blob %d placed on %v though no node is in JP", i, got)
		}
	}
}
