// Package client is the Go client of a ptoy node's API, used by the CLI
// and by anything else (a web handler, a test) that talks to a node.
// It signs transactions with the caller's keys; keys never leave it.
//
// Queries about a person (consent, records, payments) are answered only
// to that person, their delegates or the organisation concerned, so they
// are signed: c.As(key) is a client that signs every query as key
// (package auth's request signature, made once in a RoundTripper). The
// network's public queries (status, accounts' public keys, organisations,
// parameters) and transactions, which carry their own signatures, go
// unsigned.
package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"

	"ptoy"
	"ptoy/auth"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/gen/ptoy/v1/ptoyv1connect"
	"ptoy/keys"
	"ptoy/tx"
	"ptoy/wire"
)

// Client talks to one node, as one signer (As) or as no one.
type Client struct {
	rpc  ptoyv1connect.NodeServiceClient // public queries and transactions: unsigned
	base string
	hc   *http.Client // the caller's HTTP client; gateway requests sign themselves

	// qc sends the personal queries: hc, or hc signing as signer.
	qc      *http.Client
	signer  auth.Signer
	org     ptoy.ID
	purpose pb.Purpose
	recs    ptoyv1connect.RecordServiceClient
	cons    ptoyv1connect.ConsentServiceClient
	tok     ptoyv1connect.TokenServiceClient

	chain *chainID // shared by a client and its copies
}

type chainID struct {
	mu sync.Mutex
	id string
}

// New returns a client of the node at baseURL (http://host:port). hc may
// be nil for http.DefaultClient. Its queries are unsigned: use As for
// those about a person.
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{
		rpc:   ptoyv1connect.NewNodeServiceClient(hc, baseURL),
		base:  baseURL,
		hc:    hc,
		chain: &chainID{},
	}
	c.setQueries(hc)
	return c
}

func (c *Client) setQueries(qc *http.Client) {
	c.qc = qc
	c.recs = ptoyv1connect.NewRecordServiceClient(qc, c.base)
	c.cons = ptoyv1connect.NewConsentServiceClient(qc, c.base)
	c.tok = ptoyv1connect.NewTokenServiceClient(qc, c.base)
}

// As returns a copy of c that signs every query as s (nil: unsigned).
// The node answers a query about a person only to that person, their
// delegates or the organisation concerned.
func (c *Client) As(s auth.Signer) *Client {
	d := *c
	d.signer = s
	d.sign()
	return &d
}

// For returns a copy of c whose signed queries say that the signer acts
// for org (zero: for itself) with purpose of use purpose (unspecified:
// treatment), as a read through the gateway does. The node judges
// record metadata by them.
func (c *Client) For(org ptoy.ID, purpose pb.Purpose) *Client {
	d := *c
	d.org, d.purpose = org, purpose
	d.sign()
	return &d
}

// Signer returns the signer of c's queries, or nil.
func (c *Client) Signer() auth.Signer { return c.signer }

// sign sets c's query client to sign as c.signer.
func (c *Client) sign() {
	if c.signer == nil {
		c.setQueries(c.hc)
		return
	}
	hc := *c.hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &signing{base: base, c: c}
	c.setQueries(&hc)
}

// signing is an http.RoundTripper that signs each request as its client's
// signer: it reads the body, signs method, host, path, time, a nonce,
// the organisation and purpose headers and the body's hash (auth.Sign),
// and sends the request with its body restored.
type signing struct {
	base http.RoundTripper
	c    *Client
}

func (t *signing) RoundTrip(r *http.Request) (*http.Response, error) {
	chainID, err := t.c.ChainID(r.Context())
	if err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		body, err = io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	// A RoundTripper must not change the request it is given.
	s := r.Clone(r.Context())
	s.Body, s.GetBody = http.NoBody, nil
	if body != nil {
		s.Body = io.NopCloser(bytes.NewReader(body))
		s.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		s.ContentLength = int64(len(body))
	}
	if !t.c.org.IsZero() {
		s.Header.Set(auth.HeaderOrg, t.c.org.String())
	}
	if t.c.purpose != pb.Purpose_PURPOSE_UNSPECIFIED {
		s.Header.Set(auth.HeaderPurpose, consent.PurposeName(t.c.purpose))
	}
	if err := auth.Sign(s, chainID, t.c.signer, time.Now()); err != nil {
		return nil, err
	}
	return t.base.RoundTrip(s)
}

// fromConnect turns a Connect error into a ptoy error with the same kind.
func fromConnect(op string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var ce *connect.Error
	if ok := asConnect(err, &ce); ok {
		msg = ce.Message()
	}
	return ptoy.E(op, wire.KindOf(err), msg)
}

func asConnect(err error, target **connect.Error) bool { return errors.As(err, target) }

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*pb.StatusResponse, error) {
	r, err := c.rpc.Status(ctx, connect.NewRequest(&pb.StatusRequest{}))
	if err != nil {
		return nil, fromConnect("client.Status", err)
	}
	c.chain.mu.Lock()
	c.chain.id = r.Msg.ChainId
	c.chain.mu.Unlock()
	return r.Msg, nil
}

// ChainID returns the network's chain id (asked once, then remembered).
func (c *Client) ChainID(ctx context.Context) (string, error) {
	c.chain.mu.Lock()
	id := c.chain.id
	c.chain.mu.Unlock()
	if id != "" {
		return id, nil
	}
	st, err := c.Status(ctx)
	if err != nil {
		return "", err
	}
	return st.ChainId, nil
}

