package gateway

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"ptoy"
	"ptoy/audit"
	"ptoy/blob"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
)

// Headers a reader sets to say for whom and why it reads.
const (
	HeaderOrg     = "X-Ptoy-Org"     // the organisation the reader acts for (account id)
	HeaderPurpose = "X-Ptoy-Purpose" // treatment (default), payment, operations, research, emergency
)

// errHidden is what every refused read gets, whether or not the record
// exists, so that a refusal tells nothing.
var errHidden = ptoy.E("gateway", ptoy.NotFound, "no such record, or you may not read it")

func recordID(r *http.Request) ([]byte, error) {
	id, err := hex.DecodeString(r.PathValue("id"))
	if err != nil || len(id) != ledger.RecordIDLen {
		return nil, ptoy.E("gateway", ptoy.Invalid, fmt.Sprintf("a record id is %d hex digits", 2*ledger.RecordIDLen))
	}
	return id, nil
}

// readReq is who reads which record version, for whom and why.
type readReq struct {
	reader  *pb.Account
	patient ptoy.ID
	id      []byte
	version uint32 // 0: the latest
	org     ptoy.ID
	purpose pb.Purpose
}

// purposeOf reads the purpose of use a request states (treatment if none).
func purposeOf(r *http.Request) (pb.Purpose, error) {
	if s := r.Header.Get(HeaderPurpose); s != "" {
		return consent.ParsePurpose(s)
	}
	return pb.Purpose_PURPOSE_TREATMENT, nil
}

// readRequest parses who reads what, for whom and why.
func (g *Gateway) readRequest(r *http.Request) (*readReq, error) {
	a, err := g.caller(r)
	if err != nil {
		return nil, err
	}
	q := &readReq{reader: a}
	if q.patient, err = pathID(r, "patient"); err != nil {
		return nil, err
	}
	if q.id, err = recordID(r); err != nil {
		return nil, err
	}
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return nil, ptoy.E("gateway", ptoy.Invalid, "version is a number from 1")
		}
		q.version = uint32(n)
	}
	if s := r.Header.Get(HeaderOrg); s != "" {
		if q.org, err = ptoy.ParseID(s); err != nil {
			return nil, err
		}
	}
	if q.purpose, err = purposeOf(r); err != nil {
		return nil, err
	}
	return q, nil
}

// mayRead decides whether q's reader may read the record version st.
func (g *Gateway) mayRead(q *readReq, st *pb.RecordState) consent.Decision {
	return g.decide(consent.Request{
		Reader: ptoy.ID(q.reader.Id), Patient: q.patient, Categories: st.Entry.Labels | consent.Bit(st.Entry.Category),
		Action: consent.Read, Purpose: q.purpose, Org: q.org,
	})
}

// getRecord serves a record version's ciphertext: Decide on the latest
// committed state, then the audit event, durably, then the bytes.
func (g *Gateway) getRecord(w http.ResponseWriter, r *http.Request) {
	q, err := g.readRequest(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	st, err := g.cfg.Ledger.Record(q.patient, q.id, q.version)
	if err != nil && ptoy.KindOf(err) != ptoy.NotFound {
		g.fail(w, err)
		return
	}
	ev := audit.Event{
		Time: g.cfg.Now(), Node: g.cfg.Node, Actor: ptoy.ID(q.reader.Id), Patient: q.patient,
		Action: audit.ActionRead, Record: hex.EncodeToString(q.id), Purpose: consent.PurposeName(q.purpose), Decision: audit.Deny,
	}
	var d consent.Decision
	switch {
	case st == nil:
		ev.Reason = "no such record"
	case st.Erased:
		ev.Reason = "the record was erased"
	default:
		ev.Record += "@" + strconv.FormatUint(uint64(st.Entry.Version), 10)
		d = g.mayRead(q, st)
		ev.Reason = d.Reason()
		if d.Allow {
			ev.Decision = audit.Allow
		}
	}
	// Nothing is served unlogged: if the event cannot be made durable,
	// the read fails.
	if _, err := g.cfg.Audit.Append(r.Context(), ev); err != nil {
		g.fail(w, ptoy.E("gateway", ptoy.Unavailable, "the access could not be recorded; nothing was served", err))
		return
	}
	if !d.Allow {
		g.fail(w, errHidden)
		return
	}
	w.Header().Set("X-Ptoy-Version", strconv.FormatUint(uint64(st.Entry.Version), 10))
	w.Header().Set("X-Ptoy-Category", strconv.Itoa(int(st.Entry.Category)))
	if err := g.serve(w, r, blob.Hash(st.Entry.Hash)); err != nil {
		g.fail(w, err)
	}
}

// recordStatus says which placement nodes hold a record's ciphertext. It
// is answered to those who may read the record.
func (g *Gateway) recordStatus(w http.ResponseWriter, r *http.Request) {
	q, err := g.readRequest(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	st, err := g.cfg.Ledger.Record(q.patient, q.id, q.version)
	if err != nil {
		g.fail(w, errHidden)
		return
	}
	if !g.mayRead(q, st).Allow {
		g.fail(w, errHidden)
		return
	}
	h := blob.Hash(st.Entry.Hash)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "record %s version %d hash %s size %d\n", hex.EncodeToString(q.id), st.Entry.Version, h, st.Entry.Size)
	for _, p := range g.placement(h) {
		fmt.Fprintf(w, "%s %s\n", p, g.holds(r.Context(), p, h))
	}
}

// getBlob serves key material: key sets (public keys) to anyone with an
// account, key bundles and escrow blobs (sealed to their holders) to
// anyone with an account too, since only their holders can open them.
// Record ciphertext is never served here: it goes through Decide.
func (g *Gateway) getBlob(w http.ResponseWriter, r *http.Request) {
	if _, err := g.caller(r); err != nil {
		g.fail(w, err)
		return
	}
	h, err := pathHash(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	if !g.isKeyMaterial(h) {
		g.fail(w, ptoy.E("gateway", ptoy.NotFound, "no such key material"))
		return
	}
	if err := g.serve(w, r, h); err != nil {
		g.fail(w, err)
	}
}
