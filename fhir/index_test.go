package fhir

import (
	"bytes"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"ptoy/fhir/search"
)

// TestIndexKeepsBytes: the index keeps a resource byte for byte (white
// space, member order, "<" in narrative), and still opens an entry
// sealed before, whose resource was a JSON value.
func TestIndexKeepsBytes(t *testing.T) {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	x, err := openIndex(db, []byte("fhir/"), bytes.Repeat([]byte{7}, 32), search.Default())
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte("{\n  \"resourceType\": \"Observation\",\n  \"text\": {\"div\": \"<div>a & b</div>\"},\n  \"id\": \"x\"\n}")
	sk := x.storeKey(recKey{})
	v, err := x.seal(sk, &stored{Version: 1, Type: "Observation", ID: "x", Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	s, err := x.open(sk, v)
	if err != nil || !bytes.Equal(s.Raw, raw) {
		t.Fatalf("opened %q, %v; want %q", s.Raw, err, raw)
	}
	old := x.sealBytes(sk, []byte(`{"v":1,"t":"Observation","i":"x","r":{"resourceType":"Observation","id":"x"}}`))
	if s, err = x.open(sk, old); err != nil || string(s.Raw) != `{"resourceType":"Observation","id":"x"}` {
		t.Fatalf("an entry sealed before: %q, %v", s.Raw, err)
	}
}
