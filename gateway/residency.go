package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"ptoy"
	"ptoy/blob"
	pb "ptoy/gen/ptoy/v1"
)

// Data residency: a patient's ciphertext is placed only on the storage
// nodes whose declared jurisdiction the patient's rule (and the
// network's) allows. An upload that names its patient (?patient=) is
// refused when no member node is allowed, and handed on to an allowed
// node when this one is not; after a rule narrows, or a node's
// jurisdiction changes, repair moves what a node may no longer keep: the
// allowed nodes pull it, and only once each of them holds it does this
// node delete its copy. Key material (public key sets, sealed key
// bundles, escrow shares: no clinical content) stays on every node.

// jurisdictions returns the jurisdiction each member organisation
// declares for its storage node.
func (g *Gateway) jurisdictions() map[ptoy.ID]string {
	if g.cfg.Jurisdictions == nil {
		return nil
	}
	return g.cfg.Jurisdictions()
}

// eligible returns the storage nodes (hex ids, sorted) that patient's
// residency rule allows: all of them when no rule limits placement, none
// when the rule cannot be read.
func (g *Gateway) eligible(patient ptoy.ID) []string {
	nodes := g.storageNodes()
	rule, err := g.cfg.Ledger.Residency(patient)
	if err != nil {
		g.cfg.Log.Warn("gateway: reading a residency rule", "err", err)
		return nil
	}
	if !rule.Limited() {
		return nodes
	}
	juris := g.jurisdictions()
	out := nodes[:0:0]
	for _, id := range nodes {
		oid, _ := ptoy.ParseID(id)
		if rule.Allows(juris[oid]) {
			out = append(out, id)
		}
	}
	return out
}

// mayHold reports whether patient's residency rule allows this node to
// keep their ciphertext (true when the rule cannot be read: nothing is
// deleted on a doubt).
func (g *Gateway) mayHold(patient ptoy.ID) bool {
	rule, err := g.cfg.Ledger.Residency(patient)
	if err != nil || !rule.Limited() {
		return true
	}
	return rule.Allows(g.jurisdictions()[g.cfg.Org])
}

// patientPlace is what a repair pass needs to know of one patient.
type patientPlace struct {
	nodes []string // eligible storage nodes
	hold  bool     // this node may keep the patient's ciphertext
	short bool     // a rule leaves fewer eligible nodes than the replicas
}

func (g *Gateway) patientPlace(patient ptoy.ID) *patientPlace {
	nodes := g.eligible(patient)
	return &patientPlace{nodes: nodes, hold: g.mayHold(patient), short: len(nodes) < min(g.replicas(), len(g.storageNodes()))}
}

// placer places many blobs with the membership, the parameters and each
// patient's residency rule read once (a commit's records, a repair pass,
// a batch of pulls) rather than once per blob.
type placer struct {
	g        *Gateway
	replicas int
	places   map[ptoy.ID]*patientPlace
}

func (g *Gateway) newPlacer() *placer {
	return &placer{g: g, replicas: g.replicas(), places: map[ptoy.ID]*patientPlace{}}
}

// patient is what placement knows of patient.
func (p *placer) patient(patient ptoy.ID) *patientPlace {
	pp := p.places[patient]
	if pp == nil {
		pp = p.g.patientPlace(patient)
		p.places[patient] = pp
	}
	return pp
}

// place is Gateway.placement.
func (p *placer) place(h blob.Hash, patient ptoy.ID) []string {
	return blob.Place(h, p.patient(patient).nodes, p.replicas)
}

// here reports whether placement puts h, patient's blob, on this node.
func (p *placer) here(h blob.Hash, patient ptoy.ID) bool {
	return slices.Contains(p.place(h, patient), p.g.cfg.Org.String())
}

// ShortPlaced is the number of record versions that residency rules
// placed on fewer storage nodes than the replication factor, at the last
// repair pass: a rule allows fewer member nodes than that.
func (g *Gateway) ShortPlaced() int64 { return g.short.Load() }

// placedWords says on how many nodes a blob is placed.
func placedWords(n, replicas int) string {
	switch {
	case n == 0:
		return "no member's storage node is allowed"
	case n < replicas:
		return fmt.Sprintf("placed on %d of %d replicas: only %d member storage node(s) are allowed", n, replicas, n)
	}
	return fmt.Sprintf("placed on %d replicas", replicas)
}

// evictLater queues o's blob h, which this node may no longer keep, for
// moving away.
func (g *Gateway) evictLater(h blob.Hash, o owner) {
	g.mu.Lock()
	g.evict[h] = o
	g.mu.Unlock()
}

// leaving is the number of blobs waiting for their new holders before
// this node deletes them.
func (g *Gateway) leaving() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.evict)
}

