package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"ptoy"
	"ptoy/blob"
	"ptoy/door"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/internal/par"
)

// A node pulling the replicas placed on it asks a peer for many blobs in
// one request (POST /v1/replicas) rather than one request each: one
// signature checked, the audit events of the batch written together, and
// the blobs kept with one synced write at the puller. Each blob is still
// decided and audited on its own, as GET /v1/replica/{hash} does.
//
// The request is JSON: {"blobs": [{"hash", "patient", "record",
// "version"}, …]}, at most MaxReplicaBatch of them (record and version as
// in GET /v1/replica). The answer (Content-Type ReplicasType) has one frame
// per blob asked, in order: a status byte (frameBlob, frameMissing,
// frameRefused), and for frameBlob the size as 8 bytes big-endian and the
// content.
const (
	// MaxReplicaBatch is the most blobs one POST /v1/replicas may ask for.
	MaxReplicaBatch = 256
	// ReplicasType is the media type of POST /v1/replicas's answer.
	ReplicasType = "application/x-ptoy-replicas"

	frameBlob    = 0 // the blob follows
	frameMissing = 1 // this node does not hold it
	frameRefused = 2 // the door refused it (the caller may not have it)

	// replicaBatch is how many blobs a puller asks a peer for at once;
	// batchInline is the largest blob it keeps in memory to write with the
	// others (larger ones are written as they arrive).
	replicaBatch = 128
	batchInline  = 1 << 20
)

// replicaItem is one blob asked for in POST /v1/replicas.
type replicaItem struct {
	Hash    string `json:"hash"`
	Patient string `json:"patient"`
	Record  string `json:"record,omitempty"`
	Version uint32 `json:"version,omitempty"`
}

func itemOf(h blob.Hash, o owner) replicaItem {
	it := replicaItem{Hash: h.String(), Patient: o.patient.String()}
	if o.record != nil {
		it.Record, it.Version = hex.EncodeToString(o.record), o.version
	}
	return it
}

// parse checks the item as GET /v1/replica checks its path and query.
func (it replicaItem) parse() (blob.Hash, owner, error) {
	h, err := blob.ParseHash(it.Hash)
	if err != nil {
		return h, owner{}, err
	}
	q := url.Values{"patient": {it.Patient}}
	if it.Record != "" || it.Version != 0 {
		q.Set("record", it.Record)
		q.Set("version", strconv.FormatUint(uint64(it.Version), 10))
	}
	o, err := parseOwner(q)
	return h, o, err
}

