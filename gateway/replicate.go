package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"ptoy"
	"ptoy/blob"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/internal/par"
	"ptoy/ledger"
	"ptoy/store"
)

// peers maps the storage nodes' organisations to their base URLs.
func (g *Gateway) peers() map[ptoy.ID]string {
	if g.cfg.Members != nil {
		return g.cfg.Members()
	}
	return g.cfg.Peers
}

// storageNodes are the organisations whose nodes store ciphertext, as
// the placement function sees them (hex ids, sorted). With static Peers
// this node is always one of them; with Members, only while the ledger
// says so.
func (g *Gateway) storageNodes() []string {
	var ids []string
	peers := g.peers()
	for id := range peers {
		ids = append(ids, id.String())
	}
	if _, ok := peers[g.cfg.Org]; !ok && g.cfg.Members == nil {
		ids = append(ids, g.cfg.Org.String())
	}
	slices.Sort(ids)
	return ids
}

func (g *Gateway) replicas() int {
	p, err := g.cfg.Ledger.Params()
	if err != nil || p.Replicas == 0 {
		return 3
	}
	return int(p.Replicas)
}

// placement returns the organisations (hex ids) that hold blob h, a blob
// of patient's: the storage nodes the patient's residency rule allows
// (see eligible), chosen by rendezvous hashing.
func (g *Gateway) placement(h blob.Hash, patient ptoy.ID) []string {
	return blob.Place(h, g.eligible(patient), g.replicas())
}

// committed runs after each block: it queues the new records this node
// must hold, asks for a repair pass when the membership changed, deletes the ciphertext of erased records, remembers new key
// material, and stops counting referenced uploads against their uploader.
func (g *Gateway) committed(c ledger.Committed) {
	queued := false
	var pl *placer // made at the first record: most blocks have none
	for _, w := range c.Writes {
		if ledger.PlacementKey(w.Key) {
			// An organisation was admitted, its node removed or its
			// jurisdiction changed, or a residency rule changed: placement
			// may now put blobs on this node that it lacks, or take away
			// blobs it may no longer keep.
			select {
			case g.rescan <- struct{}{}:
			default:
			}
		}
		if patient, _, _, ok := ledger.ParseRecordKey(w.Key); ok && w.Value != nil {
			st := new(pb.RecordState)
			if err := unmarshalRecord(w.Value, st); err != nil {
				continue
			}
			h := blob.Hash(st.Entry.Hash)
			g.pending.release(h)
			if pl == nil {
				pl = g.newPlacer()
			}
			here, hold := pl.here(h, patient), pl.patient(patient).hold
			g.mu.Lock()
			if st.Erased {
				g.erased = append(g.erased, h)
				queued = true
			} else if here {
				g.want[h] = recordOwner(patient, st)
				queued = true
			} else if !hold {
				// Written here though the patient's rule does not allow
				// this node (through its FHIR API, say): it leaves once
				// the allowed nodes hold it.
				g.evict[h] = recordOwner(patient, st)
				queued = true
			}
			g.mu.Unlock()
			continue
		}
		for _, r := range ledger.KeyMaterial(w.Key, w.Value) {
			h := blob.Hash(r.Hash)
			g.pending.release(h)
			g.mu.Lock()
			g.addKeyRef(r)
			g.want[h] = owner{patient: r.Patient} // key material is small: every node keeps it
			g.mu.Unlock()
			queued = true
		}
	}
	if queued {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
}

// ScrubCycle is how long a full scrub of a node's blobs takes: each
// repair pass re-reads one slice of them, so that a pass costs a
// fraction of reading everything. The first pass after start reads all.
const ScrubCycle = 10 * time.Minute

// ScrubSlices is the number of repair passes, repairEvery apart, over
// which Run spreads a full scrub (at least 1).
func ScrubSlices(repairEvery time.Duration) int {
	if repairEvery <= 0 {
		return 1
	}
	return max(1, int(ScrubCycle/repairEvery))
}

// Run replicates until ctx ends: it pulls what this node should hold as
// blocks commit, and every repairEvery (and when the membership changes)
// it checks that it holds every blob placed on it (a wiped data
// directory, a placement that now includes it), scrubs a slice of what
// it holds (a corrupted blob; everything on the first pass) and collects
// unreferenced uploads.
func (g *Gateway) Run(ctx context.Context, repairEvery time.Duration) {
	g.scrubMu.Lock()
	g.scrubSlices = ScrubSlices(repairEvery)
	g.scrubMu.Unlock()
	if err := g.loadKeyMaterial(); err != nil {
		g.cfg.Log.Error("gateway: loading key material", "err", err)
	}
	g.Repair(ctx)
	t := time.NewTicker(repairEvery)
	defer t.Stop()
	backoff := retryFirst
	for {
		g.pullWanted(ctx)
		g.evictMoved(ctx)
		// What no peer could give yet (a peer that has not committed the
		// block that references it) is asked again soon, then less often;
		// so is ciphertext waiting for its new holders before it leaves.
		var retry <-chan time.Time
		if g.Backlog() > 0 || g.leaving() > 0 {
			retry = time.After(backoff)
			backoff = min(2*backoff, repairEvery)
		} else {
			backoff = retryFirst
		}
		select {
		case <-ctx.Done():
			return
		case <-retry:
		case <-g.wake:
		case <-g.rescan:
			g.Repair(ctx)
		case <-t.C:
			g.Repair(ctx)
		}
	}
}

// retryFirst is how soon a blob no peer could give is asked for again;
// each further miss doubles the wait, up to the repair interval.
const retryFirst = 250 * time.Millisecond

// Backlog is the number of blobs this node should hold and is still
// pulling from its peers (the replication backlog).
func (g *Gateway) Backlog() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.want)
}

