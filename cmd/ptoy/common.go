package main

// Flags and helpers shared by the commands that use keystores or talk to a
// node: --node, --keys and --passphrase-file with their environment
// defaults, loading keys, resolving "id or key name" arguments, flag
// parsing that allows flags after arguments, subcommand groups and output
// (aligned tables and JSON).

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"ptoy"
	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// Environment variables read by the commands.
const (
	envNode = "PTOY_NODE"
	// envLedgerNode names another node, through which ptoy audit reads
	// the anchors.
	envLedgerNode = "PTOY_LEDGER_NODE"
	envKeys       = "PTOY_KEYS"
	envPass       = "PTOY_PASSPHRASE"
	envFastKDF    = "PTOY_TEST_FAST_KDF" // "1": cheap KDF for new keystores; tests only
	envNodeCA     = "PTOY_NODE_CA"       // PEM certificates to trust for an https node (its HOME/tls/org-ca.crt)

	defaultNode = "http://127.0.0.1:8080"

	// requestTimeout bounds one command's conversation with the node; a
	// submission waits for its commit, which the node bounds at 30 s.
	requestTimeout = 60 * time.Second
)

// Which common flags a command has.
const (
	useKeys = 1 << iota // --keys
	usePass             // --passphrase-file
	useNode             // --node
)

// common holds the common flags of one command and what they lead to.
type common struct {
	e        *env
	node     string
	keysDir  string
	passFile string
	pass     []byte // passphrase from --passphrase-file or PTOY_PASSPHRASE, once read
	cl       *client.Client
}

// addCommon registers the common flags that use selects on fs.
func addCommon(fs *flag.FlagSet, e *env, use int) *common {
	c := &common{e: e}
	if use&useNode != 0 {
		def := defaultNode
		if v, ok := e.getenv(envNode); ok && v != "" {
			def = v
		}
		fs.StringVar(&c.node, "node", def, "`URL` of the node's API (env "+envNode+")")
	}
	if use&(useKeys|usePass) != 0 {
		def := ""
		if v, ok := e.getenv(envKeys); ok && v != "" {
			def = v
		} else if h, ok := e.getenv("HOME"); ok && h != "" {
			def = filepath.Join(h, ".ptoy", "keys")
		}
		fs.StringVar(&c.keysDir, "keys", def, "keystore `DIR` (env "+envKeys+", else $HOME/.ptoy/keys)")
	}
	if use&usePass != 0 {
		fs.StringVar(&c.passFile, "passphrase-file", "", "read keystore passphrases from the first line of `FILE` (else env "+envPass+", else ask on stdin)")
	}
	return c
}

// dir returns the keystore directory.
func (c *common) dir() (keys.Dir, error) {
	if c.keysDir == "" {
		return keys.Dir{}, usageErr("no keystore directory: give --keys or set " + envKeys + " (HOME is not set)")
	}
	d := keys.Dir{Path: c.keysDir}
	if v, _ := c.e.getenv(envFastKDF); v == "1" {
		d.KDF = keys.TestKDF
	}
	return d, nil
}

// kdf returns the KDF parameters for new keystore files.
func (c *common) kdf() keys.KDFParams {
	if v, _ := c.e.getenv(envFastKDF); v == "1" {
		return keys.TestKDF
	}
	return keys.DefaultKDF
}

// prompting reports whether passphrases are asked on stdin rather than
// read from a file or the environment.
func (c *common) prompting() bool {
	if c.passFile != "" {
		return false
	}
	v, ok := c.e.getenv(envPass)
	return !ok || v == ""
}

// passphrase returns the passphrase of key name: from --passphrase-file or
// PTOY_PASSPHRASE (the same for every key), else asked on stdin.
func (c *common) passphrase(name string) ([]byte, error) {
	if !c.prompting() {
		if c.pass == nil {
			p, err := keys.Passphrase(c.passFile, envPass, c.e.getenv, nil, nil)
			if err != nil {
				return nil, err
			}
			c.pass = p
		}
		return c.pass, nil
	}
	return c.ask(fmt.Sprintf("Passphrase for key %q: ", name), name)
}

// newPassphrase returns the passphrase for a new key name. When it is
// asked on stdin it is asked twice, and both must match.
func (c *common) newPassphrase(name string) ([]byte, error) {
	if !c.prompting() {
		return c.passphrase(name)
	}
	p, err := c.ask(fmt.Sprintf("New passphrase for key %q: ", name), name)
	if err != nil {
		return nil, err
	}
	again, err := c.ask("Repeat the passphrase: ", name)
	if err != nil {
		return nil, err
	}
	if string(p) != string(again) {
		return nil, usageErr("the two passphrases do not match")
	}
	return p, nil
}

