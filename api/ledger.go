package api

import (
	"time"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
	"ptoy/residency"
)

// What the API reads of the committed state, in four small views: the
// API never writes it (transactions go through Backend.Submit) and knows
// nothing of how it is stored. A node's *ledger.Ledger is all four. Errors
// carry ptoy kinds; what does not exist is ptoy.NotFound.

// Identities are accounts, organisations and their employees.
type Identities interface {
	ChainID() string
	Account(id ptoy.ID) (*pb.Account, error)
	AccountByKey(pub []byte) (*pb.Account, error)
	Org(id ptoy.ID) (*pb.Org, error)
	Orgs() ([]*pb.Org, error)
	Employees(org ptoy.ID) ([]*pb.Employee, error)
	Employee(org, p ptoy.ID) (*pb.Employee, error)
	Employments(p ptoy.ID) ([]*pb.Employee, error)
	Proposals() ([]*pb.Proposal, error)
}

// Consents are grants, delegations, break-glass, notifications, key sets
// and audit anchors, and the decisions made on them.
type Consents interface {
	Height() (int64, []byte)
	BlockTime() time.Time
	ConsentState() consent.State
	Decide(r consent.Request) consent.Decision
	Grant(patient, grantee ptoy.ID) (*pb.GrantState, error)
	GrantsOf(patient ptoy.ID) ([]*pb.GrantState, error)
	PatientList(grantee ptoy.ID) ([]ledger.PatientEntry, error)
	Delegations(patient ptoy.ID) ([]*pb.DelegationState, error)
	BreakGlassQueue(org ptoy.ID) ([]*pb.BreakGlassEvent, error)
	BreakGlassOf(patient ptoy.ID) ([]*pb.BreakGlassEvent, error)
	BreakGlassPolicy(patient ptoy.ID) (*pb.BreakGlassPolicy, error)
	Residency(patient ptoy.ID) (residency.Effective, error)
	Notifications(patient ptoy.ID) ([]*pb.Notification, error)
	AuditAnchor(org ptoy.ID, batch uint64) (*pb.AuditAnchor, error)
	KeySet(patient ptoy.ID) (*pb.KeySetState, error)
}

// Records are record versions' metadata.
type Records interface {
	Record(patient ptoy.ID, id []byte, version uint32) (*pb.RecordState, error)
	RecordHistory(patient ptoy.ID, id []byte) ([]*pb.RecordState, error)
	Records(patient ptoy.ID) ([]*pb.RecordState, error)
}

// Tokens are balances, histories, storage and the network's parameters.
type Tokens interface {
	Params() (*pb.Params, error)
	Balance(id ptoy.ID) (uint64, error)
	Supply() (uint64, error)
	Usage(id ptoy.ID) (used, quota uint64, plans []*pb.PlanState, err error)
	History(id ptoy.ID, limit int) ([]*pb.HistoryEntry, error)
	StateSize() (keys, bytes int64, err error)
}

// Ledger is the four views together.
type Ledger interface {
	Identities
	Consents
	Records
	Tokens
}

var _ Ledger = (*ledger.Ledger)(nil)
