package node

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/BurntSushi/toml"

	"ptoy"
	"ptoy/ehrsync"
)

// fileConfig is ptoy.toml's shape: Config's settings grouped in sections.
// toFile and fromFile map one to the other, field for field.
type fileConfig struct {
	Moniker        string                 `toml:"moniker"`
	Dev            bool                   `toml:"dev"`
	Jurisdiction   string                 `toml:"jurisdiction"`
	Log            fileLog                `toml:"log"`
	Keys           fileKeys               `toml:"keys"`
	HTTP           fileHTTP               `toml:"http"`
	Consensus      fileConsensus          `toml:"consensus"`
	Blobs          fileBlobs              `toml:"blobs"`
	Audit          fileAudit              `toml:"audit"`
	RegisterLimits RegisterLimits         `toml:"register_limits"`
	Storage        map[string]string      `toml:"storage"`
	EHRSources     []ehrsync.SourceConfig `toml:"ehr_source"`
}

type fileLog struct {
	Level string `toml:"level"`
}

type fileKeys struct {
	Org            string `toml:"org"`
	Node           string `toml:"node"`
	PassphraseFile string `toml:"passphrase_file"`
}

type fileHTTP struct {
	Addr              string   `toml:"addr"`
	TLS               string   `toml:"tls"`
	TLSCert           string   `toml:"tls_cert"`
	TLSKey            string   `toml:"tls_key"`
	TLSNames          []string `toml:"tls_names"`
	ReadHeaderTimeout duration `toml:"read_header_timeout"`
	ReadTimeout       duration `toml:"read_timeout"`
	WriteTimeout      duration `toml:"write_timeout"`
	MinRate           size     `toml:"min_rate"`
	IdleTimeout       duration `toml:"idle_timeout"`
	MaxConnsPerIP     int      `toml:"max_conns_per_ip"`
	MaxConns          int      `toml:"max_conns"`
}

type fileConsensus struct {
	P2PAddr            string   `toml:"p2p_addr"`
	RPCAddr            string   `toml:"rpc_addr"`
	Peers              []string `toml:"peers"`
	FastBlocks         bool     `toml:"fast_blocks"`
	EmptyBlockInterval duration `toml:"empty_block_interval"`
}

type fileBlobs struct {
	Backend        string   `toml:"backend"`
	MaxUpload      size     `toml:"max_upload"`
	RepairInterval duration `toml:"repair_interval"`
	S3             S3Config `toml:"s3"`
}

type fileAudit struct {
	AnchorInterval duration `toml:"anchor_interval"`
}

func toFile(c Config) fileConfig {
	return fileConfig{
		Moniker:      c.Moniker,
		Dev:          c.Dev,
		Jurisdiction: c.Jurisdiction,
		Log:          fileLog{Level: c.LogLevel},
		Keys:         fileKeys{Org: c.OrgKey, Node: c.NodeKey, PassphraseFile: c.PassphraseFile},
		HTTP: fileHTTP{
			Addr: c.HTTPAddr, TLS: c.TLS, TLSCert: c.TLSCert, TLSKey: c.TLSKey, TLSNames: c.TLSNames,
			ReadHeaderTimeout: duration(c.HTTP.ReadHeaderTimeout), ReadTimeout: duration(c.HTTP.ReadTimeout),
			WriteTimeout: duration(c.HTTP.WriteTimeout), MinRate: size(c.HTTP.MinRate),
			IdleTimeout: duration(c.HTTP.IdleTimeout), MaxConnsPerIP: c.HTTP.MaxConnsPerIP, MaxConns: c.HTTP.MaxConns,
		},
		Consensus: fileConsensus{P2PAddr: c.P2PAddr, RPCAddr: c.RPCAddr, Peers: c.Peers, FastBlocks: c.FastBlocks,
			EmptyBlockInterval: duration(c.EmptyBlockInterval)},
		Blobs: fileBlobs{Backend: c.Blobs.Backend, MaxUpload: size(c.MaxUpload), RepairInterval: duration(c.RepairInterval),
			S3: c.Blobs.S3},
		Audit:          fileAudit{AnchorInterval: duration(c.AnchorInterval)},
		RegisterLimits: c.RegisterLimits,
		Storage:        c.Storage,
		EHRSources:     c.EHRSources,
	}
}

