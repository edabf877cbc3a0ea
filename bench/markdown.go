package bench

// The report as Markdown: one section per figure, each figure the median
// of its runs with their range.

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// collect applies f to each element of xs.
func collect[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// ratios pairs the rounds of ptoy and kvstore on v validators: round i of
// one with round i of the other.
func ratios(r *SteadyReport, v int) []float64 {
	kv, pt := r.Series(kvstoreApp, v), r.Series(PtoyApp, v)
	var out []float64
	for i := range min(len(kv), len(pt)) {
		if kv[i] > 0 {
			out = append(out, pt[i]/kv[i])
		}
	}
	return out
}

func meanBlocks(r *SteadyReport, app string, v int) []float64 {
	return field(r, app, v, SteadyRow.MeanBlock)
}

// field is f of every round of app on v validators.
func field(r *SteadyReport, app string, v int, f func(SteadyRow) float64) []float64 {
	var out []float64
	for _, row := range r.Rows {
		if row.App == app && row.Validators == v {
			out = append(out, f(row))
		}
	}
	return out
}

func cores(r SteadyRow) float64 { return r.Cores }

func late(r SteadyRow) float64 { return float64(r.Late) }

// Markdown writes the report, linking the chart at chart (a path
// relative to the report).
func (r *FullReport) Markdown(w io.Writer, chart string) {
	o := r.Opts
	fmt.Fprintf(w, "# ptoy benchmark report\n\n")
	if o.Command != "" {
		fmt.Fprintf(w, "Written by `%s`", o.Command)
	} else {
		fmt.Fprintf(w, "Written by `ptoy bench report`")
	}
	fmt.Fprintf(w, " on %s in %s; %s. Each figure is the median of %d runs with their range (min–max) in brackets.",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second), machine(), o.Runs)
	if o.Quick {
		fmt.Fprintf(w, " **A quick report** (`--quick`): every duration and size shrunk so that it runs in about a minute;"+
			" its figures show that each benchmark works, not how fast ptoy is.")
	}
	fmt.Fprintf(w, " The load generators run in the same process as the nodes, on the same cores.")
	if r.Load[0] != "" && r.Load[1] != "" {
		fmt.Fprintf(w, " The machine's load average (one minute) was %s at the start and %s at the end: other work on it shares the cores.", r.Load[0], r.Load[1])
	}
	fmt.Fprintf(w, "\n\n")
	fmt.Fprintf(w, "![tx/s per configuration; Decide and FHIR search against the number of grants or patients](%s)\n\n", chart)

	r.ledgerSection(w)
	r.readsSection(w)
	r.writesSection(w)
	r.fhirSection(w)
	r.decideSection(w)
	r.scalingSection(w)
}

