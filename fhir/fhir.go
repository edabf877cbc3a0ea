// Package fhir is a node's FHIR R4 API. It answers for the principals
// whose keys the node holds: the staff and registered systems of the
// organisation that runs the node, over what the organisation may
// decrypt (the key bundles of its grants), within each employee's role.
//
// Every request passes the node's door (package door): the caller is
// authenticated (a SMART access token, or a ptoy-signed request or
// session), each resource is decided on the latest committed consent
// state, the audit events of what is answered are on disk, and only then
// is the answer written. A resource the caller may not see does not exist
// for them: it is not counted in totals and leaves no gap in paging.
//
// What the API derives from plaintext (its search index and the copy of
// each resource it searches) stays on the node, sealed at rest under a
// key of the node (index.go), rebuilt from the ledger and the ciphertext
// when lost, and purged for a patient as soon as the grant that let the
// organisation read their records ends.
//
// Writes are the organisation's: a resource is validated (package
// resource), sealed to the patient's category key, stored as ciphertext
// and committed in one PutRecords signed by the organisation, after the
// door decided that the writer's grant and role allow it.
package fhir

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"ptoy"
	"ptoy/audit/auditlog"
	"ptoy/auth"
	"ptoy/blob"
	"ptoy/consent"
	"ptoy/door"
	"ptoy/fhir/search"
	"ptoy/fhir/smart"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/ledger"
	"ptoy/seal"
)

// Ledger is what the FHIR API reads of the committed state.
type Ledger interface {
	Account(id ptoy.ID) (*pb.Account, error)
	Org(id ptoy.ID) (*pb.Org, error)
	Employee(org, p ptoy.ID) (*pb.Employee, error)
	Record(patient ptoy.ID, id []byte, version uint32) (*pb.RecordState, error)
	RecordHistory(patient ptoy.ID, id []byte) ([]*pb.RecordState, error)
	Records(patient ptoy.ID) ([]*pb.RecordState, error)
	KeySet(patient ptoy.ID) (*pb.KeySetState, error)
	Grant(patient, grantee ptoy.ID) (*pb.GrantState, error)
	PatientList(grantee ptoy.ID) ([]ledger.PatientEntry, error)
	GrantsOf(patient ptoy.ID) ([]*pb.GrantState, error)
	Orgs() ([]*pb.Org, error)
	Employees(org ptoy.ID) ([]*pb.Employee, error)
	PatientsOf(grantee ptoy.ID) ([]ptoy.ID, error)
	BlockTime() time.Time
	Subscribe(fn func(ledger.Committed))
}

// Vault gives the API what the node's gateway holds: ciphertext (from
// this node or a placement peer, checked against the ledger's hash), key
// material, and the category keys the organisation's grants give it.
type Vault interface {
	Ciphertext(ctx context.Context, patient ptoy.ID, st *pb.RecordState) ([]byte, error)
	KeyMaterial(ctx context.Context, patient ptoy.ID, h blob.Hash) ([]byte, error)
	OrgKeys(ctx context.Context, patient ptoy.ID) ([]seal.PrivateKey, blob.Hash, error)
	// EmergencyKeys are the patient's emergency keys under an open
	// break-glass of the organisation's (ptoy.NotFound if none is open,
	// ptoy.Unavailable until enough escrow shares are released).
	EmergencyKeys(ctx context.Context, patient ptoy.ID) ([]seal.PrivateKey, error)
}

