// Package devnet runs a whole ptoy network in one process for development
// and tests: one or four validator nodes on 127.0.0.x, short block times,
// and the demo cast of organisations, staff and patients.
package devnet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	"ptoy/directory"
	"ptoy/ehrsync"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
)

// Options configure a development network.
type Options struct {
	Home       string // everything lives here; a second start resumes it
	Validators int    // 1 or 4
	// Listen is node 1's HTTP address: on creation, a free port if empty;
	// on a later start, if set, it replaces the address the home has.
	Listen     string
	Logger     *slog.Logger
	Console    io.Writer      // one-time codes are printed here
	KDF        keys.KDFParams // for the demo keystores; keys.DefaultKDF if zero
	NoDemo     bool           // skip the demo people
	NoPatients bool           // demo staff but no demo patients (they register themselves)
	// DemoRecords files Alice's history at General Hospital through its
	// FHIR API (she grants it her clinical records): what ptoy dev shows.
	DemoRecords bool
	// KeepKeystores keeps each demo patient's keystore at their home node
	// (node 1) on every start, so that they sign in to the web app with
	// the passphrase, and each demo staff member's at their
	// organisation's node, for its console: what ptoy dev does.
	KeepKeystores bool
	// DemoEHR files General Hospital's demo EHR (synthetic patients, and
	// Alice as "Alicia" at an old address) as its holdings, as ptoy sync
	// would: what the record locator finds for her.
	DemoEHR bool
	TLS     bool // every node serves TLS (certificates issued by the organisation keys)
	// Jurisdictions[i] is where node i's storage is ("DE", "US-CA"), on
	// the ledger from genesis and in its settings; default none.
	Jurisdictions []string
	// Override, if set, changes node i's (0-based) settings each time it
	// is opened, as node.Options.Override does.
	Override func(i int, c *node.Config)
}

// nodeOptions are the options node i is opened with.
func (opt Options) nodeOptions(i int) node.Options {
	o := node.Options{Logger: opt.Logger, Console: opt.Console}
	o.Override = func(c *node.Config) {
		if opt.DemoEHR && i == 0 {
			c.EHRSources = append(c.EHRSources, ehrsync.SourceConfig{Name: DemoExportSource, Dir: demoExportDir(opt.Home)})
		}
		if opt.Override != nil {
			opt.Override(i, c)
		}
	}
	return o
}

// Passphrase unlocks every demo keystore. Development only.
const Passphrase = "demo"

// Info is what dev.json holds: everything a script needs to drive the
// network.
type Info struct {
	ChainID  string     `json:"chain_id"`
	Web      string     `json:"web"`
	API      string     `json:"api"`
	FHIR     string     `json:"fhir,omitempty"`
	Nodes    []NodeInfo `json:"nodes"`
	KeysDir  string     `json:"keys_dir"`
	Pass     string     `json:"passphrase"`
	Outbox   string     `json:"outbox"`
	Accounts []Account  `json:"accounts"`
}

// NodeInfo locates one node.
type NodeInfo struct {
	Moniker   string `json:"moniker"`
	Org       string `json:"org"`
	API       string `json:"api"`
	CometRPC  string `json:"cometbft_rpc"`
	Home      string `json:"home"`
	HTTPAddr  string `json:"http_addr"`
	FHIR      string `json:"fhir,omitempty"` // the node's FHIR base
	CometAddr string `json:"-"`
}

// Account is one demo identity; Key names its keystore in KeysDir.
type Account struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // organisation, practitioner, patient
	Role string `json:"role,omitempty"`
	Org  string `json:"org,omitempty"`
	ID   string `json:"id"`
	Key  string `json:"key"`
	// FHIRToken is a SMART access token at the FHIR API of the person's
	// organisation's node, issued at each start of the network.
	FHIRToken string `json:"fhir_token,omitempty"`
}

// Net is a running development network.
type Net struct {
	Nodes []*node.Node
	Info  Info
	opt   Options
	lock  *node.Lock // the home's, held while the network runs

	mu sync.Mutex
	hc map[*node.Node]*http.Client // one connection pool per running node
}

