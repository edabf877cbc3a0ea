package ehrsync

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"ptoy"
	"ptoy/fhir/smart/backend"
)

// SourceConfig names a source and how to reach it: what a node's
// configuration lists for the syncs its console starts, and what ptoy
// sync's flags make.
type SourceConfig struct {
	// Name names the source in the node's holdings and checkpoints: 1 to
	// 64 of a-z, 0-9 and '-' in a node's configuration.
	Name string `toml:"name" json:"name"`
	// Dir is a directory of FHIR Bundles and NDJSON files; FHIR a FHIR R4
	// server's base URL. One of the two.
	Dir  string `toml:"dir" json:"dir,omitempty"`
	FHIR string `toml:"fhir" json:"fhir,omitempty"`
	// ClientID and ClientKey (a PEM EC P-384 private key file) sign SMART
	// Backend Services assertions; KID names the key at the server
	// (default its RFC 7638 thumbprint); TokenURL is the token endpoint
	// (default from the server's .well-known/smart-configuration); Scope
	// is asked for (default "system/*.read").
	ClientID  string `toml:"client_id" json:"client_id,omitempty"`
	ClientKey string `toml:"client_key" json:"client_key,omitempty"`
	KID       string `toml:"kid" json:"kid,omitempty"`
	TokenURL  string `toml:"token_url" json:"token_url,omitempty"`
	Scope     string `toml:"scope" json:"scope,omitempty"`
	// NoExport reads with paged searches even where the server offers
	// $export; PageSize is a search page's _count (default 200).
	NoExport bool `toml:"no_export" json:"no_export,omitempty"`
	PageSize int  `toml:"page_size" json:"page_size,omitempty"`
}

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Validate checks a source as a node's configuration gives it.
func (c SourceConfig) Validate() error {
	const op = "ehrsync.SourceConfig"
	bad := func(msg string) error { return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("EHR source %q: %s", c.Name, msg)) }
	if !sourceName.MatchString(c.Name) {
		return bad("name is 1 to 64 of a-z, 0-9 and '-', starting with a letter or digit")
	}
	if (c.Dir == "") == (c.FHIR == "") {
		return bad("give one of dir and fhir")
	}
	if c.FHIR != "" {
		u, err := url.Parse(c.FHIR)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return bad("fhir is a server's base URL, https://host/path")
		}
	}
	if (c.ClientID == "") != (c.ClientKey == "") {
		return bad("client_id and client_key go together")
	}
	if c.Dir != "" && (c.ClientID != "" || c.TokenURL != "") {
		return bad("a directory takes no client_id or token_url")
	}
	if c.PageSize < 0 || c.PageSize > 1000 {
		return bad("page_size is 1 to 1000 (0: 200)")
	}
	return nil
}

// Open opens the source; relative paths are relative to home. Since
// reads only what a FHIR server changed after it (zero: everything).
func (c SourceConfig) Open(ctx context.Context, home string, hc *http.Client, since time.Time) (Source, error) {
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) || home == "" {
			return p
		}
		return filepath.Join(home, p)
	}
	if c.Dir != "" {
		return OpenDir(rel(c.Dir), c.Name)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	o := ServerOptions{NoExport: c.NoExport, PageSize: c.PageSize, HTTP: hc, Since: since}
	if c.ClientID != "" {
		key, err := ReadECKey(rel(c.ClientKey))
		if err != nil {
			return nil, err
		}
		kid := c.KID
		if kid == "" {
			kid = backend.KeyID(&key.PublicKey)
		}
		tokenURL := c.TokenURL
		if tokenURL == "" {
			if tokenURL, err = DiscoverToken(ctx, hc, c.FHIR); err != nil {
				return nil, err
			}
		}
		scope := c.Scope
		if scope == "" {
			scope = "system/*.read"
		}
		o.Token = func(ctx context.Context) (string, time.Time, error) {
			return backend.Token(ctx, hc, tokenURL, c.ClientID, kid, key, scope)
		}
	}
	return OpenServer(ctx, c.FHIR, c.Name, o)
}

// ReadECKey reads a PEM EC private key (SEC 1 or PKCS #8).
func ReadECKey(path string) (*ecdsa.PrivateKey, error) {
	const op = "ehrsync.ReadECKey"
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("cannot read the client key %s", path), err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s holds no PEM block", path))
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s is not an EC private key", path), err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s is not an EC private key", path))
	}
	return ek, nil
}

// DiscoverToken reads the token endpoint from a FHIR server's SMART
// configuration.
func DiscoverToken(ctx context.Context, hc *http.Client, base string) (string, error) {
	const op = "ehrsync.DiscoverToken"
	u := strings.TrimSuffix(base, "/") + "/.well-known/smart-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", ptoy.E(op, ptoy.Invalid, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", ptoy.E(op, ptoy.Unavailable, fmt.Sprintf("cannot read %s", u), err)
	}
	defer resp.Body.Close()
	var c struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&c) != nil || c.TokenEndpoint == "" {
		return "", ptoy.E(op, ptoy.Unavailable, fmt.Sprintf("%s names no token endpoint (%s): give the token URL", u, resp.Status))
	}
	return c.TokenEndpoint, nil
}