func (c *common) ask(prompt, name string) ([]byte, error) {
	fmt.Fprint(c.e.stderr, prompt)
	p, err := keys.Passphrase("", "", nil, c.e.stdin, nil)
	if err != nil {
		fmt.Fprintln(c.e.stderr)
		return nil, ptoy.E("", ptoy.Invalid, fmt.Sprintf("no passphrase for key %q: type it, give --passphrase-file or set %s", name, envPass))
	}
	return p, nil
}

// loadKey opens key name of the keystore directory.
func (c *common) loadKey(name string) (*keys.KeyPair, error) {
	k, _, err := c.loadKeyPass(name)
	return k, err
}

// loadKeyPass opens key name and returns the passphrase that opened it.
func (c *common) loadKeyPass(name string) (*keys.KeyPair, []byte, error) {
	d, err := c.dir()
	if err != nil {
		return nil, nil, err
	}
	// Look before asking for a passphrase, so that a missing key is told
	// as such.
	if _, err := c.keyInfo(name); err != nil {
		return nil, nil, err
	}
	pass, err := c.passphrase(name)
	if err != nil {
		return nil, nil, err
	}
	k, _, err := d.Load(name, pass)
	if err != nil {
		return nil, nil, err
	}
	return k, pass, nil
}

// keyInfo returns the public part of key name without its passphrase.
func (c *common) keyInfo(name string) (keys.Info, error) {
	d, err := c.dir()
	if err != nil {
		return keys.Info{}, err
	}
	data, err := d.Export(name)
	if ptoy.KindOf(err) == ptoy.NotFound {
		return keys.Info{}, ptoy.E("", ptoy.NotFound, fmt.Sprintf("no key %q in %s (see ptoy keys list)", name, d.Path))
	}
	if err != nil {
		return keys.Info{}, err
	}
	return keys.ReadInfo(data)
}

// client returns a client of the node, checking once that it answers.
func (c *common) client(ctx context.Context) (*client.Client, error) {
	if c.cl != nil {
		return c.cl, nil
	}
	u, err := url.Parse(c.node)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErr(fmt.Sprintf("bad node URL %q: want http://HOST:PORT", c.node))
	}
	hc, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	cl := client.New(strings.TrimSuffix(c.node, "/"), hc)
	st, err := cl.Status(ctx)
	if err != nil {
		hint := "is it running? see --node and " + envNode
		if u.Scheme == "https" && strings.Contains(err.Error(), "certificate") {
			hint = "to trust a node's own certificate, set " + envNodeCA + " to its HOME/tls/org-ca.crt"
		}
		return nil, ptoy.E("", ptoy.KindOf(err), fmt.Sprintf("cannot reach the node at %s (%s): %s", c.node, hint, ptoy.Message(err)))
	}
	if err := c.checkChain(st.ChainId); err != nil {
		return nil, err
	}
	c.cl = cl
	return cl, nil
}

