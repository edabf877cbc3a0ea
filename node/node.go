// Package node wires a ptoy node together: the ledger in its Pebble store,
// CometBFT embedded in the process, the registration directory, and one
// HTTP server that carries the API, FHIR and the patient app (package web).
package node

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	dbm "github.com/cometbft/cometbft-db"
	abci "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/rpc/client/local"
	"github.com/prometheus/client_golang/prometheus"

	"ptoy"
	"ptoy/abciapp"
	"ptoy/api"
	"ptoy/audit/auditlog"
	"ptoy/auth"
	"ptoy/blob"
	"ptoy/console"
	"ptoy/directory"
	"ptoy/door"
	"ptoy/fhir"
	"ptoy/fhir/smart"
	"ptoy/gateway"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/holdings"
	"ptoy/keys"
	"ptoy/ledger"
	"ptoy/store"
	"ptoy/tx"
	"ptoy/web"
)

// Options are what the caller supplies beyond the home's settings.
type Options struct {
	Logger *slog.Logger
	// Passphrase unlocks the organisation key; if nil it is read from the
	// config's PassphraseFile.
	Passphrase []byte
	// Console receives development one-time codes (Dev mode).
	Console io.Writer
	// Sender delivers one-time codes; the dev outbox if nil in Dev mode.
	Sender directory.Sender
	// Handlers are mounted on the node's HTTP server besides the API.
	Handlers map[string]http.Handler
	// AuditFS is the file system of the audit log; nil is the operating
	// system's. Tests make its disk fill up.
	AuditFS vfs.FS
	// Override, if set, changes the settings read from the home for this
	// run (ptoy node's flags); the result is checked like the file.
	Override func(*Config)
}

// Node is one running ptoy node.
type Node struct {
	home string
	cfg  Config
	log  *slog.Logger
	lock *Lock // one process runs a home at a time

	kv     *store.Pebble
	ledger *ledger.Ledger
	app    *abciapp.App
	comet  *cmtnode.Node
	rpc    *local.Local
	orgKey *keys.KeyPair
	// nodeKey is the key of the node's own account, which signs what the
	// node commits for its organisation; the organisation key in homes
	// made before node accounts.
	nodeKey *keys.KeyPair
	dir     *directory.Directory
	staff   *staffNames // the console's names of the staff
	blobs   blob.Store
	audit   *auditlog.Log
	gw      *gateway.Gateway
	auth    *auth.Authenticator
	door    *door.Door
	metrics *metrics
	cancel  context.CancelFunc
	done    sync.WaitGroup
	bg      context.Context // cancelled by Close; nil before Start
	tasks   tasks           // work started by requests that outlives them
	syncs   syncJobs        // the EHR syncs of the configured sources

	// phoneKey is the network phone key (nil: the node registers no
	// patients); limits bound the codes StartRegistration sends.
	phoneKey []byte
	limits   *startLimits

	// signMu serialises the transactions the node signs (submitAsNode),
	// so that two loops never take the same sequence number.
	signMu sync.Mutex
	// seqMu guards nextSeq: the sequence after the last transaction the
	// node signed for an account and CheckTx took (submitAs).
	seqMu    sync.Mutex
	nextSeq  map[ptoy.ID]uint64
	unseal   unsealLimits
	fhirDB   *store.Pebble
	fhir     *fhir.Server
	holdings *holdings.Holdings
	smart    *smart.Server

	// pause holds block execution while a backup copies the stores;
	// cometDBs are CometBFT's databases; backupMu lets one backup run.
	pause    *pausable
	cometDBs *cometDBs
	backupMu sync.Mutex

	srv      *http.Server
	conns    *limitListener
	members  *membership
	peerTLS  *peerTLS
	httpAddr string
	closeOne sync.Once
	stopping atomic.Bool
}

