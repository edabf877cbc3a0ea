package main

// Command "ptoy match" runs the patient matching engine (package match)
// on files, to measure it.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"ptoy"
	"ptoy/match"
)

func init() {
	commands["match"] = command{"measure patient matching on FEBRL files", runMatch}
}

var matchSubcommands = []subcommand{
	{"eval", "match one FEBRL file against another and print precision, recall and blocking figures", runMatchEval},
}

func runMatch(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "match", matchSubcommands, args)
}

func runMatchEval(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "match eval", "A.csv B.csv [--link T] [--review T] [--weights] [--json]",
		`Reads two files in the FEBRL format (rec_id, given_name, surname,
street_number, address_1, address_2, suburb, postcode, state,
date_of_birth, soc_sec_id; rec-N-org and rec-N-dup-K are one person),
fits a matching model on both with EM (no labels), matches every person
of B against A, and prints pairwise precision, recall and F1 at the link
threshold, the size of the review band, and blocking's pair completeness
and reduction ratio. Thresholds are log2 likelihood ratios; by default
the model's own (posterior odds of 10,000 to 1 for a link, 1 to 100 for
review).`)
	link := fs.String("link", "", "link `threshold` (default: the model's)")
	review := fs.String("review", "", "review `threshold` (default: the model's)")
	weights := fs.Bool("weights", false, "also print the fitted probabilities and weights")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("match eval", pos, 2, "A.csv B.csv"); err != nil {
		return err
	}
	linkAt, err := threshold(*link, "--link")
	if err != nil {
		return err
	}
	reviewAt, err := threshold(*review, "--review")
	if err != nil {
		return err
	}
	a, err := readFEBRLFile(pos[0])
	if err != nil {
		return err
	}
	b, err := readFEBRLFile(pos[1])
	if err != nil {
		return err
	}
	m, err := match.Fit(append(append([]match.Person{}, a...), b...))
	if err != nil {
		return err
	}
	if linkAt != nil {
		m.Link = *linkAt
	}
	if reviewAt != nil {
		m.Review = *reviewAt
	}
	if m.Review > m.Link {
		return usageErr(fmt.Sprintf("the review threshold (%.2f) is above the link threshold (%.2f)", m.Review, m.Link))
	}
	r := match.Evaluate(a, b, m, match.FEBRLEntity)
	if *asJSON {
		return writeJSON(e.stdout, map[string]any{
			"a": pos[0], "b": pos[1], "people_a": r.A, "people_b": r.B, "true_pairs": r.TruePairs,
			"candidate_pairs": r.Candidates, "pair_completeness": r.PairCompleteness(), "reduction_ratio": r.ReductionRatio(),
			"link_threshold": r.Link, "review_threshold": r.ReviewAt, "links": r.Links, "true_links": r.Correct,
			"precision": r.Precision(), "recall": r.Recall(), "f1": r.F1(), "review": r.Review, "true_review": r.ReviewTrue,
			"prior": m.Prior, "fitted_pairs": m.Pairs,
		})
	}
	tw := table(e.stdout)
	fmt.Fprintf(tw, "A\t%s\t%d people\n", filepath.Base(pos[0]), r.A)
	fmt.Fprintf(tw, "B\t%s\t%d people\n", filepath.Base(pos[1]), r.B)
	fmt.Fprintf(tw, "true pairs\t%d\t\n", r.TruePairs)
	fmt.Fprintf(tw, "blocking\t%d candidate pairs of %d\tpair completeness %.4f, reduction ratio %.5f\n",
		r.Candidates, r.A*r.B, r.PairCompleteness(), r.ReductionRatio())
	fmt.Fprintf(tw, "link at %.2f\t%d links, %d true\tprecision %.4f, recall %.4f, F1 %.4f\n",
		r.Link, r.Links, r.Correct, r.Precision(), r.Recall(), r.F1())
	fmt.Fprintf(tw, "review from %.2f\t%d pairs, %d true\t\n", r.ReviewAt, r.Review, r.ReviewTrue)
	if err := tw.Flush(); err != nil {
		return err
	}
	if *weights {
		fmt.Fprintf(e.stdout, "\nmodel fitted on %d candidate pairs of A and B together:\n", m.Pairs)
		return m.WriteTable(e.stdout)
	}
	return nil
}

func readFEBRLFile(path string) ([]match.Person, error) {
	f, err := os.Open(path)
	if err != nil {
		reason := err
		if u := errors.Unwrap(err); u != nil {
			reason = u
		}
		kind := ptoy.Invalid
		if errors.Is(err, fs.ErrNotExist) {
			kind = ptoy.NotFound
		}
		return nil, ptoy.E("match eval", kind, fmt.Sprintf("cannot read %s: %v", path, reason), err)
	}
	defer f.Close()
	p, err := match.ReadFEBRL(f)
	if err != nil {
		return nil, ptoy.E("match eval", ptoy.Invalid, fmt.Sprintf("%s: %s", path, ptoy.Message(err)), err)
	}
	return p, nil
}

// threshold parses a threshold flag; nil when not given.
func threshold(s, name string) (*float64, error) {
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, usageErr(fmt.Sprintf("%s %q is not a number", name, s))
	}
	return &v, nil
}