func (r *FullReport) ledgerSection(w io.Writer) {
	fmt.Fprintf(w, "## Ledger throughput beside kvstore (steady state)\n\n")
	l := r.Ledger
	if l == nil || len(l.Rows) == 0 {
		fmt.Fprintf(w, "Not measured.\n\n")
		return
	}
	so := r.Steady
	fmt.Fprintf(w, "Validators on 127.0.0.x in one process; CometBFT's kvstore example and the ptoy ledger take turns in each round, "+
		"each on a fresh network, with %s-byte transactions (ptoy: signed `RegisterPatient`, two signatures and an ML-KEM-768 + X25519 key; "+
		"kvstore: `key=value` of the same size). %d submitters per node keep a backlog of transactions (sent, not yet in a block: %s) "+
		"for a %v warm-up and a %v window (longer if it holds fewer than three blocks); the successful transactions of node 1's blocks "+
		"timed in the window, after its first, divided by the time from the first to the last.\n\n",
		number(float64(l.TxBytes), 0), so.Workers, backlogs(l), so.Warmup, so.Duration)
	if so.BlockBytes > 0 {
		fmt.Fprintf(w, "Blocks of at most %s bytes (CometBFT's `block.max_bytes`, set for both applications).\n\n", number(float64(so.BlockBytes), 0))
	}
	fmt.Fprintf(w, "| validators (timeouts) | kvstore tx/s | ptoy tx/s | ptoy / kvstore, same round | mean block, kvstore | mean block, ptoy | cores busy, kvstore | cores busy, ptoy | heights decided late, kvstore / ptoy |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	exhausted := false
	for _, rep := range []*SteadyReport{r.Ledger, r.LedgerDefault} {
		if rep == nil {
			continue
		}
		for _, v := range []int{1, 4} {
			kv := rep.Series(kvstoreApp, v)
			if len(kv) == 0 {
				continue
			}
			timeouts := "short"
			for _, row := range rep.Rows {
				timeouts = row.Timeouts
				exhausted = exhausted || row.Exhausted
			}
			fmt.Fprintf(w, "| %d (%s) | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", v, timeouts, Summarize(kv), Summarize(rep.Series(PtoyApp, v)),
				Summarize(ratios(rep, v)).Format(2), Summarize(meanBlocks(rep, kvstoreApp, v)), Summarize(meanBlocks(rep, PtoyApp, v)),
				Summarize(field(rep, kvstoreApp, v, cores)).Format(2), Summarize(field(rep, PtoyApp, v, cores)).Format(2),
				Summarize(field(rep, kvstoreApp, v, late)).Format(0), Summarize(field(rep, PtoyApp, v, late)).Format(0))
		}
	}
	fmt.Fprintln(w)
	if exhausted {
		fmt.Fprintf(w, "In at least one round ptoy's signed transactions ran out before the window's end; that window closed early.\n\n")
	}
	if rt := Summarize(ratios(l, 4)); rt.N > 0 {
		verdict := "**met**"
		if rt.Median < 0.8 {
			verdict = "**not met**"
		}
		if r.Opts.Quick {
			verdict = "not judged on a quick report"
		}
		fmt.Fprintf(w, "Target: ptoy at least 0.8 × kvstore on 4 validators, same run: %s (median ratio %.2f, range %.2f–%.2f).\n\n", verdict, rt.Median, rt.Min, rt.Max)
	}
	fmt.Fprintf(w, "What bounds each: with one validator kvstore does nothing per transaction, while ptoy verifies two Ed25519 "+
		"signatures and checks a KEM key in CheckTx and executes and commits each registration to its state store; the ratio there "+
		"is not a target. With four validators in one process every transaction is checked and executed four times on the same "+
		"cores, and every byte crosses CometBFT's peer connections (5 MB/s each way by default, shared by mempool gossip and block parts), "+
		"which bound kvstore and ptoy alike; a block too large to arrive within the propose timeout costs a round (\"heights decided late\": after round 0). After each block CometBFT checks every "+
		"transaction still waiting in each mempool again (recheck): kvstore's check is next to nothing, ptoy's re-applies the registration "+
		"to the node's check state (a few Pebble reads), so ptoy pays for the backlog at every block, four times over; a CPU profile "+
		"(`ptoy bench --cpuprofile`) of a deep backlog puts the recheck far above block execution. A mean block "+
		"near the backlog would say the backlog was the bound. \"Cores busy\" is the CPU time the whole process (nodes and "+
		"submitters) used per second of the window, of %d cores; other programs on the machine are not counted, and take cores from it.\n\n", runtime.NumCPU())
	if c := Summarize(field(l, PtoyApp, 4, cores)); c.N > 0 && c.Median > 0 {
		if c.Median >= 0.85*float64(runtime.NumCPU()) {
			fmt.Fprintf(w, "In this run ptoy on four validators kept %.2f of the %d cores busy: it was bound by CPU "+
				"(signature checks and execution, four times over, and the submitters).\n\n", c.Median, runtime.NumCPU())
		} else {
			fmt.Fprintf(w, "In this run ptoy on four validators kept %.2f of the %d cores busy: CPU was not its bound; "+
				"the rest of its time went in waiting for consensus rounds and for blocks and transactions to cross the peer connections.\n\n",
				c.Median, runtime.NumCPU())
		}
	}
}

func (r *FullReport) readsSection(w io.Writer) {
	fmt.Fprintf(w, "## Authorised reads\n\n")
	if len(r.Records) == 0 || len(r.Records[0].Reads) == 0 {
		fmt.Fprintf(w, "Not measured.\n\n")
		return
	}
	var reads []ReadRow
	for _, rr := range r.Records {
		reads = append(reads, rr.Reads...)
	}
	fmt.Fprintf(w, "One validator; a patient signed in once reads her records' ciphertext through the gateway with %d concurrent readers "+
		"for %v per run; each read is authenticated, decided and its audit event made durable before the answer.\n\n",
		reads[0].Readers, reads[0].Elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(w, "| readers | reads/s | p50 ms | p99 ms |\n| ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(w, "| %d | %s | %s | %s |\n\n", reads[0].Readers,
		Summarize(collect(reads, func(x ReadRow) float64 { return rate(x.Reads, x.Elapsed) })),
		Summarize(collect(reads, func(x ReadRow) float64 { return ms(x.P50) })).Format(2),
		Summarize(collect(reads, func(x ReadRow) float64 { return ms(x.P99) })).Format(2))
}

func (r *FullReport) writesSection(w io.Writer) {
	fmt.Fprintf(w, "## Write path: records end to end\n\n")
	if len(r.Records) == 0 {
		fmt.Fprintf(w, "Not measured.\n\n")
		return
	}
	fmt.Fprintf(w, "One validator; patients write at once, each sealing a batch of records, uploading their ciphertext and "+
		"committing one `PutRecords`.\n\n")
	fmt.Fprintf(w, "| record size | records/s |\n| ---: | ---: |\n")
	for i, wr := range r.Records[0].Writes {
		var xs []float64
		for _, rr := range r.Records {
			if i < len(rr.Writes) {
				xs = append(xs, rate(rr.Writes[i].Records, rr.Writes[i].Elapsed))
			}
		}
		fmt.Fprintf(w, "| %s bytes | %s |\n", number(float64(wr.Size), 0), Summarize(xs))
	}
	fmt.Fprintf(w, "\nLedger bytes per record version: %s; per grant: %s.\n\n",
		Summarize(collect(r.Records, func(x *RecordReport) float64 { return x.BytesPerRecord })),
		Summarize(collect(r.Records, func(x *RecordReport) float64 { return x.BytesPerGrant })))
}

// fhirRows are the figures of FHIR runs, named.
func fhirRows(runs []*FHIRReport) [][2]string {
	if len(runs) == 0 {
		return nil
	}
	f := func(g func(*FHIRReport) float64) Spread { return Summarize(collect(runs, g)) }
	rows := [][2]string{
		{"patients registered and granting, per second", f(func(x *FHIRReport) float64 { return rate(x.Patients, x.Register) }).Format(1)},
		{"FHIR import: resources filed per second (transaction Bundles)", f(func(x *FHIRReport) float64 { return rate(x.Resources, x.Filing) }).String()},
	}
	for i, s := range runs[0].Searches {
		at := func(x *FHIRReport) LatencyRow {
			if i < len(x.Searches) {
				return x.Searches[i]
			}
			return LatencyRow{}
		}
		rows = append(rows,
			[2]string{fmt.Sprintf("search `%s`: p50 ms", cell(s.Query)), f(func(x *FHIRReport) float64 { return ms(at(x).P50) }).Format(2)},
			[2]string{fmt.Sprintf("search `%s`: p99 ms", cell(s.Query)), f(func(x *FHIRReport) float64 { return ms(at(x).P99) }).Format(2)})
	}
	rows = append(rows,
		[2]string{"FHIR reads/s (`GET Type/id`, SMART token)", f(func(x *FHIRReport) float64 { r := first(x.FHIRReads); return rate(r.Reads, r.Elapsed) }).String()},
		[2]string{"FHIR read p99 ms", f(func(x *FHIRReport) float64 { return ms(first(x.FHIRReads).P99) }).Format(2)},
		[2]string{"gateway ciphertext reads/s, same records", f(func(x *FHIRReport) float64 { r := first(x.Gateway); return rate(r.Reads, r.Elapsed) }).String()},
		[2]string{"`Group/$export`: resources/s, kick-off to files read", f(func(x *FHIRReport) float64 {
			return rate(x.Export.Resources, x.Export.Kickoff+x.Export.Download)
		}).String()},
		[2]string{fmt.Sprintf("%d-entry transaction Bundle, end to end, ms", runs[0].TxEntries), f(func(x *FHIRReport) float64 {
			if len(x.Transaction) == 0 {
				return 0
			}
			return ms(x.Transaction[0])
		}).Format(1)},
	)
	return rows
}

func (r *FullReport) fhirSection(w io.Writer) {
	fmt.Fprintf(w, "## FHIR import, search and reads\n\n")
	if len(r.FHIR) == 0 {
		fmt.Fprintf(w, "Not measured.\n\n")
		return
	}
	x := r.FHIR[0]
	fmt.Fprintf(w, "One validator (a development network); %s patients each grant General Hospital read-write; a doctor files %s resources "+
		"through the hospital's FHIR API in %d transaction Bundles; then searches one at a time, reads with %d concurrent clients beside "+
		"the gateway's, a bulk export and a transaction end to end (see `bench.RunFHIR`).\n\n",
		number(float64(x.Patients), 0), number(float64(x.Resources), 0), x.Bundles, first(x.FHIRReads).Readers)
	fmt.Fprintf(w, "| figure | median (range) |\n| --- | ---: |\n")
	for _, row := range fhirRows(r.FHIR) {
		fmt.Fprintf(w, "| %s | %s |\n", row[0], row[1])
	}
	fmt.Fprintln(w)
}

func first(rs []ReadRow) ReadRow {
	if len(rs) == 0 {
		return ReadRow{}
	}
	return rs[0]
}

// decideSeries returns, per index size in order, the ns per Decide of
// every run.
func (r *FullReport) decideSeries() (sizes []int, runs [][]float64) {
	for _, row := range r.Decide {
		if len(sizes) == 0 || sizes[len(sizes)-1] != row.Grants {
			sizes = append(sizes, row.Grants)
			runs = append(runs, nil)
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], row.NsPerDecide())
	}
	return sizes, runs
}

func (r *FullReport) decideSection(w io.Writer) {
	fmt.Fprintf(w, "## Decide\n\n")
	sizes, runs := r.decideSeries()
	if len(sizes) == 0 {
		fmt.Fprintf(w, "Not measured.\n\n")
		return
	}
	fmt.Fprintf(w, "`consent.Decide` on the in-memory consent index the gateway keeps: an organisation's employee reading a random "+
		"patient's records under the organisation's grant (the common case), one Decide after another on one core.\n\n")
	fmt.Fprintf(w, "| grants | employees | ns per Decide | index built in s |\n| ---: | ---: | ---: | ---: |\n")
	for i, g := range sizes {
		var builds []float64
		emp := 0
		for _, row := range r.Decide {
			if row.Grants == g {
				builds, emp = append(builds, row.Build.Seconds()), row.Employees
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", number(float64(g), 0), number(float64(emp), 0), Summarize(runs[i]), Summarize(builds).Format(2))
	}
	fmt.Fprintln(w)
}

func (r *FullReport) scalingSection(w io.Writer) {
	fmt.Fprintf(w, "## Scaling with patients\n\n")
	sizes, _ := r.decideSeries()
	fmt.Fprintf(w, "What was scaled:\n\n")
	if len(sizes) > 0 {
		fmt.Fprintf(w, "- **Decide** against the number of grants (one per patient): %s (the table above; each size %d runs).\n",
			joinNumbers(sizes), r.Opts.Runs)
	}
	if len(r.FHIRScale) > 0 {
		var ps []int
		for _, x := range r.FHIRScale {
			ps = append(ps, x.Patients)
		}
		fmt.Fprintf(w, "- **The FHIR API** against the number of patients: %s patients with %d resources each, one run per size (below).\n",
			joinNumbers(ps), r.Opts.FHIRPerPatient)
	}
	// How long registering patients took here, from the FHIR runs.
	reg := Summarize(collect(slices.Concat(r.FHIR, r.FHIRScale), func(x *FHIRReport) float64 { return rate(x.Patients, x.Register) }))
	fmt.Fprintf(w, "\nWhat was not, and why: every patient on a ledger network is a registration (a phone code, a signed transaction, "+
		"a key setup) and a grant. ")
	if reg.N > 0 && reg.Median > 0 {
		fmt.Fprintf(w, "At the %s patients per second measured here, 100,000 patients take %s and 1,000,000 take %s per run, ",
			number(reg.Median, 1), span(100_000/reg.Median), span(1_000_000/reg.Median))
	}
	fmt.Fprintf(w, "so the ledger's throughput, reads and the write path are measured on networks of a few hundred patients, "+
		"and the FHIR API at the sizes above; Decide, which every read and write passes, is measured on consent state up to a million grants.\n\n")
	if len(r.FHIRScale) == 0 {
		return
	}
	fmt.Fprintf(w, "| figure |")
	for _, x := range r.FHIRScale {
		fmt.Fprintf(w, " %s patients |", number(float64(x.Patients), 0))
	}
	fmt.Fprintf(w, "\n| --- |")
	for range r.FHIRScale {
		fmt.Fprintf(w, " ---: |")
	}
	fmt.Fprintln(w)
	var cols [][][2]string
	for _, x := range r.FHIRScale {
		cols = append(cols, fhirRows([]*FHIRReport{x}))
	}
	for i := range cols[0] {
		fmt.Fprintf(w, "| %s |", cols[0][i][0])
		for _, c := range cols {
			fmt.Fprintf(w, " %s |", c[i][1])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func joinNumbers(xs []int) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += number(float64(x), 0)
	}
	return s
}

// cell escapes the pipes of s for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// span says how long secs seconds is, roughly.
func span(secs float64) string {
	switch d := time.Duration(secs * float64(time.Second)); {
	case d < 2*time.Minute:
		return fmt.Sprintf("%.0f seconds", d.Seconds())
	case d < 2*time.Hour:
		return fmt.Sprintf("%.0f minutes", d.Minutes())
	default:
		return fmt.Sprintf("%.0f hours", d.Hours())
	}
}

// backlogs says the backlog of each network size, e.g. "10,000 on 1
// validator, 2,000 on 4".
func backlogs(r *SteadyReport) string {
	var parts []string
	seen := map[int]bool{}
	for _, row := range r.Rows {
		if !seen[row.Validators] {
			seen[row.Validators] = true
			unit := "validators"
			if row.Validators == 1 {
				unit = "validator"
			}
			parts = append(parts, fmt.Sprintf("%s on %d %s", number(float64(row.Depth), 0), row.Validators, unit))
		}
	}
	return strings.Join(parts, ", ")
}
