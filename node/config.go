package node

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"

	"ptoy"
	"ptoy/ehrsync"
	"ptoy/residency"
)

// Config is a node's settings, kept in HOME/ptoy.toml (configfile.go
// reads and writes it; the comments there are the operator's manual).
// Homes made before it keep them in HOME/ptoy.json, which the json tags
// read and MigrateConfig moves to ptoy.toml.
type Config struct {
	Moniker  string   `json:"moniker"`
	HTTPAddr string   `json:"http_addr"` // the node's API (and later FHIR and web pages)
	P2PAddr  string   `json:"p2p_addr"`  // CometBFT peer-to-peer, tcp://host:port
	RPCAddr  string   `json:"rpc_addr"`  // CometBFT RPC, tcp://host:port; empty disables it
	Peers    []string `json:"peers"`     // CometBFT persistent peers, nodeid@host:port
	// FastBlocks shortens consensus timeouts for one machine: blocks every
	// ~50 ms under load instead of ~1 s (a proposal is still waited for 2 s).
	FastBlocks bool `json:"fast_blocks"`
	// EmptyBlockInterval is how often a block is made when there is no
	// transaction (block time is the ledger's only clock), as a Go duration.
	EmptyBlockInterval string `json:"empty_block_interval"`
	// Dev sends one-time codes to HOME/outbox.jsonl and the console instead
	// of an SMS gateway.
	Dev bool `json:"dev"`
	// LogLevel is the least severe level ptoy node logs: "debug", "info"
	// (or empty), "warn" or "error". The node itself is handed its logger.
	LogLevel string `json:"log_level,omitempty"`
	// OrgKey is the name of the organisation key in HOME/keys that this
	// node co-signs registrations with; PassphraseFile unlocks it (relative
	// to the home; the PTOY_PASSPHRASE variable is the alternative).
	OrgKey         string `json:"org_key"`
	PassphraseFile string `json:"passphrase_file,omitempty"`
	// NodeKey is the name of the node's own key in HOME/keys, sealed under
	// the same passphrase: the key of the node's account, which signs the
	// organisation's audit anchors and escrow share releases. Homes made
	// before node accounts have none and sign those with the organisation
	// key.
	NodeKey string `json:"node_key,omitempty"`
	// Jurisdiction is where this node's storage is: an ISO 3166-1 alpha-2
	// country code, optionally with an ISO 3166-2 subdivision ("DE",
	// "US-CA"); empty declares none. It goes on the ledger with the
	// organisation (genesis, a join request's admission; ptoy org
	// jurisdiction changes it there), where patients' residency rules
	// place ciphertext by it.
	Jurisdiction string `json:"jurisdiction,omitempty"`
	// Storage maps each storage node's organisation id (hex) to the base
	// URL of its HTTP server: where ciphertext is placed and pulled from.
	Storage map[string]string `json:"storage,omitempty"`
	// RepairInterval is how often the node checks that it holds every
	// blob placed on it; AnchorInterval how often it anchors its audit
	// log on the ledger. Go durations.
	RepairInterval string `json:"repair_interval"`
	AnchorInterval string `json:"anchor_interval"`
	// MaxUpload bounds one uploaded blob, in bytes.
	MaxUpload int64 `json:"max_upload"`
	// Blobs is where the node keeps ciphertext (blobs.go); its own disk
	// by default.
	Blobs BlobConfig `json:"blobs,omitzero"`
	// TLS is "auto" (or empty): TLS on every address but loopback, plain
	// HTTP on loopback; or "on": TLS on loopback too. Plain HTTP is never
	// served off loopback. TLSCert and TLSKey name an operator's PEM
	// certificate and key (relative to the home); if empty the node
	// serves a certificate made in HOME/tls and issued by the
	// organisation key (see tls.go). TLSNames are extra host names or
	// addresses for that certificate.
	TLS      string   `json:"tls,omitempty"`
	TLSCert  string   `json:"tls_cert,omitempty"`
	TLSKey   string   `json:"tls_key,omitempty"`
	TLSNames []string `json:"tls_names,omitempty"`
	// HTTP bounds what one client can hold of the HTTP server.
	HTTP HTTPLimits `json:"http"`
	// RegisterLimits bound the one-time codes the node sends.
	RegisterLimits RegisterLimits `json:"register_limits"`
	// EHRSources are the organisation's EHR sources whose syncs its
	// admins start and watch in the console (ehrsync.go).
	EHRSources []ehrsync.SourceConfig `json:"ehr_sources,omitempty"`
}

// RegisterLimits are token buckets on StartRegistration, which sends a
// text message: per client address, and for the whole node. Each allows
// Burst requests at once, then one more every Every (a Go duration).
// Beyond them a request is refused with ptoy.Unavailable and the time to
// wait. Besides these, a phone number gets at most 5 codes an hour.
type RegisterLimits struct {
	ClientBurst int    `json:"client_burst" toml:"client_burst"`
	ClientEvery string `json:"client_every" toml:"client_every"`
	NodeBurst   int    `json:"node_burst" toml:"node_burst"`
	NodeEvery   string `json:"node_every" toml:"node_every"`
}