// Config wires the API to its node.
type Config struct {
	Base   string  // the public URL of the FHIR base, "https://host:port/fhir"
	Node   string  // the node's moniker, for audit events
	Org    ptoy.ID // the organisation that runs the node
	Ledger Ledger
	Vault  Vault
	Door   *door.Door
	Audit  *auditlog.Log       // the node's access log, for AuditEvent
	Auth   *auth.Authenticator // ptoy-signed requests and sessions
	SMART  *smart.Server       // bearer tokens; nil: signed requests only
	Blobs  blob.Store          // where a write's ciphertext is put before it is committed
	// SubmitAsOrg signs body as the organisation and commits it;
	// SubmitAs signs it with a patient's key from their session.
	SubmitAsOrg func(ctx context.Context, body *pb.Body) (*pb.SubmitResponse, error)
	SubmitAs    func(ctx context.Context, body *pb.Body, signer *keys.KeyPair) (*pb.SubmitResponse, error)
	// PatientKeys returns the keys a patient's session at this node holds
	// (touch: the session counts as used); false if none does.
	PatientKeys func(patient ptoy.ID, touch bool) (*keys.KeyPair, bool)
	// DB and Prefix hold the sealed index; Key (32 bytes) seals it.
	DB     *pebble.DB
	Prefix []byte
	Key    []byte
	// Peers are the other organisations' nodes, to say which node can
	// answer what this one cannot.
	Peers map[ptoy.ID]string
	Log   *slog.Logger
	Now   func() time.Time
}

// Server is the FHIR API of one node.
type Server struct {
	cfg     Config
	reg     *search.Registry
	idx     *index
	pages   *pages
	exports exports
	views   views
	queue   *queue
	mux     *http.ServeMux
	started chan struct{}
}