// Open loads the node in home without starting it.
func Open(home string, opt Options) (*Node, error) {
	const op = "node.Open"
	cfg, legacy, err := loadConfig(home)
	if err != nil {
		return nil, err
	}
	if opt.Override != nil {
		opt.Override(&cfg)
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.Moniker)
	n := &Node{home: home, cfg: cfg, log: log, metrics: newMetrics()}
	ok := false
	defer func() {
		if !ok {
			n.closeStores()
		}
	}()
	if n.lock, err = LockHome(home); err != nil {
		return nil, err
	}
	if legacy {
		if _, err := migrateConfig(home); err != nil {
			return nil, err
		}
		log.Info("settings moved to " + configFile + "; the old file is kept as " + legacyConfigFile + migratedSuffix)
	}

	pass := opt.Passphrase
	if pass == nil {
		if pass, err = keys.Passphrase(n.path(cfg.PassphraseFile), "PTOY_PASSPHRASE", os.LookupEnv, strings.NewReader(""), io.Discard); err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, "no passphrase for the organisation key", err)
		}
	}
	kd := keys.Dir{Path: n.path("keys")}
	if n.orgKey, _, err = kd.Load(cfg.OrgKey, pass); err != nil {
		return nil, err
	}
	dirKey, err := loadDirectoryKey(kd, cfg.OrgKey, pass, log)
	if err != nil {
		return nil, err
	}
	defer clear(dirKey)
	if n.phoneKey, err = loadPhoneKey(kd, pass); err != nil {
		return nil, err
	}
	if n.limits, err = newStartLimits(cfg.RegisterLimits, time.Now); err != nil {
		return nil, err
	}
	n.nodeKey = n.orgKey
	if cfg.NodeKey != "" {
		if n.nodeKey, _, err = kd.Load(cfg.NodeKey, pass); err != nil {
			return nil, err
		}
	}

	if n.kv, err = store.OpenWith(n.path("data", "ptoy-state"), store.Options{MostlyAbsent: true}); err != nil {
		return nil, err
	}
	if n.ledger, err = ledger.Open(n.kv); err != nil {
		return nil, err
	}
	// Before CometBFT replays a block the ledger lacks: every commit's
	// audit events are kept until they are copied (auditLedger).
	n.ledger.KeepEvents()
	n.app = abciapp.New(n.ledger, log)
	n.app.OnResult(n.metrics.observeTx)

	sender := opt.Sender
	if sender == nil {
		sender = noSender{}
		if cfg.Dev {
			sender = &directory.Outbox{Path: n.path("outbox.jsonl"), Console: opt.Console}
		}
	}
	if n.dir, err = directory.Open(directory.Config{Dir: n.path("data", "directory"), Key: dirKey, Sender: sender, Now: time.Now}); err != nil {
		return nil, err
	}

	n.pause = &pausable{Application: n.app, arrived: make(chan struct{}, 1)}
	n.cometDBs = &cometDBs{dbs: map[string]dbm.DB{}}
	if n.comet, err = newComet(home, cfg, n.pause, log, &n.stopping, n.metrics.reg, n.cometDBs.provider); err != nil {
		return nil, err
	}
	n.rpc = local.New(n.comet)

	if n.blobs, err = openBlobs(cfg.Blobs, n.path("data", "blobs"), os.LookupEnv); err != nil {
		return nil, err
	}
	if n.audit, err = auditlog.Open(auditlog.Options{Dir: n.path("data", "audit"), Node: cfg.Moniker, FS: opt.AuditFS, Observe: n.metrics.observeAudit}); err != nil {
		return nil, err
	}
	if u, ok := cfg.Storage[n.orgKey.ID().String()]; ok && !strings.HasPrefix(u, cfg.Scheme()+"://") {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("storage lists this node at %s, but it serves %s (http.tls %q, http.addr %s)", u, cfg.Scheme(), cfg.TLS, cfg.HTTPAddr))
	}
	peers := map[ptoy.ID]string{}
	for id, u := range cfg.Storage {
		oid, _ := ptoy.ParseID(id)
		peers[oid] = u
	}
	index, err := n.ledger.NewConsentIndex()
	if err != nil {
		return nil, err
	}
	// One authenticator and one door for every edge of the node: the
	// gateway and the API now, FHIR and the web app next.
	chainID := n.comet.GenesisDoc().ChainID
	n.auth = &auth.Authenticator{ChainID: chainID, Now: time.Now, Accounts: n.ledger, Nonces: auth.NewNonces(), Sessions: auth.NewSessions()}
	n.door = door.New(door.Config{Node: cfg.Moniker, Consent: index, BlockTime: n.ledger.BlockTime, Audit: n.audit})
	n.members = newMembership(n.ledger, peers, n.orgKey.ID(), log.Warn)
	n.members.jurisdiction = cfg.Jurisdiction
	n.peerTLS = newPeerTLS(n.members.Peers, n.orgSigningKey)
	n.gw = gateway.New(gateway.Config{
		Consent: index, Auth: n.auth, Door: n.door,
		Node: cfg.Moniker, ChainID: chainID, Org: n.orgKey.ID(), Signer: n.orgKey, OrgKEM: n.orgKey.KEM,
		Ledger: n.ledger, Blobs: n.blobs, Audit: n.audit, Peers: peers, Members: n.members.Peers,
		Jurisdictions: n.members.Jurisdictions, MaxUpload: cfg.MaxUpload, Log: log,
		Client: &http.Client{Transport: n.peerTLS.transport(), Timeout: 60 * time.Second},
	})

	n.unseal.slots = make(chan struct{}, unsealsInFlight)
	if err := n.openFHIR(dirKey, peers); err != nil {
		return nil, err
	}
	if err := n.openHoldings(dirKey); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle(fhir.Mount+"/", n.fhir.Handler())
	mux.Handle(fhir.Mount, n.fhir.Handler())
	authenticated := func(path string, h http.Handler) { mux.Handle(path, n.auth.Middleware(h)) }
	authenticated(api.New(n))
	authenticated(api.NewToken(n))
	authenticated(api.NewRecords(n))
	authenticated(api.NewConsent(n))
	mux.Handle("/v1/", n.gw.Handler())
	mux.HandleFunc("POST /v1/admin/backup", n.serveBackup)
	mux.HandleFunc("GET /v1/network", n.serveNetwork)
	n.routeHoldings(mux)
	mux.HandleFunc("PUT /v1/keystore", n.putKeystore)
	mux.HandleFunc("POST /v1/keystore/unseal", n.unsealKeystore)
	for p, h := range opt.Handlers {
		mux.Handle(p, h)
	}
	app, err := n.openWeb()
	if err != nil {
		return nil, err
	}
	for _, p := range web.Paths {
		mux.Handle(p, app.Handler())
	}
	staff, err := n.openConsole()
	if err != nil {
		return nil, err
	}
	mux.Handle(console.Mount, staff.Handler())
	mux.Handle("/console", staff.Handler())
	mux.HandleFunc("GET /healthz", n.healthz)
	mux.HandleFunc("GET /readyz", n.readyz)
	n.metrics.gauges(n)
	mux.Handle("GET /metrics", n.metrics.handler())
	n.srv = newHTTPServer(n.metrics.instrument(mux), cfg.HTTP, log)
	if cfg.ServesTLS() {
		cert, err := serverCert(home, cfg, n.orgKey, time.Now())
		if err != nil {
			return nil, err
		}
		n.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ok = true
	return n, nil
}

