package match

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"ptoy"
)

// Band is what a score means for a pair.
type Band int

const (
	None   Band = iota // below the review threshold: not the same person
	Review             // between the thresholds: a person should look
	Link               // at or above the link threshold: the same person
)

func (b Band) String() string {
	switch b {
	case Link:
		return "link"
	case Review:
		return "review"
	}
	return "none"
}

// Model holds Fellegi–Sunter parameters: for each field and agreement
// level, the probability M of that level among pairs of records of the
// same person, and U among pairs of different people. The score of a
// pair is the sum over its fields of log2(M/U) at the pair's levels (a
// missing field adds nothing). Link and Review are the thresholds of the
// bands; Fit sets them, and callers may change them.
type Model struct {
	M, U   [][]float64 // [field][level]; level 0 (missing) unused
	Prior  float64     // share of candidate pairs that EM put in the M class
	Pairs  int         // candidate pairs it was fitted on
	Link   float64
	Review float64

	w [numFields][]float64 // log2(M/U)
}

// Default thresholds, as posterior odds of a match among candidate
// pairs: a link needs odds of 10,000 to 1, a review 1 to 100.
const (
	linkOdds   = 1e4
	reviewOdds = 1e-2
)

// Fit fits a model on the candidate pairs of people (those who share a
// blocking key) with the EM algorithm, which needs no labels: it splits
// the pairs into two classes whose fields agree independently, the
// class that agrees more being the matches. Duplicates among the people
// are what it learns from; a set without any still gives weights that
// separate, but the Prior is then only a guess. It fails when people are
// too few to give a fit.
func Fit(people []Person) (*Model, error) {
	const op = "match.Fit"
	recs := make([]*rec, len(people))
	for i, p := range people {
		recs[i] = prepare(p)
	}
	b, ks := makeBlocks(recs)
	counts := map[uint64]float64{}
	n := 0
	b.eachPair(ks, func(i, j int32) {
		counts[compare(recs[i], recs[j]).key()]++
		n++
	})
	if n < 50 {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%d people give %d candidate pairs: too few to fit a model (need at least 50)", len(people), n))
	}
	m := em(counts)
	m.Pairs = n
	m.setThresholds()
	return m, nil
}

type pattern struct {
	v vector
	c float64
}

// em runs the EM algorithm over the counted comparison vectors.
func em(counts map[uint64]float64) *Model {
	pats := make([]pattern, 0, len(counts))
	for k, c := range counts {
		pats = append(pats, pattern{vectorOf(k), c})
	}
	mdl := &Model{M: make([][]float64, numFields), U: make([][]float64, numFields)}
	// Start: U from how often each level occurs among all candidate pairs
	// (mostly non-matches); M rising steeply with agreement.
	for f := range numFields {
		nl := len(levelNames[f])
		mdl.M[f] = make([]float64, nl)
		mdl.U[f] = make([]float64, nl)
		for l := 1; l < nl; l++ {
			mdl.M[f][l] = math.Pow(4, float64(l))
		}
		for _, p := range pats {
			if l := p.v[f]; l > 0 {
				mdl.U[f][l] += p.c
			}
		}
		normalise(mdl.M[f], floorM)
		normalise(mdl.U[f], floorU)
	}
	mdl.Prior = 0.05
	g := make([]float64, len(pats))
	for iter := 0; iter < 500; iter++ {
		// E: the probability that each pattern is a match.
		for i, p := range pats {
			pm, pu := mdl.Prior, 1-mdl.Prior
			for f, l := range p.v {
				if l > 0 {
					pm *= mdl.M[f][l]
					pu *= mdl.U[f][l]
				}
			}
			g[i] = pm / (pm + pu)
		}
		// M: the parameters that make those most likely.
		var sm, total float64
		nm, nu := zeros(), zeros()
		for i, p := range pats {
			sm += g[i] * p.c
			total += p.c
			for f, l := range p.v {
				if l > 0 {
					nm[f][l] += g[i] * p.c
					nu[f][l] += (1 - g[i]) * p.c
				}
			}
		}
		change := math.Abs(sm/total - mdl.Prior)
		mdl.Prior = sm / total
		for f := range numFields {
			normalise(nm[f], floorM)
			normalise(nu[f], floorU)
			for l := 1; l < len(nm[f]); l++ {
				change = max(change, math.Abs(nm[f][l]-mdl.M[f][l]), math.Abs(nu[f][l]-mdl.U[f][l]))
			}
			mdl.M[f], mdl.U[f] = nm[f], nu[f]
		}
		if change < 1e-7 {
			break
		}
	}
	mdl.weights()
	return mdl
}