func fromFile(f fileConfig) Config {
	return Config{
		Moniker:            f.Moniker,
		HTTPAddr:           f.HTTP.Addr,
		P2PAddr:            f.Consensus.P2PAddr,
		RPCAddr:            f.Consensus.RPCAddr,
		Peers:              orNil(f.Consensus.Peers),
		FastBlocks:         f.Consensus.FastBlocks,
		EmptyBlockInterval: string(f.Consensus.EmptyBlockInterval),
		Dev:                f.Dev,
		Jurisdiction:       f.Jurisdiction,
		LogLevel:           f.Log.Level,
		OrgKey:             f.Keys.Org,
		PassphraseFile:     f.Keys.PassphraseFile,
		NodeKey:            f.Keys.Node,
		Storage:            orNilMap(f.Storage),
		RepairInterval:     string(f.Blobs.RepairInterval),
		AnchorInterval:     string(f.Audit.AnchorInterval),
		MaxUpload:          int64(f.Blobs.MaxUpload),
		Blobs:              BlobConfig{Backend: f.Blobs.Backend, S3: f.Blobs.S3},
		TLS:                f.HTTP.TLS,
		TLSCert:            f.HTTP.TLSCert,
		TLSKey:             f.HTTP.TLSKey,
		TLSNames:           orNil(f.HTTP.TLSNames),
		HTTP: HTTPLimits{
			ReadHeaderTimeout: string(f.HTTP.ReadHeaderTimeout), ReadTimeout: string(f.HTTP.ReadTimeout),
			WriteTimeout: string(f.HTTP.WriteTimeout), MinRate: int64(f.HTTP.MinRate),
			IdleTimeout: string(f.HTTP.IdleTimeout), MaxConnsPerIP: f.HTTP.MaxConnsPerIP, MaxConns: f.HTTP.MaxConns,
		},
		RegisterLimits: f.RegisterLimits,
		EHRSources:     f.EHRSources,
	}
}

func orNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func orNilMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// parseConfig reads the settings in b, the content of the file at path,
// over the defaults, and checks them. Every error names the file, and the
// line and setting where the library tells them.
func parseConfig(path string, b []byte) (Config, error) {
	const op = "node.LoadConfig"
	f := toFile(DefaultConfig())
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return DefaultConfig(), ptoy.E(op, ptoy.Invalid, path+" "+tomlMessage(err))
	}
	if unknown := topKeys(md.Undecoded()); len(unknown) > 0 {
		var where []string
		for _, k := range unknown {
			w := fmt.Sprintf("%q", k.String())
			if line := keyLine(b, k); line > 0 {
				w = fmt.Sprintf("%s (line %d)", w, line)
			}
			where = append(where, w)
		}
		noun := "an unknown setting"
		if len(where) > 1 {
			noun = "unknown settings"
		}
		return DefaultConfig(), ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s: %s %s; ptoy config show --home HOME lists every setting", path, noun, strings.Join(where, ", ")))
	}
	c := fromFile(f)
	if err := c.Validate(); err != nil {
		return c, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s: %s", path, ptoy.Message(err)))
	}
	return c, nil
}

// topKeys leaves out the keys that lie inside another key of keys: of an
// unknown table, only the table.
func topKeys(keys []toml.Key) []toml.Key {
	var top []toml.Key
	for _, k := range keys {
		if len(top) > 0 {
			p := top[len(top)-1]
			if len(k) > len(p) && p.String() == k[:len(p)].String() {
				continue
			}
		}
		top = append(top, k)
	}
	return top
}

// positionProbe fails wherever it is decoded, so that the library's
// error gives the line of a key that MetaData does not tell.
type positionProbe struct{}

func (positionProbe) UnmarshalTOML(any) error { return errors.New("here") }

// keyLine returns the line of key in the TOML document b, or 0.
func keyLine(b []byte, key toml.Key) int {
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(b), &top)
	if err != nil || len(key) == 0 {
		return 0
	}
	p, ok := top[key[0]]
	for _, k := range key[1:] {
		var m map[string]toml.Primitive
		if !ok || md.PrimitiveDecode(p, &m) != nil {
			return 0
		}
		p, ok = m[k]
	}
	var pe toml.ParseError
	if !ok || !errors.As(md.PrimitiveDecode(p, &positionProbe{}), &pe) {
		return 0
	}
	return pe.Position.Line
}

// libraryError is the shape of the library's errors that are not a
// ParseError: `toml: line 3 (last key "http.max_conns"): incompatible
// types: TOML value has type string; destination has type integer`.
var (
	libraryError = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)
	typeMismatch = regexp.MustCompile(`^incompatible types: TOML value has type (\S+); destination has type (.+)$`)
	wantTable    = regexp.MustCompile(`^type mismatch for .*: expected table but found (\S+)$`)
)

