// Package gateway is a node's door to the ciphertext it stores: it serves
// a record only when the ledger allows it, writes the audit event durably
// before it answers, takes uploads of ciphertext, and keeps each blob on
// its placement nodes by pulling from peers and repairing what it lost.
//
// Routes (all under /v1; requests are signed, see package auth, or carry
// a session token from POST /v1/session):
//
//	POST   /v1/session                           a session token for the signer (see auth.Sessions)
//	DELETE /v1/session                           log out: end the session the request carries
//	PUT    /v1/blobs/{hash}[?patient=]           upload ciphertext (content must hash to {hash}); naming
//	                                             the record's patient places it by their residency rule
//	GET    /v1/blobs/{hash}                      key material, to its holder and patient only
//	GET    /v1/records/{patient}/{id}[?version=] a record version's ciphertext
//	GET    /v1/records/{patient}/{id}/status     where the record's ciphertext is held
//	GET    /v1/keys/{patient}/{category}/{epoch} an employee's category key, released by its organisation's node
//	GET    /v1/replica/{hash}?patient=…          node to node: a blob this node holds
//	POST   /v1/replicas                          node to node: many blobs in one answer (see MaxReplicaBatch)
//
// Every route that answers with a person's data goes through the node's
// door (package door): authenticate, decide on committed state, write the
// audit event durably, then answer. A read that is refused looks the same
// whether or not the record exists: 404 "no such record, or you may not
// read it".
package gateway

import (
	"context"
	"crypto/hpke"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"ptoy"
	"ptoy/audit/auditlog"
	"ptoy/auth"
	"ptoy/blob"
	"ptoy/consent"
	"ptoy/door"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
	"ptoy/residency"

	"google.golang.org/protobuf/proto"
)

// Ledger is what the gateway reads of the committed state. Errors carry
// ptoy kinds; what does not exist is ptoy.NotFound.
type Ledger interface {
	auth.Accounts
	// Subscribe calls fn after each commit with the block's writes.
	Subscribe(fn func(ledger.Committed))
	BlockTime() time.Time
	Params() (*pb.Params, error)
	ConsentState() consent.State
	Record(patient ptoy.ID, id []byte, version uint32) (*pb.RecordState, error)
	Grant(patient, grantee ptoy.ID) (*pb.GrantState, error)
	BreakGlassOf(patient ptoy.ID) ([]*pb.BreakGlassEvent, error)
	KeySet(patient ptoy.ID) (*pb.KeySetState, error)
	// AllRecords and AllKeyMaterial scan what the ledger references
	// (replication, repair and collection).
	AllRecords(fn func(patient ptoy.ID, st *pb.RecordState) error) error
	AllKeyMaterial(fn func(ledger.KeyRef)) error
	// Residency is the rule that places a patient's ciphertext.
	Residency(patient ptoy.ID) (residency.Effective, error)
}

// Config wires a gateway to its node.
type Config struct {
	Node    string // the node's moniker, for audit events
	ChainID string
	Org     ptoy.ID // the organisation that runs the node
	Signer  auth.Signer
	OrgKEM  hpke.PrivateKey // the organisation's encryption key: opens its key bundles
	Ledger  Ledger
	// Consent is what Decide reads: the ledger's in-memory consent index
	// (ledger.NewConsentIndex); the committed state itself if nil.
	Consent consent.State
	Blobs   blob.Store
	Audit   *auditlog.Log
	// Auth authenticates callers; Door decides, records and lets reads
	// through. Both are the node's, shared with its other edges; New
	// makes them when nil.
	Auth *auth.Authenticator
	Door *door.Door
	// MaxPending bounds the bytes of uploads one account has made that
	// no committed transaction references yet; default 256 MiB.
	MaxPending int64
	// Peers maps each storage node's organisation id to the base URL of
	// its HTTP server (this node included or not).
	Peers map[ptoy.ID]string
	// Members, if set, replaces Peers: it returns the storage nodes as of
	// the last committed block (organisation id to base URL), which
	// follow the ledger's membership. This node's organisation is among
	// them only if it is a storage node (its URL may be empty).
	Members func() map[ptoy.ID]string
	// Jurisdictions, if set, returns the jurisdiction each member
	// organisation declares on the ledger for its storage node, which
	// residency rules place by; without it no node declares one.
	Jurisdictions func() map[ptoy.ID]string
	MaxUpload     int64 // bytes; default 64 MiB
	// UploadTTL is how long an upload that no committed transaction
	// references is kept before garbage collection; default 1 hour.
	UploadTTL time.Duration
	Now       func() time.Time
	Log       *slog.Logger
	Client    *http.Client
}

