package fhir

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"ptoy"
	"ptoy/blob"
	"ptoy/fhir/resource"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/seal"
)

// A patient's home node answers FHIR for the patient while a session of
// theirs holds their keys, unsealed from the keystore the node keeps with
// their passphrase (Config.PatientKeys). The node then decrypts the
// patient's records with the patient's own category keys into a view kept
// in memory only, for as long as the session lives: logging out, idling
// or the session's end drops the keys and the view.

// views are the patients' own views, by patient.
type views struct {
	mu sync.Mutex
	m  map[ptoy.ID]*patientView
}

// patientView is a patient's own view and what keeps it current without
// reading the patient's whole listing at every request: the view is
// synced again only after a commit wrote one of the patient's records
// (changes, counted by Server.committed), and the own key
// bundle is opened again only when the ledger names another one.
type patientView struct {
	idx     *index
	changes atomic.Uint64 // commits that touched the patient's records, plus one

	mu     sync.Mutex // one sync at a time; guards the fields below
	synced uint64     // changes when the last complete sync began
	bundle blob.Hash  // the own bundle the keys came from
	kem    []byte     // the session's public KEM key they were opened with
	own    []seal.PrivateKey
}

func newPatientView(idx *index) *patientView {
	v := &patientView{idx: idx}
	v.changes.Store(1)
	return v
}

// patientPrincipal makes p, a patient asking for themselves, a
// principal: with the keys their session holds at this node, else told
// where to sign in.
func (s *Server) patientPrincipal(ctx context.Context, p *principal, a *pb.Account) (*principal, error) {
	id := ptoy.ID(a.Id)
	if !p.org.IsZero() {
		return nil, s.elsewhere(p.org)
	}
	var kp *keys.KeyPair
	ok := false
	if s.cfg.PatientKeys != nil {
		kp, ok = s.cfg.PatientKeys(id, true)
	}
	if !ok {
		s.dropView(id)
		if reg := ptoy.ID(a.Registrar); reg != s.cfg.Org {
			if base, known := s.cfg.Peers[reg]; known {
				return nil, &misdirected{base: base + Mount, msg: "your keys are kept by your home node: ask " + base + Mount}
			}
		}
		return nil, &resource.Error{Status: http.StatusUnauthorized, Issues: []resource.Issue{{Severity: "error", Code: "security",
			Diagnostics: "your keys are not unsealed at this node: sign in with your passphrase first (POST /v1/keystore/unseal)"}}}
	}
	view := s.view(id)
	own, err := s.syncView(ctx, view, id, kp)
	if err != nil {
		return nil, err
	}
	p.idx, p.patient = view.idx, true
	p.keys = func(_ context.Context, patient ptoy.ID) ([]seal.PrivateKey, error) {
		if patient != id {
			return nil, ptoy.E("fhir", ptoy.PermissionDenied, "you hold keys for your own records only")
		}
		return own, nil
	}
	p.submit = func(ctx context.Context, body *pb.Body) (*pb.SubmitResponse, error) {
		return s.cfg.SubmitAs(ctx, body, kp)
	}
	return p, nil
}

// syncView brings the patient's view up to date with the ledger, with
// the keys of their own bundle, and returns those keys.
func (s *Server) syncView(ctx context.Context, v *patientView, patient ptoy.ID, kp *keys.KeyPair) ([]seal.PrivateKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ks, err := s.cfg.Ledger.KeySet(patient)
	if err != nil || ks == nil || len(ks.OwnBundle) != blob.HashLen {
		return nil, ptoy.E("fhir", ptoy.NotFound, "you have published no keys yet")
	}
	bundle := blob.Hash(ks.OwnBundle)
	if v.own == nil || v.bundle != bundle || !bytes.Equal(v.kem, kp.KEMPublic()) {
		raw, err := s.cfg.Vault.KeyMaterial(ctx, patient, bundle)
		if err != nil {
			return nil, err
		}
		own, err := seal.OpenBundle(patient, patient, kp.KEM, raw)
		if err != nil {
			return nil, err
		}
		v.own, v.bundle, v.kem = own, bundle, kp.KEMPublic()
		v.synced = 0 // other keys may open other records
	}
	g := v.changes.Load()
	if v.synced == g {
		return v.own, nil
	}
	if err := s.syncInto(ctx, v.idx, patient, v.own); err != nil {
		return nil, err
	}
	v.synced = g
	return v.own, nil
}

func (s *Server) view(patient ptoy.ID) *patientView {
	s.views.mu.Lock()
	defer s.views.mu.Unlock()
	if s.views.m == nil {
		s.views.m = map[ptoy.ID]*patientView{}
	}
	v := s.views.m[patient]
	if v == nil {
		v = newPatientView(memIndex(s.reg))
		s.views.m[patient] = v
	}
	return v
}

// Forget drops what the API holds of a patient's own view: their
// session ended.
func (s *Server) Forget(patient ptoy.ID) { s.dropView(patient) }

func (s *Server) dropView(patient ptoy.ID) {
	s.views.mu.Lock()
	defer s.views.mu.Unlock()
	delete(s.views.m, patient)
}

// sweepViews drops the views of patients whose sessions ended.
func (s *Server) sweepViews() {
	s.views.mu.Lock()
	var ids []ptoy.ID
	for id := range s.views.m {
		ids = append(ids, id)
	}
	s.views.mu.Unlock()
	for _, id := range ids {
		if s.cfg.PatientKeys == nil {
			s.dropView(id)
		} else if _, ok := s.cfg.PatientKeys(id, false); !ok {
			s.dropView(id)
		}
	}
}

// ViewOf reports whether the API holds a view of the patient's own
// records (their session's), and how many records it holds.
func (s *Server) ViewOf(patient ptoy.ID) (int, bool) {
	s.views.mu.Lock()
	v := s.views.m[patient]
	s.views.mu.Unlock()
	if v == nil {
		return 0, false
	}
	return v.idx.size(), true
}