// tomlMessage says where and what a decoding error is, in words an
// operator reads: `line 3: http.max_conns: is a string; want an integer`.
func tomlMessage(err error) string {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if pe.LastKey != "" {
			return fmt.Sprintf("line %d: %s: %s", pe.Position.Line, pe.LastKey, pe.Message)
		}
		return fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message)
	}
	m := libraryError.FindStringSubmatch(err.Error())
	if m == nil {
		return strings.TrimPrefix(err.Error(), "toml: ")
	}
	msg := m[3]
	if t := typeMismatch.FindStringSubmatch(msg); t != nil {
		msg = fmt.Sprintf("is %s; want %s", tomlType(t[1]), tomlType(t[2]))
	} else if t := wantTable.FindStringSubmatch(msg); t != nil {
		msg = fmt.Sprintf("is %s; want a section [%s]", tomlType(t[1]), m[2])
	}
	if m[1] != "" {
		return fmt.Sprintf("line %s: %s: %s", m[1], m[2], msg)
	}
	return fmt.Sprintf("%s: %s", m[2], msg)
}

// tomlType names a type of the library's messages as TOML does.
func tomlType(t string) string {
	switch t {
	case "string":
		return "a string"
	case "integer", "int64":
		return "an integer"
	case "float64", "float":
		return "a fraction"
	case "bool", "boolean":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "map", "table", "map[string]interface {}":
		return "a section"
	}
	return "a " + t
}

// duration is a Go duration in ptoy.toml ("500ms", "30s", "1h30m"),
// refused as the file is read if it is not one.
type duration string

func (d *duration) UnmarshalText(b []byte) error {
	if _, err := time.ParseDuration(string(b)); err != nil && len(b) > 0 {
		return fmt.Errorf("%q is not a duration; write one like \"500ms\", \"30s\" or \"1h30m\"", b)
	}
	*d = duration(b)
	return nil
}

// size is a number of bytes in ptoy.toml, written as an integer or with a
// unit: "64MiB", "16KiB", "1GiB" (or "MB", "KB", "GB" for powers of 10).
type size int64

var sizeUnits = map[string]int64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}

var sizeForm = regexp.MustCompile(`^\s*([0-9]+)\s*([A-Za-z]*)\s*$`)

func (s *size) UnmarshalTOML(v any) error {
	bad := fmt.Errorf("%v is not a size; write a number of bytes or a size like \"64MiB\", \"16KiB\" or \"1GiB\"", v)
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return bad
		}
		*s = size(v)
		return nil
	case string:
		bad = fmt.Errorf("%q is not a size; write a number of bytes or a size like \"64MiB\", \"16KiB\" or \"1GiB\"", v)
		m := sizeForm.FindStringSubmatch(v)
		if m == nil {
			return bad
		}
		unit, ok := sizeUnits[strings.ToLower(m[2])]
		n, err := strconv.ParseInt(m[1], 10, 64)
		if !ok || err != nil || n > (1<<62)/unit {
			return bad
		}
		*s = size(n * unit)
		return nil
	}
	return bad
}

// String writes a size the way ptoy.toml does: with the largest binary
// unit that divides it, else as a number.
func (s size) String() string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s > 0 && int64(s)%u.n == 0 {
			return strconv.Quote(fmt.Sprintf("%d%s", int64(s)/u.n, u.name))
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

//go:embed ptoy.toml.tmpl
var configTemplateText string

var configTemplate = template.Must(template.New("ptoy.toml").Funcs(template.FuncMap{
	"q":    func(v any) string { return tomlString(fmt.Sprint(v)) },
	"list": tomlList,
}).Parse(configTemplateText))

// TOML returns c as ptoy.toml: every setting, each with a comment that
// says what it does and its default.
func (c Config) TOML() []byte {
	var b bytes.Buffer
	data := struct{ C, D fileConfig }{toFile(c), toFile(DefaultConfig())}
	if err := configTemplate.Execute(&b, data); err != nil {
		panic(err) // the template is the program's own
	}
	return b.Bytes()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlList writes a list of strings: on one line when empty, else one
// item a line.
func tomlList(items []string) string {
	if len(items) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteString("[\n")
	for _, s := range items {
		b.WriteString("  " + tomlString(s) + ",\n")
	}
	b.WriteString("]")
	return b.String()
}