func (n *Node) path(parts ...string) string {
	if len(parts) == 1 && filepath.IsAbs(parts[0]) {
		return parts[0]
	}
	return filepath.Join(append([]string{n.home}, parts...)...)
}

// NewComet builds (without starting) the CometBFT node of a home for an
// ABCI application; Open uses it with the ledger's app, benchmarks with
// others. The app is called through one mutex.
func NewComet(home string, cfg Config, app abci.Application, log *slog.Logger, quiet *atomic.Bool) (*cmtnode.Node, error) {
	return newComet(home, cfg, app, log, quiet, nil, cmtcfg.DefaultDBProvider)
}

// newComet is NewComet with CometBFT's metrics registered in reg (none if
// nil; see cometMetrics) and its databases opened by dbs.
func newComet(home string, cfg Config, app abci.Application, log *slog.Logger, quiet *atomic.Bool, reg prometheus.Registerer, dbs cmtcfg.DBProvider) (*cmtnode.Node, error) {
	cc := cometConfig(home, cfg)
	nodeKey, err := p2p.LoadNodeKey(cc.NodeKeyFile())
	if err != nil {
		return nil, ptoy.E("node.NewComet", ptoy.Other, err)
	}
	pv := privval.LoadFilePV(cc.PrivValidatorKeyFile(), cc.PrivValidatorStateFile())
	creator := proxy.NewLocalClientCreator(app)
	if _, ok := app.(interface{ ConnSafe() }); ok {
		creator = proxy.NewConnSyncLocalClientCreator(app)
	}
	cn, err := cmtnode.NewNode(cc, pv, nodeKey, creator,
		cmtnode.DefaultGenesisDocProviderFunc(cc), dbs,
		cometMetrics(reg), cometLogger{log.With("module", "cometbft"), quiet})
	if err != nil {
		return nil, ptoy.E("node.NewComet", ptoy.Other, "starting consensus", err)
	}
	return cn, nil
}

