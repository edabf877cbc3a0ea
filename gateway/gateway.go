// Package gateway is a node's door to the ciphertext it stores: it serves
// a record only when the ledger allows it, writes the audit event durably
// before it answers, takes uploads of ciphertext, and keeps each blob on
// its placement nodes by pulling from peers and repairing what it lost.
//
// Routes (all under /v1; requests are signed, see package auth, or carry
// a session token from POST /v1/session):
//
//	POST /v1/session                           a session token for the signer (15 minutes)
//	PUT  /v1/blobs/{hash}                      upload ciphertext (content must hash to {hash})
//	GET  /v1/blobs/{hash}                      a key set, key bundle or escrow blob, to those it concerns
//	GET  /v1/records/{patient}/{id}[?version=] a record version's ciphertext, after Decide and the audit write
//	GET  /v1/records/{patient}/{id}/status     where the record's ciphertext is held
//	GET  /v1/keys/{patient}/{category}/{epoch} an employee's category key, released by its organisation's node
//	GET  /v1/replica/{hash}                    node to node: a blob this node holds
//
// A read that is refused looks the same whether or not the record exists:
// 404 "no such record, or you may not read it".
package gateway

import (
	"crypto/hpke"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"ptoy"
	"ptoy/audit"
	"ptoy/auth"
	"ptoy/blob"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"

	"google.golang.org/protobuf/proto"
)

// Config wires a gateway to its node.
type Config struct {
	Node    string // the node's moniker, for audit events
	ChainID string
	Org     ptoy.ID // the organisation that runs the node
	Signer  auth.Signer
	OrgKEM  hpke.PrivateKey // the organisation's encryption key: opens its key bundles
	Ledger  *ledger.Ledger
	// Consent is what Decide reads: the ledger's in-memory consent index
	// (ledger.NewConsentIndex); the committed state itself if nil.
	Consent consent.State
	Blobs   blob.Store
	Audit   *audit.Log
	// Peers maps each storage node's organisation id to the base URL of
	// its HTTP server (this node included or not).
	Peers     map[ptoy.ID]string
	MaxUpload int64 // bytes; default 64 MiB
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
	mu     sync.Mutex
	want   map[blob.Hash]bool // blobs this node should pull
	keys   map[blob.Hash]bool // key material referenced on the ledger
	erased []blob.Hash        // ciphertext to delete

	sessions  sessions
	recovered recoveredCache // emergency keys recovered for open break-glass windows
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
	g := &Gateway{cfg: cfg, wake: make(chan struct{}, 1), want: map[blob.Hash]bool{}, keys: map[blob.Hash]bool{}}
	cfg.Ledger.Subscribe(g.committed)
	return g
}

// Handler returns the gateway's routes.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/session", g.newSession)
	mux.HandleFunc("PUT /v1/blobs/{hash}", g.putBlob)
	mux.HandleFunc("GET /v1/blobs/{hash}", g.getBlob)
	mux.HandleFunc("GET /v1/records/{patient}/{id}", g.getRecord)
	mux.HandleFunc("GET /v1/records/{patient}/{id}/status", g.recordStatus)
	mux.HandleFunc("GET /v1/keys/{patient}/{category}/{epoch}", g.releaseKey)
	mux.HandleFunc("GET /v1/replica/{hash}", g.getReplica)
	mux.HandleFunc("HEAD /v1/replica/{hash}", g.getReplica)
	return mux
}

// decide runs consent.Decide on the latest committed state, at the last
// committed block's time.
func (g *Gateway) decide(r consent.Request) consent.Decision {
	if g.cfg.Consent == nil {
		return g.cfg.Ledger.Decide(r)
	}
	r.Time = g.cfg.Ledger.BlockTime()
	return consent.Decide(g.cfg.Consent, r)
}

// status maps error kinds to HTTP: the one place this edge does it.
func status(err error) int {
	switch ptoy.KindOf(err) {
	case ptoy.Invalid:
		return http.StatusBadRequest
	case ptoy.Unauthenticated:
		return http.StatusUnauthorized
	case ptoy.PermissionDenied:
		return http.StatusForbidden
	case ptoy.NotFound:
		return http.StatusNotFound
	case ptoy.Exists:
		return http.StatusConflict
	case ptoy.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (g *Gateway) fail(w http.ResponseWriter, err error) {
	code := status(err)
	msg := ptoy.Message(err)
	if code == http.StatusInternalServerError {
		g.cfg.Log.Error("gateway", "err", err)
		msg = "internal error"
	}
	http.Error(w, msg, code)
}

// caller authenticates r and returns the signer's account.
func (g *Gateway) caller(r *http.Request) (*pb.Account, error) {
	if a, ok, err := g.sessionCaller(r.Header.Get("Authorization")); ok {
		return a, err
	}
	key, err := auth.Verify(r, g.cfg.ChainID, g.cfg.Now())
	if err != nil {
		return nil, err
	}
	a, err := g.cfg.Ledger.AccountByKey(key)
	if err != nil {
		if ptoy.KindOf(err) == ptoy.NotFound {
			return nil, ptoy.E("gateway", ptoy.Unauthenticated, "the request's key belongs to no account")
		}
		return nil, err
	}
	return a, nil
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

// serve streams a blob from this node, or from a peer that holds it.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, h blob.Hash) error {
	rc, info, err := g.cfg.Blobs.Get(r.Context(), h)
	if ptoy.KindOf(err) == ptoy.NotFound {
		rc, info.Size, err = g.fetch(r.Context(), h)
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
	if _, err := io.Copy(w, rc); err != nil {
		// The header is out: the client sees a short body and its hash
		// check fails. Nothing more can be said to it.
		g.cfg.Log.Warn("gateway: serving a blob failed", "blob", h.String()[:12], "err", err)
	}
	return nil
}

func (g *Gateway) putBlob(w http.ResponseWriter, r *http.Request) {
	if _, err := g.caller(r); err != nil {
		g.fail(w, err)
		return
	}
	h, err := pathHash(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	if r.ContentLength > g.cfg.MaxUpload {
		g.fail(w, ptoy.E("gateway", ptoy.Invalid, fmt.Sprintf("upload is larger than the %d-byte limit", g.cfg.MaxUpload)))
		return
	}
	info, err := g.cfg.Blobs.Put(r.Context(), http.MaxBytesReader(w, r.Body, g.cfg.MaxUpload), g.cfg.MaxUpload, &h)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = ptoy.E("gateway", ptoy.Invalid, fmt.Sprintf("upload is larger than the %d-byte limit", g.cfg.MaxUpload))
		}
		g.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "%s %d\n", info.Hash, info.Size)
}

// getReplica serves a blob to another storage node (an organisation's key).
func (g *Gateway) getReplica(w http.ResponseWriter, r *http.Request) {
	a, err := g.caller(r)
	if err == nil && a.Kind != pb.AccountKind_ACCOUNT_KIND_ORG {
		err = ptoy.E("gateway", ptoy.PermissionDenied, "replicas are served to member nodes only")
	}
	if err != nil {
		g.fail(w, err)
		return
	}
	h, err := pathHash(r)
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

func protoUnmarshal(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }
