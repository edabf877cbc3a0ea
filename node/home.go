package node

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"
	"google.golang.org/protobuf/encoding/protojson"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// OrgSpec is a founding organisation of a new network.
type OrgSpec struct {
	Name string
	Kind pb.OrgKind
	// Key is the organisation's key pair; made if nil.
	Key *keys.KeyPair
	// Jurisdiction is where its node's storage is ("DE", "US-CA"), if it
	// runs one: on the ledger from genesis and in the node's settings.
	Jurisdiction string
}

// NetworkSpec describes a new network: one node per validator, run by the
// first Validators organisations; the other founding organisations take
// part without a node of their own.
type NetworkSpec struct {
	ChainID string
	Out     string // the homes go in Out/node1 … Out/nodeN
	// HomeDirs, if set, names each node's home instead.
	HomeDirs   []string
	Validators int
	Orgs       []OrgSpec
	// Hosts[i] is node i's IP address; default 127.0.0.(i+1).
	Hosts []string
	// FreePorts picks unused ports on each host instead of the standard
	// ones (26656 P2P, 26657 RPC, 8080 HTTP), so that several networks
	// can share a machine.
	FreePorts  bool
	HTTPAddr0  string // node 1's HTTP address, if set
	FastBlocks bool
	Dev        bool
	// TLS makes every node serve TLS, on loopback too ("tls": "on"); off
	// loopback they do anyway.
	TLS bool
	KDF keys.KDFParams
	Now time.Time

	// The token part of the genesis app state: the network parameters
	// (nil or unset fields take the ledger's defaults), the treasury's
	// initial supply and initial balances of accounts, in micro-PTOY.
	Params      *pb.Params
	Treasury    uint64
	Allocations []*pb.Allocation
}

// Homes returns the home directory of each node of a network.
func (s NetworkSpec) Homes() []string {
	if len(s.HomeDirs) == s.Validators {
		return s.HomeDirs
	}
	h := make([]string, s.Validators)
	for i := range h {
		h[i] = filepath.Join(s.Out, "node"+strconv.Itoa(i+1))
	}
	return h
}

