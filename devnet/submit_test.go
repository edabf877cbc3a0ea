package devnet

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"ptoy"
	"ptoy/blob"
	pb "ptoy/gen/ptoy/v1"
)

// TestSubmitChecksBlobs: over real HTTP, a node refuses a PutRecords
// whose blob was never uploaded to it, or whose declared size is not the
// blob's (8 MiB declared as 1 byte was accepted, and charged as 1 byte),
// before it reaches the ledger; the same records with their blobs and
// true sizes commit.
func TestSubmitChecksBlobs(t *testing.T) {
	ctx, n := startNet(t, 2*time.Minute, Options{Validators: 1})
	alice := mustKey(t, n, "alice")
	c := n.Client(0)
	big := bytes.Repeat([]byte{0x5a}, 8<<20)
	h, err := c.Upload(ctx, alice, big)
	if err != nil {
		t.Fatal(err)
	}
	missing := blob.Sum([]byte("never uploaded"))
	entry := func(id byte, h blob.Hash, size uint64) *pb.RecordEntry {
		return &pb.RecordEntry{Id: bytes.Repeat([]byte{id}, 16), Version: 1, Category: pb.Category_CATEGORY_IMAGING,
			Labels: 1 << uint32(pb.Category_CATEGORY_IMAGING), Hash: h[:], Size: size}
	}
	put := func(es ...*pb.RecordEntry) error {
		_, err := c.Send(ctx, &pb.Body{Msg: &pb.Body_PutRecords{PutRecords: &pb.PutRecords{Patient: alice.ID().Bytes(), Records: es}}}, alice)
		return err
	}
	for _, tc := range []struct {
		name string
		es   []*pb.RecordEntry
		want string
	}{
		{"a blob never uploaded", []*pb.RecordEntry{entry(1, h, 8<<20), entry(2, missing, 10)},
			"record 2: the blob " + missing.String()[:12] + "… was not uploaded to this node"},
		{"8 MiB declared as 1 byte", []*pb.RecordEntry{entry(1, h, 1)},
			"record 1 declares 1 byte but its blob has 8,388,608 bytes"},
		{"8 MiB declared as more", []*pb.RecordEntry{entry(1, h, 9<<20)},
			"record 1 declares 9,437,184 bytes but its blob has 8,388,608 bytes"},
	} {
		err := put(tc.es...)
		if ptoy.KindOf(err) != ptoy.Invalid || !strings.Contains(ptoy.Message(err), tc.want) {
			t.Errorf("%s: got %v (%s), want Invalid: %q", tc.name, err, ptoy.KindOf(err), tc.want)
		}
	}
	if _, err := n.Nodes[0].Ledger().Record(alice.ID(), entry(1, h, 0).Id, 0); ptoy.KindOf(err) != ptoy.NotFound {
		t.Fatalf("a refused PutRecords reached the ledger: %v", err)
	}
	if err := put(entry(1, h, 8<<20)); err != nil {
		t.Fatalf("the record with its blob and true size: %v", err)
	}
}
