package node

import (
	"context"
	"fmt"
	"strconv"

	"ptoy"
	"ptoy/blob"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

// checkBlobs checks, before a PutRecords is broadcast, what the ledger
// cannot see: every record's blob was uploaded to this node, with
// exactly the size the record declares (a size is what storage is
// charged by). One Stat per record. A record that fails is ptoy.Invalid
// with its number (from 1) in the message; a store fault is returned as
// it is.
func (n *Node) checkBlobs(ctx context.Context, t *tx.Tx) error {
	const op = "node.Submit"
	m, ok := t.Body.GetMsg().(*pb.Body_PutRecords)
	if !ok {
		return nil
	}
	for i, e := range m.PutRecords.GetRecords() {
		h, err := blobHash(e.Hash)
		if err != nil {
			return nil // malformed: the ledger refuses it with its own reason
		}
		info, err := n.blobs.Stat(ctx, h)
		switch {
		case ptoy.KindOf(err) == ptoy.NotFound:
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("record %d: the blob %s… was not uploaded to this node; upload it to the node you submit through", i+1, h.String()[:12]))
		case err != nil:
			return err
		case uint64(info.Size) != e.Size:
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("record %d declares %s but its blob has %s", i+1, byteCount(e.Size), byteCount(uint64(info.Size))))
		}
	}
	return nil
}

func blobHash(b []byte) (blob.Hash, error) {
	var h blob.Hash
	if len(b) != blob.HashLen {
		return h, ptoy.E("", ptoy.Invalid, "not a blob hash")
	}
	copy(h[:], b)
	return h, nil
}

// byteCount writes a number of bytes with thousands separators: "1 byte",
// "8,388,608 bytes".
func byteCount(n uint64) string {
	if n == 1 {
		return "1 byte"
	}
	s := strconv.FormatUint(n, 10)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out) + " bytes"
}
