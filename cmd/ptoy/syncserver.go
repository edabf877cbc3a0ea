package main

import (
	"context"
	"flag"
	"time"

	"ptoy/ehrsync"
)

// serverFlags are ptoy sync's flags for a FHIR server source.
type serverFlags struct {
	since    *string
	noExport *bool
	pageSize *int
}

func addServerFlags(fs *flag.FlagSet) *serverFlags {
	return &serverFlags{
		since:    fs.String("since", "", "read only what changed after this `TIME` (RFC 3339), with --fhir"),
		noExport: fs.Bool("no-export", false, "read with paged searches even where the server offers $export"),
		pageSize: fs.Int("page-size", 200, "resources per search page (`N`), with --fhir"),
	}
}

// open connects to the FHIR server at base.
func (f *serverFlags) open(ctx context.Context, base, name string) (ehrsync.Source, error) {
	o := ehrsync.ServerOptions{NoExport: *f.noExport, PageSize: *f.pageSize}
	if *f.since != "" {
		t, err := time.Parse(time.RFC3339, *f.since)
		if err != nil {
			return nil, usageErr("--since takes a time such as 2026-01-31T00:00:00Z")
		}
		o.Since = t
	}
	return ehrsync.OpenServer(ctx, base, name, o)
}