// DefaultRegisterLimits allow a client 5 codes at once and then one every
// 10 minutes, and a node 100 at once and then one every 2 seconds (1,800
// an hour).
var DefaultRegisterLimits = RegisterLimits{ClientBurst: 5, ClientEvery: "10m", NodeBurst: 100, NodeEvery: "2s"}

// DevRegisterLimits are generous limits for development networks, whose
// tests register many patients from one address.
var DevRegisterLimits = RegisterLimits{ClientBurst: 1000, ClientEvery: "10ms", NodeBurst: 1000, NodeEvery: "10ms"}

// DefaultConfig returns the settings of a single node on this machine.
func DefaultConfig() Config {
	return Config{
		Moniker:            "node",
		HTTPAddr:           "127.0.0.1:8080",
		P2PAddr:            "tcp://127.0.0.1:26656",
		RPCAddr:            "tcp://127.0.0.1:26657",
		EmptyBlockInterval: "1s",
		LogLevel:           "info",
		OrgKey:             "org",
		RepairInterval:     "30s",
		AnchorInterval:     "5s",
		MaxUpload:          64 << 20,
		Blobs:              BlobConfig{Backend: "disk"},
		TLS:                "auto",
		HTTP:               DefaultHTTPLimits(),
		RegisterLimits:     DefaultRegisterLimits,
	}
}

// logLevels are the values of LogLevel.
var logLevels = []string{"debug", "info", "warn", "error"}

// Validate says what is wrong with c, if anything, naming the setting as
// ptoy.toml spells it and what it may be.
func (c Config) Validate() error {
	const op = "node.Config"
	seen := map[string]bool{}
	for _, src := range c.EHRSources {
		if err := src.Validate(); err != nil {
			return ptoy.E(op, ptoy.Invalid, "ehr_source: "+ptoy.Message(err))
		}
		if seen[src.Name] {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("ehr_source: two sources are named %q", src.Name))
		}
		seen[src.Name] = true
	}
	if c.Moniker == "" {
		return ptoy.E(op, ptoy.Invalid, "moniker is empty: give the node a name")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("http.addr %q is not host:port (such as \"127.0.0.1:8080\" or \":443\")", c.HTTPAddr))
	}
	for _, a := range []struct{ name, v string }{{"consensus.p2p_addr", c.P2PAddr}, {"consensus.rpc_addr", c.RPCAddr}} {
		if a.v == "" && a.v == c.RPCAddr {
			continue
		}
		u, err := url.Parse(a.v)
		if err != nil || u.Scheme != "tcp" || u.Port() == "" {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s %q is not tcp://host:port (such as \"tcp://10.0.0.1:26656\")", a.name, a.v))
		}
	}
	if v, err := parseDuration(c.EmptyBlockInterval); err != nil || v < 0 {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("consensus.empty_block_interval %q is not a duration (such as \"1s\" or \"500ms\")", c.EmptyBlockInterval))
	}
	if c.LogLevel != "" && !slices.Contains(logLevels, c.LogLevel) {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("log.level %q: want \"debug\", \"info\", \"warn\" or \"error\"", c.LogLevel))
	}
	for _, d := range []struct{ name, v string }{{"blobs.repair_interval", c.RepairInterval}, {"audit.anchor_interval", c.AnchorInterval}} {
		if v, err := parseDuration(d.v); err != nil || v <= 0 {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s %q is not a positive duration (such as \"30s\" or \"5m\")", d.name, d.v))
		}
	}
	if c.Jurisdiction != "" {
		if j, err := residency.Parse(c.Jurisdiction); err != nil || j != c.Jurisdiction {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("jurisdiction %q: want an ISO 3166-1 alpha-2 country code in capitals, optionally with an ISO 3166-2 subdivision (\"DE\", \"US-CA\"), or empty", c.Jurisdiction))
		}
	}
	for id, u := range c.Storage {
		if _, err := ptoy.ParseID(id); err != nil {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("storage: %q is not an organisation id (its hex id, as ptoy org list shows it)", id))
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("storage: %q is not an http(s) URL", u))
		}
		if pu.Scheme == "http" && !isLoopback(pu.Host) {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("storage: %q is plain HTTP off loopback; nodes speak to each other over https", u))
		}
	}
	if c.TLS != "" && c.TLS != "auto" && c.TLS != "on" {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("http.tls %q: want \"auto\" (TLS except on loopback) or \"on\"; plain HTTP is never served off loopback", c.TLS))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return ptoy.E(op, ptoy.Invalid, "http.tls_cert and http.tls_key go together: name both or neither")
	}
	if err := c.HTTP.validate(); err != nil {
		return err
	}
	if err := c.Blobs.validate(); err != nil {
		return err
	}
	if c.MaxUpload <= 0 {
		return ptoy.E(op, ptoy.Invalid, "blobs.max_upload must be a positive size (such as \"64MiB\")")
	}
	if c.OrgKey == "" {
		return ptoy.E(op, ptoy.Invalid, "keys.org is empty: name the organisation key in HOME/keys")
	}
	if _, err := newStartLimits(c.RegisterLimits, nil); err != nil {
		return err
	}
	return nil
}

