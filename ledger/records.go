package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/kv"
	"ptoy/tx"
)

// Record metadata: "rec/"||patient||id||version(4) → RecordState, and
// "rech/"||patient||id → the latest version (4 bytes). No keys, no
// content: a record version costs one RecordState (~150 bytes with its
// key), whatever the number of its readers.
var (
	prefixRecord     = []byte("rec/")
	prefixRecordHead = []byte("rech/")
)

// Limits on a PutRecords transaction.
const (
	MaxRecordsPerTx = 500
	RecordIDLen     = 16
)

func recordKey(patient ptoy.ID, id []byte, version uint32) []byte {
	return binary.BigEndian.AppendUint32(cat(prefixRecord, patient[:], id), version)
}
func recordHeadKey(patient ptoy.ID, id []byte) []byte { return cat(prefixRecordHead, patient[:], id) }

// ParseRecordKey splits a record key into patient, id and version; ok is
// false for keys that are not record keys. Subscribers use it on commit
// write sets.
func ParseRecordKey(k []byte) (patient ptoy.ID, id []byte, version uint32, ok bool) {
	rest, found := bytes.CutPrefix(k, prefixRecord)
	if !found || len(rest) != ptoy.IDLen+RecordIDLen+4 {
		return patient, nil, 0, false
	}
	copy(patient[:], rest)
	return patient, rest[ptoy.IDLen : ptoy.IDLen+RecordIDLen], binary.BigEndian.Uint32(rest[ptoy.IDLen+RecordIDLen:]), true
}

// IsRecordKey reports whether a committed key holds a RecordState.
func IsRecordKey(k []byte) bool { _, _, _, ok := ParseRecordKey(k); return ok }

func (b *Block) applyRecords(op string, t *tx.Tx, acct *pb.Account) (bool, error) {
	switch m := t.Body.Msg.(type) {
	case *pb.Body_PutRecords:
		return true, b.putRecords(op, acct, m.PutRecords)
	case *pb.Body_EraseRecord:
		return true, b.eraseRecord(op, acct, m.EraseRecord)
	case *pb.Body_ReleaseShare:
		return true, b.releaseShare(op, acct, m.ReleaseShare)
	}
	return false, nil
}

// checkEntry validates one record version's metadata; i counts the
// transaction's records from 1, as the messages do.
func checkEntry(op string, i int, e *pb.RecordEntry) error {
	bad := func(msg string) error { return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("record %d: %s", i, msg)) }
	switch {
	case len(e.Id) != RecordIDLen:
		return bad(fmt.Sprintf("id must be %d bytes", RecordIDLen))
	case e.Version == 0:
		return bad("versions start at 1")
	case len(e.Hash) != 32:
		return bad("hash must be a SHA-256 (32 bytes)")
	case e.Size == 0 || e.Size > 1<<40:
		return bad("size must be between 1 byte and 1 TiB")
	}
	if _, ok := pb.Category_name[int32(e.Category)]; !ok || e.Category == pb.Category_CATEGORY_UNSPECIFIED {
		return bad(fmt.Sprintf("unknown category %d", e.Category))
	}
	labels := e.Labels | 1<<uint32(e.Category)
	for c := range 32 {
		if labels&(1<<uint32(c)) != 0 {
			if _, ok := pb.Category_name[int32(c)]; !ok || c == 0 {
				return bad(fmt.Sprintf("unknown category %d in labels", c))
			}
		}
	}
	return nil
}

