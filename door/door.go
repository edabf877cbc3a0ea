// Package door is the one way patient data leaves a node. Every edge that
// answers with a person's data — the ciphertext gateway, key releases, key
// material, replicas between nodes, and the FHIR API and web app built on
// them — calls Door.Enter before it answers, and answers only if Enter
// lets it through:
//
//  1. the caller is authenticated (package auth) before Enter is called;
//  2. Enter decides on the latest committed state: consent.Decide for a
//     patient's data, or a rule of the edge's own for data that is not
//     under consent (key material is for its holder and patient only, a
//     replica for the blob's placement nodes only);
//  3. Enter writes the audit event, allow or deny, and returns only once
//     it is on disk: if it cannot be written, nothing is served
//     (ptoy.Unavailable);
//  4. the edge answers.
//
// A refused request gets ptoy.PermissionDenied with the decision's reason;
// an edge that must not reveal whether a thing exists replaces it with its
// own not-found answer after Enter has recorded the refusal.
package door

import (
	"context"
	"time"

	"ptoy"
	"ptoy/audit"
	"ptoy/audit/auditlog"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

// Config wires a door to its node.
type Config struct {
	Node string // the node's moniker, for audit events
	// Consent is the state Decide reads (the ledger's consent index);
	// BlockTime is the time of the last committed block, at which
	// decisions are made.
	Consent   consent.State
	BlockTime func() time.Time
	Audit     *auditlog.Log
	Now       func() time.Time
}

// Door decides, records and lets through.
type Door struct{ cfg Config }

// New returns a door.
func New(cfg Config) *Door {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Door{cfg: cfg}
}

// Access is one request for a person's data.
type Access struct {
	Reader  ptoy.ID // the authenticated caller
	Patient ptoy.ID // whose data; zero for a blob a node replicates
	Action  string  // audit action: read, key-release, key-material, replica, …
	Object  string  // what is read, for the audit event (ids, never content)
	Purpose pb.Purpose
	Org     ptoy.ID // the organisation the reader acts for, if any

	// Exactly one of Consent and Rule decides. Consent is a consent
	// question (Reader, Patient, Purpose and Org are filled in from the
	// Access); Rule answers for reads that are not under consent.
	Consent *consent.Request
	Rule    func() (allow bool, reason string)

	// Unknown marks a request for a thing that does not exist: it is
	// refused with Reason and recorded like any other.
	Unknown string
}

// Pass is what a door lets through: the decision, for edges that act on
// how access was granted (break-glass keys come from the escrow).
type Pass struct {
	Decision consent.Decision
	Event    audit.Event
}

// Enter decides a, writes its audit event durably, and returns the pass
// if a is allowed. Errors: ptoy.PermissionDenied (refused, with the
// reason), ptoy.Unavailable (the event could not be recorded; nothing may
// be served), ptoy.Invalid (a malformed access).
func (d *Door) Enter(ctx context.Context, a Access) (Pass, error) {
	const op = "door.Enter"
	p, allow, reason, err := d.decide(op, a)
	if err != nil {
		return Pass{}, err
	}
	ev, err := d.cfg.Audit.Append(ctx, d.event(a, allow, reason))
	if err != nil {
		return Pass{}, ptoy.E(op, ptoy.Unavailable, "the access could not be recorded; nothing was served", err)
	}
	p.Event = ev
	if !allow {
		return p, ptoy.E(op, ptoy.PermissionDenied, reason)
	}
	return p, nil
}

// EnterAll is Enter for several accesses answered together (a node
// fetching a batch of replicas): it decides each, writes one audit event
// per access, durably, and returns once all are on disk, with one error
// per access: nil if it is let through, else as Enter's. If any event
// could not be recorded the second result is ptoy.Unavailable and nothing
// may be served.
func (d *Door) EnterAll(ctx context.Context, as []Access) ([]error, error) {
	const op = "door.EnterAll"
	errs := make([]error, len(as))
	var evs []audit.Event
	for i, a := range as {
		_, allow, reason, err := d.decide(op, a)
		switch {
		case err != nil:
			errs[i] = err
			continue
		case !allow:
			errs[i] = ptoy.E(op, ptoy.PermissionDenied, reason)
		}
		evs = append(evs, d.event(a, allow, reason))
	}
	if err := d.cfg.Audit.AppendAll(ctx, evs); err != nil {
		return nil, ptoy.E(op, ptoy.Unavailable, "the access could not be recorded; nothing was served", err)
	}
	return errs, nil
}

// decide answers a by its consent question or its rule.
func (d *Door) decide(op string, a Access) (p Pass, allow bool, reason string, err error) {
	if (a.Consent == nil) == (a.Rule == nil) && a.Unknown == "" {
		return Pass{}, false, "", ptoy.E(op, ptoy.Invalid, "an access is decided by consent or by a rule")
	}
	switch {
	case a.Unknown != "":
		reason = a.Unknown
	case a.Consent != nil:
		p.Decision = d.Decide(a)
		allow, reason = p.Decision.Allow, p.Decision.Reason()
	default:
		allow, reason = a.Rule()
		p.Decision = consent.Decision{Allow: allow}
	}
	return p, allow, reason, nil
}

// event is the audit event of a, decided.
func (d *Door) event(a Access, allow bool, reason string) audit.Event {
	ev := audit.Event{
		Time: d.cfg.Now(), Node: d.cfg.Node, Actor: a.Reader, Patient: a.Patient, Action: a.Action,
		Record: a.Object, Purpose: consent.PurposeName(a.Purpose), Decision: audit.Deny, Reason: reason,
	}
	if allow {
		ev.Decision = audit.Allow
	}
	return ev
}

// Decide answers a's consent question on the latest committed state
// without recording it. It is for an edge that answers about many
// records at once (a FHIR search): it decides each candidate with
// Decide, keeps what is allowed, and calls Record for what it will
// answer before it answers. a.Consent must be set.
func (d *Door) Decide(a Access) consent.Decision {
	if a.Consent == nil {
		return consent.Decision{}
	}
	r := *a.Consent
	r.Reader, r.Patient, r.Purpose, r.Org = a.Reader, a.Patient, a.Purpose, a.Org
	if r.Action == 0 {
		r.Action = consent.Read
	}
	if d.cfg.BlockTime != nil {
		r.Time = d.cfg.BlockTime()
	}
	return consent.Decide(d.cfg.Consent, r)
}

// Record writes one audit event per access, with the decision Decide
// gave it (ds[i] for as[i]), durably, and returns once all are on disk:
// ptoy.Unavailable if any could not be written, and then nothing may be
// served.
func (d *Door) Record(ctx context.Context, as []Access, ds []consent.Decision) error {
	if len(as) != len(ds) {
		return ptoy.E("door.Record", ptoy.Invalid, "one decision per access")
	}
	evs := make([]audit.Event, len(as))
	for i, a := range as {
		evs[i] = d.event(a, ds[i].Allow, ds[i].Reason())
	}
	if err := d.cfg.Audit.AppendAll(ctx, evs); err != nil {
		return ptoy.E("door.Record", ptoy.Unavailable, "the access could not be recorded; nothing was served", err)
	}
	return nil
}
