package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"ptoy"
	"ptoy/auth"
	"ptoy/blob"
	"ptoy/consent"
	"ptoy/door"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
)

// Headers a reader sets to say for whom and why it reads. Both are
// covered by the request's signature.
const (
	HeaderOrg     = auth.HeaderOrg     // the organisation the reader acts for (account id)
	HeaderPurpose = auth.HeaderPurpose // treatment (default), payment, operations, research, emergency
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

// orgOf reads the organisation a request says its reader acts for.
func orgOf(r *http.Request) (ptoy.ID, error) {
	s := r.Header.Get(HeaderOrg)
	if s == "" {
		return ptoy.ID{}, nil
	}
	id, err := ptoy.ParseID(s)
	if err != nil {
		return id, ptoy.E("gateway", ptoy.Invalid, HeaderOrg+" must be an account id")
	}
	return id, nil
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
	if q.org, err = orgOf(r); err != nil {
		return nil, err
	}
	if q.purpose, err = purposeOf(r); err != nil {
		return nil, err
	}
	return q, nil
}

// enterRecord passes q through the door for the record version it names:
// the decision, the audit event (action), and the record's state if q may
// read it. A refusal is errHidden, whether or not the record exists.
func (g *Gateway) enterRecord(ctx context.Context, q *readReq, action string) (*pb.RecordState, error) {
	st, err := g.cfg.Ledger.Record(q.patient, q.id, q.version)
	if err != nil && ptoy.KindOf(err) != ptoy.NotFound {
		return nil, err
	}
	a := door.Access{
		Reader: ptoy.ID(q.reader.Id), Patient: q.patient, Action: action, Object: hex.EncodeToString(q.id),
		Purpose: q.purpose, Org: q.org,
	}
	switch {
	case st == nil:
		a.Unknown = "no such record"
	case st.Erased:
		a.Unknown = "the record was erased"
	default:
		a.Object += "@" + strconv.FormatUint(uint64(st.Entry.Version), 10)
		a.Consent = &consent.Request{Categories: st.Entry.Labels | consent.Bit(st.Entry.Category)}
	}
	if _, err := g.cfg.Door.Enter(ctx, a); err != nil {
		if ptoy.KindOf(err) == ptoy.PermissionDenied {
			return nil, errHidden
		}
		return nil, err
	}
	return st, nil
}

// getRecord serves a record version's ciphertext through the door.
func (g *Gateway) getRecord(w http.ResponseWriter, r *http.Request) {
	q, err := g.readRequest(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	st, err := g.enterRecord(r.Context(), q, "read")
	if err != nil {
		g.fail(w, err)
		return
	}
	w.Header().Set("X-Ptoy-Version", strconv.FormatUint(uint64(st.Entry.Version), 10))
	w.Header().Set("X-Ptoy-Category", strconv.Itoa(int(st.Entry.Category)))
	if err := g.serve(w, r, blob.Hash(st.Entry.Hash), recordOwner(q.patient, st)); err != nil {
		g.fail(w, err)
	}
}

// recordStatus says which placement nodes hold a record's ciphertext. It
// is answered, through the door, to those who may read the record.
func (g *Gateway) recordStatus(w http.ResponseWriter, r *http.Request) {
	q, err := g.readRequest(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	st, err := g.enterRecord(r.Context(), q, "status")
	if err != nil {
		g.fail(w, err)
		return
	}
	h := blob.Hash(st.Entry.Hash)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "record %s version %d hash %s size %d\n", hex.EncodeToString(q.id), st.Entry.Version, h, st.Entry.Size)
	place := g.placement(h, q.patient)
	for _, p := range place {
		fmt.Fprintf(w, "%s %s\n", p, g.holds(r.Context(), p, h, recordOwner(q.patient, st)))
	}
	if rule, err := g.cfg.Ledger.Residency(q.patient); err == nil && rule.Limited() {
		fmt.Fprintf(w, "residency %s: %s\n", rule, placedWords(len(place), g.replicas()))
	}
}

// Magic bytes of each kind of key material (packages seal and escrow):
// a blob is served as key material only if it is what the ledger says it
// is, so a record's ciphertext (which begins "PTOYREC") is never served
// here, whatever a transaction claims.
var keyMagic = map[ledger.KeyKind]string{
	ledger.KeyBundle:   "PTOYBND1",
	ledger.KeySet:      "PTOYKEY1",
	ledger.Escrow:      "PTOYESC1",
	ledger.EscrowShare: "PTOYESR1",
}

// keyMaterialRule decides whether a may read key material h: some
// reference to h on the ledger names a as its holder or its patient, or
// h is a key set (public keys, which writers need).
func (g *Gateway) keyMaterialRule(a *pb.Account, h blob.Hash) (ref ledger.KeyRef, allow bool, reason string) {
	g.mu.Lock()
	refs := g.keys[h]
	g.mu.Unlock()
	if len(refs) == 0 {
		return ref, false, "no such key material"
	}
	id := ptoy.ID(a.Id)
	for _, r := range refs {
		switch {
		case r.Kind == ledger.KeySet:
			return r, true, "a patient's public keys"
		case r.Holder == id && !r.Holder.IsZero():
			return r, true, "key material sealed to its holder"
		case r.Patient == id:
			return r, true, "the patient's own key material"
		}
	}
	return refs[0], false, "key material is served to its holder and its patient only"
}

// getBlob serves key material through the door: key sets to anyone with
// an account, key bundles and escrow shares to their holders and
// patients, each fetch recorded in the patient's audit trail. The blob
// must have the format its reference on the ledger says.
func (g *Gateway) getBlob(w http.ResponseWriter, r *http.Request) {
	a, err := g.caller(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	h, err := pathHash(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	ref, allow, reason := g.keyMaterialRule(a, h)
	if ref.Hash == nil {
		g.fail(w, ptoy.E("gateway", ptoy.NotFound, "no such key material"))
		return
	}
	if ref.Kind != ledger.KeySet || ref.Patient == ptoy.ID(a.Id) {
		_, err = g.cfg.Door.Enter(r.Context(), door.Access{
			Reader: ptoy.ID(a.Id), Patient: ref.Patient, Action: "key-material", Object: "key-material:" + h.String()[:16],
			Purpose: pb.Purpose_PURPOSE_TREATMENT, Rule: func() (bool, string) { return allow, reason },
		})
		if err != nil {
			if ptoy.KindOf(err) == ptoy.PermissionDenied {
				err = ptoy.E("gateway", ptoy.NotFound, "no such key material, or it is not yours")
			}
			g.fail(w, err)
			return
		}
	}
	b, err := g.KeyMaterial(r.Context(), ref.Patient, h)
	if err != nil {
		g.fail(w, err)
		return
	}
	if !IsKeyMaterial(b, ref) {
		g.cfg.Log.Warn("gateway: a ledger reference names a blob that is not key material", "blob", h.String()[:12])
		g.fail(w, ptoy.E("gateway", ptoy.NotFound, "no such key material"))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("X-Ptoy-Hash", h.String())
	w.Write(b)
}

// IsKeyMaterial reports whether b has the format of key material of
// ref's kind (seal's and escrow's magic bytes), and a key set names ref's
// patient. A record's ciphertext never is key material.
func IsKeyMaterial(b []byte, ref ledger.KeyRef) bool {
	m := keyMagic[ref.Kind]
	if m == "" || !bytes.HasPrefix(b, []byte(m)) {
		return false
	}
	if ref.Kind == ledger.KeySet {
		return len(b) >= len(m)+ptoy.IDLen && bytes.Equal(b[len(m):len(m)+ptoy.IDLen], ref.Patient[:])
	}
	return true
}

// readAll reads a small blob into memory, checking its hash.
func readAll(rc io.ReadCloser, h blob.Hash, max int64) ([]byte, error) {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, ptoy.E("gateway", ptoy.Unavailable, err)
	}
	if blob.Sum(b) != h {
		return nil, ptoy.E("gateway", ptoy.Other, fmt.Sprintf("blob %s does not match its hash", h.String()[:12]))
	}
	return b, nil
}
