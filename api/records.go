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
// Its rules are in guard.go: the patient sees every record; others the
// records consent lets them read and those they wrote.
func NewRecords(b Backend) (string, http.Handler) {
	return ptoyv1connect.NewRecordServiceHandler(&records{b: b, g: guard{b}}, handlerOptions()...)
}

type records struct {
	b Backend
	g guard
}

func patientArg(b []byte) (ptoy.ID, error) {
	id, err := ptoy.IDFromBytes(b)
	if err != nil {
		return id, ptoy.E("api", ptoy.Invalid, "patient: account id must be 20 bytes")
	}
	return id, nil
}

// view returns the signed caller's view of the patient's records.
func (s *records) view(ctx context.Context, patient []byte, what string, h http.Header) (*readerView, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	p, err := patientArg(patient)
	if err != nil {
		return nil, err
	}
	return s.g.reader(who, p, what, h)
}

// versions answers a query for record versions with those the caller may
// see; none of them (or no record) is ptoy.NotFound to those with access
// to the patient's records, and a refusal to the others.
func (s *records) versions(ctx context.Context, v *readerView, sts []*pb.RecordState) ([]*pb.RecordState, error) {
	out, q := v.filter(sts)
	if err := s.g.admit(ctx, q); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, ptoy.E("api", ptoy.NotFound, "no such record")
	}
	return out, nil
}

func (s *records) Record(ctx context.Context, req *connect.Request[pb.RecordRequest]) (*connect.Response[pb.RecordResponse], error) {
	v, err := s.view(ctx, req.Msg.Patient, "record", req.Header())
	if err != nil {
		return nil, toConnect(err)
	}
	var sts []*pb.RecordState
	st, err := s.b.State().Record(v.q.patient, req.Msg.Id, req.Msg.Version)
	switch {
	case err == nil:
		sts = append(sts, st)
	case ptoy.KindOf(err) != ptoy.NotFound:
		return nil, toConnect(err)
	}
	if sts, err = s.versions(ctx, v, sts); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.RecordResponse{Record: sts[0]}), nil
}

func (s *records) RecordHistory(ctx context.Context, req *connect.Request[pb.RecordRequest]) (*connect.Response[pb.RecordsResponse], error) {
	v, err := s.view(ctx, req.Msg.Patient, "record history", req.Header())
	if err != nil {
		return nil, toConnect(err)
	}
	h, err := s.b.State().RecordHistory(v.q.patient, req.Msg.Id)
	if err != nil {
		return nil, toConnect(err)
	}
	if h, err = s.versions(ctx, v, h); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.RecordsResponse{Records: h}), nil
}

func (s *records) Records(ctx context.Context, req *connect.Request[pb.RecordsRequest]) (*connect.Response[pb.RecordsResponse], error) {
	v, err := s.view(ctx, req.Msg.Patient, "records", req.Header())
	if err != nil {
		return nil, toConnect(err)
	}
	rs, err := s.b.State().Records(v.q.patient)
	if err != nil {
		return nil, toConnect(err)
	}
	rs, q := v.filter(rs)
	if err := s.g.admit(ctx, q); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.RecordsResponse{Records: rs}), nil
}

func (s *records) KeySet(ctx context.Context, req *connect.Request[pb.KeySetRequest]) (*connect.Response[pb.KeySetResponse], error) {
	v, err := s.view(ctx, req.Msg.Patient, "key set", req.Header())
	if err != nil {
		return nil, toConnect(err)
	}
	var h ptoy.ID
	if len(req.Msg.Holder) > 0 {
		if h, err = ptoy.IDFromBytes(req.Msg.Holder); err != nil {
			return nil, toConnect(ptoy.E("api", ptoy.Invalid, "holder: account id must be 20 bytes"))
		}
	}
	if err := s.g.admit(ctx, v.keySetAsk(h)); err != nil {
		return nil, toConnect(err)
	}
	p := v.q.patient
	l := s.b.State()
	ks, err := l.KeySet(p)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &pb.KeySetResponse{KeySet: ks}
	if !h.IsZero() {
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
	return connect.NewResponse(&pb.KeySetResponse{KeySet: resp.KeySet, HolderBundle: resp.HolderBundle}), nil
}
