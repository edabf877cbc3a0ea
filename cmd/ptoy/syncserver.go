package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"ptoy/ehrsync"
	"ptoy/fhir/smart/backend"
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
	hc := &http.Client{Timeout: 2 * time.Minute}
	o := ehrsync.ServerOptions{NoExport: *f.noExport, PageSize: *f.pageSize, HTTP: hc}
	if *f.since != "" {
		t, err := time.Parse(time.RFC3339, *f.since)
		if err != nil {
			return nil, usageErr("--since takes a time such as 2026-01-31T00:00:00Z")
		}
		o.Since = t
	}
	if (*f.clientID == "") != (*f.keyFile == "") {
		return nil, usageErr("--client-id and --client-key go together")
	}
	if *f.clientID != "" {
		key, err := readECKey(*f.keyFile)
		if err != nil {
			return nil, err
		}
		kid := *f.kid
		if kid == "" {
			kid = backend.KeyID(&key.PublicKey)
		}
		tokenURL := *f.tokenURL
		if tokenURL == "" {
			if tokenURL, err = discoverToken(ctx, hc, base); err != nil {
				return nil, err
			}
		}
		o.Token = func(ctx context.Context) (string, time.Time, error) {
			return backend.Token(ctx, hc, tokenURL, *f.clientID, kid, key, *f.scope)
		}
	}
	return ehrsync.OpenServer(ctx, base, name, o)
}

// readECKey reads a PEM EC private key.
func readECKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s holds no PEM block", path)
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s is not an EC private key: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s is not an EC private key", path)
	}
	return ek, nil
}

// discoverToken reads the token endpoint from the server's SMART
// configuration.
func discoverToken(ctx context.Context, hc *http.Client, base string) (string, error) {
	u := strings.TrimSuffix(base, "/") + "/.well-known/smart-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", u, err)
	}
	defer resp.Body.Close()
	var c struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&c) != nil || c.TokenEndpoint == "" {
		return "", fmt.Errorf("%s names no token endpoint (%s): give --token-url", u, resp.Status)
	}
	return c.TokenEndpoint, nil
}