// Pulled is how many blobs this node has pulled from its peers since it
// started, in batches (POST /v1/replicas) and one by one.
func (g *Gateway) Pulled() (batched, single int64) {
	return g.pulledBatch.Load(), g.pulledSingle.Load()
}

// StoredBytes is the size of the ciphertext this node held at its last
// repair pass (-1 before the first).
func (g *Gateway) StoredBytes() int64 { return g.stored.Load() }

func (g *Gateway) loadKeyMaterial() error {
	return g.cfg.Ledger.AllKeyMaterial(func(r ledger.KeyRef) {
		g.mu.Lock()
		g.addKeyRef(r)
		g.mu.Unlock()
	})
}

// pullWanted fetches every wanted blob this node lacks from its peers and
// deletes erased ones. A blob no peer can give stays wanted.
func (g *Gateway) pullWanted(ctx context.Context) {
	g.mu.Lock()
	want := map[blob.Hash]owner{}
	for h, o := range g.want {
		want[h] = o
	}
	erased := g.erased
	g.erased = nil
	g.mu.Unlock()
	for _, h := range erased {
		if err := g.cfg.Blobs.Delete(ctx, h); err != nil {
			g.cfg.Log.Warn("gateway: deleting an erased blob", "blob", h.String()[:12], "err", err)
		}
	}
	var lack []blob.Hash
	for h := range want {
		if _, err := g.cfg.Blobs.Stat(ctx, h); err == nil {
			g.done(h)
			continue
		}
		lack = append(lack, h)
	}
	// In batches from the peer each blob should be asked of first; what
	// that does not give, a few at a time from any peer: each is a round
	// trip and a synced write, and the store syncs concurrent writes
	// together.
	left := g.pullBatches(ctx, lack, want)
	par.Each(len(left), pullWorkers, func(i int) {
		if ctx.Err() == nil {
			g.pull(ctx, left[i], want[left[i]])
		}
	})
}

// pullWorkers is how many blobs a node pulls from its peers at once.
const pullWorkers = 8

// pull fetches one wanted blob this node lacks (pullWanted checked);
// one no peer can give stays wanted.
func (g *Gateway) pull(ctx context.Context, h blob.Hash, o owner) {
	rc, _, err := g.fetch(ctx, h, o)
	if err != nil {
		return // try again at the next wake or repair
	}
	_, err = g.cfg.Blobs.Put(ctx, rc, 1<<40, &h)
	rc.Close()
	if err == nil {
		g.done(h)
		g.pulledSingle.Add(1)
		g.cfg.Log.Debug("gateway: replicated", "blob", h.String()[:12])
	}
}

