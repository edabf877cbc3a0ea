package node

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"ptoy"
	"ptoy/blob"
	"ptoy/gateway"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
	"ptoy/tx"
)

// checkBlobs checks, before a PutRecords is broadcast, what the ledger
// cannot see: every record's blob was uploaded to this node (or handed
// on by it to a node the patient's residency rule allows), with
// exactly the size the record declares (a size is what storage is
// charged by). One Stat per record. A record that fails is ptoy.Invalid
// with its number (from 1) in the message; a store fault is returned as
// it is.
func (n *Node) checkBlobs(ctx context.Context, t *tx.Tx) error {
	const op = "node.Submit"
	if refs := keyRefs(t.Body); refs != nil {
		return n.checkKeyMaterial(ctx, refs)
	}
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
		if size, ok := n.gw.ForwardedUpload(h); ok && ptoy.KindOf(err) == ptoy.NotFound {
			info, err = blob.Info{Hash: h, Size: size}, nil
		}
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

// keyRefs returns the key material a consent transaction commits to, as
// the ledger will reference it; nil for other transactions.
func keyRefs(b *pb.Body) []ledger.KeyRef {
	var refs []ledger.KeyRef
	add := func(h []byte, kind ledger.KeyKind, patient []byte) {
		if len(h) == blob.HashLen {
			r := ledger.KeyRef{Hash: h, Kind: kind}
			copy(r.Patient[:], patient)
			refs = append(refs, r)
		}
	}
	// A new key epoch (a Revoke's or an Undelegate's).
	addEpoch := func(patient, keySet, ownBundle []byte, rebundles []*pb.Rebundle) {
		add(keySet, ledger.KeySet, patient)
		add(ownBundle, ledger.KeyBundle, patient)
		for _, r := range rebundles {
			add(r.KeyBundle, ledger.KeyBundle, patient)
		}
	}
	switch m := b.GetMsg().(type) {
	case *pb.Body_Grant:
		add(m.Grant.KeyBundle, ledger.KeyBundle, m.Grant.Patient)
	case *pb.Body_Delegate:
		add(m.Delegate.KeyBundle, ledger.KeyBundle, m.Delegate.Patient)
	case *pb.Body_PublishKeys:
		add(m.PublishKeys.KeySet, ledger.KeySet, m.PublishKeys.Patient)
		add(m.PublishKeys.Escrow, ledger.Escrow, m.PublishKeys.Patient)
		add(m.PublishKeys.OwnBundle, ledger.KeyBundle, m.PublishKeys.Patient)
	case *pb.Body_Revoke:
		addEpoch(m.Revoke.Patient, m.Revoke.KeySet, m.Revoke.OwnBundle, m.Revoke.Rebundles)
	case *pb.Body_Undelegate:
		addEpoch(m.Undelegate.Patient, m.Undelegate.KeySet, m.Undelegate.OwnBundle, m.Undelegate.Rebundles)
	default:
		return nil
	}
	return refs
}

// checkKeyMaterial checks, before a consent transaction is broadcast,
// that each blob it names as key material was uploaded to this node and
// has the format of its kind: a grant cannot name a record's ciphertext
// (or anything else) as a key bundle. Gateways check the same again
// before they serve key material.
func (n *Node) checkKeyMaterial(ctx context.Context, refs []ledger.KeyRef) error {
	const op = "node.Submit"
	for _, r := range refs {
		h := blob.Hash(r.Hash)
		rc, _, err := n.blobs.Get(ctx, h)
		if ptoy.KindOf(err) == ptoy.NotFound {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the key material %s… was not uploaded to this node; upload it to the node you submit through", h.String()[:12]))
		}
		if err != nil {
			return err
		}
		head, err := io.ReadAll(io.LimitReader(rc, 8+ptoy.IDLen))
		rc.Close()
		if err != nil {
			return ptoy.E(op, ptoy.Unavailable, err)
		}
		if !gateway.IsKeyMaterial(head, r) {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the blob %s… is not key material of the kind the transaction names it as", h.String()[:12]))
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