// Start starts consensus and the HTTP server.
func (n *Node) Start() error {
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		why := err.Error()
		if errors.Is(err, syscall.EADDRINUSE) {
			why = "the address is already in use (another program, or another node, listens there)"
		}
		return ptoy.E("node.Start", ptoy.Unavailable, fmt.Sprintf("cannot listen on %s: %s", n.cfg.HTTPAddr, why), err)
	}
	if err := n.comet.Start(); err != nil {
		ln.Close()
		return ptoy.E("node.Start", ptoy.Other, fmt.Sprintf("starting consensus: %v", err), err)
	}
	n.httpAddr = ln.Addr().String()
	n.conns = newLimitListener(ln, n.cfg.HTTP.MaxConnsPerIP, n.cfg.HTTP.MaxConns, n.log)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.bg = cancel, ctx
	repair, _ := parseDuration(n.cfg.RepairInterval)
	anchor, _ := parseDuration(n.cfg.AnchorInterval)
	wake := n.ledgerWake()
	n.done.Add(3)
	go func() { defer n.done.Done(); n.auditLedger(ctx, wake, time.Second) }()
	go func() { defer n.done.Done(); n.gw.Run(ctx, repair) }()
	go func() { defer n.done.Done(); n.anchorLoop(ctx, anchor) }()
	n.done.Add(2)
	go func() { defer n.done.Done(); n.escrowLoop(ctx) }()
	go func() { defer n.done.Done(); n.fhir.Run(ctx) }()
	go func() {
		serve := func() error { return n.srv.Serve(n.conns) }
		if n.srv.TLSConfig != nil {
			serve = func() error { return n.srv.ServeTLS(n.conns, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	n.log.Info("node started", "http", n.httpAddr, "chain", n.comet.GenesisDoc().ChainID)
	return nil
}

// WaitHeight waits until the ledger has committed height h.
func (n *Node) WaitHeight(ctx context.Context, h int64) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if cur, _ := n.ledger.Height(); cur >= h {
			return nil
		}
		select {
		case <-ctx.Done():
			return ptoy.E("node.WaitHeight", ptoy.Unavailable, fmt.Sprintf("height %d not reached", h), ctx.Err())
		case <-t.C:
		}
	}
}

// Close stops the node; it is safe to call more than once.
func (n *Node) Close() error {
	n.closeOne.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n.srv.Shutdown(ctx)
		cancel()
		if n.cancel != nil {
			n.cancel()
			n.done.Wait()
		}
		n.tasks.close()
		n.stopping.Store(true)
		StopComet(n.comet)
		n.closeStores()
	})
	return nil
}

func (n *Node) closeStores() {
	if n.dir != nil {
		n.dir.Close()
	}
	if n.blobs != nil {
		n.blobs.Close()
	}
	if n.audit != nil {
		n.audit.Close()
	}
	if n.kv != nil {
		n.kv.Close()
	}
	if n.fhirDB != nil {
		n.fhirDB.Close()
	}
	n.lock.Release()
}