// CreateNetwork writes the homes of a new network: CometBFT keys and
// genesis, the organisation keys and each node's own key (its account,
// on its organisation's employee list with the node role) sealed under a
// generated passphrase (HOME/keys/passphrase, mode 0600), beside them the
// node's directory key and the network phone key, sealed likewise, and
// ptoy.toml. It returns the organisation key pairs in the order of
// spec.Orgs.
func CreateNetwork(spec NetworkSpec) ([]*keys.KeyPair, error) {
	const op = "node.CreateNetwork"
	if spec.Validators < 1 || spec.Validators > 64 {
		return nil, ptoy.E(op, ptoy.Invalid, "validators must be between 1 and 64")
	}
	if len(spec.Orgs) < spec.Validators {
		return nil, ptoy.E(op, ptoy.Invalid, "each validator node needs a founding organisation")
	}
	if spec.ChainID == "" {
		spec.ChainID = "ptoy-" + randHex(4)
	}
	if spec.Now.IsZero() {
		spec.Now = time.Now()
	}
	orgKeys := make([]*keys.KeyPair, len(spec.Orgs))
	for i, o := range spec.Orgs {
		k := o.Key
		if k == nil {
			var err error
			if k, err = keys.Generate(keys.KEMHybrid); err != nil {
				return nil, err
			}
		}
		orgKeys[i] = k
	}
	homes := spec.Homes()
	phoneKey := NewPhoneKey()
	defer clear(phoneKey)
	type nodeInfo struct {
		cfg     Config
		id      string
		valKey  []byte
		nodeKey *keys.KeyPair
	}
	nodes := make([]nodeInfo, spec.Validators)
	gen := &pb.Genesis{Params: spec.Params, Treasury: spec.Treasury, Allocations: spec.Allocations}
	var vals []cmttypes.GenesisValidator
	for i, home := range homes {
		for _, f := range []string{configFile, legacyConfigFile} {
			if _, err := os.Stat(filepath.Join(home, f)); err == nil {
				return nil, ptoy.E(op, ptoy.Exists, fmt.Sprintf("%s already holds a node", home))
			}
		}
		cc := cometConfig(home, Config{})
		if err := os.MkdirAll(filepath.Join(home, "config"), 0o700); err != nil {
			return nil, ptoy.E(op, ptoy.Other, err)
		}
		if err := os.MkdirAll(filepath.Join(home, "data"), 0o700); err != nil {
			return nil, ptoy.E(op, ptoy.Other, err)
		}
		nk, err := p2p.LoadOrGenNodeKey(cc.NodeKeyFile())
		if err != nil {
			return nil, ptoy.E(op, ptoy.Other, err)
		}
		pv := privval.LoadOrGenFilePV(cc.PrivValidatorKeyFile(), cc.PrivValidatorStateFile())
		pub, err := pv.GetPubKey()
		if err != nil {
			return nil, ptoy.E(op, ptoy.Other, err)
		}
		host := "127.0.0." + strconv.Itoa(i+1)
		if i < len(spec.Hosts) {
			host = spec.Hosts[i]
		}
		c := DefaultConfig()
		c.Moniker = "node" + strconv.Itoa(i+1)
		if i < len(spec.Orgs) {
			c.Jurisdiction = spec.Orgs[i].Jurisdiction
		}
		c.FastBlocks = spec.FastBlocks
		c.Dev = spec.Dev
		if spec.TLS {
			c.TLS = "on"
		}
		if spec.Dev {
			c.RegisterLimits = DevRegisterLimits
		}
		c.P2PAddr = "tcp://" + net.JoinHostPort(host, "26656")
		c.RPCAddr = "tcp://" + net.JoinHostPort(host, "26657")
		c.HTTPAddr = net.JoinHostPort(host, "8080")
		if spec.FreePorts {
			ports, err := FreePorts(host, 3)
			if err != nil {
				return nil, err
			}
			c.P2PAddr = "tcp://" + net.JoinHostPort(host, strconv.Itoa(ports[0]))
			c.RPCAddr = "tcp://" + net.JoinHostPort(host, strconv.Itoa(ports[1]))
			c.HTTPAddr = net.JoinHostPort(host, strconv.Itoa(ports[2]))
		}
		if i == 0 && spec.HTTPAddr0 != "" {
			c.HTTPAddr = spec.HTTPAddr0
		}
		c.PassphraseFile = filepath.Join("keys", "passphrase")
		c.NodeKey = "node"
		acct, err := keys.Generate(keys.KEMHybrid)
		if err != nil {
			return nil, err
		}
		nodes[i] = nodeInfo{cfg: c, id: string(nk.ID()), valKey: pub.Bytes(), nodeKey: acct}
		vals = append(vals, cmttypes.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: c.Moniker})

		pass := []byte(randHex(16))
		if err := writeFile(filepath.Join(home, c.PassphraseFile), append(pass, '\n'), 0o600); err != nil {
			return nil, err
		}
		kd := keys.Dir{Path: filepath.Join(home, "keys"), KDF: spec.KDF}
		if _, err := kd.Save(c.OrgKey, orgKeys[i], pass, spec.Now); err != nil {
			return nil, err
		}
		if _, err := kd.Save(c.NodeKey, acct, pass, spec.Now); err != nil {
			return nil, err
		}
		if err := saveHomeSecrets(kd, pass, phoneKey); err != nil {
			return nil, err
		}
	}
	for i, o := range spec.Orgs {
		g := &pb.GenesisOrg{Name: o.Name, Kind: o.Kind, SigningKey: orgKeys[i].SigningPublic(),
			Kem: &pb.KemKey{Alg: uint32(orgKeys[i].KEMAlg()), Key: orgKeys[i].KEMPublic()}}
		if i < len(nodes) {
			g.Jurisdiction = o.Jurisdiction
			nk := nodes[i].nodeKey
			g.ValidatorKey = nodes[i].valKey
			g.NodeSigningKey, g.NodeKem = nk.SigningPublic(), &pb.KemKey{Alg: uint32(nk.KEMAlg()), Key: nk.KEMPublic()}
		}
		gen.Orgs = append(gen.Orgs, g)
	}
	appState, err := protojson.Marshal(gen)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, err)
	}
	doc := &cmttypes.GenesisDoc{
		GenesisTime:     spec.Now.UTC(),
		ChainID:         spec.ChainID,
		ConsensusParams: cmttypes.DefaultConsensusParams(),
		Validators:      vals,
		AppState:        appState,
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, err)
	}
	storage := map[string]string{}
	for i, nd := range nodes {
		storage[orgKeys[i].ID().String()] = nd.cfg.Scheme() + "://" + nd.cfg.HTTPAddr
	}
	for i, home := range homes {
		c := nodes[i].cfg
		c.Storage = storage
		if spec.FastBlocks {
			c.AnchorInterval = "1s"
			c.RepairInterval = "5s"
		}
		for j, other := range nodes {
			if j != i {
				c.Peers = append(c.Peers, other.id+"@"+hostPort(other.cfg.P2PAddr))
			}
		}
		if err := doc.SaveAs(cometConfig(home, c).GenesisFile()); err != nil {
			return nil, ptoy.E(op, ptoy.Other, err)
		}
		// The node's TLS certificate, issued by its organisation's key, so
		// that TLS is always configured (the node renews it when it opens).
		if _, err := serverCert(home, c, orgKeys[i], spec.Now); err != nil {
			return nil, err
		}
		if err := SaveConfig(home, c); err != nil {
			return nil, err
		}
	}
	return orgKeys, nil
}

func hostPort(tcpAddr string) string {
	if len(tcpAddr) > 6 && tcpAddr[:6] == "tcp://" {
		return tcpAddr[6:]
	}
	return tcpAddr
}

// FreePorts returns n ports that are free on host now. They are drawn at
// random below the kernel's ephemeral range (32768 and up on Linux), so
// that a node stopped and started again does not find its port taken by
// an outgoing connection or by another program's bind to port 0; the
// range is as wide as that allows (10000–32767), since processes that pick
// at the same time (test packages run in parallel) cannot see each
// other's choice until they bind.
func FreePorts(host string, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, ptoy.E("node.FreePorts", ptoy.Unavailable, "no free ports on "+host)
		}
		p := 10000 + mrand.IntN(22768)
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, p)
	}
	return ports, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