// Start creates the network in opt.Home on first use, starts every node,
// waits for the first block, adds the demo cast if new, and writes
// dev.json. One process at a time runs a home: Start says so if another
// holds it. Creating is all or nothing: if the first start fails (a port
// is taken, say), what it made is removed and the next start begins
// afresh.
func Start(ctx context.Context, opt Options) (*Net, error) {
	const op = "devnet.Start"
	if opt.Validators == 0 {
		opt.Validators = 1
	}
	if opt.Validators != 1 && opt.Validators != 4 {
		return nil, ptoy.E(op, ptoy.Invalid, "a development network has 1 or 4 validators")
	}
	if opt.KDF == (keys.KDFParams{}) {
		opt.KDF = keys.DefaultKDF
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Console == nil {
		opt.Console = io.Discard
	}
	home, err := filepath.Abs(opt.Home)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, err)
	}
	opt.Home = home
	if opt.Listen != "" {
		if _, _, err := net.SplitHostPort(opt.Listen); err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("listen address %q is not host:port", opt.Listen))
		}
	}
	lock, err := node.LockHome(home)
	if err != nil {
		return nil, err
	}
	os.Remove(ReadyFile(home)) // left by a run that was killed
	n, err := start(ctx, opt)
	if err != nil {
		lock.Release()
		return nil, err
	}
	n.lock = lock
	return n, nil
}

// ReadyFile is the file `ptoy dev` writes in home, with its "ready" line,
// once it serves, and removes when it stops: what scripts wait for.
func ReadyFile(home string) string { return filepath.Join(home, "ready") }

// Exists reports whether home holds a development network made by Start.
func Exists(home string) bool {
	_, err := os.Stat(filepath.Join(home, "dev.json"))
	return err == nil
}

// creatingFile marks a home whose creation has not finished: a start that
// finds it (the creating process was killed) removes what was made.
const creatingFile = "creating"

// made are what a creation writes in the home, besides dev.json.
var made = []string{"keys", "nodes", creatingFile}