// Gateway serves and replicates a node's ciphertext.
type Gateway struct {
	cfg Config

	wake   chan struct{}
	rescan chan struct{} // membership changed: a repair pass now
	mu     sync.Mutex
	want   map[blob.Hash]owner           // blobs this node should pull, and whose they are
	evict  map[blob.Hash]owner           // ciphertext to move away once its holders have it
	keys   map[blob.Hash][]ledger.KeyRef // key material referenced on the ledger
	erased []blob.Hash                   // ciphertext to delete

	stored atomic.Int64 // bytes of ciphertext held at the last repair pass
	short  atomic.Int64 // record versions that residency places on fewer nodes than the replicas
	// the blobs this node pulled from its peers, in batches and one by one
	pulledBatch, pulledSingle atomic.Int64

	scrubMu     sync.Mutex
	scrubSlices int // repair passes per full scrub (set by Run; 1 before)
	scrubPass   int // repair passes so far

	pending   pendingUploads
	forwarded forwardedUploads // uploads handed on to allowed nodes
	recovered recoveredCache   // emergency keys recovered for open break-glass windows
}

// New returns a gateway; call Run to start replication.
func New(cfg Config) *Gateway {
	if cfg.MaxUpload == 0 {
		cfg.MaxUpload = 64 << 20
	}
	if cfg.UploadTTL == 0 {
		cfg.UploadTTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = 256 << 20
	}
	if cfg.Auth == nil {
		cfg.Auth = &auth.Authenticator{ChainID: cfg.ChainID, Now: cfg.Now, Accounts: cfg.Ledger, Nonces: auth.NewNonces(), Sessions: auth.NewSessions()}
	}
	if cfg.Door == nil {
		st := cfg.Consent
		if st == nil {
			st = cfg.Ledger.ConsentState()
		}
		cfg.Door = door.New(door.Config{Node: cfg.Node, Consent: st, BlockTime: cfg.Ledger.BlockTime, Audit: cfg.Audit, Now: cfg.Now})
	}
	g := &Gateway{cfg: cfg, wake: make(chan struct{}, 1), rescan: make(chan struct{}, 1), want: map[blob.Hash]owner{}, evict: map[blob.Hash]owner{}, keys: map[blob.Hash][]ledger.KeyRef{}}
	g.stored.Store(-1)
	cfg.Ledger.Subscribe(g.committed)
	return g
}

// Handler returns the gateway's routes.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/session", g.newSession)
	mux.HandleFunc("DELETE /v1/session", g.endSession)
	mux.HandleFunc("PUT /v1/blobs/{hash}", g.putBlob)
	mux.HandleFunc("GET /v1/blobs/{hash}", g.getBlob)
	mux.HandleFunc("GET /v1/records/{patient}/{id}", g.getRecord)
	mux.HandleFunc("GET /v1/records/{patient}/{id}/status", g.recordStatus)
	mux.HandleFunc("GET /v1/keys/{patient}/{category}/{epoch}", g.releaseKey)
	mux.HandleFunc("GET /v1/replica/{hash}", g.getReplica)
	mux.HandleFunc("HEAD /v1/replica/{hash}", g.getReplica)
	mux.HandleFunc("POST /v1/replicas", g.getReplicas)
	return mux
}

// status maps error kinds to HTTP: the one place this edge does it.
func status(err error) int { return ptoy.HTTPStatus(err) }

func (g *Gateway) fail(w http.ResponseWriter, err error) {
	code := status(err)
	msg := ptoy.Message(err)
	if code == http.StatusInternalServerError {
		g.cfg.Log.Error("gateway", "err", err)
		msg = "internal error"
	}
	http.Error(w, msg, code)
}

// caller authenticates r and returns the caller's account.
func (g *Gateway) caller(r *http.Request) (*pb.Account, error) {
	if a := auth.CallerFrom(r.Context()); a != nil {
		return a, nil
	}
	return g.cfg.Auth.Caller(r)
}

// sign signs a request this node makes to another node.
func (g *Gateway) sign(req *http.Request) error {
	return auth.Sign(req, g.cfg.ChainID, g.cfg.Signer, g.cfg.Now())
}

func pathID(r *http.Request, name string) (ptoy.ID, error) {
	id, err := ptoy.ParseID(r.PathValue(name))
	if err != nil {
		return id, ptoy.E("gateway", ptoy.Invalid, fmt.Sprintf("%s must be an account id", name))
	}
	return id, nil
}

func pathHash(r *http.Request) (blob.Hash, error) {
	return blob.ParseHash(r.PathValue("hash"))
}

