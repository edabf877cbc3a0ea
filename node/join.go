package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// NetworkInfo is what a member node tells an organisation that joins the
// network (GET /v1/network): the genesis document, the CometBFT peers to
// dial (the node itself first, then its own persistent peers) and the
// storage nodes it knows. Nothing in it is secret.
type NetworkInfo struct {
	ChainID string `json:"chain_id"`
	// Genesis is the CometBFT genesis document, as in the node's home.
	Genesis json.RawMessage `json:"genesis"`
	// GenesisHash is the SHA-256 of Genesis in hex: what operators
	// compare out of band before they trust it.
	GenesisHash string            `json:"genesis_hash"`
	Peers       []string          `json:"peers"`   // nodeid@host:port
	Storage     map[string]string `json:"storage"` // organisation id (hex) to base URL
	// Jurisdictions is where each member's storage node is, as the
	// ledger says (organisation id in hex to "DE", "US-CA"; none declared
	// are left out): residency rules place ciphertext by it.
	Jurisdictions map[string]string `json:"jurisdictions,omitempty"`
}

// serveNetwork answers GET /v1/network.
func (n *Node) serveNetwork(w http.ResponseWriter, r *http.Request) {
	gen, err := os.ReadFile(cometConfig(n.home, n.cfg).GenesisFile())
	if err != nil {
		failHTTP(w, ptoy.E("node.network", ptoy.Other, "reading the genesis file", err))
		return
	}
	sum := sha256.Sum256(gen)
	info := NetworkInfo{
		ChainID:     n.ChainID(),
		Genesis:     gen,
		GenesisHash: hex.EncodeToString(sum[:]),
		Peers:       append([]string{string(n.comet.NodeInfo().ID()) + "@" + hostPort(n.cfg.P2PAddr)}, n.cfg.Peers...),
		Storage:     map[string]string{},
	}
	for id, u := range n.members.Peers() {
		if id == n.Org() && u == "" {
			u = n.URL()
		}
		if u != "" {
			info.Storage[id.String()] = u
		}
	}
	for id, j := range n.members.Jurisdictions() {
		if j != "" {
			if info.Jurisdictions == nil {
				info.Jurisdictions = map[string]string{}
			}
			info.Jurisdictions[id.String()] = j
		}
	}
	writeJSON(w, info)
}

// FetchNetwork asks the member node at base (its HTTP server's URL) for
// what joining needs. Over https the client must trust the member's
// certificate (a made one is issued by its organisation's key: trust
// that key's HOME/tls/org-ca.crt); nil is a client with the system's
// roots.
func FetchNetwork(ctx context.Context, client *http.Client, base string) (*NetworkInfo, error) {
	const op = "node.FetchNetwork"
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%q is not the http(s) URL of a member node", base))
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/v1/network", nil)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Unavailable, fmt.Sprintf("cannot reach the member node at %s", base), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, ptoy.E(op, ptoy.Unavailable, fmt.Sprintf("the member node at %s answered %s", base, resp.Status))
	}
	var info NetworkInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&info); err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the member node at %s sent no network description", base), err)
	}
	return &info, nil
}

// JoinSpec describes the home of a node that joins an existing network:
// the genesis document and peers come from a member (FetchNetwork) or are
// given. The node block-syncs to the tip as a non-validator; once the
// members admit its organisation (ProposeOrg with Joined's keys and node
// URL, and votes) it validates and stores ciphertext.
type JoinSpec struct {
	Home    string
	Network NetworkInfo // Genesis and Peers are required; Storage optional
	Org     string      // the organisation's name, for the moniker
	// Key is the organisation's key pair; made if nil.
	Key *keys.KeyPair
	// Addresses of the node: HTTP host:port, and tcp://host:port for
	// CometBFT's P2P and RPC (RPC empty: none). NodeURL is the base URL
	// by which the other nodes reach its HTTP server (default from
	// HTTPAddr and the TLS setting).
	HTTPAddr, P2PAddr, RPCAddr string
	NodeURL                    string
	Moniker                    string
	// Jurisdiction is where the node's storage is ("DE", "US-CA"; empty:
	// none declared): in its settings and its admission.
	Jurisdiction         string
	FastBlocks, Dev, TLS bool
	KDF                  keys.KDFParams
	Now                  time.Time
}

