package client

// The PTOY token: queries of the node's TokenService, and the signed
// transactions that move PTOY (transfers, storage plans, the development
// faucet), which go through Send like every other transaction.

import (
	"context"

	"connectrpc.com/connect"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/gen/ptoy/v1/ptoyv1connect"
	"ptoy/tx"
)

// token returns a client of the node's token service.
func (c *Client) token() ptoyv1connect.TokenServiceClient {
	return ptoyv1connect.NewTokenServiceClient(c.hc, c.base)
}

// Balance returns an account's balance in micro-PTOY with its formatted
// form. An id without an account, balance or history is ptoy.NotFound.
func (c *Client) Balance(ctx context.Context, id ptoy.ID) (*pb.BalanceResponse, error) {
	r, err := c.token().Balance(ctx, connect.NewRequest(&pb.BalanceRequest{Account: id.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.Balance", err)
	}
	return r.Msg, nil
}

// History returns an account's history, newest first: at most limit
// entries (0: the node's default, 100; at most 1000).
func (c *Client) History(ctx context.Context, id ptoy.ID, limit int) ([]*pb.HistoryEntry, error) {
	if limit < 0 {
		return nil, ptoy.E("client.History", ptoy.Invalid, "a history limit cannot be negative")
	}
	r, err := c.token().History(ctx, connect.NewRequest(&pb.HistoryRequest{Account: id.Bytes(), Limit: uint32(min(limit, 1<<31))}))
	if err != nil {
		return nil, fromConnect("client.History", err)
	}
	return r.Msg.Entries, nil
}

// Supply returns the total supply and the treasury's balance.
func (c *Client) Supply(ctx context.Context) (*pb.SupplyResponse, error) {
	r, err := c.token().Supply(ctx, connect.NewRequest(&pb.SupplyRequest{}))
	if err != nil {
		return nil, fromConnect("client.Supply", err)
	}
	return r.Msg, nil
}

// Params returns the network parameters (storage plans, free bytes, the
// faucet) and the treasury's balance.
func (c *Client) Params(ctx context.Context) (*pb.ParamsResponse, error) {
	r, err := c.token().Params(ctx, connect.NewRequest(&pb.ParamsRequest{}))
	if err != nil {
		return nil, fromConnect("client.Params", err)
	}
	return r.Msg, nil
}

// Usage returns the bytes an account is charged for, its quota and its
// active storage plans.
func (c *Client) Usage(ctx context.Context, id ptoy.ID) (*pb.UsageResponse, error) {
	r, err := c.token().Usage(ctx, connect.NewRequest(&pb.UsageRequest{Account: id.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.Usage", err)
	}
	return r.Msg, nil
}

// Transfer sends amount micro-PTOY from the signer's account to another
// account (or to the treasury, as a donation) and waits for the commit.
func (c *Client) Transfer(ctx context.Context, signer tx.Signer, to ptoy.ID, amount uint64, memo string) (*pb.SubmitResponse, error) {
	return c.Send(ctx, &pb.Body{Msg: &pb.Body_Transfer{Transfer: &pb.Transfer{To: to.Bytes(), Amount: amount, Memo: memo}}}, signer)
}

// BuyPlan buys storage plan number plan for beneficiary (the signer when
// beneficiary is the zero id), paid by the signer to the treasury, and
// waits for the commit.
func (c *Client) BuyPlan(ctx context.Context, signer tx.Signer, plan uint32, beneficiary ptoy.ID) (*pb.SubmitResponse, error) {
	m := &pb.BuyPlan{Plan: plan}
	if !beneficiary.IsZero() {
		m.Beneficiary = beneficiary.Bytes()
	}
	return c.Send(ctx, &pb.Body{Msg: &pb.Body_BuyPlan{BuyPlan: m}}, signer)
}

// Faucet mints amount micro-PTOY to the signer's account and waits for
// the commit. Only development networks (dev_faucet) have a faucet.
func (c *Client) Faucet(ctx context.Context, signer tx.Signer, amount uint64) (*pb.SubmitResponse, error) {
	return c.Send(ctx, &pb.Body{Msg: &pb.Body_Faucet{Faucet: &pb.Faucet{Amount: amount}}}, signer)
}
