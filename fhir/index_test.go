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

// TestIndexKeepsTheLaterVersion: a resync that listed a record before a
// write through this node committed may put the older version after the
// write put the newer one; the index, in memory and in its store, keeps
// the newer, and a removal up to the older version leaves it too.
func TestIndexKeepsTheLaterVersion(t *testing.T) {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := bytes.Repeat([]byte{7}, 32)
	x, err := openIndex(db, []byte("fhir/"), key, search.Default())
	if err != nil {
		t.Fatal(err)
	}
	k := recKey{rec: [16]byte{1}}
	k.patient[0] = 9
	obs := func(v uint32) *stored {
		return &stored{Version: v, Type: "Observation", ID: "o1", Raw: []byte(`{"resourceType":"Observation","id":"o1","status":"final"}`)}
	}
	if _, err := x.put(k, obs(2)); err != nil {
		t.Fatal(err)
	}
	if e, err := x.put(k, obs(1)); err != nil || e.version != 2 {
		t.Fatalf("put of version 1 over 2: %v, %v", e, err)
	}
	if err := x.removeUpTo(k, 1); err != nil {
		t.Fatal(err)
	}
	if e := x.get(k); e == nil || e.version != 2 {
		t.Fatalf("after the older version's put and removal: %+v, want version 2", e)
	}
	// What the store keeps is what memory held.
	y, err := openIndex(db, []byte("fhir/"), key, search.Default())
	if err != nil {
		t.Fatal(err)
	}
	if e := y.get(k); e == nil || e.version != 2 {
		t.Fatalf("reopened: %+v, want version 2", e)
	}
	if _, err := x.put(k, obs(3)); err != nil {
		t.Fatal(err)
	}
	if err := x.removeUpTo(k, 3); err != nil {
		t.Fatal(err)
	}
	if e := x.get(k); e != nil {
		t.Fatalf("removed up to its version, still indexed: %+v", e)
	}
}