// Joined is what the members need to admit the new organisation: its
// ProposeOrg fields (the candidate still co-signs the proposal).
type Joined struct {
	Org          string `json:"org"`           // hex id
	SigningKey   string `json:"signing_key"`   // hex
	KEMAlg       uint32 `json:"kem_alg"`       //
	KEM          string `json:"kem"`           // hex
	ValidatorKey string `json:"validator_key"` // hex, Ed25519
	// The node's own account: key and encryption key (hex).
	NodeSigningKey string `json:"node_signing_key"`
	NodeKEMAlg     uint32 `json:"node_kem_alg"`
	NodeKEM        string `json:"node_kem"`
	NodeURL        string `json:"node_url"`
	Jurisdiction   string `json:"jurisdiction,omitempty"`
	ChainID        string `json:"chain_id"`
	GenesisHash    string `json:"genesis_hash"`
}

// JoinRequestFile is where JoinNetwork writes Joined in the home.
const JoinRequestFile = "join-request.json"

// JoinNetwork writes the home of a node that joins an existing network:
// its keys (organisation key under a generated passphrase, CometBFT node
// and validator keys), the network's genesis document, and ptoy.toml with
// the given peers and storage nodes. The node signs with the organisation
// key (it has no node account; the organisation may add one later with an
// employee of the node role). It returns, and writes to
// HOME/join-request.json, what the members vote on.
func JoinNetwork(spec JoinSpec) (*Joined, error) {
	const op = "node.JoinNetwork"
	if spec.Home == "" {
		return nil, ptoy.E(op, ptoy.Invalid, "no home directory")
	}
	for _, f := range []string{configFile, legacyConfigFile} {
		if _, err := os.Stat(filepath.Join(spec.Home, f)); err == nil {
			return nil, ptoy.E(op, ptoy.Exists, fmt.Sprintf("%s already holds a node", spec.Home))
		}
	}
	doc, err := cmttypes.GenesisDocFromJSON(spec.Network.Genesis)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "the genesis document does not parse", err)
	}
	if spec.Network.ChainID != "" && spec.Network.ChainID != doc.ChainID {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the genesis document is for chain %q, not %q", doc.ChainID, spec.Network.ChainID))
	}
	if len(spec.Network.Peers) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "no peers: the node needs at least one member's nodeid@host:port to sync from")
	}
	for _, p := range spec.Network.Peers {
		if _, err := p2p.NewNetAddressString(p); err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("peer %q is not nodeid@host:port", p), err)
		}
	}
	if spec.Now.IsZero() {
		spec.Now = time.Now()
	}
	c := DefaultConfig()
	if spec.Moniker != "" {
		c.Moniker = spec.Moniker
	}
	c.HTTPAddr, c.P2PAddr, c.RPCAddr = spec.HTTPAddr, spec.P2PAddr, spec.RPCAddr
	c.FastBlocks, c.Dev = spec.FastBlocks, spec.Dev
	if spec.TLS {
		c.TLS = "on"
	}
	if spec.FastBlocks {
		c.AnchorInterval, c.RepairInterval = "1s", "5s"
	}
	c.Peers = slices.Clone(spec.Network.Peers)
	c.Jurisdiction = spec.Jurisdiction
	c.PassphraseFile = filepath.Join("keys", "passphrase")
	c.NodeKey = "node"
	nodeURL := spec.NodeURL
	if nodeURL == "" {
		host, port, err := net.SplitHostPort(c.HTTPAddr)
		if err != nil || host == "" || net.ParseIP(host).IsUnspecified() {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("give the node's URL: other nodes cannot reach it at %q", c.HTTPAddr))
		}
		nodeURL = c.Scheme() + "://" + net.JoinHostPort(host, port)
	}
	if !strings.HasPrefix(nodeURL, c.Scheme()+"://") {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the node URL %s does not match what the node serves (%s)", nodeURL, c.Scheme()))
	}
	k := spec.Key
	if k == nil {
		if k, err = keys.Generate(keys.KEMHybrid); err != nil {
			return nil, err
		}
	}
	storage := map[string]string{}
	for id, u := range spec.Network.Storage {
		if id != k.ID().String() {
			storage[id] = u
		}
	}
	storage[k.ID().String()] = nodeURL
	c.Storage = storage
	if err := c.Validate(); err != nil {
		return nil, err
	}

	home := spec.Home
	for _, d := range []string{"config", "data"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			return nil, ptoy.E(op, ptoy.Other, err)
		}
	}
	cc := cometConfig(home, c)
	if _, err := p2p.LoadOrGenNodeKey(cc.NodeKeyFile()); err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	pv := privval.LoadOrGenFilePV(cc.PrivValidatorKeyFile(), cc.PrivValidatorStateFile())
	pub, err := pv.GetPubKey()
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	pass := []byte(randHex(16))
	if err := writeFile(filepath.Join(home, c.PassphraseFile), append(pass, '\n'), 0o600); err != nil {
		return nil, err
	}
	kd := keys.Dir{Path: filepath.Join(home, "keys"), KDF: spec.KDF}
	if _, err := kd.Save(c.OrgKey, k, pass, spec.Now); err != nil {
		return nil, err
	}
	acct, err := keys.Generate(keys.KEMHybrid)
	if err != nil {
		return nil, err
	}
	if _, err := kd.Save(c.NodeKey, acct, pass, spec.Now); err != nil {
		return nil, err
	}
	if err := doc.SaveAs(cc.GenesisFile()); err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	if _, err := serverCert(home, c, k, spec.Now); err != nil {
		return nil, err
	}
	if err := SaveConfig(home, c); err != nil {
		return nil, err
	}
	gen, err := os.ReadFile(cc.GenesisFile())
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	sum := sha256.Sum256(gen)
	j := &Joined{
		Org: k.ID().String(), SigningKey: hex.EncodeToString(k.SigningPublic()),
		KEMAlg: uint32(k.KEMAlg()), KEM: hex.EncodeToString(k.KEMPublic()),
		ValidatorKey: hex.EncodeToString(pub.Bytes()), NodeURL: nodeURL, Jurisdiction: c.Jurisdiction,
		NodeSigningKey: hex.EncodeToString(acct.SigningPublic()), NodeKEMAlg: uint32(acct.KEMAlg()), NodeKEM: hex.EncodeToString(acct.KEMPublic()),
		ChainID: doc.ChainID, GenesisHash: hex.EncodeToString(sum[:]),
	}
	b, _ := json.MarshalIndent(j, "", "  ")
	if err := writeFile(filepath.Join(home, JoinRequestFile), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return j, nil
}

