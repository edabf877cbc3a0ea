package holdings

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"ptoy"
	"ptoy/consent"
	"ptoy/door"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/match"
	"ptoy/seal"
	"ptoy/synth"
)

// Proposal is what a patient is shown of a match: which organisation
// holds how many records of which categories over which years. Nothing of
// their content, and nothing of the demographics the organisation holds.
type Proposal struct {
	ID         string         `json:"id"`
	Org        ptoy.ID        `json:"org"`
	Records    int            `json:"records"`
	Categories map[string]int `json:"categories"` // category name → records
	Cats       uint32         `json:"cats"`       // the consent bits of every category and label
	From       int            `json:"from,omitempty"`
	To         int            `json:"to,omitempty"`
	Status     string         `json:"status"`
}

// ReviewItem is a match in the review band, for the organisation's staff.
type ReviewItem struct {
	Patient  ptoy.ID `json:"patient"`
	Proposal string  `json:"proposal"`
	Score    float64 `json:"score"`
	Records  int     `json:"records"`
}

// fitMin is the number of source patients from which the model is fitted
// on the holdings' own people; fewer use the reference model.
const fitMin = 500

var (
	refOnce  sync.Once
	refModel *match.Model
	refErr   error
)

// referenceModel is estimated once from generated people, half of whom a
// second hospital also holds with the errors hospitals make (the truth is
// known, so M and U are counted, not guessed): the weights of an
// organisation with too few patients of its own to fit them.
func referenceModel() (*match.Model, error) {
	refOnce.Do(func() {
		ps, err := synth.Generate(1, 1500, synth.Options{Duplicates: 0.5})
		if err != nil {
			refErr = err
			return
		}
		var people []match.Person
		var entity []int
		for p := range ps {
			people = append(people, synthPerson(p.Record))
			entity = append(entity, p.Index)
			if p.Copy != nil {
				people = append(people, synthPerson(p.Copy))
				entity = append(entity, p.Index)
			}
		}
		refModel, refErr = match.FitLabelled(people, func(i int) string { return strconv.Itoa(entity[i]) })
	})
	return refModel, refErr
}

func synthPerson(r *synth.Record) match.Person {
	p := r.Person
	return match.Person{ID: r.MRN, Given: p.Given, Family: p.Family, Sex: p.Sex, Birth: p.Birth.Format("2006-01-02"),
		Phone: p.Phone, Street: p.Line(), City: p.City, Postcode: p.Postcode, State: p.State}
}

// matcher returns the index of the source patients not linked to anyone,
// rebuilt when they changed (h.mu held for writing).
func (h *Holdings) matcher() (*match.Index, error) {
	if !h.dirty && h.index != nil {
		return h.index, nil
	}
	people := make([]match.Person, 0, len(h.subjects))
	order := make([][16]byte, 0, len(h.subjects))
	for id, s := range h.subjects {
		if len(s.Linked) > 0 {
			continue
		}
		p := s.Person
		p.ID = hex.EncodeToString(id[:])
		people = append(people, p)
		order = append(order, id)
	}
	// The model is fitted on the holdings' own people once they are
	// fitMin, and refitted when they have grown by a quarter since. Fitting
	// is the slow part (minutes at 100,000 people) and weights change
	// little as a population grows, so it runs in the background while
	// requests go on with the model in use (the reference model before the
	// first fit); when it ends the index is rebuilt with it.
	m := h.cfg.Model
	if m == nil {
		if len(people) >= fitMin && !h.fitting && (h.fittedOn == 0 || len(people) >= h.fittedOn*5/4) {
			h.fitting = true
			go h.fit(slices.Clone(people))
		}
		m = h.fitted
	}
	if m == nil {
		var err error
		if m, err = referenceModel(); err != nil {
			return nil, err
		}
	}
	h.model, h.order = m, order
	h.index = match.NewIndex(people, m)
	h.dirty = false
	return h.index, nil
}

// fit fits the match model with EM on people, in the background (see
// matcher); the next request rebuilds the index with it.
func (h *Holdings) fit(people []match.Person) {
	t0 := time.Now()
	fitted, err := match.Fit(people)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fitting = false
	if err != nil {
		h.cfg.Log.Warn("holdings: fitting the match model", "people", len(people), "err", err)
		return
	}
	h.fitted, h.fittedOn, h.dirty = fitted, len(people), true
	h.cfg.Log.Info("holdings: match model fitted", "people", len(people), "took", time.Since(t0).Round(time.Millisecond))
}

// FittedOn says how many source patients the model in use was fitted on
// here; 0 while the reference model is in use.
func (h *Holdings) FittedOn() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.fittedOn
}

