package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"ptoy"
	"ptoy/blob"
	"ptoy/escrow"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/seal"
)

// maxKeyMaterial bounds a blob of key material read into memory: an
// escrow is at most 2 MiB.
const maxKeyMaterial = 4 << 20

// KeyMaterial reads a small blob of a patient's key material (a key
// bundle, an escrow, a released escrow share) from this node's store, or
// else from a peer, and checks it against its hash. It is for this
// node's own use (opening its organisation's bundles, the escrow); it is
// ptoy.Unavailable if no node can give it.
func (g *Gateway) KeyMaterial(ctx context.Context, patient ptoy.ID, h blob.Hash) ([]byte, error) {
	rc, _, err := g.cfg.Blobs.Get(ctx, h)
	if ptoy.KindOf(err) == ptoy.NotFound {
		rc, _, err = g.fetch(ctx, h, owner{patient: patient})
	}
	if err != nil {
		return nil, err
	}
	return readAll(rc, h, maxKeyMaterial)
}

// releaseEmergencyKey is releaseKey for a read that break-glass allows:
// this node, the node of the emergency physician's organisation, collects
// the escrow shares the validators released for the break-glass,
// recovers the patient's emergency keys with the organisation's key and
// seals the one category key asked for to the physician. Until enough
// shares are out it answers 503, saying how many are.
func (g *Gateway) releaseEmergencyKey(w http.ResponseWriter, r *http.Request, a *pb.Account, patient ptoy.ID, c seal.Category, epoch uint32) {
	ev, err := g.cfg.Ledger.ConsentState().BreakGlass(patient, ptoy.ID(a.Id))
	if err != nil {
		g.fail(w, err)
		return
	}
	if ev == nil || ptoy.ID(ev.Org) != g.cfg.Org {
		g.fail(w, ptoy.E("gateway", ptoy.PermissionDenied, "no break-glass of yours for this organisation"))
		return
	}
	ks, err := g.emergencyKeys(r.Context(), patient, ev)
	if err != nil {
		g.fail(w, err)
		return
	}
	g.sendKey(w, patient, a, ks, c, epoch, "the patient's emergency escrow holds no key for that category and epoch")
}

// emergencyKeys returns the patient's emergency keys recovered from the
// shares released for break-glass ev, from the cache while its window is
// open.
func (g *Gateway) emergencyKeys(ctx context.Context, patient ptoy.ID, ev *pb.BreakGlassEvent) ([]seal.PrivateKey, error) {
	ksState, err := g.cfg.Ledger.KeySet(patient)
	if err != nil || len(ksState.Escrow) != 32 {
		return nil, ptoy.E("gateway", ptoy.NotFound, "the patient has published no emergency escrow")
	}
	id := recoveredID{org: g.cfg.Org, patient: patient, glass: ev.Id, escrow: blob.Hash(ksState.Escrow)}
	now := g.cfg.Now()
	if ks, ok := g.recovered.get(id, now); ok {
		return ks, nil
	}
	esc, err := g.KeyMaterial(ctx, patient, id.escrow)
	if err != nil {
		return nil, err
	}
	var released [][]byte
	for _, h := range ev.Shares {
		if len(h) != 32 {
			continue
		}
		if b, err := g.KeyMaterial(ctx, patient, blob.Hash(h)); err == nil {
			released = append(released, b)
		}
	}
	ks, err := escrow.Recover(esc, patient, g.cfg.Org, released, g.cfg.OrgKEM)
	if ptoy.KindOf(err) == ptoy.Unavailable {
		have, need, perr := escrow.Progress(esc, patient, g.cfg.Org, released, g.cfg.OrgKEM)
		if perr != nil {
			return nil, perr
		}
		return nil, ptoy.E("gateway", ptoy.Unavailable, fmt.Sprintf("waiting for emergency key shares (%d of %d released)", have, need))
	}
	if err != nil {
		return nil, err
	}
	g.recovered.put(id, ks, time.Unix(ev.Closes, 0), now)
	return ks, nil
}

// recoveredID names the emergency keys an organisation recovered for a
// break-glass from one escrow of the patient.
type recoveredID struct {
	org, patient ptoy.ID
	glass        uint64
	escrow       blob.Hash
}

type recoveredKeys struct {
	keys   []seal.PrivateKey
	closes time.Time
}

