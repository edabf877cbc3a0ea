// Package client is the Go client of a ptoy node's API, used by the CLI
// and by anything else (a web handler, a test) that talks to a node.
// It signs transactions with the caller's keys; keys never leave it.
package client

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"connectrpc.com/connect"

	"ptoy"
	"ptoy/api"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/gen/ptoy/v1/ptoyv1connect"
	"ptoy/keys"
	"ptoy/tx"
)

// Client talks to one node.
type Client struct {
	rpc  ptoyv1connect.NodeServiceClient
	recs ptoyv1connect.RecordServiceClient
	base string
	hc   *http.Client

	mu      sync.Mutex
	chainID string
}

// New returns a client of the node at baseURL (http://host:port). hc may
// be nil for http.DefaultClient.
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{
		rpc:  ptoyv1connect.NewNodeServiceClient(hc, baseURL),
		recs: ptoyv1connect.NewRecordServiceClient(hc, baseURL),
		base: baseURL,
		hc:   hc,
	}
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
	return ptoy.E(op, api.KindOf(err), msg)
}

func asConnect(err error, target **connect.Error) bool { return errors.As(err, target) }

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*pb.StatusResponse, error) {
	r, err := c.rpc.Status(ctx, connect.NewRequest(&pb.StatusRequest{}))
	if err != nil {
		return nil, fromConnect("client.Status", err)
	}
	c.mu.Lock()
	c.chainID = r.Msg.ChainId
	c.mu.Unlock()
	return r.Msg, nil
}

// ChainID returns the network's chain id (asked once, then remembered).
func (c *Client) ChainID(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.chainID
	c.mu.Unlock()
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