// serve streams o's blob h from this node, or from a peer that holds it.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, h blob.Hash, o owner) error {
	rc, info, err := g.cfg.Blobs.Get(r.Context(), h)
	local := err == nil
	if ptoy.KindOf(err) == ptoy.NotFound {
		rc, info.Size, err = g.fetch(r.Context(), h, o)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	if info.Size >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	}
	w.Header().Set("X-Ptoy-Hash", h.String())
	if r.Method == http.MethodHead {
		return nil
	}
	tr := &readErr{r: rc}
	if _, err := io.Copy(w, tr); err != nil {
		// The header is out: the client sees a short body and its hash
		// check fails. Nothing more can be said to it.
		g.cfg.Log.Warn("gateway: serving a blob failed", "blob", h.String()[:12], "err", err)
	}
	if local && tr.err != nil && ptoy.KindOf(tr.err) == ptoy.Other {
		g.refetch(r.Context(), h, o)
	}
	return nil
}

// refetch drops this node's copy of o's blob h, found corrupt as it was
// served, and fetches it again now rather than at the scrub of its slice.
func (g *Gateway) refetch(ctx context.Context, h blob.Hash, o owner) {
	g.cfg.Log.Warn("gateway: corrupt blob, fetching it again", "blob", h.String()[:12])
	g.cfg.Blobs.Delete(context.WithoutCancel(ctx), h)
	g.wantBlob(h, o)
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// readErr remembers the error its reader returned, other than io.EOF.
type readErr struct {
	r   io.Reader
	err error
}

func (t *readErr) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

func (g *Gateway) putBlob(w http.ResponseWriter, r *http.Request) {
	a, err := g.caller(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	h, err := pathHash(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	tooBig := ptoy.E("gateway", ptoy.Invalid, fmt.Sprintf("upload is larger than the %d-byte limit", g.cfg.MaxUpload))
	if r.ContentLength > g.cfg.MaxUpload {
		g.fail(w, tooBig)
		return
	}
	patient, named, err := g.uploadPatient(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	if named {
		place, here, err := g.placeUpload(h, patient)
		if err != nil {
			g.fail(w, err)
			return
		}
		if !here {
			if _, fromNode := g.nodeOrg(a); fromNode {
				// Handed on by a node that sees the rules otherwise (a
				// block apart): never hand it on again.
				g.fail(w, ptoy.E("gateway", ptoy.Unavailable, "the patient's residency rule does not allow this node; try again"))
				return
			}
			g.forwardUpload(w, r, h, patient, place)
			return
		}
		if n := len(place); n < g.replicas() {
			w.Header().Set("X-Ptoy-Placement", placedWords(n, g.replicas()))
		}
	}
	who := ptoy.ID(a.Id)
	if err := g.pending.reserve(who, h, r.ContentLength, g.cfg.MaxPending); err != nil {
		g.fail(w, err)
		return
	}
	info, err := g.cfg.Blobs.Put(r.Context(), http.MaxBytesReader(w, r.Body, g.cfg.MaxUpload), g.cfg.MaxUpload, &h)
	if err != nil {
		g.pending.release(h)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = tooBig
		}
		g.fail(w, err)
		return
	}
	g.pending.settle(who, h, info.Size)
	if g.referencedNow(h) {
		g.pending.release(h)
	}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "%s %d\n", info.Hash, info.Size)
}

// getReplica serves a blob to another member's storage node, which names
// whose blob it is (?patient=, and &record=ID&version=N for a record's
// ciphertext): the access is checked against the ledger and recorded in
// the patient's audit trail like any other read. Accounts that run no
// storage node (an insurer without a node, a patient) are refused.
func (g *Gateway) getReplica(w http.ResponseWriter, r *http.Request) {
	a, err := g.caller(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	h, err := pathHash(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	o, err := parseOwner(r.URL.Query())
	if err != nil {
		g.fail(w, err)
		return
	}
	_, err = g.cfg.Door.Enter(r.Context(), door.Access{
		Reader: ptoy.ID(a.Id), Patient: o.patient, Action: "replica", Object: o.object(h),
		Purpose: pb.Purpose_PURPOSE_OPERATIONS,
		Rule:    func() (bool, string) { return g.mayReplicate(a, h, o) },
	})
	if err != nil {
		g.fail(w, err)
		return
	}
	rc, info, err := g.cfg.Blobs.Get(r.Context(), h)
	if err != nil {
		g.fail(w, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	if r.Method == http.MethodHead {
		return
	}
	io.Copy(w, rc)
}

// mayReplicate is the rule of replica reads: the caller is a member
// organisation that runs a storage node (its own key or its node's), and
// the blob is what the ledger says it is for that patient.
func (g *Gateway) mayReplicate(a *pb.Account, h blob.Hash, o owner) (bool, string) {
	org, ok := g.nodeOrg(a)
	if !ok {
		return false, "replicas are served to member storage nodes only"
	}
	if !g.isStorageNode(org) {
		return false, "organisation " + org.String() + " runs no storage node"
	}
	if !g.owns(h, o) {
		return false, "the ledger does not say that blob is the patient's"
	}
	return true, "replica for member storage node " + org.String()
}

func protoUnmarshal(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }
