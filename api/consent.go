package api

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"ptoy"
	"ptoy/audit"
	"ptoy/audit/auditlog"
	"ptoy/auth"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/gen/ptoy/v1/ptoyv1connect"
	"ptoy/ledger"
	"ptoy/wire"
)

// ConsentBackend is what the consent service needs of a node besides
// Backend: its audit log and who runs it.
type ConsentBackend interface {
	Backend
	Audit() *auditlog.Log
	Org() ptoy.ID
	ChainID() string
	Moniker() string
}

// NewConsent returns the path and handler of the consent service.
func NewConsent(b ConsentBackend) (string, http.Handler) {
	return ptoyv1connect.NewConsentServiceHandler(&consentSvc{b: b, g: guard{b}}, handlerOptions()...)
}

type consentSvc struct {
	b ConsentBackend
	g guard
}

// admit applies consentAsk's rule to a query: signed, by someone who may
// ask it, recorded when it is about another person.
func (s *consentSvc) admit(ctx context.Context, msg any) error {
	who, err := caller(ctx)
	if err != nil {
		return err
	}
	q, err := s.g.consentAsk(who, msg)
	if err != nil {
		return err
	}
	return s.g.admit(ctx, q)
}

func idArg(what string, b []byte) (ptoy.ID, error) {
	id, err := ptoy.IDFromBytes(b)
	if err != nil {
		return id, ptoy.E("api", ptoy.Invalid, what+": account id must be 20 bytes")
	}
	return id, nil
}

func (s *consentSvc) Access(ctx context.Context, req *connect.Request[pb.AccessRequest]) (*connect.Response[pb.AccessResponse], error) {
	if err := s.admit(ctx, req.Msg); err != nil {
		return nil, toConnect(err)
	}
	p, err := idArg("patient", req.Msg.Patient)
	if err != nil {
		return nil, toConnect(err)
	}
	l := s.b.State()
	resp := &pb.AccessResponse{}
	if resp.Grants, err = l.GrantsOf(p); err != nil {
		return nil, toConnect(err)
	}
	if resp.Delegations, err = l.Delegations(p); err != nil {
		return nil, toConnect(err)
	}
	if resp.BreakGlassPolicy, err = l.BreakGlassPolicy(p); err != nil {
		return nil, toConnect(err)
	}
	rule, err := l.Residency(p)
	if err != nil {
		return nil, toConnect(err)
	}
	resp.Residency, resp.NetworkResidency = rule.Patient, rule.Network
	return connect.NewResponse(resp), nil
}

func (s *consentSvc) Patients(ctx context.Context, req *connect.Request[pb.PatientsRequest]) (*connect.Response[pb.PatientsResponse], error) {
	if err := s.admit(ctx, req.Msg); err != nil {
		return nil, toConnect(err)
	}
	g, err := idArg("grantee", req.Msg.Grantee)
	if err != nil {
		return nil, toConnect(err)
	}
	list, err := s.b.State().PatientList(g)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &pb.PatientsResponse{}
	for _, e := range list {
		resp.Patients = append(resp.Patients, patientEntry(e))
	}
	return connect.NewResponse(resp), nil
}

func patientEntry(e ledger.PatientEntry) *pb.PatientEntry {
	return &pb.PatientEntry{Patient: e.Patient.Bytes(), Grant: e.Grant, Status: e.Status}
}

func (s *consentSvc) Explain(ctx context.Context, req *connect.Request[pb.ExplainRequest]) (*connect.Response[pb.ExplainResponse], error) {
	if err := s.admit(ctx, req.Msg); err != nil {
		return nil, toConnect(err)
	}
	m := req.Msg
	r, err := idArg("reader", m.Reader)
	if err != nil {
		return nil, toConnect(err)
	}
	p, err := idArg("patient", m.Patient)
	if err != nil {
		return nil, toConnect(err)
	}
	var org ptoy.ID
	if len(m.Org) > 0 {
		if org, err = idArg("org", m.Org); err != nil {
			return nil, toConnect(err)
		}
	}
	cr := consent.Request{Reader: r, Patient: p, Categories: m.Categories, Action: consent.Read, Purpose: m.Purpose, Org: org}
	if m.Write {
		cr.Action = consent.Write
	}
	if cr.Action == consent.Read && cr.Purpose == pb.Purpose_PURPOSE_UNSPECIFIED {
		cr.Purpose = pb.Purpose_PURPOSE_TREATMENT
	}
	l := s.b.State()
	cr.Time = l.BlockTime()
	d := l.Decide(cr)
	return connect.NewResponse(&pb.ExplainResponse{
		Allow: d.Allow, Reason: d.Reason(), Explanation: consent.Explain(l.ConsentState(), cr), Via: d.Via,
	}), nil
}

