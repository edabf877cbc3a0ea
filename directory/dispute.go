package directory

import (
	"context"
	"encoding/binary"

	"ptoy"
	"ptoy/store"
)

// A patient's dispute of a break-glass is free text, possibly PHI: the
// ledger keeps its SHA-256, the directory of the node the patient
// disputed through keeps the text, sealed like a profile, for the
// privacy officer (who checks it against the ledger's hash).

const prefixDispute = "d/" // + break-glass id (8 bytes, big-endian) -> disputeRecord

type disputeRecord struct {
	Patient []byte `json:"p"`
	Text    string `json:"t"`
}

func disputeKey(event uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixDispute), event)
}

// KeepDispute keeps the text of patient's dispute of break-glass event.
// An event has one dispute: a second is ptoy.Exists.
func (d *Directory) KeepDispute(ctx context.Context, event uint64, patient ptoy.ID, text string) error {
	const op = "directory.KeepDispute"
	if err := ctx.Err(); err != nil {
		return ptoy.E(op, ptoy.Unavailable, err)
	}
	if event == 0 || text == "" {
		return ptoy.E(op, ptoy.Invalid, "a dispute names its break-glass and has a text")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return closedErr(op)
	}
	k := disputeKey(event)
	if v, err := d.db.Get(k); err != nil {
		return ptoy.E(op, ptoy.Other, err)
	} else if v != nil {
		return ptoy.E(op, ptoy.Exists, "this break-glass already has a dispute")
	}
	v, err := d.keys.sealJSON(op, k, disputeRecord{Patient: patient.Bytes(), Text: text})
	if err != nil {
		return err
	}
	if err := d.db.Commit([]store.Write{{Key: k, Value: v}}, true); err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	return nil
}

// Dispute returns the patient and the text of the dispute of break-glass
// event, or ptoy.NotFound when this directory keeps none.
func (d *Directory) Dispute(ctx context.Context, event uint64) (ptoy.ID, string, error) {
	const op = "directory.Dispute"
	if err := ctx.Err(); err != nil {
		return ptoy.ID{}, "", ptoy.E(op, ptoy.Unavailable, err)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ptoy.ID{}, "", closedErr(op)
	}
	k := disputeKey(event)
	v, err := d.db.Get(k)
	if err != nil {
		return ptoy.ID{}, "", ptoy.E(op, ptoy.Other, err)
	}
	if v == nil {
		return ptoy.ID{}, "", ptoy.E(op, ptoy.NotFound, "this node keeps no dispute of that break-glass")
	}
	var rec disputeRecord
	if err := d.keys.openJSON(op, k, v, &rec); err != nil {
		return ptoy.ID{}, "", err
	}
	p, err := ptoy.IDFromBytes(rec.Patient)
	if err != nil {
		return ptoy.ID{}, "", ptoy.E(op, ptoy.Other, corruptMsg)
	}
	return p, rec.Text, nil
}
