package api

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/gen/ptoy/v1/ptoyv1connect"
)

// NewRecords returns the path and handler of the record metadata service.
func NewRecords(b Backend) (string, http.Handler) {
	return ptoyv1connect.NewRecordServiceHandler(&records{b: b}, handlerOptions()...)
}

type records struct{ b Backend }

func patientArg(b []byte) (ptoy.ID, error) {
	id, err := ptoy.IDFromBytes(b)
	if err != nil {
		return id, ptoy.E("api", ptoy.Invalid, "patient: account id must be 20 bytes")
	}
	return id, nil
}

func (s *records) Record(ctx context.Context, req *connect.Request[pb.RecordRequest]) (*connect.Response[pb.RecordResponse], error) {
	p, err := patientArg(req.Msg.Patient)
	if err != nil {
		return nil, toConnect(err)
	}
	st, err := s.b.Ledger().Record(p, req.Msg.Id, req.Msg.Version)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.RecordResponse{Record: st}), nil
}

func (s *records) RecordHistory(ctx context.Context, req *connect.Request[pb.RecordRequest]) (*connect.Response[pb.RecordsResponse], error) {
	p, err := patientArg(req.Msg.Patient)
	if err != nil {
		return nil, toConnect(err)
	}
	h, err := s.b.Ledger().RecordHistory(p, req.Msg.Id)
	if err != nil {
		return nil, toConnect(err)
	}
	if len(h) == 0 {
		return nil, toConnect(ptoy.E("api", ptoy.NotFound, "no such record"))
	}
	return connect.NewResponse(&pb.RecordsResponse{Records: h}), nil
}

func (s *records) Records(ctx context.Context, req *connect.Request[pb.RecordsRequest]) (*connect.Response[pb.RecordsResponse], error) {
	p, err := patientArg(req.Msg.Patient)
	if err != nil {
		return nil, toConnect(err)
	}
	rs, err := s.b.Ledger().Records(p)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.RecordsResponse{Records: rs}), nil
}

func (s *records) KeySet(ctx context.Context, req *connect.Request[pb.KeySetRequest]) (*connect.Response[pb.KeySetResponse], error) {
	p, err := patientArg(req.Msg.Patient)
	if err != nil {
		return nil, toConnect(err)
	}
	l := s.b.Ledger()
	ks, err := l.KeySet(p)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &pb.KeySetResponse{KeySet: ks}
	if len(req.Msg.Holder) > 0 {
		h, err := ptoy.IDFromBytes(req.Msg.Holder)
		if err != nil {
			return nil, toConnect(ptoy.E("api", ptoy.Invalid, "holder: account id must be 20 bytes"))
		}
		if g, err := l.Grant(p, h); err == nil && g.Status == pb.GrantStatus_GRANT_STATUS_ACTIVE {
			resp.HolderBundle = g.Grant.KeyBundle
		} else if ds, err := l.Delegations(p); err == nil {
			for _, d := range ds {
				if ptoy.ID(d.Delegation.Delegate) == h {
					resp.HolderBundle = d.Delegation.KeyBundle
				}
			}
		}
	}
	return connect.NewResponse(resp), nil
}