func (s *consentSvc) BreakGlassQueue(ctx context.Context, req *connect.Request[pb.BreakGlassQueueRequest]) (*connect.Response[pb.BreakGlassQueueResponse], error) {
	if err := s.admit(ctx, req.Msg); err != nil {
		return nil, toConnect(err)
	}
	l := s.b.State()
	var evs []*pb.BreakGlassEvent
	var err error
	switch {
	case len(req.Msg.Org) > 0:
		var org ptoy.ID
		if org, err = idArg("org", req.Msg.Org); err == nil {
			evs, err = l.BreakGlassQueue(org)
		}
	default:
		var p ptoy.ID
		if p, err = idArg("patient", req.Msg.Patient); err == nil {
			evs, err = l.BreakGlassOf(p)
		}
		// A practitioner who is not the patient's delegate sees the
		// events it opened (guard.go).
		if who := auth.CallerFrom(ctx); err == nil && ptoy.ID(who.Id) != p && !s.g.delegate(ptoy.ID(who.Id), p) {
			mine := evs[:0:0]
			for _, e := range evs {
				if ptoy.ID(e.Practitioner) == ptoy.ID(who.Id) {
					mine = append(mine, e)
				}
			}
			evs = mine
		}
	}
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.BreakGlassQueueResponse{Events: evs}), nil
}

func (s *consentSvc) Notifications(ctx context.Context, req *connect.Request[pb.NotificationsRequest]) (*connect.Response[pb.NotificationsResponse], error) {
	if err := s.admit(ctx, req.Msg); err != nil {
		return nil, toConnect(err)
	}
	p, err := idArg("patient", req.Msg.Patient)
	if err != nil {
		return nil, toConnect(err)
	}
	ns, err := s.b.State().Notifications(p)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.NotificationsResponse{Notifications: ns}), nil
}

// AuditSigningBytes is what a patient signs to list their audit events
// (wire.AuditSigningBytes).
func AuditSigningBytes(chainID string, patient ptoy.ID, t int64) []byte {
	return wire.AuditSigningBytes(chainID, patient, t)
}

