package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"ptoy/bench"
)

func init() {
	commands["bench"] = command{"measure committed transactions per second beside CometBFT's kvstore", runBench}
}

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "report" {
		return runBenchReport(ctx, e, args[1:])
	}
	fs := flags(e, "bench", "[report] [--validators 1,4] [--duration D] [--warmup D] [--transfers] [--grants] [--records] [--fhir]",
		`Runs CometBFT's kvstore example application and the ptoy ledger the same
way in this process (validators on 127.0.0.x, short block times, signed
RegisterPatient transactions for ptoy, equally large transactions for
kvstore) and prints committed transactions per second in steady state:
submitters keep a backlog of --depth transactions for --warmup and then
--duration; the successful transactions of the blocks timed in that window
are divided by the time between the first and last of them. Rounds
alternate kvstore and ptoy; each round's row, then the median and range.
--default-timeouts uses CometBFT's default consensus timeouts. --fixed
measures the older way instead: --txs transactions, first submit to last
commit, with the ledger bytes per registered patient.

"ptoy bench report" runs every benchmark and writes a Markdown report
with an SVG chart (see "ptoy bench report -h").

With --transfers it also measures
signed PTOY transfers, each from its own funded account. With --fhir
(alone: --ledger=false --fhir) it files --fhir-resources resources for
--fhir-patients patients through General Hospital's FHIR API on a
one-validator network and prints search latency, FHIR reads per second
beside the gateway's, a bulk export and a 500-entry transaction.`)
	vals := fs.String("validators", "1,4", "comma-separated network sizes")
	duration := fs.Duration("duration", 20*time.Second, "the steady-state window")
	warmup := fs.Duration("warmup", 5*time.Second, "load before the window opens")
	depth := fs.Int("depth", 0, "the backlog the submitters keep, sent and not yet in a block (default 5,000 on one validator, 1,000 on more)")
	defaultTimeouts := fs.Bool("default-timeouts", false, "CometBFT's default consensus timeouts instead of the short ones")
	blockBytes := fs.Int64("block-bytes", 0, "the networks' largest block in bytes (CometBFT's block.max_bytes; default 21 MiB)")
	fixed := fs.Bool("fixed", false, "measure a fixed number of transactions (--txs), first submit to last commit, instead of steady state")
	n := fs.Int("txs", 4000, "with --fixed, --transfers or --grants: transactions per measurement")
	workers := fs.Int("workers", 8, "concurrent submitters per node")
	rounds := fs.Int("rounds", 3, "alternating rounds per size; the median is printed")
	transfers := fs.Bool("transfers", false, "also measure PTOY transfers")
	grants := fs.Bool("grants", false, "also measure consent grants")
	records := fs.Bool("records", false, "also measure encrypted records: writes end to end, authorised reads, ledger bytes per record and grant")
	ledgerTx := fs.Bool("ledger", true, "measure signed ledger transactions beside kvstore")
	readers := fs.String("readers", "16,24,32,64", "with --records: comma-separated concurrent readers")
	readTime := fs.Duration("read-time", 5*time.Second, "with --records or --fhir: how long each read measurement lasts")
	fhirBench := fs.Bool("fhir", false, "also measure the FHIR API: search latency, reads beside the gateway's, $export, a 500-entry transaction")
	fhirPatients := fs.Int("fhir-patients", 200, "with --fhir: registered patients")
	fhirResources := fs.Int("fhir-resources", 100_000, "with --fhir: resources filed through the FHIR API")
	fhirReaders := fs.Int("fhir-readers", 32, "with --fhir: concurrent readers")
	fhirRepair := fs.String("fhir-repair-interval", "", "with --fhir: the node's repair_interval instead of its default (e.g. 1h: no blob repair scan while measuring)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE` (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var sizes []int
	for _, s := range strings.Split(*vals, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 1 || v > 16 {
			return usageErr("--validators is a comma-separated list of sizes from 1 to 16")
		}
		sizes = append(sizes, v)
	}
	if *duration <= 0 || *warmup < 0 || *depth < 0 || *workers < 1 || *rounds < 1 || *blockBytes < 0 || *blockBytes > 100<<20 {
		return usageErr("--duration is positive, --warmup and --depth not negative, --workers and --rounds at least 1, --block-bytes at most 100 MiB")
	}
	opt := bench.Options{Validators: sizes, Txs: *n, Workers: *workers, Rounds: *rounds, Progress: e.stderr}
	rep := &bench.Report{}
	if *ledgerTx && *fixed {
		r, err := bench.Run(ctx, opt)
		if err != nil {
			return err
		}
		rep = r
	} else if *ledgerTx {
		sr, err := bench.RunSteady(ctx, bench.SteadyOptions{Validators: sizes, Warmup: *warmup, Duration: *duration, Rounds: *rounds,
			Workers: *workers, Depth: *depth, DefaultTimeouts: *defaultTimeouts, BlockBytes: *blockBytes, Progress: e.stderr})
		if err != nil {
			return err
		}
		sr.Print(e.stdout)
	}
	if *transfers {
		tr, err := bench.RunTransfers(ctx, opt)
		if err != nil {
			return err
		}
		rep.Rows = append(rep.Rows, tr.Rows...)
	}
	if *grants {
		gr, err := bench.RunGrants(ctx, opt)
		if err != nil {
			return err
		}
		rep.Rows = append(rep.Rows, gr.Rows...)
	}
	rep.Print(e.stdout)
	if *records {
		dir, err := os.MkdirTemp("", "ptoy-bench-records-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		var rs []int
		for _, s := range strings.Split(*readers, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || v < 1 || v > 1024 {
				return usageErr("--readers is a comma-separated list of numbers from 1 to 1024")
			}
			rs = append(rs, v)
		}
		rr, err := bench.RunRecords(ctx, bench.RecordOptions{Dir: dir, Progress: e.stderr, Readers: rs, ReadTime: *readTime, ReadRounds: *rounds})
		if err != nil {
			return err
		}
		rr.Print(e.stdout)
	}
	if *fhirBench {
		if *fhirPatients < 1 || *fhirResources < *fhirPatients || *fhirReaders < 1 || *fhirReaders > 1024 {
			return usageErr("--fhir-patients is at least 1, --fhir-resources at least as many, --fhir-readers from 1 to 1024")
		}
		dir, err := os.MkdirTemp("", "ptoy-bench-fhir-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		fr, err := bench.RunFHIR(ctx, bench.FHIROptions{Dir: dir, Patients: *fhirPatients, Resources: *fhirResources,
			Readers: *fhirReaders, ReadTime: *readTime, ReadRounds: *rounds, RepairInterval: *fhirRepair, Progress: e.stderr})
		if err != nil {
			return err
		}
		fr.Print(e.stdout)
	}
	return nil
}