// recoveredCache keeps recovered emergency keys until their break-glass
// window closes, so that each read of an emergency does not recombine
// the shares; closed windows' keys are cleared and dropped.
type recoveredCache struct {
	mu sync.Mutex
	m  map[recoveredID]recoveredKeys
}

func (c *recoveredCache) get(id recoveredID, now time.Time) ([]seal.PrivateKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	e, ok := c.m[id]
	return copyKeys(e.keys), ok
}

func (c *recoveredCache) put(id recoveredID, ks []seal.PrivateKey, closes, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	if closes.After(now) {
		if c.m == nil {
			c.m = map[recoveredID]recoveredKeys{}
		}
		c.m[id] = recoveredKeys{keys: copyKeys(ks), closes: closes}
	}
}

// sweep drops the keys of closed windows.
func (c *recoveredCache) sweep(now time.Time) {
	for id, e := range c.m {
		if !e.closes.After(now) {
			for _, k := range e.keys {
				clear(k.Key)
			}
			delete(c.m, id)
		}
	}
}

// copyKeys copies keys and their key material: what the cache holds is
// its own, cleared when dropped.
func copyKeys(ks []seal.PrivateKey) []seal.PrivateKey {
	out := make([]seal.PrivateKey, len(ks))
	for i, k := range ks {
		out[i] = k
		out[i].Key = bytes.Clone(k.Key)
	}
	return out
}

// maxRecord bounds a record's ciphertext read into memory by this node's
// own edges (the FHIR API): a record larger than this is served only as
// ciphertext, through the gateway.
const maxRecord = 64 << 20

// Ciphertext reads a record version's ciphertext from this node's store,
// or else from a placement peer, and checks it against the ledger's
// hash. It is for this node's own edges, after they passed the door.
func (g *Gateway) Ciphertext(ctx context.Context, patient ptoy.ID, st *pb.RecordState) ([]byte, error) {
	h := blob.Hash(st.Entry.Hash)
	rc, _, err := g.cfg.Blobs.Get(ctx, h)
	if ptoy.KindOf(err) == ptoy.NotFound {
		rc, _, err = g.fetch(ctx, h, recordOwner(patient, st))
	}
	if err != nil {
		return nil, err
	}
	return readAll(rc, h, maxRecord)
}

// OrgKeys opens the key bundle the patient's grant gave this node's
// organisation: the category keys the organisation may decrypt with. It
// is ptoy.NotFound when the organisation holds no bundle from the
// patient (no grant, or one without read).
func (g *Gateway) OrgKeys(ctx context.Context, patient ptoy.ID) ([]seal.PrivateKey, blob.Hash, error) {
	gs, err := g.cfg.Ledger.Grant(patient, g.cfg.Org)
	if err != nil || gs == nil || gs.Status != pb.GrantStatus_GRANT_STATUS_ACTIVE || len(gs.Grant.KeyBundle) != blob.HashLen {
		return nil, blob.Hash{}, ptoy.E("gateway.OrgKeys", ptoy.NotFound, "the organisation holds no key bundle from this patient")
	}
	h := blob.Hash(gs.Grant.KeyBundle)
	raw, err := g.KeyMaterial(ctx, patient, h)
	if err != nil {
		return nil, h, err
	}
	ks, err := seal.OpenBundle(patient, g.cfg.Org, g.cfg.OrgKEM, raw)
	return ks, h, err
}

// EmergencyKeys recovers the patient's emergency keys for this node's
// organisation, under its latest break-glass for the patient that is
// still open: ptoy.NotFound if none is, ptoy.Unavailable while too few
// escrow shares are released. The keys open the emergency set only.
func (g *Gateway) EmergencyKeys(ctx context.Context, patient ptoy.ID) ([]seal.PrivateKey, error) {
	evs, err := g.cfg.Ledger.BreakGlassOf(patient)
	if err != nil {
		return nil, err
	}
	now := g.cfg.Ledger.BlockTime().Unix()
	var open *pb.BreakGlassEvent
	for _, ev := range evs {
		if ptoy.ID(ev.Org) == g.cfg.Org && ev.Opened <= now && now < ev.Closes && (open == nil || ev.Id > open.Id) {
			open = ev
		}
	}
	if open == nil {
		return nil, ptoy.E("gateway.EmergencyKeys", ptoy.NotFound, "no break-glass of this organisation's is open for the patient")
	}
	return g.emergencyKeys(ctx, patient, open)
}