func start(ctx context.Context, opt Options) (n *Net, err error) {
	const op = "devnet.Start"
	home := opt.Home
	infoPath := filepath.Join(home, "dev.json")
	var info Info
	fresh := false
	b, rerr := os.ReadFile(infoPath)
	switch {
	case rerr == nil:
		if err := json.Unmarshal(b, &info); err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, "dev.json is damaged", err)
		}
		if len(info.Nodes) != opt.Validators {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s holds a network of %d validators, not %d", home, len(info.Nodes), opt.Validators))
		}
		if opt.Listen != "" && opt.Listen != info.Nodes[0].HTTPAddr {
			undo, err := relisten(&info, opt.Listen)
			if err != nil {
				return nil, err
			}
			defer func() {
				if err != nil {
					undo() // the home keeps the address it had
				}
			}()
		}
	case os.IsNotExist(rerr):
		fresh = true
		if err := clearUnfinished(home); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(home, creatingFile), nil, 0o600); err != nil {
			return nil, ptoy.E(op, ptoy.Other, err)
		}
		defer func() {
			if err != nil {
				for _, m := range made {
					os.RemoveAll(filepath.Join(home, m))
				}
			}
		}()
		if info, err = create(opt); err != nil {
			return nil, err
		}
	default:
		return nil, ptoy.E(op, ptoy.Other, rerr)
	}
	n = &Net{Info: info, opt: opt}
	started := n // a failing return sets n to nil
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	for i, ni := range info.Nodes {
		nd, err := node.Open(ni.Home, opt.nodeOptions(i))
		if err != nil {
			return nil, err
		}
		n.Nodes = append(n.Nodes, nd)
	}
	for _, nd := range n.Nodes {
		if err := nd.Start(); err != nil {
			return nil, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, nd := range n.Nodes {
		if err := nd.WaitHeight(wctx, 1); err != nil {
			return nil, err
		}
	}
	if fresh && !opt.NoDemo {
		if err := n.seed(ctx); err != nil {
			return nil, ptoy.E(op, ptoy.Other, "adding the demo cast: "+ptoy.Message(err), err)
		}
		if opt.DemoRecords && !opt.NoPatients {
			if err := n.seedRecords(ctx); err != nil {
				return nil, ptoy.E(op, ptoy.Other, "filing the demo records: "+ptoy.Message(err), err)
			}
		}
		if opt.DemoEHR {
			if err := n.seedEHR(ctx); err != nil {
				return nil, ptoy.E(op, ptoy.Other, "syncing the demo EHR: "+ptoy.Message(err), err)
			}
		}
	}
	if opt.KeepKeystores && !opt.NoDemo {
		// A resumed home whose patients rotated their keys keeps what it
		// has: only a new network must have them all.
		if err := n.keepKeystores(ctx); err != nil && fresh {
			return nil, ptoy.E(op, ptoy.Other, "keeping the demo keystores: "+ptoy.Message(err), err)
		}
	}
	if err := n.issueTokens(); err != nil {
		return nil, err
	}
	{
		b, _ := json.MarshalIndent(n.Info, "", "  ")
		if err := os.WriteFile(infoPath, append(b, '\n'), 0o600); err != nil {
			return nil, ptoy.E(op, ptoy.Other, err)
		}
	}
	if fresh {
		os.Remove(filepath.Join(home, creatingFile))
	}
	return n, nil
}

// clearUnfinished removes what a creation that did not finish left in
// home; it refuses a home that holds keys or nodes it did not make.
func clearUnfinished(home string) error {
	if _, err := os.Stat(filepath.Join(home, creatingFile)); err == nil {
		for _, m := range made {
			if err := os.RemoveAll(filepath.Join(home, m)); err != nil {
				return ptoy.E("devnet.Start", ptoy.Other, err)
			}
		}
		return nil
	}
	for _, m := range []string{"keys", "nodes"} {
		if _, err := os.Stat(filepath.Join(home, m)); err == nil {
			return ptoy.E("devnet.Start", ptoy.Exists, fmt.Sprintf("%s holds %s/ but no dev.json: it is not a development network this version made; remove %s or choose another home",
				home, m, filepath.Join(home, m)))
		}
	}
	return nil
}

// relisten moves node 1's HTTP server to addr: its config, the other
// nodes' storage maps and info. undo puts the configs back.
func relisten(info *Info, addr string) (undo func(), err error) {
	old := info.Nodes[0].HTTPAddr
	var saved []func()
	undo = func() {
		for _, f := range saved {
			f()
		}
	}
	for i, ni := range info.Nodes {
		c, err := node.LoadConfig(ni.Home)
		if err != nil {
			undo()
			return nil, err
		}
		prev := c
		prev.Storage = maps.Clone(c.Storage)
		if i == 0 {
			c.HTTPAddr = addr
		}
		for id, u := range c.Storage {
			if u == "http://"+old {
				c.Storage[id] = "http://" + addr
			}
		}
		if err := node.SaveConfig(ni.Home, c); err != nil {
			undo()
			return nil, err
		}
		home := ni.Home
		saved = append(saved, func() { node.SaveConfig(home, prev) })
	}
	info.Nodes[0].HTTPAddr = addr
	info.Nodes[0].API = "http://" + addr
	info.API, info.Web = info.Nodes[0].API, info.Nodes[0].API
	return undo, nil
}

// Close stops every node and gives the home up.
func (n *Net) Close() {
	for i := range n.Nodes {
		n.StopNode(i)
	}
	n.lock.Release()
}

// StopNode stops node i (0-based), as a crash or an outage would.
func (n *Net) StopNode(i int) {
	n.Nodes[i].Close()
	n.mu.Lock()
	if hc, ok := n.hc[n.Nodes[i]]; ok {
		hc.CloseIdleConnections()
		delete(n.hc, n.Nodes[i])
	}
	n.mu.Unlock()
}

// StartNode starts node i (0-based) again from its home.
func (n *Net) StartNode(i int) error {
	nd, err := node.Open(n.Info.Nodes[i].Home, n.opt.nodeOptions(i))
	if err != nil {
		return err
	}
	if err := nd.Start(); err != nil {
		nd.Close()
		return err
	}
	n.Nodes[i] = nd
	return nil
}

// Client returns a client of node i (0-based).
//
// Each running node gets its own connection pool, so that a node that was
// stopped and started again is never sent a request on a connection the
// old one closed.
func (n *Net) Client(i int) *client.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.Nodes[i]
	if n.hc == nil {
		n.hc = map[*node.Node]*http.Client{}
	}
	hc, ok := n.hc[nd]
	if !ok {
		hc = &http.Client{Transport: nd.Transport(), Timeout: 2 * time.Minute}
		n.hc[nd] = hc
	}
	return client.New(nd.URL(), hc)
}

// Keys is the demo keystore directory.
func (n *Net) Keys() keys.Dir { return keys.Dir{Path: n.Info.KeysDir, KDF: n.opt.KDF} }

// Key opens a demo identity's key pair by its keystore name.
func (n *Net) Key(name string) (*keys.KeyPair, error) {
	k, _, err := n.Keys().Load(name, []byte(Passphrase))
	return k, err
}

