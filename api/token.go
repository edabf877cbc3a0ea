package api

// The token service: balances, history, supply, network parameters and
// storage use, read from the node's committed ledger state. Transfers,
// plan purchases and the faucet are signed transactions that go through
// NodeService.Submit like every other.

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/gen/ptoy/v1/ptoyv1connect"
	"ptoy/ledger"
)

// History limits: the number of entries when a request gives none, and
// the most one request may ask for.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
)

// NewToken returns the path and handler of the token service.
func NewToken(b Backend) (string, http.Handler) {
	return ptoyv1connect.NewTokenServiceHandler(&token{b: b, g: guard{b}}, handlerOptions()...)
}

type token struct {
	b Backend
	g guard
}

// account reads the account of a Balance, History or Usage request and
// applies tokenAsk's rule (guard.go) to the signed caller.
func (s *token) account(ctx context.Context, b []byte, what string) (ptoy.ID, error) {
	id, err := tokenAccount(b)
	if err != nil {
		return id, err
	}
	if id == ledger.Treasury && what == "balance" {
		return id, nil // public: Supply and Params show it too
	}
	who, err := caller(ctx)
	if err != nil {
		return id, err
	}
	return id, s.g.admit(ctx, s.g.tokenAsk(who, id, what))
}

// tokenAccount reads the account field of a token request.
func tokenAccount(b []byte) (ptoy.ID, error) {
	id, err := ptoy.IDFromBytes(b)
	if err != nil {
		return id, ptoy.E("api.token", ptoy.Invalid, fmt.Sprintf("account: an account id is %d bytes, got %d", ptoy.IDLen, len(b)))
	}
	return id, nil
}

// known returns ptoy.NotFound when id has no account, nothing to show
// (zero balance, or no history) and is not the treasury, so that a
// mistyped id is told as such rather than shown as an empty wallet.
func known(l Identities, id ptoy.ID, empty bool) error {
	if !empty || id == ledger.Treasury {
		return nil
	}
	_, err := l.Account(id)
	if ptoy.KindOf(err) == ptoy.NotFound {
		return ptoy.E("api.token", ptoy.NotFound, fmt.Sprintf("no account %s on this network", id))
	}
	return err
}

func (s *token) Balance(ctx context.Context, req *connect.Request[pb.BalanceRequest]) (*connect.Response[pb.BalanceResponse], error) {
	id, err := s.account(ctx, req.Msg.Account, "balance")
	if err != nil {
		return nil, toConnect(err)
	}
	l := s.b.State()
	h, _ := l.Height()
	bal, err := l.Balance(id)
	if err == nil {
		err = known(l, id, bal == 0)
	}
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.BalanceResponse{Account: id.Bytes(), Balance: bal, Formatted: ledger.FormatPTOY(bal), Height: h}), nil
}

func (s *token) History(ctx context.Context, req *connect.Request[pb.HistoryRequest]) (*connect.Response[pb.HistoryResponse], error) {
	id, err := s.account(ctx, req.Msg.Account, "payments")
	if err != nil {
		return nil, toConnect(err)
	}
	limit := int(req.Msg.Limit)
	switch {
	case limit == 0:
		limit = DefaultHistoryLimit
	case limit > MaxHistoryLimit:
		return nil, toConnect(ptoy.E("api.token", ptoy.Invalid, fmt.Sprintf("limit: at most %d entries at a time", MaxHistoryLimit)))
	}
	l := s.b.State()
	h, _ := l.Height()
	es, err := l.History(id, limit)
	if err == nil {
		err = known(l, id, len(es) == 0)
	}
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.HistoryResponse{Entries: es, Height: h}), nil
}

func (s *token) Supply(ctx context.Context, _ *connect.Request[pb.SupplyRequest]) (*connect.Response[pb.SupplyResponse], error) {
	l := s.b.State()
	h, _ := l.Height()
	sup, err := l.Supply()
	if err != nil {
		return nil, toConnect(err)
	}
	tr, err := l.Balance(ledger.Treasury)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.SupplyResponse{Supply: sup, Formatted: ledger.FormatPTOY(sup), Treasury: tr, Height: h}), nil
}

func (s *token) Params(ctx context.Context, _ *connect.Request[pb.ParamsRequest]) (*connect.Response[pb.ParamsResponse], error) {
	l := s.b.State()
	h, _ := l.Height()
	p, err := l.Params()
	if err != nil {
		return nil, toConnect(err)
	}
	tr, err := l.Balance(ledger.Treasury)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.ParamsResponse{Params: p, Treasury: ledger.Treasury.Bytes(), TreasuryBalance: tr,
		TreasuryFormatted: ledger.FormatPTOY(tr), Height: h}), nil
}

func (s *token) Usage(ctx context.Context, req *connect.Request[pb.UsageRequest]) (*connect.Response[pb.UsageResponse], error) {
	id, err := s.account(ctx, req.Msg.Account, "storage use")
	if err != nil {
		return nil, toConnect(err)
	}
	l := s.b.State()
	h, _ := l.Height()
	used, quota, plans, err := l.Usage(id)
	if err != nil {
		return nil, toConnect(err)
	}
	var free uint64
	if a, err := l.Account(id); err != nil {
		return nil, toConnect(err)
	} else if a.Kind == pb.AccountKind_ACCOUNT_KIND_PATIENT {
		p, err := l.Params()
		if err != nil {
			return nil, toConnect(err)
		}
		free = p.FreeBytes
	}
	return connect.NewResponse(&pb.UsageResponse{
		Account: id.Bytes(), Used: used, Quota: quota, FreeBytes: free, Plans: plans,
		Formatted: fmt.Sprintf("%s of %s used", ledger.FormatBytes(used), ledger.FormatBytes(quota)), Height: h,
	}), nil
}