func (s *consentSvc) AuditEvents(ctx context.Context, req *connect.Request[pb.AuditEventsRequest]) (*connect.Response[pb.AuditEventsResponse], error) {
	m := req.Msg
	p, err := idArg("patient", m.Patient)
	if err != nil {
		return nil, toConnect(err)
	}
	if err := s.checkAuditCaller(p, m); err != nil {
		return nil, toConnect(err)
	}
	var from, to time.Time
	if m.FromUnix > 0 {
		from = time.Unix(m.FromUnix, 0)
	}
	if m.ToUnix > 0 {
		to = time.Unix(m.ToUnix, 0)
	}
	log := s.b.Audit()
	var evs []audit.Event
	if m.After > 0 {
		if !from.IsZero() || !to.IsZero() {
			return nil, toConnect(ptoy.E("api.AuditEvents", ptoy.Invalid, "ask for the events after a seq, or in a time window, not both"))
		}
		evs, err = log.ForPatientAfter(ctx, p, m.After)
	} else {
		evs, err = log.ForPatient(ctx, p, from, to)
	}
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &pb.AuditEventsResponse{Node: s.b.Moniker(), Org: s.b.Org().Bytes()}
	var lastBatch, lastAnchored uint64 // the latest batch listed, and the last event it holds
	var pendingSeqs []uint64
	prover := log.NewProver()      // each batch read and hashed once
	anchored := map[uint64]error{} // each batch's anchor looked up once
	for _, e := range evs {
		pr, err := prover.Proof(ctx, e.Seq)
		if err == nil {
			aerr, ok := anchored[pr.Batch.ID]
			if !ok {
				_, aerr = s.b.State().AuditAnchor(s.b.Org(), pr.Batch.ID)
				anchored[pr.Batch.ID] = aerr
			}
			if aerr != nil {
				err = aerr // cut but not anchored yet
			}
		}
		if err != nil {
			if k := ptoy.KindOf(err); k == ptoy.Unavailable || k == ptoy.NotFound {
				resp.Pending = append(resp.Pending, e.Encode())
				pendingSeqs = append(pendingSeqs, e.Seq)
				continue
			}
			return nil, toConnect(err)
		}
		lastAnchored = max(lastAnchored, pr.Batch.Last)
		ap := &pb.AuditProof{Event: e.Encode(), Batch: pr.Batch.ID, First: pr.Batch.First, Last: pr.Batch.Last,
			Root: pr.Batch.Root[:], Index: pr.Index}
		for _, h := range pr.Path {
			ap.Path = append(ap.Path, h[:])
		}
		resp.Events = append(resp.Events, ap)
		lastBatch = max(lastBatch, pr.Batch.ID)
	}
	// An answer is one state of the log: an event listed as pending that
	// an anchored batch holds means the log was busy (a batch cut or the
	// log reopening while the list was read). Say so rather than give a
	// list its own proof would call incomplete.
	for _, seq := range pendingSeqs {
		if seq <= lastAnchored {
			return nil, toConnect(ptoy.E("api.AuditEvents", ptoy.Unavailable, "the audit log changed while the list was read; ask again"))
		}
	}
	// The chain proves the whole list only; a listing bounded in time
	// comes without it.
	if lastBatch > 0 && from.IsZero() && to.IsZero() {
		cp, err := log.ChainProof(ctx, p, lastBatch)
		if err != nil {
			return nil, toConnect(err)
		}
		resp.Chain = &pb.AuditChainProof{Batch: cp.Batch, Count: cp.Entry.Count, Head: cp.Entry.Head[:], Index: cp.Index, Size: cp.Size}
		for _, h := range cp.Path {
			resp.Chain.Path = append(resp.Chain.Path, h[:])
		}
	}
	return connect.NewResponse(resp), nil
}

// checkAuditCaller lets the patient, or an active delegate, list events.
func (s *consentSvc) checkAuditCaller(p ptoy.ID, m *pb.AuditEventsRequest) error {
	const op = "api.AuditEvents"
	if d := time.Since(time.Unix(m.Time, 0)); d > 2*time.Minute || d < -2*time.Minute {
		return ptoy.E(op, ptoy.Unauthenticated, "the request's time is not current (check the clock)")
	}
	if len(m.Signer) != ed25519.PublicKeySize || !ed25519.Verify(m.Signer, AuditSigningBytes(s.b.ChainID(), p, m.Time), m.Signature) {
		return ptoy.E(op, ptoy.Unauthenticated, "sign the request with the patient's key")
	}
	l := s.b.State()
	a, err := l.AccountByKey(m.Signer)
	if err != nil {
		return ptoy.E(op, ptoy.Unauthenticated, "the signing key belongs to no account")
	}
	if ptoy.ID(a.Id) == p {
		return nil
	}
	d := l.Decide(consent.Request{Reader: ptoy.ID(a.Id), Patient: p, Categories: consent.Bit(pb.Category_CATEGORY_DEMOGRAPHICS),
		Action: consent.Read, Purpose: pb.Purpose_PURPOSE_TREATMENT})
	if d.Allow && d.Via == consent.ViaDelegation {
		return nil
	}
	return ptoy.E(op, ptoy.PermissionDenied, "only the patient or their delegate may list the patient's audit events")
}

func (s *consentSvc) Anchor(ctx context.Context, req *connect.Request[pb.AnchorRequest]) (*connect.Response[pb.AnchorResponse], error) {
	org, err := idArg("org", req.Msg.Org)
	if err != nil {
		return nil, toConnect(err)
	}
	a, err := s.b.State().AuditAnchor(org, req.Msg.Batch)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.AnchorResponse{Anchor: a}), nil
}
