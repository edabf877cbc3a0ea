package main

// Command "ptoy sync": an organisation brings its EHR into the network as
// its holdings, resumably.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"ptoy/client"
	"ptoy/ehrsync"
)

func init() {
	commands["sync"] = command{"sync an organisation's EHR (a directory of FHIR files or a FHIR server) into the network", runSync}
}

func runSync(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "sync", "--as KEYNAME (--dir DIR | --fhir URL) [--checkpoint FILE] [--report FILE] [--batch N] [--node URL]",
		`Reads resources from the organisation's EHR and files them at its node as
the organisation's holdings: each is validated, sealed to the organisation's
own key and committed on the ledger (filed under the organisation: the
ledger learns how many records of which categories it holds, not whose).
Patients find them with the record locator and link them to themselves.

Sources: --dir, a directory of FHIR Bundles (*.json) and NDJSON files
(*.ndjson), read in path order; or --fhir, a FHIR R4 server's base URL (see
the README for its authorisation flags).

The sync is resumable: after each batch the node has committed, the
position is written to the checkpoint file (default: HOME/sync-<source>.json
beside the keys). Killed at any moment and started again, it resumes from
there; nothing is lost and nothing is filed twice. A finished sync started
again reads the source from the start and files only what changed.
Resources that fail validation are listed in the report (default: beside the
checkpoint, .failed.ndjson) with the reason, and do not stop the run.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the organisation or one of its admins, who signs")
	dir := fs.String("dir", "", "a `DIR`ectory of FHIR Bundles and NDJSON files")
	fhirURL := fs.String("fhir", "", "a FHIR R4 server's base `URL`")
	name := fs.String("source", "", "the source's `NAME` (default: dir:<base name> or the server's URL)")
	cpPath := fs.String("checkpoint", "", "the checkpoint `FILE`")
	report := fs.String("report", "", "where failed resources are listed (`FILE`, NDJSON)")
	batch := fs.Int("batch", 1000, "resources per batch (`N`, 1 to 5000)")
	quiet := fs.Bool("quiet", false, "no progress lines")
	sf := addServerFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("sync", pos, 0, ""); err != nil {
		return err
	}
	switch {
	case *as == "":
		return usageErr("ptoy sync needs --as KEYNAME: the organisation or one of its admins (run ptoy sync -h)")
	case (*dir == "") == (*fhirURL == ""):
		return usageErr("ptoy sync needs one source: --dir DIR or --fhir URL")
	case *batch < 1 || *batch > 5000:
		return usageErr("--batch is 1 to 5000")
	}
	k, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	var src ehrsync.Source
	if *dir != "" {
		if src, err = ehrsync.OpenDir(*dir, *name); err != nil {
			return err
		}
	} else if src, err = sf.open(ctx, *fhirURL, *name); err != nil {
		return err
	}
	if *cpPath == "" {
		*cpPath = filepath.Join(c.keysDir, "sync-"+fileSafe(src.Name())+".json")
	}
	if *report == "" {
		*report = strings.TrimSuffix(*cpPath, ".json") + ".failed.ndjson"
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	rep, err := os.OpenFile(*report, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open the report %s: %w", *report, err)
	}
	defer rep.Close()
	o := ehrsync.Options{Batch: *batch, Checkpoint: *cpPath}
	if !*quiet {
		o.Progress = e.stderr
	}
	sink := func(ctx context.Context, source string, b []json.RawMessage) (*client.ImportResult, error) {
		res, err := cl.Import(ctx, k, source, b)
		if err == nil {
			enc := json.NewEncoder(rep)
			for _, f := range res.Failed {
				enc.Encode(f)
			}
		}
		return res, err
	}
	sum, err := ehrsync.Run(ctx, src, sink, o)
	if err != nil {
		return err
	}
	tw := table(e.stdout)
	fmt.Fprintf(tw, "source:\t%s\n", sum.Source)
	fmt.Fprintf(tw, "resources:\t%d (%d new, %d changed, %d unchanged)\n", sum.Done, sum.Created, sum.Updated, sum.Unchanged)
	fmt.Fprintf(tw, "failed:\t%d", sum.Failed)
	if sum.Failed > 0 {
		fmt.Fprintf(tw, " (listed in %s)", *report)
	}
	fmt.Fprintln(tw)
	if sum.Resumed {
		fmt.Fprintf(tw, "resumed:\tfrom %s\n", *cpPath)
	}
	fmt.Fprintf(tw, "time:\t%s (%.0f resources/s)\n", sum.Elapsed.Round(1e6), float64(sum.Done)/max(sum.Elapsed.Seconds(), 1e-3))
	return tw.Flush()
}

// fileSafe makes a source's name a file name.
func fileSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