// wantBlob queues h, o's blob, for pulling from peers.
func (g *Gateway) wantBlob(h blob.Hash, o owner) {
	g.mu.Lock()
	g.want[h] = o
	g.mu.Unlock()
}

func (g *Gateway) done(h blob.Hash) {
	g.mu.Lock()
	delete(g.want, h)
	g.mu.Unlock()
}

// fetch reads blob h from the first peer that has it. The content is
// checked against h as it is stored, so a peer serving corrupt bytes is
// caught.
func (g *Gateway) fetch(ctx context.Context, h blob.Hash, o owner) (io.ReadCloser, int64, error) {
	peers := g.peers()
	for _, id := range fetchOrder(o.via, g.placement(h, o.patient), g.storageNodes()) {
		if id == g.cfg.Org.String() {
			continue
		}
		oid, _ := ptoy.ParseID(id)
		base, ok := peers[oid]
		if !ok || base == "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/replica/"+h.String()+"?"+o.query(), nil)
		if err != nil || g.sign(req) != nil {
			continue
		}
		resp, err := g.cfg.Client.Do(req)
		if err != nil {
			continue
		}
		if resp.StatusCode != http.StatusOK {
			discard(resp)
			continue
		}
		// The bytes are checked against h by whoever consumes them: the
		// store when it keeps them, the reader's client when it is served.
		return resp.Body, resp.ContentLength, nil
	}
	return nil, 0, ptoy.E("gateway.fetch", ptoy.Unavailable, fmt.Sprintf("no peer could give blob %s", h.String()[:12]))
}

// fetchOrder is the order in which fetch asks the storage nodes for a
// blob: the node of the organisation it was written through, which took
// it first, then the nodes placement puts it on (which may still be
// pulling it), then the others.
func fetchOrder(via ptoy.ID, placed, storage []string) []string {
	var order []string
	if !via.IsZero() {
		order = append(order, via.String())
	}
	for _, list := range [][]string{placed, storage} {
		for _, id := range list {
			if !slices.Contains(order, id) {
				order = append(order, id)
			}
		}
	}
	return order
}

// holds asks a storage node whether it holds h ("held", "missing" or
// "unreachable").
func (g *Gateway) holds(ctx context.Context, org string, h blob.Hash, o owner) string {
	if org == g.cfg.Org.String() {
		if _, err := g.cfg.Blobs.Stat(ctx, h); err == nil {
			return "held"
		}
		return "missing"
	}
	oid, _ := ptoy.ParseID(org)
	base, ok := g.peers()[oid]
	if !ok || base == "" {
		return "unreachable"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, base+"/v1/replica/"+h.String()+"?"+o.query(), nil)
	if err != nil || g.sign(req) != nil {
		return "unreachable"
	}
	resp, err := g.cfg.Client.Do(req)
	if err != nil {
		return "unreachable"
	}
	discard(resp)
	if resp.StatusCode == http.StatusOK {
		return "held"
	}
	return "missing"
}

// discard reads what is left of a short answer's body and closes it, so
// that its connection is kept for the next request to the peer (a body
// closed unread closes the connection).
func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// Repair finds the blobs placed on this node that it lacks or holds
// corrupted, queues them for pulling from peers, queues for moving away
// the ciphertext it holds of patients whose residency rule no longer
// allows this node (see evictMoved), and deletes uploads that
// nothing on the ledger references once they are older than the upload
// time-to-live. Every pass checks that each blob exists; the content is
// re-read for this pass's slice only (see ScrubCycle).
func (g *Gateway) Repair(ctx context.Context) {
	// What is held here, listed once: the pass checks each blob placed
	// here against it, and collects from it.
	held, err := g.listHeld(ctx)
	if err != nil {
		g.cfg.Log.Warn("gateway: repair listing", "err", err)
		return
	}
	pl := g.newPlacer()
	short := 0
	referenced, err := g.referenced(ctx, func(h blob.Hash, o owner) {
		pp := pl.patient(o.patient)
		if pp.short {
			short++
		}
		_, here := held.added[h]
		if pl.here(h, o.patient) {
			if !here {
				g.wantBlob(h, o)
			}
			return
		}
		if !pp.hold && here {
			g.evictLater(h, o)
		}
	})
	if err != nil {
		g.cfg.Log.Warn("gateway: repair scan", "err", err)
		return
	}
	g.short.Store(int64(short))
	g.mu.Lock()
	for h, rs := range g.keys {
		g.want[h] = owner{patient: rs[0].Patient}
	}
	g.mu.Unlock()
	g.scrub(ctx, referenced)
	g.collect(ctx, g.cfg.Now().Add(-g.cfg.UploadTTL), referenced, held)
	g.forwarded.expire(g.cfg.Now().Add(-g.cfg.UploadTTL))
}

