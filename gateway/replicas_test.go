package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"testing"

	"ptoy/blob"
)

// frame writes one frame of POST /v1/replicas's answer.
func frame(buf *bytes.Buffer, status byte, data []byte) {
	buf.WriteByte(status)
	if status == frameBlob {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(data)))
		buf.Write(n[:])
		buf.Write(data)
	}
}

// TestReadFrames: a batch's answer gives the small blobs that match their
// hash to be written together, writes a large one as it is read, leaves
// out what is missing, refused or corrupt, and stops at a cut-short frame.
func TestReadFrames(t *testing.T) {
	ctx := context.Background()
	small, large, bad, cut := []byte("small ciphertext"), bytes.Repeat([]byte{7}, batchInline+1), []byte("not what was asked"), []byte("cut short")
	hs := []blob.Hash{blob.Sum(small), blob.Sum([]byte("missing")), blob.Sum([]byte("refused")), blob.Sum(large), blob.Sum([]byte("asked")), blob.Sum(cut)}
	var buf bytes.Buffer
	frame(&buf, frameBlob, small)
	frame(&buf, frameMissing, nil)
	frame(&buf, frameRefused, nil)
	frame(&buf, frameBlob, large)
	frame(&buf, frameBlob, bad)
	frame(&buf, frameBlob, cut)
	buf.Truncate(buf.Len() - 3)

	store := blob.NewMemory()
	g := &Gateway{cfg: Config{Blobs: store, Log: slog.New(slog.DiscardHandler)}}
	got, kept := g.readFrames(ctx, bufio.NewReader(&buf), hs)
	if len(got) != 1 || got[0].Hash != hs[0] || !bytes.Equal(got[0].Data, small) {
		t.Fatalf("blobs to write together: %d, want the small one", len(got))
	}
	if len(kept) != 1 || !kept[hs[3]] {
		t.Fatalf("written as read: %v, want the large one", kept)
	}
	if _, err := store.Stat(ctx, hs[3]); err != nil {
		t.Fatalf("the large blob: %v", err)
	}
	for _, h := range []blob.Hash{hs[4], hs[5], blob.Sum(bad)} {
		if _, err := store.Stat(ctx, h); err == nil {
			t.Fatal("a corrupt or cut-short blob was stored")
		}
	}
}
