package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"ptoy"
	"ptoy/audit"
	"ptoy/blob"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/seal"
)

// releaseKey gives an employee one category key of a patient who granted
// this node's organisation access: the node opens the organisation's key
// bundle and seals the one key to the employee's own encryption key,
// after Decide says the employee's role and the grant cover the category,
// and after the audit event is durable. The node already holds the
// organisation's keys; the employee gets only what its role allows.
//
//	GET /v1/keys/{patient}/{category}/{epoch}   (X-Ptoy-Org: this node's organisation)
func (g *Gateway) releaseKey(w http.ResponseWriter, r *http.Request) {
	a, err := g.caller(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	patient, err := pathID(r, "patient")
	if err != nil {
		g.fail(w, err)
		return
	}
	c, err1 := strconv.ParseUint(r.PathValue("category"), 10, 8)
	epoch, err2 := strconv.ParseUint(r.PathValue("epoch"), 10, 32)
	if err1 != nil || err2 != nil || c == 0 || c > 31 {
		g.fail(w, ptoy.E("gateway", ptoy.Invalid, "category and epoch are numbers"))
		return
	}
	cat := pb.Category(c)
	if org := r.Header.Get(HeaderOrg); org != g.cfg.Org.String() {
		// Only the organisation's own node holds its key: pass the signed
		// request on to it.
		g.forwardKeyRequest(w, r, org)
		return
	}
	purpose, err := purposeOf(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	d := g.decide(consent.Request{
		Reader: ptoy.ID(a.Id), Patient: patient, Categories: consent.Bit(cat), Action: consent.Read, Purpose: purpose, Org: g.cfg.Org,
	})
	ev := audit.Event{
		Time: g.cfg.Now(), Node: g.cfg.Node, Actor: ptoy.ID(a.Id), Patient: patient, Action: "key-release",
		Record: fmt.Sprintf("category:%s epoch:%d", consent.CategoryName(cat), epoch), Purpose: consent.PurposeName(purpose),
		Decision: audit.Deny, Reason: d.Reason(),
	}
	if d.Allow {
		ev.Decision = audit.Allow
	}
	if _, err := g.cfg.Audit.Append(r.Context(), ev); err != nil {
		g.fail(w, ptoy.E("gateway", ptoy.Unavailable, "the access could not be recorded; nothing was released", err))
		return
	}
	if !d.Allow {
		g.fail(w, ptoy.E("gateway", ptoy.PermissionDenied, d.Reason()))
		return
	}
	if d.Via == consent.ViaBreakGlass {
		// Emergency keys come from the patient's escrow (escrow.go).
		g.releaseEmergencyKey(w, r, a, patient, seal.Category(cat), uint32(epoch))
		return
	}
	gs, err := g.cfg.Ledger.Grant(patient, g.cfg.Org)
	if err != nil || len(gs.Grant.KeyBundle) != 32 {
		g.fail(w, ptoy.E("gateway", ptoy.NotFound, "the organisation holds no key bundle from this patient"))
		return
	}
	raw, err := g.blobBytes(r, blob.Hash(gs.Grant.KeyBundle))
	if err != nil {
		g.fail(w, err)
		return
	}
	held, err := seal.OpenBundle(patient, g.cfg.Org, g.cfg.OrgKEM, raw)
	if err != nil {
		g.fail(w, err)
		return
	}
	g.sendKey(w, patient, a, held, seal.Category(cat), uint32(epoch),
		"the organisation's bundle has no key for that category and epoch (a key from after a revocation is never given to a revoked party)")
}

// sendKey answers a key release: the key of category c and epoch among
// held, sealed to the reader's own encryption key as a one-key bundle, or
// ptoy.NotFound with missing.
func (g *Gateway) sendKey(w http.ResponseWriter, patient ptoy.ID, reader *pb.Account, held []seal.PrivateKey, c seal.Category, epoch uint32, missing string) {
	for _, k := range held {
		if k.Category == c && k.Epoch == epoch {
			out, err := seal.SealBundle(patient, ptoy.ID(reader.Id), uint16(reader.Kem.Alg), reader.Kem.Key, []seal.PrivateKey{k})
			if err != nil {
				g.fail(w, err)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(out)
			return
		}
	}
	g.fail(w, ptoy.E("gateway", ptoy.NotFound, missing))
}

// blobBytes reads a small blob from this node or a peer, checking its hash.
func (g *Gateway) blobBytes(r *http.Request, h blob.Hash) ([]byte, error) {
	rc, _, err := g.cfg.Blobs.Get(r.Context(), h)
	if ptoy.KindOf(err) == ptoy.NotFound {
		rc, _, err = g.fetch(r.Context(), h)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	if err != nil {
		return nil, ptoy.E("gateway", ptoy.Unavailable, err)
	}
	if blob.Sum(b) != h {
		return nil, ptoy.E("gateway", ptoy.Other, "a key bundle does not match its hash")
	}
	return bytes.Clone(b), nil
}

// forwardKeyRequest relays a key request to the node of the organisation
// it names. The request's signature covers the method, path and time,
// not the host, so it verifies there too.
func (g *Gateway) forwardKeyRequest(w http.ResponseWriter, r *http.Request, org string) {
	oid, err := ptoy.ParseID(org)
	base, ok := g.cfg.Peers[oid]
	if err != nil || !ok {
		g.fail(w, ptoy.E("gateway", ptoy.NotFound, "keys are released by the node of the organisation you read for ("+HeaderOrg+"); no such node is known"))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, base+r.URL.RequestURI(), nil)
	if err != nil {
		g.fail(w, ptoy.E("gateway", ptoy.Invalid, err))
		return
	}
	for _, h := range []string{"Authorization", HeaderOrg, HeaderPurpose} {
		req.Header.Set(h, r.Header.Get(h))
	}
	resp, err := g.cfg.Client.Do(req)
	if err != nil {
		g.fail(w, ptoy.E("gateway", ptoy.Unavailable, "the organisation's node cannot be reached", err))
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, io.LimitReader(resp.Body, 1<<20))
}
