package main

// Command "ptoy fhir client" registers the SMART on FHIR apps and
// backend services an organisation allows at its node, lists and
// removes them. The organisation's own key or one of its admins signs.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"ptoy"
	"ptoy/client"
	"ptoy/node"
)

func init() {
	commands["fhir"] = command{"the FHIR API: register SMART apps and backend services", runFHIR}
}

var fhirSubcommands = []subcommand{
	{"client", "add, list and remove SMART apps and backend services", runFHIRClient},
	{"reindex", "drop a stopped node's FHIR index, to be rebuilt at its next start", runFHIRReindex},
}

func runFHIRReindex(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "fhir reindex", "--home HOME",
		`Drops the FHIR index of the node in HOME: its sealed copy of the
resources its organisation may decrypt, and any export files. The node
must be stopped; when it starts again it rebuilds the index from the
ledger and the ciphertext, patient by patient, as its grants allow (the
API answers meanwhile, with what is rebuilt so far).`)
	home := fs.String("home", "", "the node home `HOME`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("fhir reindex", pos, 0, ""); err != nil {
		return err
	}
	if *home == "" {
		return usageErr("ptoy fhir reindex needs --home HOME (run ptoy fhir reindex -h)")
	}
	n, err := node.ReindexFHIR(*home)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "dropped %d entries of the FHIR index; the node rebuilds it when it starts\n", n)
	return nil
}

var fhirClientSubcommands = []subcommand{
	{"add", "register a SMART app or backend service", runFHIRClientAdd},
	{"list", "list an organisation's SMART apps and backend services", runFHIRClientList},
	{"remove", "remove a SMART app or backend service", runFHIRClientRemove},
}

func runFHIR(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "fhir", fhirSubcommands, args)
}

func runFHIRClient(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "fhir client", fhirClientSubcommands, args)
}

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

const fhirClientSigners = `The organisation's own key or the key of one of its admins signs
(--org-key); the client belongs to that organisation.`

// fhirSetup loads the signing key and connects to the node.
func fhirSetup(ctx context.Context, c *common, name, orgKey string) (*client.Client, error) {
	if orgKey == "" {
		return nil, usageErr(fmt.Sprintf("ptoy fhir client %s needs --org-key KEYNAME (run ptoy fhir client %s -h)", name, name))
	}
	if _, err := c.keyInfo(orgKey); err != nil {
		return nil, err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	k, err := c.loadKey(orgKey)
	if err != nil {
		return nil, err
	}
	return cl.As(k), nil
}

func runFHIRClientAdd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "fhir client add", "--org-key KEYNAME --name NAME (--redirect URI ... | --jwks FILE) --scope SCOPES [--id ID]",
		`Registers a SMART on FHIR client of the organisation at the node:
an app (authorization code with PKCE, a public client) with --redirect,
once for each of its exact redirect URIs, or a backend service
(client_credentials with a private_key_jwt assertion) with --jwks, a file
holding its public keys as a JWK Set (RS384 or ES384, each with a kid).
SCOPES is the most the client may be granted, such as
"patient/*.rs launch/patient openid fhirUser offline_access" for an app or
"system/*.rs" for a backend service. The client id is ID, else made from
NAME; it is printed.
`+fhirClientSigners)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	orgKey := fs.String("org-key", "", "key `NAME` that signs")
	name := fs.String("name", "", "the client's `NAME`, shown to people")
	id := fs.String("id", "", "the client `ID` (letters, digits, '.', '_', '-'; default: made from the name)")
	var redirects listFlag
	fs.Var(&redirects, "redirect", "an app's redirect `URI` (repeat for more)")
	jwksFile := fs.String("jwks", "", "a backend service's public keys, a JWK Set in `FILE`")
	scope := fs.String("scope", "", "the `SCOPES` the client may be granted (space-separated)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("fhir client add", pos, 0, ""); err != nil {
		return err
	}
	if *name == "" || *scope == "" {
		return usageErr("ptoy fhir client add needs --name NAME and --scope SCOPES (run ptoy fhir client add -h)")
	}
	sc := client.SMARTClient{ID: *id, Name: *name, Scope: *scope}
	switch {
	case len(redirects) > 0 && *jwksFile != "":
		return usageErr("give --redirect for an app or --jwks for a backend service, not both")
	case len(redirects) > 0:
		sc.Kind, sc.RedirectURIs = "app", redirects
	case *jwksFile != "":
		b, err := os.ReadFile(*jwksFile)
		if err != nil {
			return ptoy.E("", ptoy.Invalid, fmt.Sprintf("cannot read the keys: %v", err))
		}
		if !json.Valid(b) {
			return ptoy.E("", ptoy.Invalid, fmt.Sprintf("%s is not JSON (want a JWK Set)", *jwksFile))
		}
		sc.Kind, sc.JWKS = "backend", b
	default:
		return usageErr("ptoy fhir client add needs --redirect URI (an app) or --jwks FILE (a backend service)")
	}
	if sc.ID == "" {
		sc.ID = clientID(*name)
	}
	cl, err := fhirSetup(ctx, c, "add", *orgKey)
	if err != nil {
		return err
	}
	got, err := cl.AddSMARTClient(ctx, cl.Signer(), sc)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "registered %s %q as client id %s (scope %s)\n", got.Kind, got.Name, got.ID, got.Scope)
	return nil
}

// clientID makes a client id from a name: its letters and digits in
// lower case, words joined by '-', and a random suffix.
func clientID(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			if b.Len() < 40 {
				b.WriteRune(r)
			}
		default:
			dash = true
		}
	}
	suffix := make([]byte, 3)
	rand.Read(suffix)
	if b.Len() == 0 {
		b.WriteString("client")
	}
	return b.String() + "-" + hex.EncodeToString(suffix)
}

func runFHIRClientList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "fhir client list", "--org-key KEYNAME [--json]",
		`Lists the SMART apps and backend services of the organisation.
`+fhirClientSigners)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	orgKey := fs.String("org-key", "", "key `NAME` that signs")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("fhir client list", pos, 0, ""); err != nil {
		return err
	}
	cl, err := fhirSetup(ctx, c, "list", *orgKey)
	if err != nil {
		return err
	}
	cs, err := cl.SMARTClients(ctx, cl.Signer())
	if err != nil {
		return err
	}
	if *asJSON {
		if cs == nil {
			cs = []client.SMARTClient{}
		}
		return writeJSON(e.stdout, cs)
	}
	if len(cs) == 0 {
		fmt.Fprintln(e.stdout, "no SMART clients")
		return nil
	}
	tw := table(e.stdout)
	fmt.Fprintln(tw, "ID\tKIND\tNAME\tSCOPE\tREDIRECT URIS")
	for _, sc := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sc.ID, sc.Kind, sc.Name, sc.Scope, strings.Join(sc.RedirectURIs, " "))
	}
	return tw.Flush()
}

func runFHIRClientRemove(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "fhir client remove", "--org-key KEYNAME ID",
		`Removes the SMART app or backend service ID of the organisation; its
access and refresh tokens stop working.
`+fhirClientSigners)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	orgKey := fs.String("org-key", "", "key `NAME` that signs")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("fhir client remove", pos, 1, "the client ID"); err != nil {
		return err
	}
	cl, err := fhirSetup(ctx, c, "remove", *orgKey)
	if err != nil {
		return err
	}
	if err := cl.RemoveSMARTClient(ctx, cl.Signer(), pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed client %s\n", pos[0])
	return nil
}