func (b *Block) putRecords(op string, acct *pb.Account, m *pb.PutRecords) error {
	patient, err := ptoy.IDFromBytes(m.Patient)
	if err != nil {
		return ptoy.E(op, ptoy.Invalid, "patient", err)
	}
	// An organisation's holdings: records it synced from its own EHR,
	// about people not yet linked to a patient of the network, filed
	// under the organisation itself (patient = org) and sealed to its own
	// key. They name nobody: the ledger learns how many records of which
	// categories the organisation holds, not whose they are.
	held := len(m.Org) > 0 && bytes.Equal(m.Org, m.Patient)
	if !held {
		pa, err := b.account(patient)
		if err != nil || pa.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT {
			return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no patient %s", patient))
		}
	}
	if n := len(m.Records); n == 0 || n > MaxRecordsPerTx {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("a PutRecords carries 1 to %d records", MaxRecordsPerTx))
	}
	signer := ptoy.ID(acct.Id)
	// An organisation named in org pays for the records: only its own
	// key or its employees name it.
	var org ptoy.ID
	if len(m.Org) > 0 {
		var o *pb.Org
		if org, o, err = b.org(op, m.Org); err != nil {
			return err
		}
		if org != signer {
			ok, err := getMsg(b.get, employeeKey(org, signer), new(pb.Employee))
			if err != nil {
				return err
			}
			if !ok {
				return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("only %s's own key or its employees write records for it (and bill it for them); you do not work for it", o.Name))
			}
		}
	}
	var cats uint32
	var total uint64
	seen := map[string]bool{}
	for i, e := range m.Records {
		if err := checkEntry(op, i+1, e); err != nil {
			return err
		}
		if seen[string(e.Id)] {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("record %d: the same record twice in one transaction", i+1))
		}
		seen[string(e.Id)] = true
		cats |= e.Labels | 1<<uint32(e.Category)
		total += e.Size
	}
	if !held {
		if err := b.mayWrite(op, signer, patient, org, cats); err != nil {
			return err
		}
	}
	// The patient pays for what the patient (or a delegate) writes; an
	// organisation pays for what it and its employees write.
	payer := patient
	if !org.IsZero() {
		payer = org
	} else if acct.Kind == pb.AccountKind_ACCOUNT_KIND_ORG {
		payer = signer
	}
	if err := b.Charge(payer, total); err != nil {
		return err
	}
	for i, e := range m.Records {
		head, err := b.get(recordHeadKey(patient, e.Id))
		if err != nil {
			return err
		}
		var latest uint32
		if len(head) == 4 {
			latest = binary.BigEndian.Uint32(head)
		}
		// Whose the record is comes before its numbering: a writer that
		// cannot see a record learns that it may not add to it, not which
		// version it is at.
		if latest > 0 {
			prev := new(pb.RecordState)
			if _, err := getMsg(b.get, recordKey(patient, e.Id, latest), prev); err != nil {
				return err
			}
			if prev.Erased {
				return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("record %d was erased", i+1))
			}
			if err := b.mayAddVersion(op, i+1, signer, patient, org, e); err != nil {
				return err
			}
		}
		if e.Version != latest+1 {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("record %d: version %d does not follow version %d", i+1, e.Version, latest))
		}
		st := &pb.RecordState{Entry: e, Writer: signer.Bytes(), Height: b.height, Time: b.time.Unix(), Payer: payer.Bytes()}
		if !org.IsZero() {
			st.Org = org.Bytes()
		}
		b.putMsg(recordKey(patient, e.Id, e.Version), st)
		b.set(recordHeadKey(patient, e.Id), binary.BigEndian.AppendUint32(nil, e.Version))
	}
	return nil
}

// mayAddVersion checks that signer, acting for org (zero: as itself),
// may add version e of an existing record: a record belongs to whoever
// wrote its version 1. A record written for an organisation (its
// RecordState.Org) takes versions from that organisation, acting for
// itself or through its employees (putRecords has checked that the
// signer may act for org); the patient's own record from the patient, or
// a delegate acting for them within the record's categories; any other
// record from its writer alone. Category and labels stay those of
// version 1, so that a version cannot move a record out of the reach of
// those who read it, or into a category its writer may not write.
func (b *Block) mayAddVersion(op string, i int, signer, patient, org ptoy.ID, e *pb.RecordEntry) error {
	first := new(pb.RecordState)
	ok, err := getMsg(b.get, recordKey(patient, e.Id, 1), first)
	if err != nil {
		return err
	}
	if !ok || first.Entry == nil {
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("record %d: version 1 is missing", i))
	}
	labels := func(x *pb.RecordEntry) uint32 { return x.Labels | 1<<uint32(x.Category) }
	if e.Category != first.Entry.Category || labels(e) != labels(first.Entry) {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("record %d: a new version keeps the category and labels of version 1 (%s); write a new record for %s",
			i, describeBits(labels(first.Entry)), describeBits(labels(e))))
	}
	writer := ptoy.ID(first.Writer)
	switch {
	case len(first.Org) > 0:
		owner := ptoy.ID(first.Org)
		if org != owner && signer != owner {
			name := owner.String()
			if _, o, err := b.org(op, first.Org); err == nil {
				name = o.Name
			}
			return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("record %d was written for %s: only %s or its employees, acting for it, add versions", i, name, name))
		}
	case writer == patient:
		if signer == patient {
			return nil
		}
		ds, err := readDelegation(b.get, patient, signer)
		if err != nil {
			return err
		}
		if !org.IsZero() || ds == nil || ds.Delegation.Expires != 0 && b.time.Unix() >= ds.Delegation.Expires ||
			labels(e)&^ds.Delegation.Categories != 0 {
			return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("record %d is the patient's own: only the patient, or a delegate acting for them, adds versions", i))
		}
	case signer != writer:
		return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("record %d was written by %s: only that writer adds versions", i, writer))
	}
	return nil
}