// getReplicas answers POST /v1/replicas.
func (g *Gateway) getReplicas(w http.ResponseWriter, r *http.Request) {
	const op = "gateway.replicas"
	a, err := g.caller(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	var req struct {
		Blobs []replicaItem `json:"blobs"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, int64(MaxReplicaBatch)*512))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if ptoy.KindOf(err) == ptoy.Other {
			err = ptoy.E(op, ptoy.Invalid, `the body is {"blobs": [{"hash", "patient", "record", "version"}, …]}`)
		}
		g.fail(w, err)
		return
	}
	if n := len(req.Blobs); n == 0 || n > MaxReplicaBatch {
		g.fail(w, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("ask for 1 to %d blobs, not %d", MaxReplicaBatch, n)))
		return
	}
	hs := make([]blob.Hash, len(req.Blobs))
	owners := make(map[blob.Hash]owner, len(req.Blobs))
	as := make([]door.Access, len(req.Blobs))
	for i, it := range req.Blobs {
		h, o, err := it.parse()
		if err != nil {
			g.fail(w, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("blob %d: %s", i, ptoy.Message(err))))
			return
		}
		hs[i], owners[h] = h, o
		as[i] = door.Access{
			Reader: ptoy.ID(a.Id), Patient: o.patient, Action: "replica", Object: o.object(h),
			Purpose: pb.Purpose_PURPOSE_OPERATIONS,
			Rule:    func() (bool, string) { return g.mayReplicate(a, h, o) },
		}
	}
	refused, err := g.cfg.Door.EnterAll(r.Context(), as)
	if err != nil {
		g.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", ReplicasType)
	bw := bufio.NewWriterSize(w, 64<<10)
	for i, h := range hs {
		if refused[i] != nil {
			bw.WriteByte(frameRefused)
			continue
		}
		rc, info, err := g.cfg.Blobs.Get(r.Context(), h)
		if err != nil {
			bw.WriteByte(frameMissing)
			continue
		}
		var head [9]byte
		binary.BigEndian.PutUint64(head[1:], uint64(info.Size))
		bw.Write(head[:])
		tr := &readErr{r: rc}
		_, err = io.Copy(bw, tr)
		rc.Close()
		if err != nil {
			// The frame cannot be taken back: the answer is cut short
			// and the puller asks again, blob by blob. A copy found
			// corrupt as it was read is dropped, to be fetched again.
			if tr.err != nil && ptoy.KindOf(tr.err) == ptoy.Other {
				g.refetch(r.Context(), h, owners[h])
			}
			panic(http.ErrAbortHandler)
		}
	}
	bw.Flush()
}

// pullBatches pulls the wanted blobs hs (this node lacks them) in batches
// from the first peer each should be asked of, and returns those it did
// not get, for pulling one by one from every peer.
func (g *Gateway) pullBatches(ctx context.Context, hs []blob.Hash, want map[blob.Hash]owner) []blob.Hash {
	peers := g.peers()
	storage := g.storageNodes()
	pl := g.newPlacer()
	by := map[string][]blob.Hash{}
	var left []blob.Hash
	for _, h := range hs {
		o := want[h]
		base := ""
		for _, id := range fetchOrder(o.via, pl.place(h, o.patient), storage) {
			if id == g.cfg.Org.String() {
				continue
			}
			if oid, err := ptoy.ParseID(id); err == nil && peers[oid] != "" {
				base = peers[oid]
				break
			}
		}
		if base == "" {
			left = append(left, h)
			continue
		}
		by[base] = append(by[base], h)
	}
	type batch struct {
		base string
		hs   []blob.Hash
	}
	var batches []batch
	for base, list := range by {
		for s := 0; s < len(list); s += replicaBatch {
			batches = append(batches, batch{base, list[s:min(s+replicaBatch, len(list))]})
		}
	}
	missed := make([][]blob.Hash, len(batches))
	par.Each(len(batches), pullWorkers/2, func(i int) {
		if ctx.Err() == nil {
			missed[i] = g.pullBatch(ctx, batches[i].base, batches[i].hs, want)
		}
	})
	for _, m := range missed {
		left = append(left, m...)
	}
	return left
}

// pullBatch asks the node at base for hs and keeps what it gives, the
// small blobs with one synced write. It returns the blobs it did not keep.
func (g *Gateway) pullBatch(ctx context.Context, base string, hs []blob.Hash, want map[blob.Hash]owner) []blob.Hash {
	items := make([]replicaItem, len(hs))
	for i, h := range hs {
		items[i] = itemOf(h, want[h])
	}
	body, _ := json.Marshal(map[string]any{"blobs": items})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/replicas", bytes.NewReader(body))
	if err != nil || g.sign(req) != nil {
		return hs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.cfg.Client.Do(req)
	if err != nil {
		return hs
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ReplicasType {
		discard(resp) // a peer without the route: one by one
		return hs
	}
	defer resp.Body.Close()
	got, kept := g.readFrames(ctx, bufio.NewReaderSize(resp.Body, 64<<10), hs)
	if err := blob.PutAll(ctx, g.cfg.Blobs, got, pullWorkers); err == nil {
		for _, c := range got {
			kept[c.Hash] = true
		}
	}
	var missed []blob.Hash
	for _, h := range hs {
		if kept[h] {
			g.done(h)
			g.pulledBatch.Add(1)
		} else {
			missed = append(missed, h)
		}
	}
	return missed
}

// readFrames reads the answer to a batch of hs: the small blobs whose
// content matches their hash are returned to be written together, large
// ones are written as they are read (kept). A frame that cannot be read
// ends the reading; what was not read is missed.
func (g *Gateway) readFrames(ctx context.Context, br *bufio.Reader, hs []blob.Hash) ([]blob.Content, map[blob.Hash]bool) {
	var got []blob.Content
	kept := map[blob.Hash]bool{}
	for _, h := range hs {
		status, err := br.ReadByte()
		if err != nil {
			break
		}
		if status != frameBlob {
			continue
		}
		var size [8]byte
		if _, err := io.ReadFull(br, size[:]); err != nil {
			break
		}
		n := binary.BigEndian.Uint64(size[:])
		if n > batchInline {
			lr := &io.LimitedReader{R: br, N: int64(n)}
			_, err := g.cfg.Blobs.Put(ctx, lr, int64(n), &h)
			if _, derr := io.Copy(io.Discard, lr); derr != nil || lr.N != 0 {
				break
			}
			if err == nil {
				kept[h] = true
			}
			continue
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(br, data); err != nil {
			break
		}
		if blob.Sum(data) == h {
			got = append(got, blob.Content{Hash: h, Data: data})
		}
	}
	return got, kept
}
