package bench

// The whole report: every benchmark of this package run several times,
// written as Markdown with an SVG chart beside it.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"ptoy"
)

// ReportOptions of a full report.
type ReportOptions struct {
	Dir  string // scratch space; a temporary directory if empty
	Runs int    // runs of each figure (default 3)
	// Quick shrinks every duration and size so that the whole report
	// takes about a minute: figures to check that it works, not to quote.
	Quick bool
	// DefaultTimeouts also measures the ledger with CometBFT's default
	// consensus timeouts.
	DefaultTimeouts bool
	// Steady, if its fields are set, replaces the ledger measurement's
	// warm-up, window and backlog.
	Steady SteadyOptions
	// DecideGrants are the index sizes Decide is timed on; FHIRScale the
	// patient counts the FHIR API is measured at, FHIRPerPatient
	// resources each. Empty: the defaults of a full or a quick report.
	DecideGrants   []int
	FHIRScale      []int
	FHIRPerPatient int
	Command        string // the command line that made the report, shown in it
	Progress       io.Writer
}

// FullReport is every figure of a report, each run kept.
type FullReport struct {
	Opts    ReportOptions
	Started time.Time
	Elapsed time.Duration
	// Load is the machine's one-minute load average at the start and at
	// the end, where it can be read (Linux).
	Load [2]string

	// Steady is the ledger measurement's options as run (defaults
	// filled in).
	Steady                SteadyOptions
	Ledger, LedgerDefault *SteadyReport
	Records               []*RecordReport
	FHIR                  []*FHIRReport
	Decide                []DecideRow
	FHIRScale             []*FHIRReport
}

// RunReport runs every benchmark o.Runs times.
func RunReport(ctx context.Context, o ReportOptions) (*FullReport, error) {
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "ptoy-bench-report-")
		if err != nil {
			return nil, ptoy.E("bench.RunReport", ptoy.Other, err)
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	if len(o.DecideGrants) == 0 {
		o.DecideGrants = []int{1000, 10_000, 100_000, 1_000_000}
		if o.Quick {
			o.DecideGrants = []int{1000, 10_000, 100_000}
		}
	}
	if len(o.FHIRScale) == 0 {
		o.FHIRScale = []int{1000, 10_000}
		if o.Quick {
			o.FHIRScale = []int{3, 6}
		}
	}
	if o.FHIRPerPatient <= 0 {
		o.FHIRPerPatient = 20
		if o.Quick {
			o.FHIRPerPatient = 5
		}
	}
	rep := &FullReport{Opts: o, Started: time.Now(), Load: [2]string{loadAverage(), ""}}
	step := func(what string) {
		fmt.Fprintf(o.Progress, "== %s (%s since the start)\n", what, time.Since(rep.Started).Round(time.Second))
	}
	sub := func(name string, i int) string { return filepath.Join(o.Dir, fmt.Sprintf("%s-%d", name, i)) }

	step("ledger throughput, steady state, beside kvstore")
	so := o.Steady
	so.Dir, so.Rounds, so.Progress = sub("ledger", 0), o.Runs, o.Progress
	so.Validators = []int{1, 4}
	if o.Quick {
		so.Warmup, so.Duration = or(so.Warmup, 300*time.Millisecond), or(so.Duration, time.Second)
		if so.Depth == 0 {
			so.Depth = 500 // small blocks: three of them in a short window
		}
	}
	rep.Steady = so
	rep.Steady.defaults()
	var err error
	if rep.Ledger, err = RunSteady(ctx, so); err != nil {
		return nil, err
	}
	if o.DefaultTimeouts {
		step("ledger throughput with CometBFT's default timeouts")
		so.Dir, so.DefaultTimeouts = sub("ledger-default", 0), true
		if rep.LedgerDefault, err = RunSteady(ctx, so); err != nil {
			return nil, err
		}
	}

	for i := range o.Runs {
		step(fmt.Sprintf("records: writes, authorised reads (run %d of %d)", i+1, o.Runs))
		ro := RecordOptions{Dir: sub("records", i), Readers: []int{32}, ReadRounds: 1, Progress: o.Progress}
		if o.Quick {
			ro = RecordOptions{Dir: ro.Dir, Writers: 2, Records: 20, Batch: 5, Sizes: []int{1000, 10_000}, Readers: []int{4},
				ReadTime: 300 * time.Millisecond, ReadRounds: 1, Grants: 3, Progress: o.Progress}
		}
		r, err := RunRecords(ctx, ro)
		if err != nil {
			return nil, err
		}
		rep.Records = append(rep.Records, r)
	}

	for i := range o.Runs {
		step(fmt.Sprintf("FHIR API: import, search, reads, export (run %d of %d)", i+1, o.Runs))
		r, err := RunFHIR(ctx, fhirOptions(o, sub("fhir", i), 0))
		if err != nil {
			return nil, err
		}
		rep.FHIR = append(rep.FHIR, r)
	}

	decides := 2_000_000
	if o.Quick {
		decides = 100_000
	}
	for _, g := range o.DecideGrants {
		for i := range o.Runs {
			step(fmt.Sprintf("Decide on %s grants (run %d of %d)", number(float64(g), 0), i+1, o.Runs))
			row, err := RunDecide(g, decides, uint64(i))
			if err != nil {
				return nil, err
			}
			rep.Decide = append(rep.Decide, row)
		}
	}

	for i, p := range o.FHIRScale {
		step(fmt.Sprintf("FHIR API at %s patients, %d resources each (one run)", number(float64(p), 0), o.FHIRPerPatient))
		r, err := RunFHIR(ctx, fhirOptions(o, sub("fhir-scale", i), p))
		if err != nil {
			return nil, err
		}
		rep.FHIRScale = append(rep.FHIRScale, r)
	}
	rep.Elapsed, rep.Load[1] = time.Since(rep.Started), loadAverage()
	step("done")
	return rep, nil
}