// httpClient is the HTTP client of the node. An https node is checked
// against the system's authorities, or only against the certificates in
// the file PTOY_NODE_CA names (a node's HOME/tls/org-ca.crt: its
// organisation key's certificate, which issued the node's).
func (c *common) httpClient() (*http.Client, error) {
	hc := &http.Client{Timeout: requestTimeout}
	file, ok := c.e.getenv(envNodeCA)
	if !ok || file == "" {
		return hc, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, ptoy.E("", ptoy.Invalid, fmt.Sprintf("cannot read %s (%s)", file, envNodeCA), err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, ptoy.E("", ptoy.Invalid, fmt.Sprintf("%s (%s) holds no PEM certificate", file, envNodeCA))
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	hc.Transport = t
	return hc, nil
}

// checkChain compares the node's chain with the one the keystore
// directory knows, and records it there on first use: keys belong to the
// accounts of one network, and a node of another would only answer "no
// account".
func (c *common) checkChain(chain string) error {
	if c.keysDir == "" {
		return nil
	}
	if fi, err := os.Stat(c.keysDir); err != nil || !fi.IsDir() {
		return nil // no keys yet: nothing to tell apart
	}
	d := keys.Dir{Path: c.keysDir}
	known, err := d.ChainID()
	switch {
	case ptoy.KindOf(err) == ptoy.NotFound:
		if err := d.SetChainID(chain); err != nil {
			return ptoy.E("", ptoy.KindOf(err), fmt.Sprintf("cannot record the network in %s: %s", c.keysDir, ptoy.Message(err)))
		}
		return nil
	case err != nil:
		return err
	case known != chain:
		return ptoy.E("", ptoy.Unauthenticated, fmt.Sprintf("the node at %s serves chain %q, but the keys in %s know chain %q: give --node a node of %q, or --keys a keystore for %q (if these keys are meant for %q, remove %s)",
			c.node, chain, c.keysDir, known, known, chain, chain, filepath.Join(c.keysDir, "chain-id")))
	}
	return nil
}

// asKey loads the key that signs command name's queries about a person:
// the --as key if given, else fallback if it names a key of the keystore.
// The node answers such a query only to that person, their delegates or
// the organisation concerned.
func (c *common) asKey(name, as, fallback string) (*keys.KeyPair, error) {
	k := as
	if k == "" && fallback != "" && len(fallback) != 2*ptoy.IDLen {
		if _, err := c.keyInfo(fallback); err == nil {
			k = fallback
		}
	}
	if k == "" {
		return nil, usageErr(fmt.Sprintf("ptoy %s asks the node about a person, which it answers only to them, their delegates or the organisation concerned: sign with --as KEYNAME (run ptoy %s -h)", name, name))
	}
	return c.loadKey(k)
}

// signed returns cl signing its queries as the key asKey loads.
func (c *common) signed(cl *client.Client, name, as, fallback string) (*client.Client, error) {
	k, err := c.asKey(name, as, fallback)
	if err != nil {
		return nil, err
	}
	return cl.As(k), nil
}

// accountRef is an account argument: an id, or a key of the keystore.
type accountRef struct {
	arg string
	id  ptoy.ID
	key *keys.Info // nil for an id
}

// ref reads an account argument (what names it in errors): 40 hex digits,
// or the name of a key in the keystore directory. It asks no node.
func (c *common) ref(what, arg string) (accountRef, error) {
	if len(arg) == 2*ptoy.IDLen {
		if id, err := ptoy.ParseID(arg); err == nil {
			return accountRef{arg: arg, id: id}, nil
		}
	}
	d, err := c.dir()
	if err != nil {
		return accountRef{}, err
	}
	data, err := d.Export(arg)
	if k := ptoy.KindOf(err); k == ptoy.NotFound || k == ptoy.Invalid {
		return accountRef{}, ptoy.E("", ptoy.Invalid, fmt.Sprintf("%s %q is neither an account id (40 hex digits) nor a key in %s", what, arg, d.Path))
	}
	if err != nil {
		return accountRef{}, err
	}
	info, err := keys.ReadInfo(data)
	if err != nil {
		return accountRef{}, err
	}
	return accountRef{arg: arg, id: info.ID, key: &info}, nil
}

// resolve returns the account id of r. For a key, that is the account
// whose current signing key it holds, if the node knows one (its id
// differs from the key's own after a signing-key rotation), else the id
// the key derives.
func (r accountRef) resolve(ctx context.Context, cl *client.Client) (ptoy.ID, error) {
	if r.key == nil {
		return r.id, nil
	}
	a, err := cl.AccountByKey(ctx, r.key.SigningPublic)
	if err == nil {
		return idOf(a.Account.Id), nil
	}
	if ptoy.KindOf(err) != ptoy.NotFound {
		return ptoy.ID{}, err
	}
	return r.id, nil
}

// orgNames returns the names of the member organisations by id.
func orgNames(ctx context.Context, cl *client.Client) (map[ptoy.ID]string, error) {
	orgs, err := cl.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[ptoy.ID]string, len(orgs))
	for _, o := range orgs {
		m[idOf(o.Id)] = o.Name
	}
	return m, nil
}

// orgLabel is "Name (id)" for a known organisation, else the id.
func orgLabel(names map[ptoy.ID]string, idb []byte) string {
	id, err := ptoy.IDFromBytes(idb)
	if err != nil {
		return hex.EncodeToString(idb)
	}
	if n, ok := names[id]; ok {
		return fmt.Sprintf("%s (%s)", n, id)
	}
	return id.String()
}

// parseArgs parses fs from args, allowing flags before, between and after
// the positional arguments, which it returns. After "--" everything is
// positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// wantArgs checks the number of positional arguments of command name.
func wantArgs(name string, args []string, n int, what string) error {
	if len(args) == n {
		return nil
	}
	switch {
	case n == 0:
		return usageErr(fmt.Sprintf("ptoy %s takes no arguments, got %q (run ptoy %s -h)", name, strings.Join(args, " "), name))
	case len(args) < n:
		return usageErr(fmt.Sprintf("ptoy %s needs %s (run ptoy %s -h)", name, what, name))
	}
	return usageErr(fmt.Sprintf("ptoy %s takes only %s, got extra %q (run ptoy %s -h)", name, what, strings.Join(args[n:], " "), name))
}

// subcommand is one command of a group such as "ptoy keys".
type subcommand struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}

