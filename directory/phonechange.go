package directory

import (
	"bytes"
	"context"
	"encoding/hex"
	"time"

	"ptoy"
	"ptoy/store"
)

// A patient of the directory changes their phone number in two steps,
// as they registered it: StartPhoneChange sends a one-time code to the
// new number, ChangePhone takes the code and moves the profile to the new
// number. The old number is free again once the change is done.

// StartPhoneChange sends a one-time code to phone, the new number of
// patient, and returns an opaque change id (32 hex digits) and when the
// code expires. The patient must have a profile here (ptoy.NotFound);
// their current number is ptoy.Invalid, a number that belongs to a
// patient of this directory ptoy.Exists, and the limits and the Sender's
// failures are those of Start.
func (d *Directory) StartPhoneChange(ctx context.Context, patient ptoy.ID, phone string) (changeID string, expires time.Time, err error) {
	const op = "directory.StartPhoneChange"
	phone, err = NormalizePhone(phone)
	if err != nil {
		return "", time.Time{}, err
	}
	prof, err := d.Profile(ctx, patient)
	if err != nil {
		return "", time.Time{}, err
	}
	if prof.Phone == phone {
		return "", time.Time{}, ptoy.E(op, ptoy.Invalid, "this is already your phone number")
	}
	id, code, expires, err := d.begin(op, prof.FullName, phone, patient.Bytes())
	if err != nil {
		return "", time.Time{}, err
	}
	if err := d.sender.SendCode(ctx, phone, code); err != nil {
		d.dropPending(op, id)
		return "", time.Time{}, ptoy.E(op, ptoy.Unavailable, "cannot send the code; try again later")
	}
	return hex.EncodeToString(id), expires, nil
}

// ChangePhone checks the code of change changeID, which patient started,
// and makes its number the patient's, in one write: the profile, the
// index of the new number, and the old number's index removed. A wrong
// code counts an attempt as in Check; a change of another patient is
// ptoy.NotFound, a used one ptoy.PermissionDenied, a number that another
// patient took meanwhile ptoy.Exists.
func (d *Directory) ChangePhone(ctx context.Context, changeID, code string, patient ptoy.ID) (Profile, error) {
	const op = "directory.ChangePhone"
	if err := ctx.Err(); err != nil {
		return Profile{}, ptoy.E(op, ptoy.Unavailable, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return Profile{}, closedErr(op)
	}
	now := d.now()
	id, pk, p, err := d.loadPending(op, changeID)
	if err != nil {
		return Profile{}, err
	}
	if !bytes.Equal(p.Change, patient[:]) {
		return Profile{}, ptoy.E(op, ptoy.NotFound, unknownRegMsg)
	}
	if p.Done {
		return Profile{}, ptoy.E(op, ptoy.PermissionDenied, usedMsg)
	}
	if err := d.verify(op, id, pk, &p, code, p.Expires, now); err != nil {
		return Profile{}, err
	}
	hk := phoneKey(d.keys.phoneHash(p.Phone))
	if v, err := d.db.Get(hk); err != nil {
		return Profile{}, ptoy.E(op, ptoy.Other, err)
	} else if v != nil {
		return Profile{}, ptoy.E(op, ptoy.Exists, registeredMsg)
	}
	uk := profileKey(patient)
	v, err := d.db.Get(uk)
	if err != nil {
		return Profile{}, ptoy.E(op, ptoy.Other, err)
	}
	if v == nil {
		return Profile{}, ptoy.E(op, ptoy.NotFound, "patient "+patient.String()+" is not in this directory")
	}
	var rec profileRecord
	if err := d.keys.openJSON(op, uk, v, &rec); err != nil {
		return Profile{}, err
	}
	old := phoneKey(d.keys.phoneHash(rec.Phone))
	rec.Phone, rec.VerifiedAt = p.Phone, now
	uv, err := d.keys.sealJSON(op, uk, rec)
	if err != nil {
		return Profile{}, err
	}
	done := pending{Expires: p.Expires, PurgeAt: p.PurgeAt, Attempts: p.Attempts, Change: p.Change, Done: true}
	dv, err := d.keys.sealJSON(op, pk, done)
	if err != nil {
		return Profile{}, err
	}
	writes := []store.Write{
		{Key: uk, Value: uv},
		{Key: old},
		{Key: hk, Value: d.keys.seal(hk, patient[:])},
		{Key: pk, Value: dv}, // purged at p.PurgeAt, as scheduled
	}
	if err := d.db.Commit(writes, true); err != nil {
		return Profile{}, ptoy.E(op, ptoy.Other, err)
	}
	return Profile{Patient: patient, FullName: rec.Name, Phone: rec.Phone, VerifiedAt: rec.VerifiedAt}, nil
}