// fhirOptions are the FHIR benchmark's options in a report: its defaults
// (200 patients, 100,000 resources) with one round of reads and, for
// patients above zero, that many patients with o.FHIRPerPatient
// resources each.
func fhirOptions(o ReportOptions, dir string, patients int) FHIROptions {
	fo := FHIROptions{Dir: dir, ReadRounds: 1, Progress: o.Progress}
	if o.Quick {
		fo = FHIROptions{Dir: dir, Patients: 3, Resources: 60, BundleSize: 15, Writers: 2, Searches: 5, Readers: 2,
			ReadTime: 200 * time.Millisecond, ReadRounds: 1, TxEntries: 10, TxRounds: 1, Progress: o.Progress}
	}
	if patients > 0 {
		fo.Patients, fo.Resources = patients, patients*o.FHIRPerPatient
		fo.BundleSize = max(o.FHIRPerPatient, 1)
		if !o.Quick {
			fo.Searches, fo.TxRounds = 200, 1
		}
	}
	return fo
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// WriteReport runs the report and writes it to out (Markdown) with its
// chart beside it (the same name ending in .svg).
func WriteReport(ctx context.Context, out string, o ReportOptions) (*FullReport, error) {
	if !strings.HasSuffix(out, ".md") {
		return nil, ptoy.E("bench.WriteReport", ptoy.Invalid, "the report's file name must end in .md")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, ptoy.E("bench.WriteReport", ptoy.Other, err)
	}
	rep, err := RunReport(ctx, o)
	if err != nil {
		return nil, err
	}
	svgPath := strings.TrimSuffix(out, ".md") + ".svg"
	var md, svg strings.Builder
	rep.Markdown(&md, filepath.Base(svgPath))
	rep.SVG(&svg)
	if err := os.WriteFile(svgPath, []byte(svg.String()), 0o644); err != nil {
		return nil, ptoy.E("bench.WriteReport", ptoy.Other, err)
	}
	if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
		return nil, ptoy.E("bench.WriteReport", ptoy.Other, err)
	}
	return rep, nil
}

// machine describes where the report ran.
func machine() string {
	return fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
}

// loadAverage is the one-minute load average, or "" where it cannot be
// read.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