// runGroup dispatches args to the subcommand they name.
func runGroup(ctx context.Context, e *env, group string, subs []subcommand, args []string) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	if len(args) == 0 {
		return usageErr(fmt.Sprintf("ptoy %s needs a subcommand: %s (run ptoy %s help)", group, strings.Join(names, ", "), group))
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprintf(e.stdout, "Usage: ptoy %s <subcommand> [flags]\n\nSubcommands:\n", group)
		for _, s := range subs {
			fmt.Fprintf(e.stdout, "  %-10s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(e.stdout, "\nRun \"ptoy %s <subcommand> -h\" for one.\n", group)
		return flag.ErrHelp
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	return usageErr(fmt.Sprintf("unknown %s subcommand %q: want one of %s", group, args[0], strings.Join(names, ", ")))
}

// table returns a writer of aligned columns; Flush it.
func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return ptoy.E("", ptoy.Other, "cannot encode JSON", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// pbJSON renders a protobuf message as protojson does with proto field
// names, enum names and every field, except that bytes (ids, keys,
// hashes) are hex rather than base64 and 64-bit integers are numbers.
func pbJSON(m proto.Message) map[string]any {
	if m == nil {
		return nil
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return nil
	}
	return reflectJSON(r)
}

func reflectJSON(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.ContainingOneof() != nil && !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		name := string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			arr := make([]any, l.Len())
			for j := range arr {
				arr[j] = valueJSON(fd, l.Get(j))
			}
			out[name] = arr
		case fd.IsMap():
			mm := map[string]any{}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				mm[k.String()] = valueJSON(fd.MapValue(), mv)
				return true
			})
			out[name] = mm
		case fd.Message() != nil && !m.Has(fd):
			out[name] = nil
		default:
			out[name] = valueJSON(fd, v)
		}
	}
	return out
}

func valueJSON(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.BytesKind:
		return hex.EncodeToString(v.Bytes())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int32(v.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return reflectJSON(v.Message())
	}
	return v.Interface()
}

// pbJSONList renders a list of messages with pbJSON.
func pbJSONList[M proto.Message](ms []M) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = pbJSON(m)
	}
	return out
}

// fingerprint is a short hash of a public key, for people to compare.
func fingerprint(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// readLine reads one line from r, a byte at a time so as to leave the rest
// of r unread, without its line ending and surrounding spaces.
func readLine(r io.Reader) (string, error) {
	var b []byte
	var c [1]byte
	for len(b) < 1024 {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				break
			}
			b = append(b, c[0])
		}
		if errors.Is(err, io.EOF) {
			if len(b) == 0 {
				return "", io.EOF
			}
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimSpace(string(b)), nil
}

// writeFileNew writes data to a new file (mode 0600), failing if path
// exists, and syncs it.
func writeFileNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return ptoy.E("", ptoy.Exists, fmt.Sprintf("%s already exists", path))
	}
	if err != nil {
		return ptoy.E("", ptoy.Other, fmt.Sprintf("cannot create %s", path), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return ptoy.E("", ptoy.Other, fmt.Sprintf("cannot write %s", path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return ptoy.E("", ptoy.Other, fmt.Sprintf("cannot write %s", path), err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return ptoy.E("", ptoy.Other, fmt.Sprintf("cannot write %s", path), err)
	}
	return nil
}

// idOf converts the byte form of an id from the node; a malformed one
// reads as the zero id.
func idOf(b []byte) ptoy.ID {
	id, _ := ptoy.IDFromBytes(b)
	return id
}

// kemAlgName names the algorithm of a KEM key on the ledger.
func kemAlgName(k *pb.KemKey) string {
	if k == nil {
		return "none"
	}
	return keys.KEMName(uint16(k.Alg))
}

// oneAccount is the shape of the commands about one account: it checks
// that exactly one argument was given, reads it as an account (what names
// it in errors) before asking the node anything, then connects and
// resolves it.
func (c *common) oneAccount(ctx context.Context, name string, pos []string, what, argDesc string) (ptoy.ID, *client.Client, error) {
	if err := wantArgs(name, pos, 1, argDesc); err != nil {
		return ptoy.ID{}, nil, err
	}
	ref, err := c.ref(what, pos[0])
	if err != nil {
		return ptoy.ID{}, nil, err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return ptoy.ID{}, nil, err
	}
	id, err := ref.resolve(ctx, cl)
	return id, cl, err
}
