package node

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"ptoy"
)

// Config is a node's settings, kept in HOME/ptoy.json.
type Config struct {
	Moniker  string   `json:"moniker"`
	HTTPAddr string   `json:"http_addr"` // the node's API (and later FHIR and web pages)
	P2PAddr  string   `json:"p2p_addr"`  // CometBFT peer-to-peer, tcp://host:port
	RPCAddr  string   `json:"rpc_addr"`  // CometBFT RPC, tcp://host:port; empty disables it
	Peers    []string `json:"peers"`     // CometBFT persistent peers, nodeid@host:port
	// FastBlocks shortens consensus timeouts for one machine: blocks every
	// ~50 ms under load instead of ~1 s.
	FastBlocks bool `json:"fast_blocks"`
	// EmptyBlockInterval is how often a block is made when there is no
	// transaction (block time is the ledger's only clock), as a Go duration.
	EmptyBlockInterval string `json:"empty_block_interval"`
	// Dev sends one-time codes to HOME/outbox.jsonl and the console instead
	// of an SMS gateway.
	Dev bool `json:"dev"`
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
}

// RegisterLimits are token buckets on StartRegistration, which sends a
// text message: per client address, and for the whole node. Each allows
// Burst requests at once, then one more every Every (a Go duration).
// Beyond them a request is refused with ptoy.Unavailable and the time to
// wait. Besides these, a phone number gets at most 5 codes an hour.
type RegisterLimits struct {
	ClientBurst int    `json:"client_burst"`
	ClientEvery string `json:"client_every"`
	NodeBurst   int    `json:"node_burst"`
	NodeEvery   string `json:"node_every"`
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
		OrgKey:             "org",
		RepairInterval:     "30s",
		AnchorInterval:     "5s",
		MaxUpload:          64 << 20,
		HTTP:               DefaultHTTPLimits(),
		RegisterLimits:     DefaultRegisterLimits,
	}
}

// Validate says what is wrong with c, if anything.
func (c Config) Validate() error {
	const op = "node.Config"
	if c.Moniker == "" {
		return ptoy.E(op, ptoy.Invalid, "moniker is empty")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("http_addr %q is not host:port", c.HTTPAddr))
	}
	for _, a := range []string{c.P2PAddr, c.RPCAddr} {
		if a == "" && a == c.RPCAddr {
			continue
		}
		u, err := url.Parse(a)
		if err != nil || u.Scheme != "tcp" || u.Port() == "" {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("address %q is not tcp://host:port", a))
		}
	}
	if _, err := parseDuration(c.EmptyBlockInterval); err != nil {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("empty_block_interval %q is not a duration", c.EmptyBlockInterval))
	}
	for _, d := range []string{c.RepairInterval, c.AnchorInterval} {
		if v, err := parseDuration(d); err != nil || v <= 0 {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("interval %q is not a positive duration", d))
		}
	}
	for id, u := range c.Storage {
		if _, err := ptoy.ParseID(id); err != nil {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("storage: %q is not an organisation id", id))
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
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("tls %q: want \"auto\" (TLS except on loopback) or \"on\"; plain HTTP is never served off loopback", c.TLS))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return ptoy.E(op, ptoy.Invalid, "tls_cert and tls_key go together: name both or neither")
	}
	if err := c.HTTP.validate(); err != nil {
		return err
	}
	if err := c.Blobs.validate(); err != nil {
		return err
	}
	if c.MaxUpload <= 0 {
		return ptoy.E(op, ptoy.Invalid, "max_upload must be positive")
	}
	if c.OrgKey == "" {
		return ptoy.E(op, ptoy.Invalid, "org_key is empty")
	}
	if _, err := newStartLimits(c.RegisterLimits, nil); err != nil {
		return err
	}
	return nil
}

const configFile = "ptoy.json"

// LoadConfig reads HOME/ptoy.json.
func LoadConfig(home string) (Config, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(filepath.Join(home, configFile))
	if err != nil {
		if os.IsNotExist(err) {
			return c, ptoy.E("node.LoadConfig", ptoy.NotFound, fmt.Sprintf("%s is not a node home (no %s); run ptoy init", home, configFile))
		}
		return c, ptoy.E("node.LoadConfig", ptoy.Other, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, ptoy.E("node.LoadConfig", ptoy.Invalid, fmt.Sprintf("%s: %v", configFile, err))
	}
	return c, c.Validate()
}

// SaveConfig writes HOME/ptoy.json.
func SaveConfig(home string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return writeFile(filepath.Join(home, configFile), append(b, '\n'), 0o600)
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
