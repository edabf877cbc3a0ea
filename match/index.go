package match

import (
	"slices"
	"sort"
)

// Match is a person of an Index that a query may be.
type Match struct {
	ID    string  // the Person.ID given to NewIndex
	Score float64 // the model's weight of the pair
	Band  Band
}

// Index holds many people, normalised and blocked, for matching one
// person at a time against them. It is safe for concurrent use once
// built.
type Index struct {
	model  *Model
	recs   []*rec
	ids    []string
	blocks blocks
}

// NewIndex builds an index of people, scored with model.
func NewIndex(people []Person, model *Model) *Index {
	x := &Index{model: model, recs: make([]*rec, len(people)), ids: make([]string, len(people))}
	for i, p := range people {
		x.recs[i] = prepare(p)
		x.ids[i] = p.ID
	}
	x.blocks, _ = makeBlocks(x.recs)
	return x
}

// Len returns the number of people in the index.
func (x *Index) Len() int { return len(x.recs) }

// Candidates returns the people of the index whom p may be: those in the
// link or review band, best first.
func (x *Index) Candidates(p Person) []Match {
	q := prepare(p)
	var out []Match
	for _, i := range x.candidates(q) {
		s := x.model.score(compare(q, x.recs[i]))
		if b := x.model.Band(s); b != None {
			out = append(out, Match{ID: x.ids[i], Score: s, Band: b})
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Score != out[b].Score {
			return out[a].Score > out[b].Score
		}
		return out[a].ID < out[b].ID
	})
	return out
}

// candidates returns the positions of the people who share a blocking
// key with q, each once, in order.
func (x *Index) candidates(q *rec) []int32 {
	var ks [8]string
	var c []int32
	for _, k := range keys(q, ks[:0]) {
		if blk := x.blocks[k]; len(blk) <= maxBlock {
			c = append(c, blk...)
		}
	}
	slices.Sort(c)
	return slices.Compact(c)
}