// ProposeOrg returns the admission proposal for j (the proposer adds
// OnBehalfOf if an admin signs for its organisation).
func (j *Joined) ProposeOrg(name string, kind pb.OrgKind) (*pb.ProposeOrg, error) {
	const op = "node.Joined"
	sk, err := hex.DecodeString(j.SigningKey)
	if err != nil || len(sk) != 32 {
		return nil, ptoy.E(op, ptoy.Invalid, "signing_key is not 64 hex digits")
	}
	kem, err := hex.DecodeString(j.KEM)
	if err != nil || len(kem) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "kem is not hex")
	}
	vk, err := hex.DecodeString(j.ValidatorKey)
	if err != nil || (len(vk) != 0 && len(vk) != 32) {
		return nil, ptoy.E(op, ptoy.Invalid, "validator_key is not 64 hex digits")
	}
	if ptoy.IDFromKey(sk).String() != j.Org {
		return nil, ptoy.E(op, ptoy.Invalid, "org is not the id of signing_key")
	}
	p := &pb.ProposeOrg{Name: name, Kind: kind, SigningKey: sk, Kem: &pb.KemKey{Alg: j.KEMAlg, Key: kem}, ValidatorKey: vk, NodeUrl: j.NodeURL, Jurisdiction: j.Jurisdiction}
	if j.NodeSigningKey != "" {
		nk, err := hex.DecodeString(j.NodeSigningKey)
		if err != nil || len(nk) != 32 {
			return nil, ptoy.E(op, ptoy.Invalid, "node_signing_key is not 64 hex digits")
		}
		nkem, err := hex.DecodeString(j.NodeKEM)
		if err != nil || len(nkem) == 0 {
			return nil, ptoy.E(op, ptoy.Invalid, "node_kem is not hex")
		}
		p.NodeSigningKey, p.NodeKem = nk, &pb.KemKey{Alg: j.NodeKEMAlg, Key: nkem}
	}
	return p, nil
}

// ReadJoined reads a join request (HOME/join-request.json).
func ReadJoined(path string) (*Joined, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, ptoy.E("node.ReadJoined", ptoy.NotFound, fmt.Sprintf("cannot read the join request %s", path), err)
	}
	var j Joined
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, ptoy.E("node.ReadJoined", ptoy.Invalid, fmt.Sprintf("%s is not a join request", path), err)
	}
	return &j, nil
}