// URL is the base URL of the node's HTTP server.
func (n *Node) URL() string { return n.cfg.Scheme() + "://" + n.httpAddr }

// Transport returns a new HTTP transport that reaches the network's nodes
// as this node does: over TLS to an https node, checking its certificate
// against its organisation's key on this node's ledger.
func (n *Node) Transport() *http.Transport { return n.peerTLS.transport() }

// orgSigningKey is the signing key the ledger lists for organisation id.
func (n *Node) orgSigningKey(id ptoy.ID) (ed25519.PublicKey, error) {
	if _, err := n.ledger.Org(id); err != nil {
		return nil, err
	}
	a, err := n.ledger.Account(id)
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(a.SigningKey), nil
}

// Home is the node's home directory.
func (n *Node) Home() string { return n.home }

// Config returns the node's settings.
func (n *Node) Config() Config { return n.cfg }

// Ledger is the node's committed ledger state.
func (n *Node) Ledger() *ledger.Ledger { return n.ledger }

// State is the committed state as the API reads it.
func (n *Node) State() api.Ledger { return n.ledger }

// Org is the organisation that runs the node.
func (n *Node) Org() ptoy.ID { return n.orgKey.ID() }

// ChainID is the network's chain id.
func (n *Node) ChainID() string { return n.comet.GenesisDoc().ChainID }

// Submit broadcasts a signed transaction and, with wait, waits until it
// is committed. A transaction the ledger rejects is not an error: its code
// and log are in the response. A PutRecords whose blobs were not uploaded
// to this node, or differ from their declared sizes, is refused before it
// is broadcast (checkBlobs).
func (n *Node) Submit(ctx context.Context, raw []byte, wait bool) (*pb.SubmitResponse, error) {
	resp, pending, err := n.send(ctx, raw, wait)
	if err != nil || pending == nil {
		return resp, err
	}
	return pending.wait(ctx)
}

// pending is a transaction CheckTx took, waiting to be committed.
type pending struct {
	n    *Node
	hash [32]byte
	ch   <-chan abciapp.Result
	resp *pb.SubmitResponse
}

// wait waits until the transaction is committed and returns its result.
func (p *pending) wait(ctx context.Context) (*pb.SubmitResponse, error) {
	defer p.n.app.Cancel(p.hash, p.ch)
	select {
	case r := <-p.ch:
		p.resp.Code, p.resp.Log, p.resp.Height = r.Code, r.Log, r.Height
		return p.resp, nil
	case <-ctx.Done():
		return nil, ptoy.E("node.Submit", ptoy.Unavailable, "the transaction was accepted but not committed in time; check it later by its hash "+p.resp.Hash, ctx.Err())
	}
}

// send checks raw and broadcasts it. With wait, a transaction CheckTx
// took comes back as pending, its commit to be waited for (the waiter is
// registered before the broadcast, so the commit cannot be missed);
// otherwise, or when CheckTx refused it, the response says how it went.
func (n *Node) send(ctx context.Context, raw []byte, wait bool) (*pb.SubmitResponse, *pending, error) {
	t, err := tx.Decode(raw)
	if err != nil {
		return &pb.SubmitResponse{Code: tx.Code(err), Log: ptoy.Message(err)}, nil, nil
	}
	resp := &pb.SubmitResponse{Hash: t.HashHex()}
	if err := n.checkBlobs(ctx, t); err != nil {
		if ptoy.KindOf(err) != ptoy.Invalid {
			return nil, nil, err
		}
		resp.Code, resp.Log = tx.Code(err), ptoy.Message(err)
		return resp, nil, nil
	}
	var p *pending
	if wait {
		p = &pending{n: n, hash: t.Hash, ch: n.app.Wait(t.Hash), resp: resp}
	}
	res, err := n.rpc.BroadcastTxSync(ctx, raw)
	if err != nil {
		if p != nil {
			n.app.Cancel(p.hash, p.ch)
		}
		if strings.Contains(err.Error(), "already exists in cache") {
			resp.Code, resp.Log = tx.Code(ptoy.E("", ptoy.Exists)), "this transaction was already submitted"
			return resp, nil, nil
		}
		return nil, nil, ptoy.E("node.Submit", ptoy.Unavailable, "the node could not take the transaction", err)
	}
	if res.Code != 0 || !wait {
		if p != nil {
			n.app.Cancel(p.hash, p.ch)
		}
		resp.Code, resp.Log = res.Code, res.Log
		return resp, nil, nil
	}
	return resp, p, nil
}

