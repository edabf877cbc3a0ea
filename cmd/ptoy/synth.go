package main

// Command "ptoy synth" writes synthetic patients: a hospital's EHR data to
// sync from, and with --duplicates a second hospital's copies of some of
// them, with the truth kept aside, to measure patient matching.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"ptoy/synth"
)

func init() {
	commands["synth"] = command{"write synthetic patients as FHIR Bundles or NDJSON", runSynth}
}

func runSynth(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "synth", "--out DIR [--patients N] [--seed S] [--format bundle|ndjson] [--duplicates FRACTION [--corruption KIND]]",
		`Writes realistic synthetic patients, the same for the same seed: each
with a Patient (name, sex, birth date, phone, address, the hospital's MRN)
and several years of visits (ambulatory, emergency, inpatient),
conditions, medication requests, allergies, immunisations, lab results
with reference ranges, vital signs, clinical notes, claims and
explanations of benefit, coded in SNOMED CT, LOINC, RxNorm, CVX and CPT.
Every resource is valid FHIR R4.

--format bundle writes one transaction Bundle per patient to
DIR/<hospital>/<patient id>.json (each entry created only if its
identifier is new: ifNoneExist), --format ndjson one file per resource
type to DIR/<hospital>/<Type>.ndjson.

With --duplicates FRACTION, that share of the patients is also written as
a second hospital (--dup-hospital) has them, corrupted in one to three
ways: typo, nickname, swap (given and family names), date (day and month
of birth transposed), address (moved), phone (changed), missing (fields
left empty); --corruption KIND uses that way only. DIR/truth.csv pairs
each copy with its original (MRN identifiers, the corruptions), and
DIR/febrl-a.csv and DIR/febrl-b.csv hold the demographics of both in the
FEBRL format that ptoy match eval reads (soc_sec_id holds the phone's
digits).`)
	seed := fs.Int64("seed", 1, "the seed: the same seed gives the same patients")
	n := fs.Int("patients", 10, "how many patients")
	out := fs.String("out", "", "the directory to write to (its hospital directories must be new or empty)")
	format := fs.String("format", synth.FormatBundle, "bundle or ndjson")
	dups := fs.Float64("duplicates", 0, "the share of patients the second hospital also holds, 0 to 1")
	kind := fs.String("corruption", "", "corrupt every copy this way only: "+strings.Join(synth.KindNames(), ", "))
	hospital := fs.String("hospital", "General Hospital", "the hospital whose records these are")
	dupHospital := fs.String("dup-hospital", "Riverside Clinic", "the hospital that holds the copies")
	years := fs.Int("years", 5, "years of history at the first hospital")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("synth", pos, 0, ""); err != nil {
		return err
	}
	switch {
	case *out == "":
		return usageErr("ptoy synth needs --out DIR")
	case *n < 1 || *n > 10_000_000:
		return usageErr("--patients is a number from 1 to 10000000")
	case *kind != "" && *dups == 0:
		return usageErr("--corruption needs --duplicates")
	}
	o := synth.Options{Hospital: *hospital, DupHospital: *dupHospital, Years: *years, Duplicates: *dups, Corruption: synth.Kind(*kind)}
	start := time.Now()
	last := start
	progress := func(patients, resources int) {
		if now := time.Now(); now.Sub(last) >= 2*time.Second {
			last = now
			rate := float64(resources) / now.Sub(start).Seconds()
			left := time.Duration(float64(*n-patients) / float64(patients) * float64(now.Sub(start)))
			fmt.Fprintf(e.stderr, "synth: %d of %d patients, %d resources, %.0f resources/s, about %v left\n",
				patients, *n, resources, rate, left.Round(time.Second))
		}
	}
	sum, err := synth.Write(ctx, *seed, *n, o, synth.WriteOptions{Dir: *out, Format: *format, Progress: progress})
	if err != nil {
		return err
	}
	o = o.Defaults()
	took := time.Since(start)
	fmt.Fprintf(e.stdout, "patients:   %d at %s (%s/)\n", sum.Patients, o.Hospital, synth.Slug(o.Hospital))
	if sum.Copies > 0 {
		fmt.Fprintf(e.stdout, "copies:     %d at %s (%s/)\n", sum.Copies, o.DupHospital, synth.Slug(o.DupHospital))
	}
	var byType []string
	for _, t := range slices.Sorted(maps.Keys(sum.ByType)) {
		byType = append(byType, fmt.Sprintf("%s %d", t, sum.ByType[t]))
	}
	fmt.Fprintf(e.stdout, "resources:  %d (%s)\n", sum.Resources, strings.Join(byType, ", "))
	var files []string
	for _, f := range sum.Files {
		if !strings.HasSuffix(f, ".ndjson") {
			files = append(files, f)
		}
	}
	if len(files) > 0 {
		fmt.Fprintf(e.stdout, "files:      %s\n", strings.Join(files, " "))
	}
	fmt.Fprintf(e.stdout, "took:       %v (%.0f resources/s)\n", took.Round(time.Millisecond), float64(sum.Resources)/took.Seconds())
	return nil
}