// keepKeystores gives node 1, the demo patients' home node, their
// keystore files, and each organisation's node its staff's.
func (n *Net) keepKeystores(ctx context.Context) error {
	for _, p := range DemoPatients {
		if n.opt.NoPatients {
			break
		}
		k, err := n.Key(p.Key)
		if err != nil {
			return err
		}
		file, err := os.ReadFile(filepath.Join(n.Info.KeysDir, p.Key+".key"))
		if err != nil {
			return ptoy.E("devnet.keepKeystores", ptoy.Other, err)
		}
		if err := n.Client(0).KeepKeystore(ctx, k, file); err != nil {
			return err
		}
	}
	return n.keepStaffKeystores(ctx)
}

// keepStaffKeystores gives each demo organisation's node its staff's
// keystore files and names, so that they sign in to its console.
func (n *Net) keepStaffKeystores(ctx context.Context) error {
	for _, s := range demoStaff {
		i := slices.IndexFunc(demoOrgs[:len(n.Nodes)], func(o struct {
			key, name string
			kind      pb.OrgKind
		}) bool {
			return o.key == s.org
		})
		if i < 0 {
			continue // the organisation runs no node here
		}
		k, err := n.Key(s.key)
		if err != nil {
			return err
		}
		file, err := os.ReadFile(filepath.Join(n.Info.KeysDir, s.key+".key"))
		if err != nil {
			return ptoy.E("devnet.keepKeystores", ptoy.Other, err)
		}
		if err := n.Client(i).KeepKeystore(ctx, k, file); err != nil {
			return err
		}
		if err := n.Nodes[i].SetStaffName(k.ID(), s.name); err != nil {
			return err
		}
	}
	return nil
}

// OutboxCode returns the newest one-time code node 1 sent to phone.
func (n *Net) OutboxCode(phone string) (string, error) {
	return directory.LatestCode(n.Info.Outbox, phone)
}

// Demo cast. Organisation i < validators runs node i+1.
var demoOrgs = []struct {
	key, name string
	kind      pb.OrgKind
}{
	{"general-hospital", "General Hospital", pb.OrgKind_ORG_KIND_HOSPITAL},
	{"riverside-clinic", "Riverside Clinic", pb.OrgKind_ORG_KIND_CLINIC},
	{"city-lab", "City Lab", pb.OrgKind_ORG_KIND_LAB},
	{"acme-insurance", "Acme Insurance", pb.OrgKind_ORG_KIND_INSURER},
}

var demoStaff = []struct {
	key, name, org string
	role           pb.Role
}{
	{"gh-admin", "General Hospital admin", "general-hospital", pb.Role_ROLE_ADMIN},
	{"dr-osei", "Dr Osei", "general-hospital", pb.Role_ROLE_PHYSICIAN},
	{"nurse-lee", "Nurse Lee", "general-hospital", pb.Role_ROLE_NURSE},
	{"park", "Park", "general-hospital", pb.Role_ROLE_BILLING},
	{"ruiz", "Ruiz", "general-hospital", pb.Role_ROLE_PRIVACY_OFFICER},
	{"riverside-admin", "Riverside Clinic admin", "riverside-clinic", pb.Role_ROLE_ADMIN},
	{"dr-novak", "Dr Novak", "riverside-clinic", pb.Role_ROLE_EMERGENCY_PHYSICIAN},
}

// DemoPatients are registered through node 1 with these (fictional) phones.
var DemoPatients = []struct{ Key, Name, Phone string }{
	{"alice", "Alice Example", "+15550100001"},
	{"bob", "Bob Example", "+15550100002"},
}