// proposalID names a match to the patient without naming the source
// patient.
func (h *Holdings) proposalID(patient ptoy.ID, subject [16]byte) string {
	m := hmac.New(sha256.New, h.idKey)
	m.Write([]byte("proposal\x00"))
	m.Write(patient[:])
	m.Write(subject[:])
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Locate matches a patient's demographics against the source patients
// held here. A link proposes the source patient's records to the patient;
// a match in the review band goes to the review queue; a proposal the
// patient rejected is not made again. It returns the patient's proposals
// (proposed or confirmed). The request is recorded in the audit log under
// the patient, whatever its outcome.
//
// ps are the patient's demographics now and as they were (a previous
// address, name or phone): a source patient's score is the best over
// them.
func (h *Holdings) Locate(ctx context.Context, patient ptoy.ID, ps ...match.Person) ([]Proposal, error) {
	const op = "holdings.Locate"
	if len(ps) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "give your demographics")
	}
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if p.Family == "" && p.Given == "" || p.Birth == "" {
			return nil, ptoy.E(op, ptoy.Invalid, "give at least your name and date of birth")
		}
	}
	if _, err := h.cfg.Door.Enter(ctx, h.self(patient, "locate", "record locator: demographics matched")); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	x, err := h.matcher()
	if err != nil {
		return nil, err
	}
	b := h.cfg.DB.NewBatch()
	defer b.Close()
	mine := h.proposalsOf(patient)
	best := map[string]match.Match{}
	for _, p := range ps {
		for _, c := range x.Candidates(p) {
			if b, ok := best[c.ID]; !ok || c.Score > b.Score {
				best[c.ID] = c
			}
		}
	}
	for _, c := range best {
		raw, err := hex.DecodeString(c.ID)
		if err != nil || len(raw) != 16 {
			continue
		}
		subject := [16]byte(raw)
		if old := mine[subject]; old != nil && old.Status != InReview {
			continue // proposed, confirmed or rejected already
		}
		status := InReview
		if c.Band == match.Link {
			status = Proposed
		}
		pr := &proposal{Status: status, Score: c.Score, Time: h.cfg.Now()}
		mine[subject] = pr
		if err := h.put(b, h.key(keyProposal, patient[:], subject[:]), pr); err != nil {
			return nil, err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, ptoy.E(op, ptoy.Unavailable, err)
	}
	return h.proposalsLocked(patient), nil
}

// self is an access by the patient to what is held about them.
func (h *Holdings) self(patient ptoy.ID, action, object string) door.Access {
	return door.Access{Reader: patient, Patient: patient, Action: action, Object: object, Org: h.cfg.Org,
		Rule: func() (bool, string) { return true, "the patient asks about themselves" }}
}

// Proposals returns the patient's proposals (proposed or confirmed).
func (h *Holdings) Proposals(patient ptoy.ID) []Proposal {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.proposalsLocked(patient)
}

