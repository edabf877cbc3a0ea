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

// readRequest parses who reads what, for whom and why.
func (g *Gateway) readRequest(r *http.Request) (*pb.Account, ptoy.ID, []byte, uint32, ptoy.ID, pb.Purpose, error) {
	var org ptoy.ID
	a, err := g.caller(r)
	if err != nil {
		return nil, org, nil, 0, org, 0, err
	}
	patient, err := pathID(r, "patient")
	if err != nil {
		return nil, org, nil, 0, org, 0, err
	}
	id, err := recordID(r)
	if err != nil {
		return nil, org, nil, 0, org, 0, err
	}
	var version uint32
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return nil, org, nil, 0, org, 0, ptoy.E("gateway", ptoy.Invalid, "version is a number from 1")
		}
		version = uint32(n)
	}
	if s := r.Header.Get(HeaderOrg); s != "" {
		if org, err = ptoy.ParseID(s); err != nil {
			return nil, org, nil, 0, org, 0, err
		}
	}
	purpose := pb.Purpose_PURPOSE_TREATMENT
	if s := r.Header.Get(HeaderPurpose); s != "" {
		if purpose, err = consent.ParsePurpose(s); err != nil {
			return nil, org, nil, 0, org, 0, err
		}
	}
	return a, patient, id, version, org, purpose, nil
}

// getRecord serves a record version's ciphertext: Decide on the latest
// committed state, then the audit event, durably, then the bytes.
func (g *Gateway) getRecord(w http.ResponseWriter, r *http.Request) {
	a, patient, id, version, org, purpose, err := g.readRequest(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	st, err := g.cfg.Ledger.Record(patient, id, version)
	if err != nil && ptoy.KindOf(err) != ptoy.NotFound {
		g.fail(w, err)
		return
	}
	ev := audit.Event{
		Time: g.cfg.Now(), Node: g.cfg.Node, Actor: ptoy.ID(a.Id), Patient: patient,
		Action: audit.ActionRead, Record: hex.EncodeToString(id), Purpose: consent.PurposeName(purpose), Decision: audit.Deny,
	}
	var d consent.Decision
	switch {
	case st == nil:
		ev.Reason = "no such record"
	case st.Erased:
		ev.Reason = "the record was erased"
	default:
		ev.Record += "@" + strconv.FormatUint(uint64(st.Entry.Version), 10)
		d = g.decide(consent.Request{
			Reader: ptoy.ID(a.Id), Patient: patient, Categories: st.Entry.Labels | consent.Bit(st.Entry.Category),
			Action: consent.Read, Purpose: purpose, Org: org,
		})
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
	a, patient, id, version, org, purpose, err := g.readRequest(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	st, err := g.cfg.Ledger.Record(patient, id, version)
	if err != nil {
		g.fail(w, errHidden)
		return
	}
	d := g.decide(consent.Request{
		Reader: ptoy.ID(a.Id), Patient: patient, Categories: st.Entry.Labels | consent.Bit(st.Entry.Category),
		Action: consent.Read, Purpose: purpose, Org: org,
	})
	if !d.Allow {
		g.fail(w, errHidden)
		return
	}
	h := blob.Hash(st.Entry.Hash)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "record %s version %d hash %s size %d\n", hex.EncodeToString(id), st.Entry.Version, h, st.Entry.Size)
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
