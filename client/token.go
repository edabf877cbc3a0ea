package client

// The PTOY token: queries of the node's TokenService, and the signed
// transactions that move PTOY (transfers, storage plans, the development
// faucet), which go through Send like every other transaction.

import (
	"context"

	"connectrpc.com/connect"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/seal"
	"ptoy/tx"
)

// Balance returns an account's balance in micro-PTOY with its formatted
// form. An id without an account, balance or history is ptoy.NotFound.
func (c *Client) Balance(ctx context.Context, id ptoy.ID) (*pb.BalanceResponse, error) {
	r, err := c.tok.Balance(ctx, connect.NewRequest(&pb.BalanceRequest{Account: id.Bytes()}))
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
	r, err := c.tok.History(ctx, connect.NewRequest(&pb.HistoryRequest{Account: id.Bytes(), Limit: uint32(min(limit, 1<<31))}))
	if err != nil {
		return nil, fromConnect("client.History", err)
	}
	return r.Msg.Entries, nil
}

// Supply returns the total supply and the treasury's balance.
func (c *Client) Supply(ctx context.Context) (*pb.SupplyResponse, error) {
	r, err := c.tok.Supply(ctx, connect.NewRequest(&pb.SupplyRequest{}))
	if err != nil {
		return nil, fromConnect("client.Supply", err)
	}
	return r.Msg, nil
}

// Params returns the network parameters (storage plans, free bytes, the
// faucet) and the treasury's balance.
func (c *Client) Params(ctx context.Context) (*pb.ParamsResponse, error) {
	r, err := c.tok.Params(ctx, connect.NewRequest(&pb.ParamsRequest{}))
	if err != nil {
		return nil, fromConnect("client.Params", err)
	}
	return r.Msg, nil
}

// Usage returns the bytes an account is charged for, its quota and its
// active storage plans.
func (c *Client) Usage(ctx context.Context, id ptoy.ID) (*pb.UsageResponse, error) {
	r, err := c.tok.Usage(ctx, connect.NewRequest(&pb.UsageRequest{Account: id.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.Usage", err)
	}
	return r.Msg, nil
}

// Transfer sends amount micro-PTOY from the signer's account to another
// account (or to the treasury, as a donation) and waits for the commit.
// A memo is sealed to the recipient's and the sender's encryption keys
// (to the sender's alone for a donation): the ledger never holds it in
// clear.
func (c *Client) Transfer(ctx context.Context, signer tx.Signer, to ptoy.ID, amount uint64, memo string) (*pb.SubmitResponse, error) {
	m := &pb.Transfer{To: to.Bytes(), Amount: amount}
	if memo != "" {
		var err error
		if m.SealedMemo, err = c.sealMemo(ctx, signer, to, memo); err != nil {
			return nil, err
		}
	}
	return c.Send(ctx, &pb.Body{Msg: &pb.Body_Transfer{Transfer: m}}, signer)
}

// sealMemo seals a transfer's memo to the recipient (if it has an
// encryption key: the treasury has none) and to the sender.
func (c *Client) sealMemo(ctx context.Context, signer tx.Signer, to ptoy.ID, memo string) ([]byte, error) {
	if err := seal.CheckMemoText(memo); err != nil {
		return nil, err
	}
	from, err := c.AccountByKey(ctx, signer.SigningPublic())
	if err != nil {
		return nil, err
	}
	holder := func(a *pb.Account) seal.MemoHolder {
		return seal.MemoHolder{ID: ptoy.ID(a.Id), Alg: uint16(a.GetKem().GetAlg()), KEMPublic: a.GetKem().GetKey()}
	}
	var hs []seal.MemoHolder
	r, err := c.Account(ctx, to)
	switch {
	case err == nil && r.Account.GetKem() != nil:
		hs = append(hs, holder(r.Account))
	case err != nil && ptoy.KindOf(err) != ptoy.NotFound:
		return nil, err
	}
	hs = append(hs, holder(from.Account))
	return seal.SealMemo(ptoy.ID(from.Account.Id), to, memo, hs)
}

// OpenMemo opens the memo of a history entry of account as me (the
// account's current keys). It returns "" for an entry without a memo;
// ptoy.PermissionDenied for a memo sealed to others, and what
// seal.OpenMemo returns for one that does not open.
func OpenMemo(me *keys.KeyPair, account ptoy.ID, e *pb.HistoryEntry) (string, error) {
	if len(e.SealedMemo) == 0 {
		return e.Memo, nil
	}
	other, err := ptoy.IDFromBytes(e.Counterparty)
	if err != nil {
		return "", ptoy.E("client.OpenMemo", ptoy.Invalid, "the entry names no other side")
	}
	from, to := account, other
	if e.Kind == pb.HistoryKind_HISTORY_KIND_TRANSFER_IN {
		from, to = other, account
	}
	return seal.OpenMemo(e.SealedMemo, from, to, account, me.KEM)
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
