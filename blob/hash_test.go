package blob_test

import (
	"strings"
	"testing"

	"ptoy"
	"ptoy/blob"
)

func TestHash(t *testing.T) {
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	h := blob.Sum(nil)
	if h.String() != empty {
		t.Fatalf("Sum(nil) = %s, want %s", h, empty)
	}
	for _, s := range []string{empty, strings.ToUpper(empty)} {
		p, err := blob.ParseHash(s)
		if err != nil || p != h {
			t.Fatalf("ParseHash(%q) = %s, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "e3b0", empty + "00", empty[:63] + "g", " " + empty[1:]} {
		_, err := blob.ParseHash(s)
		if ptoy.KindOf(err) != ptoy.Invalid || err == nil {
			t.Fatalf("ParseHash(%q): error %v, want ptoy.Invalid", s, err)
		}
	}
}