// evictMoved deletes the queued blobs whose every placement node now
// holds them. A blob stays while the rule allows this node again, while
// no node is allowed (it has nowhere else to be), or while any of its
// new holders lacks it or cannot be asked.
func (g *Gateway) evictMoved(ctx context.Context) {
	g.mu.Lock()
	queue := make(map[blob.Hash]owner, len(g.evict))
	for h, o := range g.evict {
		queue[h] = o
	}
	g.mu.Unlock()
	for h, o := range queue {
		if ctx.Err() != nil {
			return
		}
		place := g.placement(h, o.patient)
		drop := g.mayHold(o.patient) || slices.Contains(place, g.cfg.Org.String())
		if _, err := g.cfg.Blobs.Stat(ctx, h); err != nil {
			drop = true
		}
		if !drop {
			if len(place) == 0 {
				continue
			}
			moved := true
			for _, p := range place {
				if g.holds(ctx, p, h, o) != "held" {
					moved = false
					break
				}
			}
			if !moved {
				continue
			}
			if err := g.cfg.Blobs.Delete(ctx, h); err != nil {
				g.cfg.Log.Warn("gateway: deleting ciphertext moved away by a residency rule", "blob", h.String()[:12], "err", err)
				continue
			}
			g.cfg.Log.Info("gateway: ciphertext moved away by a residency rule", "blob", h.String()[:12], "holders", len(place))
		}
		g.mu.Lock()
		delete(g.evict, h)
		g.mu.Unlock()
	}
}

// uploadPatient reads the patient an upload names (?patient=), if any,
// and checks it is a patient's account.
func (g *Gateway) uploadPatient(r *http.Request) (ptoy.ID, bool, error) {
	s := r.URL.Query().Get("patient")
	if s == "" {
		return ptoy.ID{}, false, nil
	}
	id, err := ptoy.ParseID(s)
	if err != nil {
		return id, false, ptoy.E("gateway", ptoy.Invalid, "patient must be an account id")
	}
	a, err := g.cfg.Ledger.Account(id)
	if err != nil || a.Kind != pb.AccountKind_ACCOUNT_KIND_PATIENT {
		return id, false, ptoy.E("gateway", ptoy.Invalid, fmt.Sprintf("no patient %s on this network", id))
	}
	return id, true, nil
}

// placeUpload decides where an upload of patient's blob h goes: an
// error when no member node is allowed, else the placement nodes and
// whether this node may keep it.
func (g *Gateway) placeUpload(h blob.Hash, patient ptoy.ID) (place []string, here bool, err error) {
	place = g.placement(h, patient)
	if len(place) == 0 {
		rule, _ := g.cfg.Ledger.Residency(patient)
		return nil, false, ptoy.E("gateway", ptoy.Invalid, fmt.Sprintf(
			"patient %s's records may be kept only in %s, and no member's storage node is there: nothing was stored", patient, rule))
	}
	return place, g.mayHold(patient), nil
}

// forwardUpload hands an upload this node may not keep to the first of
// its placement nodes that takes it, signed by this node, and passes
// that node's answer back.
func (g *Gateway) forwardUpload(w http.ResponseWriter, r *http.Request, h blob.Hash, patient ptoy.ID, place []string) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxUpload))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = ptoy.E("gateway", ptoy.Invalid, fmt.Sprintf("upload is larger than the %d-byte limit", g.cfg.MaxUpload))
		} else {
			err = ptoy.E("gateway", ptoy.Invalid, "reading the upload", err)
		}
		g.fail(w, err)
		return
	}
	if blob.Sum(b) != h {
		g.fail(w, ptoy.E("gateway", ptoy.Invalid, "the content does not hash to "+h.String()))
		return
	}
	peers := g.peers()
	q := url.Values{"patient": {patient.String()}}.Encode()
	for _, id := range place {
		oid, _ := ptoy.ParseID(id)
		base := peers[oid]
		if base == "" {
			continue
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPut, base+"/v1/blobs/"+h.String()+"?"+q, bytes.NewReader(b))
		if err != nil || g.sign(req) != nil {
			continue
		}
		resp, err := g.cfg.Client.Do(req)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			continue
		}
		if resp.StatusCode/100 == 2 {
			g.forwarded.add(h, int64(len(b)), g.cfg.Now())
		}
		w.Header().Set("X-Ptoy-Stored-At", id)
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
		return
	}
	g.fail(w, ptoy.E("gateway", ptoy.Unavailable, "none of the storage nodes the patient's residency rule allows took the upload; try again"))
}

// forwardedUploads remembers the uploads this node handed on to a node
// the patient's rule allows, with their sizes, so that a transaction
// submitted through this node that references one is accepted (see
// ForwardedUpload). Entries are kept for the upload time-to-live.
type forwardedUploads struct {
	mu sync.Mutex
	m  map[blob.Hash]forwardedUpload
}

type forwardedUpload struct {
	size int64
	at   time.Time
}

func (f *forwardedUploads) add(h blob.Hash, size int64, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[blob.Hash]forwardedUpload{}
	}
	f.m[h] = forwardedUpload{size, now}
}

func (f *forwardedUploads) get(h blob.Hash) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.m[h]
	return u.size, ok
}

// expire forgets what was handed on before cutoff.
func (f *forwardedUploads) expire(cutoff time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for h, u := range f.m {
		if u.at.Before(cutoff) {
			delete(f.m, h)
		}
	}
}

// ForwardedUpload reports whether this node handed upload h on to a
// storage node that the patient's residency rule allows (within the
// upload time-to-live), and its size: the upload is stored, though not
// here.
func (g *Gateway) ForwardedUpload(h blob.Hash) (int64, bool) { return g.forwarded.get(h) }