// New returns the API; Run keeps its index current.
func New(cfg Config) (*Server, error) {
	const op = "fhir.New"
	if cfg.Ledger == nil || cfg.Vault == nil || cfg.Door == nil || cfg.Audit == nil || cfg.Auth == nil || cfg.DB == nil || cfg.SubmitAsOrg == nil || cfg.Blobs == nil {
		return nil, ptoy.E(op, ptoy.Invalid, "the FHIR API needs its ledger, vault, door, authenticator, store and submitter")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Base = strings.TrimSuffix(cfg.Base, "/")
	reg := search.Default()
	idx, err := openIndex(cfg.DB, cfg.Prefix, cfg.Key, reg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, reg: reg, idx: idx, pages: newPages(), started: make(chan struct{}),
		queue: &queue{set: map[ptoy.ID]bool{}, wake: make(chan struct{}, 1)}}
	cfg.Ledger.Subscribe(s.committed)
	s.routes()
	return s, nil
}

// Handler serves the API at Mount on the node's HTTP server (it sees
// whole paths: /fhir/Observation/…).
func (s *Server) Handler() http.Handler { return s.mux }

// principal is who asks, as the door sees them.
type principal struct {
	reader  ptoy.ID // the account that reads (for a backend service: the organisation)
	org     ptoy.ID // the organisation the reader acts for; zero: itself
	purpose pb.Purpose
	grant   *smart.Grant // nil for a ptoy-signed request (consent alone decides)
	// idx is what the principal's reads search: the organisation's index,
	// or a patient's own view built with the keys of their session.
	idx *index
	// keys opens a patient's records for the principal: the
	// organisation's grant (or break-glass), or the patient's own keys.
	keys func(ctx context.Context, patient ptoy.ID) ([]seal.PrivateKey, error)
	// submit commits a write: signed by the organisation, or by the
	// patient with the keys of their session.
	submit func(ctx context.Context, body *pb.Body) (*pb.SubmitResponse, error)
	// patient is set when a patient asks for themselves.
	patient bool
}

// scopeKind is the kind of the resource scopes that govern the
// principal's token: its grant's kind, but patient/ for a practitioner
// who opened an app for one patient (launch/patient) and was granted
// patient/ scopes only (the authorization server grants a practitioner
// either user/ or patient/ resource scopes, never both).
func (p *principal) scopeKind() smart.Kind {
	g := p.grant
	if g.Kind == smart.KindUser && !g.Patient.IsZero() && !g.Scopes.Has(smart.KindUser) {
		return smart.KindPatient
	}
	return g.Kind
}

// allows reports whether the principal's token covers interaction
// ('c','r','u','d','s') on resourceType.
func (p *principal) allows(resourceType string, interaction byte) bool {
	if p.grant == nil {
		return true
	}
	return p.grant.Scopes.Allows(p.scopeKind(), resourceType, interaction)
}

// self is the patient the principal is, when a patient asks for
// themselves (their own view); zero otherwise.
func (p *principal) self() ptoy.ID {
	if p.patient {
		return p.reader
	}
	return ptoy.ID{}
}

// onlyPatient is the patient a patient-context token limits the
// principal to; zero if none.
func (p *principal) onlyPatient() ptoy.ID {
	if p.grant != nil && p.scopeKind() == smart.KindPatient {
		return p.grant.Patient
	}
	return ptoy.ID{}
}

// access is a door access for the principal.
func (p *principal) access(patient ptoy.ID, action, object string) door.Access {
	return door.Access{Reader: p.reader, Patient: patient, Action: action, Object: object, Purpose: p.purpose, Org: p.org}
}

// who authenticates r. The node answers only for its organisation's
// staff and systems: anyone else is told which node can answer them.
func (s *Server) who(r *http.Request) (*principal, error) {
	const op = "fhir"
	p := &principal{purpose: pb.Purpose_PURPOSE_TREATMENT}
	if h := r.Header.Get(auth.HeaderPurpose); h != "" {
		pur, err := consent.ParsePurpose(h)
		if err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, "the "+auth.HeaderPurpose+" header names no purpose of use")
		}
		p.purpose = pur
	}
	if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		if s.cfg.SMART == nil {
			return nil, ptoy.E(op, ptoy.Unauthenticated, "this node takes no bearer tokens")
		}
		g, err := s.cfg.SMART.Verify(r)
		if err != nil {
			return nil, err
		}
		p.grant = g
		switch g.Kind {
		case smart.KindSystem:
			p.reader = g.Org
		case smart.KindUser:
			p.reader, p.org = g.Account, g.Org
		default:
			p.reader = g.Account
		}
	} else {
		a, err := s.cfg.Auth.Caller(r)
		if err != nil {
			return nil, err
		}
		p.reader = ptoy.ID(a.Id)
		if h := r.Header.Get(auth.HeaderOrg); h != "" {
			if p.org, err = ptoy.ParseID(h); err != nil {
				return nil, ptoy.E(op, ptoy.Invalid, "the "+auth.HeaderOrg+" header is not an organisation id")
			}
		}
	}
	acting := p.org
	if acting.IsZero() {
		acting = p.reader
	}
	if acting != s.cfg.Org {
		if a, err := s.cfg.Ledger.Account(acting); err == nil && a.Kind == pb.AccountKind_ACCOUNT_KIND_PATIENT {
			return s.patientPrincipal(r.Context(), p, a)
		}
		return nil, s.elsewhere(acting)
	}
	p.idx, p.submit = s.idx, s.cfg.SubmitAsOrg
	p.keys = func(ctx context.Context, patient ptoy.ID) ([]seal.PrivateKey, error) {
		if ks, _, err := s.cfg.Vault.OrgKeys(ctx, patient); err == nil || ptoy.KindOf(err) != ptoy.NotFound {
			return ks, err
		}
		return s.cfg.Vault.EmergencyKeys(ctx, patient)
	}
	return p, nil
}

// misdirected is the error of a request this node cannot answer: the
// node that can, if known.
type misdirected struct{ base, msg string }

func (m *misdirected) Error() string { return m.msg }

func (s *Server) elsewhere(org ptoy.ID) error {
	if base, ok := s.cfg.Peers[org]; ok {
		return &misdirected{base: strings.TrimSuffix(base, "/") + "/fhir",
			msg: "this node answers for its own organisation's staff and systems; ask the node of yours: " + strings.TrimSuffix(base, "/") + "/fhir"}
	}
	return ptoy.E("fhir", ptoy.PermissionDenied, "this node answers only for its own organisation's staff and systems, and holds no keys of yours")
}

func sortStrings(s []string) { sort.Strings(s) }