func runBenchReport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "bench report", "[--out docs/benchmarks-report.md] [--runs N] [--quick] [--default-timeouts]",
		`Runs every benchmark --runs times and writes a Markdown report with the
median and range of each figure, and an SVG chart beside it (the same name
ending in .svg): ledger transactions per second on 1 and 4 validators beside
CometBFT's kvstore in steady state, authorised reads per second with p50
and p99, records written end to end, FHIR import, search, reads and export,
Decide, and Decide and the FHIR API against the number of grants or
patients. Progress goes to standard error. A full report takes most of an
hour on two cores; --quick shrinks every duration and size so that it
takes a minute or two (two runs; figures to check that it works, not to
quote).`)
	out := fs.String("out", "docs/benchmarks-report.md", "the report's `FILE` (.md); the chart is written beside it")
	runs := fs.Int("runs", 0, "runs of each figure (default 3, 2 with --quick)")
	quick := fs.Bool("quick", false, "shrink every duration and size: about a minute")
	defaultTimeouts := fs.Bool("default-timeouts", false, "also measure the ledger with CometBFT's default consensus timeouts")
	duration := fs.Duration("duration", 0, "the ledger's steady-state window (default 20s, 1s with --quick)")
	warmup := fs.Duration("warmup", 0, "the ledger's warm-up (default 5s, 300ms with --quick)")
	depth := fs.Int("depth", 0, "the ledger's backlog, sent and not yet in a block (default 5,000 on one validator, 1,000 on more; 500 with --quick)")
	blockBytes := fs.Int64("block-bytes", 0, "the ledger networks' largest block in bytes (CometBFT's block.max_bytes; default 21 MiB)")
	fhirScale := fs.String("fhir-scale", "", "comma-separated patient counts to measure the FHIR API at (default 1000,10000; 3,6 with --quick)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("bench report takes no arguments, only flags")
	}
	if *runs == 0 {
		*runs = 3
		if *quick {
			*runs = 2
		}
	}
	if *runs < 1 || *runs > 20 {
		return usageErr("--runs is from 1 to 20")
	}
	if !strings.HasSuffix(*out, ".md") {
		return usageErr("--out names a Markdown file ending in .md")
	}
	if *duration < 0 || *warmup < 0 || *depth < 0 || *blockBytes < 0 || *blockBytes > 100<<20 {
		return usageErr("--duration, --warmup and --depth are not negative, --block-bytes from 0 to 100 MiB")
	}
	var scale []int
	if *fhirScale != "" {
		for _, s := range strings.Split(*fhirScale, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || v < 1 || v > 1_000_000 {
				return usageErr("--fhir-scale is a comma-separated list of patient counts from 1 to 1,000,000")
			}
			scale = append(scale, v)
		}
	}
	cmd := "ptoy bench report"
	if len(args) > 0 {
		cmd += " " + strings.Join(args, " ")
	}
	_, err := bench.WriteReport(ctx, *out, bench.ReportOptions{Runs: *runs, Quick: *quick, DefaultTimeouts: *defaultTimeouts,
		Steady: bench.SteadyOptions{Duration: *duration, Warmup: *warmup, Depth: *depth, BlockBytes: *blockBytes}, FHIRScale: scale, Command: cmd, Progress: e.stderr})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s and %s\n", *out, strings.TrimSuffix(*out, ".md")+".svg")
	return nil
}
