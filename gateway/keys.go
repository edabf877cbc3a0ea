package gateway

import (
	"fmt"
	"net/http"
	"strconv"

	"ptoy"
	"ptoy/blob"
	"ptoy/consent"
	"ptoy/door"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/seal"
)

// HeaderNode is set on a 421 answer to a request sent to the wrong node:
// the base URL of the node that answers it.
const HeaderNode = "X-Ptoy-Node"

// releaseKey gives an employee one category key of a patient who granted
// this node's organisation access: the node opens the organisation's key
// bundle and seals the one key to the employee's own encryption key,
// after the door (Decide: the employee's role and the grant cover the
// category; the audit event durable). The node already holds the
// organisation's keys; the employee gets only what its role allows.
//
//	GET /v1/keys/{patient}/{category}/{epoch}   (X-Ptoy-Org: this node's organisation)
//
// A request for another organisation is not passed on (a node never
// forwards a caller's credentials): it is answered 421 with that
// organisation's node in X-Ptoy-Node, where the caller asks again.
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
	org, err := orgOf(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	if org != g.cfg.Org {
		g.misdirected(w, org)
		return
	}
	purpose, err := purposeOf(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	pass, err := g.cfg.Door.Enter(r.Context(), door.Access{
		Reader: ptoy.ID(a.Id), Patient: patient, Action: "key-release",
		Object:  fmt.Sprintf("category:%s epoch:%d", consent.CategoryName(cat), epoch),
		Purpose: purpose, Org: g.cfg.Org, Consent: &consent.Request{Categories: consent.Bit(cat)},
	})
	if err != nil {
		g.fail(w, err)
		return
	}
	if pass.Decision.Via == consent.ViaBreakGlass {
		// Emergency keys come from the patient's escrow (escrow.go).
		g.releaseEmergencyKey(w, r, a, patient, seal.Category(cat), uint32(epoch))
		return
	}
	gs, err := g.cfg.Ledger.Grant(patient, g.cfg.Org)
	if err != nil || len(gs.Grant.KeyBundle) != 32 {
		g.fail(w, ptoy.E("gateway", ptoy.NotFound, "the organisation holds no key bundle from this patient"))
		return
	}
	raw, err := g.KeyMaterial(r.Context(), patient, blob.Hash(gs.Grant.KeyBundle))
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

// misdirected answers a request that another organisation's node must
// answer: 421, with that node's URL when it is known.
func (g *Gateway) misdirected(w http.ResponseWriter, org ptoy.ID) {
	base, ok := g.peers()[org]
	if org.IsZero() || !ok || base == "" {
		g.fail(w, ptoy.E("gateway", ptoy.NotFound, "keys are released by the node of the organisation you read for ("+HeaderOrg+"); no such node is known"))
		return
	}
	w.Header().Set(HeaderNode, base)
	http.Error(w, "keys for "+org.String()+" are released by its own node: ask "+base, http.StatusMisdirectedRequest)
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
			w.Header().Set("Cache-Control", "no-store")
			w.Write(out)
			return
		}
	}
	g.fail(w, ptoy.E("gateway", ptoy.NotFound, missing))
}
