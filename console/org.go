package console

import (
	"context"
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

// Org is what the console asks of the node, as the signed-in member's
// session (tok): each call acts with the keys the session holds, through
// the same checks as any client's. A session that ended is
// ptoy.Unauthenticated; a role that may not act, ptoy.PermissionDenied.
type Org interface {
	// Org is the node's organisation: its id and name.
	Org() (ptoy.ID, string)
	// Patients are the patients who granted the organisation access
	// (revoked grants left out, expired ones marked).
	Patients(ctx context.Context, tok string) ([]Patient, error)
	// Employees are the organisation's staff, with names where the node
	// knows them.
	Employees(ctx context.Context, tok string) ([]Employee, error)
	// AddEmployee puts the practitioner of a keystore file on the staff
	// with role: the file's passphrase opens it so that the key co-signs,
	// and the node keeps the file so that they sign in here. A file that
	// is not a keystore is ptoy.Invalid, a wrong passphrase
	// ptoy.PermissionDenied, someone on the staff already ptoy.Exists.
	AddEmployee(ctx context.Context, tok string, e NewEmployee) (ptoy.ID, error)
	// RemoveEmployee takes an employee off the staff.
	RemoveEmployee(ctx context.Context, tok string, id ptoy.ID) error
	// SetRole changes an employee's role.
	SetRole(ctx context.Context, tok string, id ptoy.ID, role pb.Role) error
	// Review is the matching review queue; Approve turns a match into a
	// proposal to the patient. Holdings summarises what the organisation
	// holds from its EHR. Admins only.
	Review(ctx context.Context, tok string) ([]Match, error)
	Approve(ctx context.Context, tok string, patient ptoy.ID, proposal string) error
	Holdings(ctx context.Context, tok string) (Holdings, error)
	// BreakGlass opens emergency access to a patient's emergency set for
	// the organisation; only the SHA-256 of reason leaves the node. An
	// emergency physician only.
	BreakGlass(ctx context.Context, tok string, patient ptoy.ID, reason string) (*pb.BreakGlassEvent, error)
	// GlassQueue is the organisation's break-glass review queue (privacy
	// officers and admins).
	GlassQueue(ctx context.Context, tok string) ([]*pb.BreakGlassEvent, error)
	// DisputeText is the patient's reason for disputing the
	// organisation's break-glass event, where this node keeps it (the
	// patient disputed through it), checked against the SHA-256 on the
	// ledger; "" when this node keeps none. A text that does not hash to
	// the ledger's is not returned: ptoy.Invalid. Privacy officers and
	// admins.
	DisputeText(ctx context.Context, tok string, event uint64) (string, error)
	// Syncs are the organisation's EHR sources, as the node's
	// configuration lists them, each with its sync's progress; StartSync
	// starts (or resumes) one, StopSync stops one after its current batch.
	// Admins only.
	Syncs(ctx context.Context, tok string) ([]Sync, error)
	StartSync(ctx context.Context, tok, name string) error
	StopSync(ctx context.Context, tok, name string) error
	// Name names an account for the staff: a person by the name the node
	// knows, a patient by the name the organisation holds, else a short id.
	Name(id ptoy.ID) string
}

// Patient is one entry of the patient list.
type Patient struct {
	ID ptoy.ID
	// Name is the patient's name where the organisation knows it (it
	// registered them), else "".
	Name       string
	Categories uint32
	Permission pb.Permission
	Purpose    pb.Purpose
	Expires    int64
	Status     string // "active", "not yet started", "expired"
}

// Employee is one member of the staff.
type Employee struct {
	ID    ptoy.ID
	Name  string
	Role  pb.Role
	Since int64 // block height
}

// IsNode reports whether the employee is the node's own account, which
// signs what the node commits and stays on the staff as it is.
func (e Employee) IsNode() bool { return e.Role == pb.Role_ROLE_NODE }

// NewEmployee is what an admin gives to add someone.
type NewEmployee struct {
	Name       string
	Keystore   []byte
	Passphrase string
	Role       pb.Role
}

// Match is an entry of the matching review queue.
type Match struct {
	Patient  ptoy.ID
	Proposal string
	Score    float64
	Records  int
}

// Holdings summarises what the organisation holds from its EHR.
type Holdings struct {
	Records, Patients, Linked int
}

// Sync is an EHR source and where its sync is.
type Sync struct {
	Name  string
	Kind  string // "directory" or "FHIR server"
	Where string // the directory or the server's base URL
	State string // "never run", "running", "finished", "stopped", "failed"
	// Done resources of Total (-1: the source does not say), of which
	// Created, Updated, Unchanged and Failed; PerSecond and Left are the
	// running sync's rate and time left (0: unknown).
	Done, Total, Created, Updated, Unchanged, Failed int
	PerSecond                                        float64
	Left                                             time.Duration
	Started, Ended                                   time.Time
	Error                                            string // why the last run failed
	Failures                                         []SyncFailure
}

// SyncFailure is a resource the node did not take, and why.
type SyncFailure struct{ Ref, Reason string }
