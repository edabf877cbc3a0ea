package main

import (
	"context"
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
	fs := flags(e, "bench", "[--validators 1,4] [--txs N] [--transfers] [--grants] [--records] [--fhir]",
		`Runs CometBFT's kvstore example application and the ptoy ledger the same
way in this process (validators on 127.0.0.x, short block times, signed
RegisterPatient transactions for ptoy, equally large transactions for
kvstore), prints committed transactions per second and their ratio, and
the ledger bytes per registered patient. With --transfers it also measures
signed PTOY transfers, each from its own funded account. With --fhir
(alone: --ledger=false --fhir) it files --fhir-resources resources for
--fhir-patients patients through General Hospital's FHIR API on a
one-validator network and prints search latency, FHIR reads per second
beside the gateway's, a bulk export and a 500-entry transaction.`)
	vals := fs.String("validators", "1,4", "comma-separated network sizes")
	n := fs.Int("txs", 4000, "transactions per measurement")
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
	opt := bench.Options{Validators: sizes, Txs: *n, Workers: *workers, Rounds: *rounds, Progress: e.stderr}
	rep := &bench.Report{}
	if *ledgerTx {
		r, err := bench.Run(ctx, opt)
		if err != nil {
			return err
		}
		rep = r
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
