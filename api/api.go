// Package api serves the node API over Connect RPC: one handler answers
// gRPC, gRPC-Web and JSON over HTTP, so Go programs, browsers and curl
// use the same endpoints. It speaks to the node through Backend and knows
// nothing of consensus.
package api

import (
	"context"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"ptoy"
	"ptoy/door"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/gen/ptoy/v1/ptoyv1connect"
	"ptoy/wire"
)

// Backend is what the API needs of a node. Errors carry ptoy kinds.
type Backend interface {
	Submit(ctx context.Context, raw []byte, wait bool) (*pb.SubmitResponse, error)
	Status(ctx context.Context) (*pb.StatusResponse, error)
	// State is the committed state the API reads.
	State() Ledger
	// StartRegistration is told the caller's address (host:port), for
	// its rate limits.
	StartRegistration(ctx context.Context, client, name, phone string) (*pb.StartRegistrationResponse, error)
	CompleteRegistration(ctx context.Context, regID, code string, raw []byte) (*pb.SubmitResponse, error)
	// Door is the node's one door for reads of patient data: queries
	// about a patient answered to someone else are recorded through it.
	Door() *door.Door
}

// SubmitTimeout bounds how long Submit waits for a commit.
const SubmitTimeout = 30 * time.Second

// New returns the path and handler of the node API.
func New(b Backend) (string, http.Handler) {
	return ptoyv1connect.NewNodeServiceHandler(&server{b: b}, handlerOptions()...)
}

// handlerOptions are the options of every service: bounded requests,
// strict JSON.
func handlerOptions() []connect.HandlerOption {
	return []connect.HandlerOption{connect.WithReadMaxBytes(1 << 20), connect.WithCodec(strictJSON{})}
}

type server struct{ b Backend }

func toConnect(err error) error { return wire.ToConnect(err) }

// KindOf maps a Connect error from a node back to a ptoy kind
// (wire.KindOf).
func KindOf(err error) ptoy.Kind { return wire.KindOf(err) }

func (s *server) Submit(ctx context.Context, req *connect.Request[pb.SubmitRequest]) (*connect.Response[pb.SubmitResponse], error) {
	ctx, cancel := context.WithTimeout(ctx, SubmitTimeout)
	defer cancel()
	r, err := s.b.Submit(ctx, req.Msg.Tx, !req.Msg.Async)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(r), nil
}

func (s *server) Status(ctx context.Context, _ *connect.Request[pb.StatusRequest]) (*connect.Response[pb.StatusResponse], error) {
	r, err := s.b.Status(ctx)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(r), nil
}

func (s *server) GetAccount(ctx context.Context, req *connect.Request[pb.GetAccountRequest]) (*connect.Response[pb.GetAccountResponse], error) {
	l := s.b.State()
	var (
		acct *pb.Account
		err  error
	)
	switch {
	case len(req.Msg.SigningKey) > 0:
		acct, err = l.AccountByKey(req.Msg.SigningKey)
	default:
		var id ptoy.ID
		if id, err = ptoy.IDFromBytes(req.Msg.Id); err == nil {
			acct, err = l.Account(id)
		}
	}
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &pb.GetAccountResponse{Account: acct}
	id := ptoy.ID(acct.Id)
	switch acct.Kind {
	case pb.AccountKind_ACCOUNT_KIND_PRACTITIONER, pb.AccountKind_ACCOUNT_KIND_NODE:
		resp.Employments, err = l.Employments(id)
	case pb.AccountKind_ACCOUNT_KIND_ORG:
		resp.Org, err = l.Org(id)
	}
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(resp), nil
}

func (s *server) ListOrgs(ctx context.Context, _ *connect.Request[pb.ListOrgsRequest]) (*connect.Response[pb.ListOrgsResponse], error) {
	orgs, err := s.b.State().Orgs()
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.ListOrgsResponse{Orgs: orgs}), nil
}

func (s *server) ListEmployees(ctx context.Context, req *connect.Request[pb.ListEmployeesRequest]) (*connect.Response[pb.ListEmployeesResponse], error) {
	id, err := ptoy.IDFromBytes(req.Msg.Org)
	if err != nil {
		return nil, toConnect(err)
	}
	if _, err := s.b.State().Org(id); err != nil {
		return nil, toConnect(err)
	}
	es, err := s.b.State().Employees(id)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.ListEmployeesResponse{Employees: es}), nil
}

func (s *server) ListProposals(ctx context.Context, _ *connect.Request[pb.ListProposalsRequest]) (*connect.Response[pb.ListProposalsResponse], error) {
	ps, err := s.b.State().Proposals()
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.ListProposalsResponse{Proposals: ps}), nil
}

func (s *server) StartRegistration(ctx context.Context, req *connect.Request[pb.StartRegistrationRequest]) (*connect.Response[pb.StartRegistrationResponse], error) {
	r, err := s.b.StartRegistration(ctx, req.Peer().Addr, req.Msg.FullName, req.Msg.Phone)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(r), nil
}

func (s *server) CompleteRegistration(ctx context.Context, req *connect.Request[pb.CompleteRegistrationRequest]) (*connect.Response[pb.SubmitResponse], error) {
	ctx, cancel := context.WithTimeout(ctx, SubmitTimeout)
	defer cancel()
	r, err := s.b.CompleteRegistration(ctx, req.Msg.RegistrationId, req.Msg.Code, req.Msg.Tx)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(r), nil
}