func create(opt Options) (Info, error) {
	kd := keys.Dir{Path: filepath.Join(opt.Home, "keys"), KDF: opt.KDF}
	now := time.Now()
	var specs []node.OrgSpec
	info := Info{KeysDir: kd.Path, Pass: Passphrase, Outbox: filepath.Join(opt.Home, "nodes", "node1", "outbox.jsonl")}
	for i, o := range demoOrgs {
		k, _, err := kd.Create(o.key, keys.KEMHybrid, []byte(Passphrase), now)
		if err != nil {
			return info, err
		}
		spec := node.OrgSpec{Name: o.name, Kind: o.kind, Key: k}
		if i < len(opt.Jurisdictions) {
			spec.Jurisdiction = opt.Jurisdictions[i]
		}
		specs = append(specs, spec)
		info.Accounts = append(info.Accounts, Account{Name: o.name, Kind: "organisation", ID: k.ID().String(), Key: o.key})
	}
	spec := node.NetworkSpec{
		Out: filepath.Join(opt.Home, "nodes"), Validators: opt.Validators, Orgs: specs,
		FreePorts: true, HTTPAddr0: opt.Listen, FastBlocks: true, Dev: true, KDF: keys.TestKDF, Now: now,
		ChainID: "ptoy-dev", TLS: opt.TLS,
	}
	tokenGenesis(&spec)
	if _, err := node.CreateNetwork(spec); err != nil {
		return info, err
	}
	for i, h := range spec.Homes() {
		c, err := node.LoadConfig(h)
		if err != nil {
			return info, err
		}
		info.Nodes = append(info.Nodes, NodeInfo{Moniker: c.Moniker, Org: demoOrgs[i].name, API: c.Scheme() + "://" + c.HTTPAddr,
			CometRPC: "http://" + c.RPCAddr[len("tcp://"):], Home: h, HTTPAddr: c.HTTPAddr})
	}
	info.ChainID = spec.ChainID
	info.API = info.Nodes[0].API
	info.Web = info.Nodes[0].API
	return info, nil
}

// seed adds the demo staff, registers the demo patients and funds the
// demo accounts (fund).
func (n *Net) seed(ctx context.Context) error {
	c := n.Client(0)
	kd := n.Keys()
	now := time.Now()
	orgKeys := map[string]*keys.KeyPair{}
	for _, o := range demoOrgs {
		k, err := n.Key(o.key)
		if err != nil {
			return err
		}
		orgKeys[o.key] = k
	}
	for _, s := range demoStaff {
		k, _, err := kd.Create(s.key, keys.KEMHybrid, []byte(Passphrase), now)
		if err != nil {
			return err
		}
		org := orgKeys[s.org]
		_, err = c.Send(ctx, &pb.Body{Msg: &pb.Body_AddEmployee{AddEmployee: &pb.AddEmployee{
			Org: org.ID().Bytes(), SigningKey: k.SigningPublic(), Kem: client.KEM(k), Role: s.role,
		}}}, org, k)
		if err != nil {
			return err
		}
		n.Info.Accounts = append(n.Info.Accounts, Account{Name: s.name, Kind: "practitioner", Role: RoleName(s.role), Org: s.org, ID: k.ID().String(), Key: s.key})
	}
	for _, p := range DemoPatients {
		if n.opt.NoPatients {
			break
		}
		k, _, err := kd.Create(p.Key, keys.KEMHybrid, []byte(Passphrase), now)
		if err != nil {
			return err
		}
		if _, err := n.Register(ctx, 0, k, p.Name, p.Phone); err != nil {
			return err
		}
		n.Info.Accounts = append(n.Info.Accounts, Account{Name: p.Name, Kind: "patient", ID: k.ID().String(), Key: p.Key})
	}
	return n.fund(ctx)
}

// Register registers a patient through node i, reading the one-time code
// from the development outbox as the patient would read their phone.
func (n *Net) Register(ctx context.Context, i int, k *keys.KeyPair, name, phone string) (ptoy.ID, error) {
	c := n.Client(i)
	start, err := c.StartRegistration(ctx, name, phone)
	if err != nil {
		return ptoy.ID{}, err
	}
	norm, err := directory.NormalizePhone(phone)
	if err != nil {
		return ptoy.ID{}, err
	}
	code, err := directory.LatestCode(filepath.Join(n.Info.Nodes[i].Home, "outbox.jsonl"), norm)
	if err != nil {
		return ptoy.ID{}, err
	}
	return agent.Register(ctx, c, start, code, k)
}

// RoleName is the CLI's word for a role.
func RoleName(r pb.Role) string {
	switch r {
	case pb.Role_ROLE_PHYSICIAN:
		return "physician"
	case pb.Role_ROLE_NURSE:
		return "nurse"
	case pb.Role_ROLE_EMERGENCY_PHYSICIAN:
		return "emergency-physician"
	case pb.Role_ROLE_BILLING:
		return "billing"
	case pb.Role_ROLE_PRIVACY_OFFICER:
		return "privacy-officer"
	case pb.Role_ROLE_ADMIN:
		return "admin"
	case pb.Role_ROLE_LAB_TECHNICIAN:
		return "lab-technician"
	case pb.Role_ROLE_PHARMACIST:
		return "pharmacist"
	case pb.Role_ROLE_NODE:
		return "node"
	}
	return "unknown"
}

// Opts returns the options the network runs with (Home made absolute).
func (n *Net) Opts() Options { return n.opt }
