package match

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"ptoy"
)

// ReadFEBRL reads a file in the format of the FEBRL data sets (Christen,
// "Febrl: a freely available record linkage system", 2008): a header,
// then rec_id, given_name, surname, street_number, address_1, address_2,
// suburb, postcode, state, date_of_birth, soc_sec_id. The social
// security number becomes the identifier of kind "soc_sec_id";
// address_2 (a building or locality name) is not compared.
func ReadFEBRL(r io.Reader) ([]Person, error) {
	const op = "match.ReadFEBRL"
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "no header line", err)
	}
	want := []string{"rec_id", "given_name", "surname", "street_number", "address_1", "address_2",
		"suburb", "postcode", "state", "date_of_birth", "soc_sec_id"}
	if len(head) != len(want) {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the header has %d columns; a FEBRL file has %d (%s)", len(head), len(want), strings.Join(want, ", ")))
	}
	for i, h := range head {
		if strings.TrimSpace(h) != want[i] {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("column %d is %q; a FEBRL file has %q there", i+1, h, want[i]))
		}
	}
	var out []Person
	seen := map[string]bool{}
	for line := 2; ; line++ {
		f, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("line %d", line), err)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if f[0] == "" || seen[f[0]] {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("line %d: rec_id %q is empty or repeated", line, f[0]))
		}
		seen[f[0]] = true
		p := Person{ID: f[0], Given: f[1], Family: f[2], Street: strings.TrimSpace(f[3] + " " + f[4]),
			City: f[6], Postcode: f[7], State: f[8], Birth: f[9]}
		if f[10] != "" {
			p.Identifiers = map[string]string{"soc_sec_id": f[10]}
		}
		out = append(out, p)
	}
	return out, nil
}

// FEBRLEntity returns the person a FEBRL rec_id stands for: rec-12 for
// rec-12-org and rec-12-dup-0.
func FEBRLEntity(id string) string {
	if i := strings.Index(id, "-org"); i > 0 {
		return id[:i]
	}
	if i := strings.Index(id, "-dup-"); i > 0 {
		return id[:i]
	}
	return id
}

// Report is the quality of matching one file against another, counted
// in pairs (one person of A, one of B).
type Report struct {
	A, B       int // people in each file
	TruePairs  int // pairs that are one person
	Candidates int // pairs that share a blocking key
	Found      int // true pairs among the candidates
	Links      int // candidates at or above the link threshold
	Correct    int // true pairs among the links
	Review     int // candidates in the review band
	ReviewTrue int // true pairs among them
	Link       float64
	ReviewAt   float64
}

// PairCompleteness is the share of true pairs that blocking keeps.
func (r Report) PairCompleteness() float64 { return ratio(r.Found, r.TruePairs) }

// ReductionRatio is the share of all pairs that blocking spares.
func (r Report) ReductionRatio() float64 {
	return 1 - ratio(r.Candidates, r.A*r.B)
}

// Precision is the share of links that are true.
func (r Report) Precision() float64 { return ratio(r.Correct, r.Links) }

// Recall is the share of true pairs that are links.
func (r Report) Recall() float64 { return ratio(r.Correct, r.TruePairs) }

// F1 is the harmonic mean of precision and recall.
func (r Report) F1() float64 {
	p, q := r.Precision(), r.Recall()
	if p+q == 0 {
		return 0
	}
	return 2 * p * q / (p + q)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Evaluate matches every person of b against an index of a under model
// and counts the outcome; entity names the true person of an id
// (FEBRLEntity for FEBRL files).
func Evaluate(a, b []Person, model *Model, entity func(id string) string) Report {
	r := Report{A: len(a), B: len(b), Link: model.Link, ReviewAt: model.Review}
	byEntity := map[string]int{}
	for _, p := range a {
		byEntity[entity(p.ID)]++
	}
	for _, p := range b {
		r.TruePairs += byEntity[entity(p.ID)]
	}
	x := NewIndex(a, model)
	for _, p := range b {
		q := prepare(p)
		e := entity(p.ID)
		for _, i := range x.candidates(q) {
			r.Candidates++
			same := entity(x.ids[i]) == e
			if same {
				r.Found++
			}
			switch model.Band(model.score(compare(q, x.recs[i]))) {
			case Link:
				r.Links++
				if same {
					r.Correct++
				}
			case Review:
				r.Review++
				if same {
					r.ReviewTrue++
				}
			}
		}
	}
	return r
}
