package main

import (
	"context"
	"flag"
	"net/http"
	"time"

	"ptoy/ehrsync"
)

// serverFlags are ptoy sync's flags for a FHIR server source.
type serverFlags struct {
	since, clientID, keyFile, kid, tokenURL, scope *string
	noExport                                       *bool
	pageSize                                       *int
}

func addServerFlags(fs *flag.FlagSet) *serverFlags {
	return &serverFlags{
		since:    fs.String("since", "", "read only what changed after this `TIME` (RFC 3339), with --fhir"),
		noExport: fs.Bool("no-export", false, "read with paged searches even where the server offers $export"),
		pageSize: fs.Int("page-size", 200, "resources per search page (`N`), with --fhir"),
		clientID: fs.String("client-id", "", "the `ID` the FHIR server registered for this organisation (SMART Backend Services)"),
		keyFile:  fs.String("client-key", "", "the client's private key, a PEM `FILE` (EC P-384, PKCS #8 or SEC 1), with --client-id"),
		kid:      fs.String("kid", "", "the key's `ID` at the server (default: its RFC 7638 thumbprint)"),
		tokenURL: fs.String("token-url", "", "the server's token endpoint `URL` (default: from its .well-known/smart-configuration)"),
		scope:    fs.String("scope", "system/*.read", "the `SCOPE` asked for"),
	}
}

// open connects to the FHIR server at base.
func (f *serverFlags) open(ctx context.Context, base, name string) (ehrsync.Source, error) {
	var since time.Time
	if *f.since != "" {
		t, err := time.Parse(time.RFC3339, *f.since)
		if err != nil {
			return nil, usageErr("--since takes a time such as 2026-01-31T00:00:00Z")
		}
		since = t
	}
	if (*f.clientID == "") != (*f.keyFile == "") {
		return nil, usageErr("--client-id and --client-key go together")
	}
	c := ehrsync.SourceConfig{Name: name, FHIR: base, ClientID: *f.clientID, ClientKey: *f.keyFile, KID: *f.kid,
		TokenURL: *f.tokenURL, Scope: *f.scope, NoExport: *f.noExport, PageSize: *f.pageSize}
	return c.Open(ctx, "", &http.Client{Timeout: 2 * time.Minute}, since)
}