// eraseRecord deletes every version of the patient's own record (its
// version 1 written by the patient; later versions by the patient or a
// delegate acting for them): the ciphertext goes from every node, the
// ledger keeps a tombstone with the hashes, and the space is given back.
// Records written by providers stay under the network's retention rule:
// the patient cannot erase them.
func (b *Block) eraseRecord(op string, acct *pb.Account, m *pb.EraseRecord) error {
	patient, err := ptoy.IDFromBytes(m.Patient)
	if err != nil {
		return ptoy.E(op, ptoy.Invalid, "patient", err)
	}
	if len(m.Id) != RecordIDLen {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("record id must be %d bytes", RecordIDLen))
	}
	if !bytes.Equal(acct.Id, patient[:]) {
		return ptoy.E(op, ptoy.PermissionDenied, "only the patient may erase their records")
	}
	head, err := b.get(recordHeadKey(patient, m.Id))
	if err != nil {
		return err
	}
	if len(head) != 4 {
		return ptoy.E(op, ptoy.NotFound, "no such record")
	}
	latest := binary.BigEndian.Uint32(head)
	var states []*pb.RecordState
	for v := uint32(1); v <= latest; v++ {
		st := new(pb.RecordState)
		if _, err := getMsg(b.get, recordKey(patient, m.Id, v), st); err != nil {
			return err
		}
		if st.Erased {
			return ptoy.E(op, ptoy.Invalid, "the record is already erased")
		}
		// The patient's own record: version 1 by the patient, and so
		// every version by the patient or a delegate acting for them.
		if v == 1 && !bytes.Equal(st.Writer, patient[:]) || len(st.Org) > 0 {
			return ptoy.E(op, ptoy.PermissionDenied, "a provider wrote a version of this record: it is kept under the network's retention rule and cannot be erased by the patient")
		}
		states = append(states, st)
	}
	for _, st := range states {
		st.Erased = true
		b.Refund(ptoy.ID(st.Payer), st.Entry.Size)
		b.putMsg(recordKey(patient, m.Id, st.Entry.Version), st)
	}
	return nil
}

// Record returns one version of a record (version 0: the latest).
func (l *Ledger) Record(patient ptoy.ID, id []byte, version uint32) (*pb.RecordState, error) {
	if version == 0 {
		head, err := l.kv.Get(recordHeadKey(patient, id))
		if err != nil {
			return nil, err
		}
		if len(head) != 4 {
			return nil, ptoy.E("ledger.Record", ptoy.NotFound, "no such record")
		}
		version = binary.BigEndian.Uint32(head)
	}
	st := new(pb.RecordState)
	if err := l.must(recordKey(patient, id, version), st, "no such record version"); err != nil {
		return nil, err
	}
	return st, nil
}

// RecordHistory lists every version of a record, oldest first.
func (l *Ledger) RecordHistory(patient ptoy.ID, id []byte) ([]*pb.RecordState, error) {
	return scanAll[pb.RecordState](l.kv, cat(prefixRecord, patient[:], id))
}

// Records lists the latest version of each of a patient's records.
func (l *Ledger) Records(patient ptoy.ID) ([]*pb.RecordState, error) {
	var out []*pb.RecordState
	pre := cat(prefixRecordHead, patient[:])
	err := l.kv.Scan(pre, kv.PrefixEnd(pre), func(k, v []byte) error {
		st, err := l.Record(patient, bytes.Clone(k[len(pre):]), binary.BigEndian.Uint32(v))
		if err != nil {
			return err
		}
		out = append(out, st)
		return nil
	})
	return out, err
}

// AllRecords calls fn for every record version on the ledger (repair).
func (l *Ledger) AllRecords(fn func(patient ptoy.ID, st *pb.RecordState) error) error {
	return l.kv.Scan(prefixRecord, kv.PrefixEnd(prefixRecord), func(k, v []byte) error {
		patient, _, _, ok := ParseRecordKey(k)
		if !ok {
			return nil
		}
		st := new(pb.RecordState)
		if err := unmarshal(v, st); err != nil {
			return err
		}
		return fn(patient, st)
	})
}