// Account returns an account with its employments (practitioners) or
// organisation record (organisations).
func (c *Client) Account(ctx context.Context, id ptoy.ID) (*pb.GetAccountResponse, error) {
	r, err := c.rpc.GetAccount(ctx, connect.NewRequest(&pb.GetAccountRequest{Id: id.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.Account", err)
	}
	return r.Msg, nil
}

// AccountByKey returns the account whose current signing key is pub.
func (c *Client) AccountByKey(ctx context.Context, pub []byte) (*pb.GetAccountResponse, error) {
	r, err := c.rpc.GetAccount(ctx, connect.NewRequest(&pb.GetAccountRequest{SigningKey: pub}))
	if err != nil {
		return nil, fromConnect("client.AccountByKey", err)
	}
	return r.Msg, nil
}

// Orgs lists the member organisations.
func (c *Client) Orgs(ctx context.Context) ([]*pb.Org, error) {
	r, err := c.rpc.ListOrgs(ctx, connect.NewRequest(&pb.ListOrgsRequest{}))
	if err != nil {
		return nil, fromConnect("client.Orgs", err)
	}
	return r.Msg.Orgs, nil
}

// Employees lists an organisation's employees.
func (c *Client) Employees(ctx context.Context, org ptoy.ID) ([]*pb.Employee, error) {
	r, err := c.rpc.ListEmployees(ctx, connect.NewRequest(&pb.ListEmployeesRequest{Org: org.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.Employees", err)
	}
	return r.Msg.Employees, nil
}

// Proposals lists the admission proposals.
func (c *Client) Proposals(ctx context.Context) ([]*pb.Proposal, error) {
	r, err := c.rpc.ListProposals(ctx, connect.NewRequest(&pb.ListProposalsRequest{}))
	if err != nil {
		return nil, fromConnect("client.Proposals", err)
	}
	return r.Msg.Proposals, nil
}

// nextSequence returns the sequence number of signer's next transaction.
func (c *Client) nextSequence(ctx context.Context, signer tx.Signer) (uint64, error) {
	a, err := c.AccountByKey(ctx, signer.SigningPublic())
	if ptoy.KindOf(err) == ptoy.NotFound {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	return a.Account.Sequence + 1, nil
}

// Sign fills in body's sequence and signs it for the node's chain.
func (c *Client) Sign(ctx context.Context, body *pb.Body, signer tx.Signer, cosigners ...tx.Signer) ([]byte, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	if body.Sequence == 0 {
		if body.Sequence, err = c.nextSequence(ctx, signer); err != nil {
			return nil, err
		}
	}
	return tx.Sign(chainID, body, signer, cosigners...)
}

// SubmitRaw submits a signed transaction. With wait it returns once the
// transaction is committed; a rejected transaction returns its error.
func (c *Client) SubmitRaw(ctx context.Context, raw []byte, wait bool) (*pb.SubmitResponse, error) {
	r, err := c.rpc.Submit(ctx, connect.NewRequest(&pb.SubmitRequest{Tx: raw, Async: !wait}))
	if err != nil {
		return nil, fromConnect("client.Submit", err)
	}
	return r.Msg, tx.Err("ledger", r.Msg.Code, r.Msg.Log)
}

// Send signs body (its sequence taken from the ledger), submits it and
// waits until it is committed.
func (c *Client) Send(ctx context.Context, body *pb.Body, signer tx.Signer, cosigners ...tx.Signer) (*pb.SubmitResponse, error) {
	raw, err := c.Sign(ctx, body, signer, cosigners...)
	if err != nil {
		return nil, err
	}
	return c.SubmitRaw(ctx, raw, true)
}

// KEM returns the public encryption key of a key pair as the ledger holds it.
func KEM(k *keys.KeyPair) *pb.KemKey {
	return &pb.KemKey{Alg: uint32(k.KEMAlg()), Key: k.KEMPublic()}
}

// StartRegistration asks the node to send a one-time code to phone.
func (c *Client) StartRegistration(ctx context.Context, name, phone string) (*pb.StartRegistrationResponse, error) {
	r, err := c.rpc.StartRegistration(ctx, connect.NewRequest(&pb.StartRegistrationRequest{FullName: name, Phone: phone}))
	if err != nil {
		return nil, fromConnect("client.StartRegistration", err)
	}
	return r.Msg, nil
}

// CompleteRegistration signs the patient's registration with k and sends
// it with the code; the node co-signs it as registrar and commits it.
func (c *Client) CompleteRegistration(ctx context.Context, start *pb.StartRegistrationResponse, code string, k *keys.KeyPair) (ptoy.ID, error) {
	raw, err := c.Sign(ctx, &pb.Body{Sequence: 1, Msg: &pb.Body_RegisterPatient{RegisterPatient: &pb.RegisterPatient{
		Kem: KEM(k), Registrar: start.Registrar, PhoneTag: start.PhoneTag,
	}}}, k)
	if err != nil {
		return ptoy.ID{}, err
	}
	r, err := c.rpc.CompleteRegistration(ctx, connect.NewRequest(&pb.CompleteRegistrationRequest{
		RegistrationId: start.RegistrationId, Code: code, Tx: raw,
	}))
	if err != nil {
		return ptoy.ID{}, fromConnect("client.CompleteRegistration", err)
	}
	if err := tx.Err("ledger", r.Msg.Code, r.Msg.Log); err != nil {
		return ptoy.ID{}, err
	}
	return k.ID(), nil
}