// submitAsNode signs body with the node's own key (its account acts for
// the organisation in audit anchors and escrow share releases, and in
// nothing else) at that account's next sequence, submits it and waits
// (30 seconds at most) until it is committed. The node signs with no
// other key, and people never hold the node key, so no one else takes
// the account's sequence numbers; the loops that sign (anchors, escrow
// releases) take turns here. A transaction the ledger rejects is not an
// error: its code and log are in the response.
func (n *Node) submitAsNode(ctx context.Context, body *pb.Body) (*pb.SubmitResponse, error) {
	n.signMu.Lock()
	defer n.signMu.Unlock()
	acct, err := n.ledger.Account(n.nodeKey.ID())
	if err != nil {
		return nil, err
	}
	body.Sequence = acct.Sequence + 1
	raw, err := tx.Sign(n.ChainID(), body, n.nodeKey)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return n.Submit(ctx, raw, true)
}

// Status describes the node.
func (n *Node) Status(ctx context.Context) (*pb.StatusResponse, error) {
	h, hash := n.ledger.Height()
	st := &pb.StatusResponse{
		ChainId:       n.ChainID(),
		Moniker:       n.cfg.Moniker,
		Height:        h,
		AppHash:       hash,
		Org:           n.Org().Bytes(),
		CometbftRpc:   n.cfg.RPCAddr,
		NodeId:        string(n.comet.NodeInfo().ID()),
		BlockTimeUnix: n.ledger.BlockTime().Unix(),
	}
	if v, err := n.rpc.Validators(ctx, nil, nil, nil); err == nil {
		st.Validators = int64(v.Total)
	}
	return st, nil
}

// Audit is the node's audit log.
func (n *Node) Audit() *auditlog.Log { return n.audit }

// Moniker is the node's name.
func (n *Node) Moniker() string { return n.cfg.Moniker }

// Comet is the embedded CometBFT node, for tools (benchmarks, tests) that
// look at blocks.
func (n *Node) Comet() *cmtnode.Node { return n.comet }

// CommittedTxs counts the transactions in blocks (from, to].
func CommittedTxs(cn *cmtnode.Node, from, to int64) int {
	total := 0
	for h := from + 1; h <= to; h++ {
		if m := cn.BlockStore().LoadBlockMeta(h); m != nil {
			total += m.NumTxs
		}
	}
	return total
}

// noSender refuses to send codes: a node without an SMS gateway does not
// register patients.
type noSender struct{}

func (noSender) SendCode(context.Context, string, string) error {
	return ptoy.E("node.register", ptoy.Unavailable, "this node registers no patients: it has no SMS sender (dev mode uses an outbox)")
}

// Blobs is the node's ciphertext store.
func (n *Node) Blobs() blob.Store { return n.blobs }

// Door is the node's one door for reads of patient data; Auth its
// authenticator. Every edge mounted on the node uses both.
func (n *Node) Door() *door.Door { return n.door }

// Auth is the node's authenticator.
func (n *Node) Auth() *auth.Authenticator { return n.auth }

// App is the node's ABCI application.
func (n *Node) App() *abciapp.App { return n.app }

// FHIR is the node's FHIR API; SMART its authorization server.
func (n *Node) FHIR() *fhir.Server { return n.fhir }

// SMART is the node's SMART on FHIR authorization server.
func (n *Node) SMART() *smart.Server { return n.smart }

// Gateway is the node's gateway.
func (n *Node) Gateway() *gateway.Gateway { return n.gw }