// The settings file, and the one of homes made before it.
const (
	configFile       = "ptoy.toml"
	legacyConfigFile = "ptoy.json"
	migratedSuffix   = ".migrated"
)

// LoadConfig reads and checks HOME/ptoy.toml; what it leaves out takes
// its default. A home made before ptoy.toml, with HOME/ptoy.json only, is
// read from that file as it is (MigrateConfig, or the node's next start,
// moves it). Errors are ptoy.NotFound (not a node home), ptoy.Invalid (an
// unknown setting, a bad value, or a home with both files) and ptoy.Other.
func LoadConfig(home string) (Config, error) {
	c, _, err := loadConfig(home)
	return c, err
}

// loadConfig is LoadConfig that also says whether the settings came from
// a ptoy.json still to migrate.
func loadConfig(home string) (Config, bool, error) {
	const op = "node.LoadConfig"
	tomlPath, jsonPath := filepath.Join(home, configFile), filepath.Join(home, legacyConfigFile)
	b, terr := os.ReadFile(tomlPath)
	_, jerr := os.Stat(jsonPath)
	switch {
	case terr == nil && jerr == nil:
		return DefaultConfig(), false, bothConfigs(home)
	case terr == nil:
		c, err := parseConfig(tomlPath, b)
		return c, false, err
	case !os.IsNotExist(terr):
		return DefaultConfig(), false, ptoy.E(op, ptoy.Other, terr)
	case jerr == nil:
		c, err := readLegacyConfig(jsonPath)
		return c, true, err
	}
	return DefaultConfig(), false, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("%s is not a node home (no %s); run ptoy init", home, configFile))
}

// bothConfigs is the error of a home with ptoy.toml and ptoy.json: it is
// not for the node to guess which one the operator meant.
func bothConfigs(home string) error {
	msg := fmt.Sprintf("%s holds both %s and %s; the node reads only %s: ", home, configFile, legacyConfigFile, configFile)
	tomlPath := filepath.Join(home, configFile)
	b, terr := os.ReadFile(tomlPath)
	t := DefaultConfig()
	if terr == nil {
		t, terr = parseConfig(tomlPath, b)
	}
	j, jerr := readLegacyConfig(filepath.Join(home, legacyConfigFile))
	if terr == nil && jerr == nil && reflect.DeepEqual(t, j) {
		msg += fmt.Sprintf("they hold the same settings, so remove %s", legacyConfigFile)
	} else {
		msg += fmt.Sprintf("remove %s (or rename it %s) if %s holds the settings you want, or remove %s to have %s migrated again", legacyConfigFile, legacyConfigFile+migratedSuffix, configFile, configFile, legacyConfigFile)
	}
	return ptoy.E("node.LoadConfig", ptoy.Invalid, msg)
}

// readLegacyConfig reads a ptoy.json as the versions before ptoy.toml
// did: defaults, then the file's fields over them (unknown ones ignored).
func readLegacyConfig(path string) (Config, error) {
	const op = "node.LoadConfig"
	c := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, ptoy.E(op, ptoy.Other, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s: %v", path, err))
	}
	if err := c.Validate(); err != nil {
		return c, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s: %s", path, ptoy.Message(err)), err)
	}
	return c, nil
}

// SaveConfig checks c and writes it to HOME/ptoy.toml, every setting
// with its comment (configfile.go).
func SaveConfig(home string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return writeFile(filepath.Join(home, configFile), c.TOML(), 0o600)
}

// MigrateConfig moves the settings of a home made before ptoy.toml from
// HOME/ptoy.json to HOME/ptoy.toml, with the same values, and keeps the
// old file as ptoy.json.migrated. It holds the home's lock while it does
// (a running node has migrated its home already). It says whether there
// was anything to migrate; a home with both files is refused.
func MigrateConfig(home string) (bool, error) {
	if _, _, err := loadConfig(home); err != nil {
		return false, err
	}
	lock, err := LockHome(home)
	if err != nil {
		return false, err
	}
	defer lock.Release()
	return migrateConfig(home)
}

// migrateConfig is MigrateConfig under the lock the caller holds.
func migrateConfig(home string) (bool, error) {
	c, legacy, err := loadConfig(home)
	if err != nil || !legacy {
		return false, err
	}
	if err := SaveConfig(home, c); err != nil {
		return false, err
	}
	from := filepath.Join(home, legacyConfigFile)
	if err := os.Rename(from, from+migratedSuffix); err != nil {
		return false, ptoy.E("node.MigrateConfig", ptoy.Other, err)
	}
	return true, nil
}

// writeFile writes a file atomically: a temporary file, fsync, rename.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return ptoy.E("node.writeFile", ptoy.Other, err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return ptoy.E("node.writeFile", ptoy.Other, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return ptoy.E("node.writeFile", ptoy.Other, err)
	}
	return nil
}