func (h *Holdings) proposalsLocked(patient ptoy.ID) []Proposal {
	var out []Proposal
	for subject, pr := range h.proposals[patient] {
		if pr.Status != Proposed && pr.Status != Confirmed {
			continue
		}
		out = append(out, h.describe(patient, subject, pr.Status))
	}
	slices.SortFunc(out, func(a, b Proposal) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// describe counts a source patient's records for a proposal.
func (h *Holdings) describe(patient ptoy.ID, subject [16]byte, status string) Proposal {
	p := Proposal{ID: h.proposalID(patient, subject), Org: h.cfg.Org, Categories: map[string]int{}, Status: status}
	for _, id := range h.bySubject[subject] {
		r := h.recs[id]
		p.Records++
		p.Categories[consent.CategoryName(r.Cat)]++
		p.Cats |= r.Labels | consent.Bit(r.Cat)
		if r.Year > 0 {
			if p.From == 0 || r.Year < p.From {
				p.From = r.Year
			}
			p.To = max(p.To, r.Year)
		}
	}
	return p
}

// find returns the subject of a patient's proposal.
func (h *Holdings) find(patient ptoy.ID, id string) ([16]byte, *proposal, error) {
	for subject, pr := range h.proposals[patient] {
		if h.proposalID(patient, subject) == id {
			return subject, pr, nil
		}
	}
	return [16]byte{}, nil, ptoy.E("holdings", ptoy.NotFound, "no such proposal")
}

// Reject remembers that the patient says a proposal is not them: it is
// not made again.
func (h *Holdings) Reject(ctx context.Context, patient ptoy.ID, id string) error {
	const op = "holdings.Reject"
	h.mu.Lock()
	defer h.mu.Unlock()
	subject, pr, err := h.find(patient, id)
	if err != nil {
		return err
	}
	if pr.Status == Confirmed {
		return ptoy.E(op, ptoy.Invalid, "the proposal was confirmed and its records linked")
	}
	if _, err := h.cfg.Door.Enter(ctx, h.self(patient, "link-reject", "proposal "+id)); err != nil {
		return err
	}
	pr.Status = Rejected
	b := h.cfg.DB.NewBatch()
	defer b.Close()
	if err := h.put(b, h.key(keyProposal, patient[:], subject[:]), pr); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// Review lists the matches in the review band, for the organisation's
// staff to look at.
func (h *Holdings) Review() []ReviewItem {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []ReviewItem
	for patient, m := range h.proposals {
		for subject, pr := range m {
			if pr.Status == InReview {
				out = append(out, ReviewItem{Patient: patient, Proposal: h.proposalID(patient, subject), Score: pr.Score, Records: len(h.bySubject[subject])})
			}
		}
	}
	slices.SortFunc(out, func(a, b ReviewItem) int { return cmp.Compare(b.Score, a.Score) })
	return out
}

// Approve turns a match of the review queue into a proposal to the
// patient (staff judged it the same person).
func (h *Holdings) Approve(patient ptoy.ID, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	subject, pr, err := h.find(patient, id)
	if err != nil {
		return err
	}
	if pr.Status != InReview {
		return ptoy.E("holdings.Approve", ptoy.Invalid, "the match is not in the review queue")
	}
	pr.Status = Proposed
	b := h.cfg.DB.NewBatch()
	defer b.Close()
	if err := h.put(b, h.key(keyProposal, patient[:], subject[:]), pr); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// Categories returns the categories of a proposal's records, as consent
// bits: what the organisation needs to be allowed to write for the
// patient before Confirm.
func (h *Holdings) Categories(patient ptoy.ID, id string) (uint32, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	subject, _, err := h.find(patient, id)
	if err != nil {
		return 0, err
	}
	var cats uint32
	for _, rid := range h.bySubject[subject] {
		r := h.recs[rid]
		cats |= r.Labels | consent.Bit(r.Cat)
	}
	return cats, nil
}

// Confirm links a proposal the patient confirms: each of the source
// patient's held records is re-sealed to the patient's category key and
// filed under the patient, written by the organisation (which the patient
// must allow to write those categories: a write grant). It returns how
// many records it filed.
func (h *Holdings) Confirm(ctx context.Context, patient ptoy.ID, id string) (int, error) {
	const op = "holdings.Confirm"
	h.imp.Lock()
	defer h.imp.Unlock()
	h.mu.RLock()
	subject, pr, err := h.find(patient, id)
	var ids [][16]byte
	if err == nil {
		ids = slices.Clone(h.bySubject[subject])
	}
	h.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	switch pr.Status {
	case Confirmed:
		return pr.Linked, nil
	case Proposed:
	default:
		return 0, ptoy.E(op, ptoy.Invalid, "the proposal is "+pr.Status+": only a proposal made to you can be confirmed")
	}
	if _, err := h.cfg.Door.Enter(ctx, h.self(patient, "link", fmt.Sprintf("proposal %s: %d records", id, len(ids)))); err != nil {
		return 0, err
	}
	pubs, err := h.cfg.PublicKeys(ctx, patient)
	if err != nil {
		return 0, err
	}
	var ws []*toWrite
	for _, rid := range ids {
		h.mu.RLock()
		r := *h.recs[rid]
		h.mu.RUnlock()
		if len(r.Linked) > 0 {
			continue
		}
		w, err := h.refile(ctx, rid, &r, pubs)
		if err != nil {
			return 0, err
		}
		ws = append(ws, w)
	}
	for start := 0; start < len(ws); start += maxPut {
		part := ws[start:min(start+maxPut, len(ws))]
		m := &pb.PutRecords{Patient: patient.Bytes(), Org: h.cfg.Org.Bytes()}
		for _, w := range part {
			m.Records = append(m.Records, w.entry)
		}
		if err := h.putBlobs(ctx, part); err != nil {
			return 0, err
		}
		if err := h.submit(ctx, op, &pb.Body{Msg: &pb.Body_PutRecords{PutRecords: m}}); err != nil {
			if ptoy.KindOf(err) == ptoy.PermissionDenied {
				return 0, ptoy.E(op, ptoy.PermissionDenied, "the organisation may not file these records for you: allow it to write them first ("+ptoy.Message(err)+")")
			}
			return 0, err
		}
		b := h.cfg.DB.NewBatch()
		h.mu.Lock()
		for _, w := range part {
			w.rec.Linked, w.rec.LinkedVersion = patient.Bytes(), w.rec.Version
			h.recs[w.id] = w.rec
			if err := h.put(b, h.key(keyRec, w.id[:]), w.rec); err != nil {
				h.mu.Unlock()
				b.Close()
				return 0, err
			}
		}
		h.mu.Unlock()
		err := b.Commit(pebble.Sync)
		b.Close()
		if err != nil {
			return 0, ptoy.E(op, ptoy.Unavailable, err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.cfg.DB.NewBatch()
	defer b.Close()
	pr.Status, pr.Linked = Confirmed, len(ids)
	if err := h.put(b, h.key(keyProposal, patient[:], subject[:]), pr); err != nil {
		return 0, err
	}
	if s := h.subjects[subject]; s != nil {
		s.Linked = patient.Bytes()
		if err := h.put(b, h.key(keySubject, subject[:]), s); err != nil {
			return 0, err
		}
	}
	h.dirty = true
	// Other patients' pending matches of the same source patient lapse.
	for other, m := range h.proposals {
		if other == patient {
			continue
		}
		if op := m[subject]; op != nil && (op.Status == Proposed || op.Status == InReview) {
			op.Status = Rejected
			if err := h.put(b, h.key(keyProposal, other[:], subject[:]), op); err != nil {
				return 0, err
			}
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, ptoy.E(op, ptoy.Unavailable, err)
	}
	return len(ids), nil
}

// refile makes the patient's version 1 of a held record: the held
// ciphertext re-sealed to the patient's category key. Version 1 of a held
// record keeps its body (seal.Rewrap re-seals the data key alone); a
// later version, bound to its version number, is sealed anew.
func (h *Holdings) refile(ctx context.Context, id [16]byte, r *heldRec, pubs []seal.PublicKey) (*toWrite, error) {
	const op = "holdings.Confirm"
	st, err := h.cfg.Ledger.Record(h.cfg.Org, id[:], r.Version)
	if err != nil {
		return nil, err
	}
	sc := st.Entry.Category
	to, ok := seal.Latest(pubs, seal.Category(sc))
	if !ok {
		return nil, ptoy.E(op, ptoy.Invalid, "the patient has published no key for "+consent.CategoryName(sc))
	}
	ct, err := h.cfg.Ciphertext(ctx, h.cfg.Org, st)
	if err != nil {
		return nil, err
	}
	from, err := h.orgPrivate(seal.Category(sc))
	if err != nil {
		return nil, err
	}
	var out []byte
	if r.Version == 1 {
		out, err = seal.Rewrap(ct, seal.Ref{ID: id, Version: 1}, from, to)
	} else {
		var plain []byte
		plain, err = seal.OpenBytes(ct, seal.Ref{ID: id, Version: r.Version}, func(seal.Category, uint32) (seal.PrivateKey, error) { return from, nil })
		if err == nil {
			out, err = seal.SealBytes(plain, seal.Ref{ID: id, Version: 1}, to)
		}
	}
	if err != nil {
		return nil, err
	}
	hash := sha256.Sum256(out)
	return &toWrite{id: id, rec: r, ct: out, entry: &pb.RecordEntry{Id: id[:], Version: 1, Category: sc,
		Labels: st.Entry.Labels, Hash: hash[:], Size: uint64(len(out))}}, nil
}

// Duplicate is a pair of source patients of one source whom the matcher
// takes for one person (link band) or cannot tell apart (review band).
type Duplicate struct {
	Source string  `json:"source"`
	A      string  `json:"a"` // "Patient/<id>" at the source
	B      string  `json:"b"`
	Score  float64 `json:"score"`
	Band   string  `json:"band"`
}

// Duplicates finds the source patients of source ("" for each source,
// pairs within one source only) who may be one person: the matcher the
// record locator uses, run against the holdings' own people. Pairs come
// best first.
func (h *Holdings) Duplicates(source string) ([]Duplicate, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	x, err := h.matcher()
	if err != nil {
		return nil, err
	}
	var out []Duplicate
	for id, s := range h.subjects {
		if len(s.Linked) > 0 || source != "" && s.Source != source {
			continue
		}
		self := hex.EncodeToString(id[:])
		for _, c := range x.Candidates(s.Person) {
			raw, err := hex.DecodeString(c.ID)
			if err != nil || len(raw) != 16 || c.ID <= self {
				continue // each pair once, and not a person with themselves
			}
			o := h.subjects[[16]byte(raw)]
			if o == nil || o.Source != s.Source {
				continue
			}
			out = append(out, Duplicate{Source: s.Source, A: s.Ref, B: o.Ref, Score: c.Score, Band: c.Band.String()})
		}
	}
	slices.SortFunc(out, func(a, b Duplicate) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.A, b.A), cmp.Compare(a.B, b.B))
	})
	return out, nil
}
