package ledger

// Records' part of the golden script language (golden_test.go).
//
// Transactions (RECORD is a name: the record id is the first 16 bytes of
// its SHA-256; CATS as in consent_test.go):
//
//	put-records patient=NAME rec=RECORD[,RECORD…] cat=CATEGORY [labels=CATS]
//	            [version=N] [size=BYTES] [org=ORG]
//	            (one entry per RECORD, all with the same category, labels,
//	            version (default 1) and size (default 100); the hash is
//	            named after the record and version)
//	erase-record patient=NAME rec=RECORD
//
// Queries:
//
//	records PATIENT | record-history PATIENT RECORD

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

// recordID is the 16-byte id of the script's record name.
func recordID(name string) []byte {
	h := sha256.Sum256([]byte("ptoy-golden/record/" + name))
	return h[:RecordIDLen]
}

// recordsMsg sets body's message for the records' script messages.
func (h *harness) recordsMsg(name string, a *args, body *pb.Body) error {
	patient := h.orgArg(a, "patient")
	recs, ok := a.get("rec")
	if !ok {
		return fmt.Errorf("%s: rec= is required", name)
	}
	switch name {
	case "put-records":
		m := &pb.PutRecords{Patient: patient, Org: h.orgArg(a, "org")}
		cs, ok := a.get("cat")
		if !ok {
			return fmt.Errorf("put-records: cat= is required")
		}
		cat, err := consent.ParseCategories(cs)
		if err != nil {
			return err
		}
		var c pb.Category
		for n := 1; n < 32; n++ {
			if cat == consent.Bit(pb.Category(n)) {
				c = pb.Category(n)
			}
		}
		if c == 0 {
			return fmt.Errorf("put-records: cat= names one category, not %q", cs)
		}
		labels, err := catsArg(a, "labels", false)
		if err != nil {
			return err
		}
		version, size := uint64(1), uint64(100)
		for k, p := range map[string]*uint64{"version": &version, "size": &size} {
			if s, ok := a.get(k); ok {
				if *p, err = strconv.ParseUint(s, 10, 64); err != nil {
					return fmt.Errorf("%s: %v", k, err)
				}
			}
		}
		for _, r := range strings.Split(recs, ",") {
			m.Records = append(m.Records, &pb.RecordEntry{
				Id: recordID(r), Version: uint32(version), Category: c, Labels: labels | consent.Bit(c),
				Hash: namedHash(fmt.Sprintf("blob-%s-v%d", r, version)), Size: size,
			})
		}
		body.Msg = &pb.Body_PutRecords{PutRecords: m}
	case "erase-record":
		body.Msg = &pb.Body_EraseRecord{EraseRecord: &pb.EraseRecord{Patient: patient, Id: recordID(recs)}}
	default:
		return fmt.Errorf("unknown records message %q", name)
	}
	return nil
}

// fmtRecord prints one record version.
func (h *harness) fmtRecord(name string, st *pb.RecordState) string {
	e := st.Entry
	s := fmt.Sprintf("%s v%d %s labels=%s size=%d hash=%s writer=%s payer=%s", name, e.Version, consent.CategoryName(e.Category),
		consent.FormatCategories(e.Labels), e.Size, hashName(e.Hash), h.w.idName(st.Writer), h.w.idName(st.Payer))
	if len(st.Org) > 0 {
		s += " org=" + h.w.idName(st.Org)
	}
	if st.Erased {
		s += " ERASED"
	}
	return s
}

// queryRecords runs the records' queries.
func (h *harness) queryRecords(what string, params []string, p func(string, ...any)) error {
	switch what {
	case "records":
		if len(params) != 1 {
			return fmt.Errorf("query records PATIENT")
		}
		list, err := h.l.Records(h.w.id(params[0]))
		if err != nil {
			return err
		}
		if len(list) == 0 {
			p("(none)")
		}
		for _, st := range list {
			p("%s", h.fmtRecord(h.recordName(st.Entry.Id), st))
		}
	case "record-history":
		if len(params) != 2 {
			return fmt.Errorf("query record-history PATIENT RECORD")
		}
		list, err := h.l.RecordHistory(h.w.id(params[0]), recordID(params[1]))
		if err != nil {
			return err
		}
		if len(list) == 0 {
			p("(none)")
		}
		for _, st := range list {
			p("%s", h.fmtRecord(params[1], st))
		}
	default:
		return fmt.Errorf("unknown records query %q", what)
	}
	return nil
}

// recordName finds the script name of a record id among the usual ones.
func (h *harness) recordName(id []byte) string {
	for _, n := range []string{"r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "h1", "h2", "h3", "h4", "h5"} {
		if string(recordID(n)) == string(id) {
			return n
		}
	}
	return fmt.Sprintf("%x", id)
}
