package gateway

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync"

	"ptoy"
	"ptoy/blob"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
)

// owner says whose a blob is: a version of a patient's record, or (record
// nil) key material of the patient. A node asks a peer for a replica with
// it, so that the peer can check the blob against the ledger and record
// the read in the patient's audit trail.
type owner struct {
	patient ptoy.ID
	record  []byte
	version uint32
	// via is the organisation the record was written for, whose node
	// took its ciphertext first (zero: not known).
	via ptoy.ID
}

func recordOwner(patient ptoy.ID, st *pb.RecordState) owner {
	o := owner{patient: patient, record: st.Entry.Id, version: st.Entry.Version}
	if len(st.Org) == ptoy.IDLen {
		o.via = ptoy.ID(st.Org)
	}
	return o
}

func (o owner) query() string {
	v := url.Values{"patient": {o.patient.String()}}
	if o.record != nil {
		v.Set("record", hex.EncodeToString(o.record))
		v.Set("version", strconv.FormatUint(uint64(o.version), 10))
	}
	return v.Encode()
}

func parseOwner(q url.Values) (owner, error) {
	var o owner
	var err error
	if o.patient, err = ptoy.ParseID(q.Get("patient")); err != nil {
		return o, ptoy.E("gateway", ptoy.Invalid, "name the blob's patient (?patient=ACCOUNT_ID)")
	}
	if s := q.Get("record"); s != "" {
		id, err1 := hex.DecodeString(s)
		v, err2 := strconv.ParseUint(q.Get("version"), 10, 32)
		if err1 != nil || len(id) != ledger.RecordIDLen || err2 != nil || v == 0 {
			return o, ptoy.E("gateway", ptoy.Invalid, fmt.Sprintf("record is %d hex digits and version a number from 1", 2*ledger.RecordIDLen))
		}
		o.record, o.version = id, uint32(v)
	}
	return o, nil
}

func (o owner) object(h blob.Hash) string {
	if o.record != nil {
		return fmt.Sprintf("%x@%d", o.record, o.version)
	}
	return "key-material:" + h.String()[:16]
}

// owns reports whether the committed state says blob h is o's.
func (g *Gateway) owns(h blob.Hash, o owner) bool {
	if o.record != nil {
		st, err := g.cfg.Ledger.Record(o.patient, o.record, o.version)
		return err == nil && !st.Erased && bytes.Equal(st.Entry.Hash, h[:])
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.keys[h] {
		if r.Patient == o.patient {
			return true
		}
	}
	return false
}

// nodeOrg returns the organisation a node-to-node caller speaks for: an
// organisation's own key, or its node's account.
func (g *Gateway) nodeOrg(a *pb.Account) (ptoy.ID, bool) {
	switch a.Kind {
	case pb.AccountKind_ACCOUNT_KIND_ORG:
		return ptoy.ID(a.Id), true
	case pb.AccountKind_ACCOUNT_KIND_NODE:
		org, err := ptoy.IDFromBytes(a.Org)
		return org, err == nil
	}
	return ptoy.ID{}, false
}

func (g *Gateway) isStorageNode(org ptoy.ID) bool {
	return slices.Contains(g.storageNodes(), org.String())
}

// addKeyRef remembers a reference to key material; g.mu is held.
func (g *Gateway) addKeyRef(r ledger.KeyRef) {
	h := blob.Hash(r.Hash)
	for _, x := range g.keys[h] {
		if x.Kind == r.Kind && x.Patient == r.Patient && x.Holder == r.Holder {
			return
		}
	}
	g.keys[h] = append(g.keys[h], r)
}

func (g *Gateway) referencedNow(h blob.Hash) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.keys[h]) > 0
}

// pendingUploads bounds what one account may upload ahead of the
// transactions that reference it: uploads cost nothing until a
// transaction charges their size, so the bytes an account has uploaded
// and not yet committed are capped (Config.MaxPending), and given back
// when a transaction references them or collection deletes them.
type pendingUploads struct {
	mu    sync.Mutex
	by    map[blob.Hash]pendingUpload
	total map[ptoy.ID]int64
}

type pendingUpload struct {
	who  ptoy.ID
	size int64
}

// reserve counts an upload of up to size bytes (unknown: -1) against who.
func (p *pendingUploads) reserve(who ptoy.ID, h blob.Hash, size, max int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.by == nil {
		p.by, p.total = map[blob.Hash]pendingUpload{}, map[ptoy.ID]int64{}
	}
	if _, ok := p.by[h]; ok {
		return nil // the same content again costs nothing more
	}
	if size < 0 {
		size = 0
	}
	if p.total[who]+size > max {
		return ptoy.E("gateway", ptoy.Unavailable, fmt.Sprintf(
			"you have %d bytes of uploads that no committed transaction references yet (the limit is %d): commit them, or wait for them to be collected", p.total[who], max))
	}
	p.by[h] = pendingUpload{who: who, size: size}
	p.total[who] += size
	return nil
}

// settle records an upload's true size.
func (p *pendingUploads) settle(who ptoy.ID, h blob.Hash, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.by[h]; ok && u.who == who {
		p.total[who] += size - u.size
		p.by[h] = pendingUpload{who: who, size: size}
	}
}

// release forgets an upload: referenced, failed or collected.
func (p *pendingUploads) release(h blob.Hash) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.by[h]
	if !ok {
		return
	}
	delete(p.by, h)
	if p.total[u.who] -= u.size; p.total[u.who] <= 0 {
		delete(p.total, u.who)
	}
}