// heldBlobs is what a node's blob store held when it was listed.
type heldBlobs struct {
	added map[blob.Hash]time.Time
	bytes int64
}

// listHeld lists the blobs held here.
func (g *Gateway) listHeld(ctx context.Context) (heldBlobs, error) {
	held := heldBlobs{added: map[blob.Hash]time.Time{}}
	err := g.cfg.Blobs.List(ctx, func(i blob.Info) error {
		held.added[i.Hash] = i.Added
		held.bytes += i.Size
		return nil
	})
	return held, err
}

// scrub re-reads this pass's slice of the blobs held here: all of them on
// the first pass, then slice i of ScrubSlices on pass i+1. A corrupt blob
// is deleted and, if the ledger references it, fetched again. It returns
// the slice and how many blobs it checked.
func (g *Gateway) scrub(ctx context.Context, referenced map[blob.Hash]owner) (blob.Slice, int) {
	g.scrubMu.Lock()
	var sl blob.Slice
	if g.scrubPass > 0 && g.scrubSlices > 1 {
		sl = blob.Slice{I: (g.scrubPass - 1) % g.scrubSlices, N: g.scrubSlices}
	}
	g.scrubPass++
	g.scrubMu.Unlock()
	n, err := g.cfg.Blobs.Scrub(ctx, sl, func(h blob.Hash, err error) {
		g.cfg.Log.Warn("gateway: corrupt blob, fetching it again", "blob", h.String()[:12])
		g.cfg.Blobs.Delete(ctx, h)
		if o, ok := referenced[h]; ok {
			g.wantBlob(h, o)
		}
	})
	if err != nil && ctx.Err() == nil {
		g.cfg.Log.Warn("gateway: scrub", "err", err)
	}
	return sl, n
}

// collect deletes the blobs of held added before cutoff that nothing on
// the ledger references, and says how many it deleted.
func (g *Gateway) collect(ctx context.Context, cutoff time.Time, referenced map[blob.Hash]owner, held heldBlobs) int {
	g.stored.Store(held.bytes)
	n := 0
	for h, added := range held.added {
		if _, ok := referenced[h]; ok || !added.Before(cutoff) {
			continue
		}
		if g.cfg.Blobs.Delete(ctx, h) == nil {
			g.pending.release(h)
			n++
		}
	}
	return n
}

// CollectUploads deletes the uploads added before cutoff that no
// committed transaction references (record versions not erased, key
// material), and says how many it deleted. Repair does this with the
// upload time-to-live; tools and tests may call it directly.
func (g *Gateway) CollectUploads(ctx context.Context, cutoff time.Time) (int, error) {
	held, err := g.listHeld(ctx)
	if err != nil {
		return 0, err
	}
	referenced, err := g.referenced(ctx, func(blob.Hash, owner) {})
	if err != nil {
		return 0, err
	}
	return g.collect(ctx, cutoff, referenced, held), nil
}

// referenced returns the blobs the ledger references: the ciphertext of
// every record version not erased (each also passed to record) and the
// key material.
func (g *Gateway) referenced(ctx context.Context, record func(blob.Hash, owner)) (map[blob.Hash]owner, error) {
	refs := map[blob.Hash]owner{}
	err := g.cfg.Ledger.AllRecords(func(patient ptoy.ID, st *pb.RecordState) error {
		if !st.Erased {
			h := blob.Hash(st.Entry.Hash)
			o := recordOwner(patient, st)
			refs[h] = o
			record(h, o)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	for h, rs := range g.keys {
		refs[h] = owner{patient: rs[0].Patient}
	}
	g.mu.Unlock()
	return refs, nil
}

func unmarshalRecord(v []byte, st *pb.RecordState) error {
	if err := protoUnmarshal(v, st); err != nil {
		return store.ErrCorrupt(err)
	}
	return nil
}