func zeros() [][]float64 {
	z := make([][]float64, numFields)
	for f := range z {
		z[f] = make([]float64, len(levelNames[f]))
	}
	return z
}

// Least probabilities of a level. Among matches no level is rarer than
// one in a thousand (people do mistype, move and change phones; a
// disagreement costs at most about ten bits), and among non-matches
// none rarer than one in 100,000.
const (
	floorM = 1e-3
	floorU = 1e-5
)

// normalise scales levels 1… of p to sum to 1, keeping every level at
// least floor so that no weight is infinite.
func normalise(p []float64, floor float64) {
	var s float64
	for l := 1; l < len(p); l++ {
		s += p[l]
	}
	for l := 1; l < len(p); l++ {
		if s == 0 { // a field never known on both sides: no weight
			p[l] = 1 / float64(len(p)-1)
			continue
		}
		p[l] = max(p[l]/s, floor)
	}
}

func (m *Model) weights() {
	for f := range numFields {
		m.w[f] = make([]float64, len(levelNames[f]))
		for l := 1; l < len(m.w[f]); l++ {
			m.w[f][l] = math.Log2(m.M[f][l] / m.U[f][l])
		}
	}
}

func (m *Model) setThresholds() {
	prior := math.Log2(m.Prior / (1 - m.Prior))
	m.Link = math.Log2(linkOdds) - prior
	m.Review = math.Log2(reviewOdds) - prior
}

func (m *Model) score(v vector) float64 {
	var s float64
	for f, l := range v {
		s += m.w[f][l]
	}
	return s
}

// Score returns the log-likelihood weight of a and b being one person.
func (m *Model) Score(a, b Person) float64 {
	return m.score(compare(prepare(a), prepare(b)))
}

// Band returns the band of a score.
func (m *Model) Band(score float64) Band {
	switch {
	case score >= m.Link:
		return Link
	case score >= m.Review:
		return Review
	}
	return None
}

// WriteTable writes the model's probabilities and weights, a line for
// each field and level, and its thresholds.
func (m *Model) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "field\tlevel\tm\tu\tweight\t")
	for f := range numFields {
		for l := len(levelNames[f]) - 1; l >= 1; l-- {
			fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.4f\t%+.2f\t\n", Field(f), levelNames[f][l], m.M[f][l], m.U[f][l], m.w[f][l])
		}
	}
	fmt.Fprintf(tw, "\t\t\t\t\t\nprior\t%.4f\t\t\t\t\nlink at\t%.2f\t\t\t\t\nreview at\t%.2f\t\t\t\t\n", m.Prior, m.Link, m.Review)
	return tw.Flush()
}

// FitLabelled estimates a model from people whose truth is known: entity
// names the real person each stands for. M and U are the frequencies of
// each level among the candidate pairs of one person and of two (with the
// same floors as Fit), and the prior the share of candidate pairs of one
// person. It fails when the candidate pairs hold no pair of one person.
func FitLabelled(people []Person, entity func(i int) string) (*Model, error) {
	const op = "match.FitLabelled"
	recs := make([]*rec, len(people))
	for i, p := range people {
		recs[i] = prepare(p)
	}
	b, ks := makeBlocks(recs)
	nm, nu := zeros(), zeros()
	var same, all float64
	b.eachPair(ks, func(i, j int32) {
		v := compare(recs[i], recs[j])
		all++
		counts := nu
		if entity(int(i)) == entity(int(j)) {
			counts = nm
			same++
		}
		for f, l := range v {
			if l > 0 {
				counts[f][l]++
			}
		}
	})
	if same == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "no candidate pair is of one person: nothing to learn matches from")
	}
	m := &Model{M: nm, U: nu, Prior: same / all, Pairs: int(all)}
	for f := range numFields {
		normalise(m.M[f], floorM)
		normalise(m.U[f], floorU)
	}
	m.weights()
	m.setThresholds()
	return m, nil
}
