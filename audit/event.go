// Package audit is a node's durable, tamper-evident log of access events.
//
// Every access decision a node's gateway makes (allow and deny), and every
// grant, revoke, break-glass and record write it sees, is an Event. The
// node appends the event with Log.Append, which returns only once the
// event is on disk (synced); if it cannot, the request it describes must
// fail. Events carry identifiers and plain-words reasons only, never PHI.
//
// Events are numbered 1, 2, 3, ... per node, without gaps, in the order
// they were committed. From time to time the node cuts the events not yet
// in a batch into a Batch (Log.Cut) whose Merkle root — an RFC 6962
// (certificate transparency) tree over the events' leaf hashes — is
// anchored on the ledger in a transaction. After that the node cannot
// drop or alter an event unnoticed: a patient fetches an event with a
// proof of inclusion (Log.Proof) from any node and checks it against the
// root the ledger holds (VerifyProof), and the node itself can recheck a
// whole batch against its stored root (Log.VerifyBatch).
//
// For patients and auditors the package renders events as FHIR R4
// AuditEvent resources (FHIRAuditEvent) and as a plain-text HIPAA
// accounting of disclosures (AccountingOfDisclosures).
//
// # Encoding
//
// An event's canonical bytes (Event.Encode), version 1, are
//
//	version  1 byte, 0x01
//	seq      8 bytes, big-endian
//	time     8 bytes, big-endian two's complement, nanoseconds since 1970-01-01 UTC
//	node     4-byte big-endian length, then the bytes
//	actor    20 bytes
//	patient  20 bytes
//	action, record, purpose, decision, reason
//	         each a 4-byte big-endian length, then the bytes
//
// with nothing after. The leaf hash is SHA-256(0x00 || Encode()).
//
// # Storage
//
// The log itself, its Pebble database and its layout, is package
// audit/auditlog: this package holds what both a node and a client need
// (events, batches, proofs, chains, their checks and renderings) and links
// no storage engine.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"ptoy"
)

// Decisions.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Common actions. Others may be used: an action is lowercase letters,
// digits and hyphens.
const (
	ActionRead       = "read"
	ActionWrite      = "write"
	ActionGrant      = "grant"
	ActionRevoke     = "revoke"
	ActionBreakGlass = "break-glass"
	ActionErase      = "erase"
	ActionExpire     = "expire"
)

// EncodingVersion is the version byte that starts Event.Encode.
const EncodingVersion = 1

// MaxFieldLen is the longest, in bytes, that Append accepts for an event's
// node, record, purpose or reason; MaxActionLen for its action.
const (
	MaxFieldLen  = 1024
	MaxActionLen = 64
)

// fixedLen is the length of the fixed part of an encoding: version, seq,
// time, actor, patient, and the six 4-byte lengths.
const fixedLen = 1 + 8 + 8 + 2*ptoy.IDLen + 6*4

// Event is one audited access decision or change.
type Event struct {
	Seq      uint64    // assigned by Append, 1-based, per node
	Time     time.Time // supplied by the caller (the node's clock), UTC, stored at nanosecond precision
	Node     string    // node moniker
	Actor    ptoy.ID   // who acted (reader, writer, granting patient); zero for the node itself (e.g. "expire")
	Patient  ptoy.ID   // whose information it concerns
	Action   string    // "read", "write", "grant", "revoke", "break-glass", "erase", "expire", ...
	Record   string    // record id (hex) or ""; the scope for grants, e.g. "categories:conditions,medications"
	Purpose  string    // "treatment", "payment", ...
	Decision string    // "allow" or "deny"
	Reason   string    // plain words from the consent decision
}

// Encode returns the event's canonical bytes (see the package
// documentation). Time is written as nanoseconds since the Unix epoch, so
// it must lie between the years 1678 and 2262, as Append checks.
func (e Event) Encode() []byte {
	n := fixedLen + len(e.Node) + len(e.Action) + len(e.Record) + len(e.Purpose) + len(e.Decision) + len(e.Reason)
	b := make([]byte, 0, n)
	b = append(b, EncodingVersion)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = appendString(b, e.Node)
	b = append(b, e.Actor[:]...)
	b = append(b, e.Patient[:]...)
	for _, s := range [...]string{e.Action, e.Record, e.Purpose, e.Decision, e.Reason} {
		b = appendString(b, s)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// LeafHash is the event's Merkle leaf hash, SHA-256(0x00 || Encode()).
func (e Event) LeafHash() [32]byte { return LeafHash(e.Encode()) }

// DecodeEvent reads canonical bytes made by Encode. It checks structure
// only (version, lengths, no trailing bytes), so that for every input it
// accepts, Encode gives back the same bytes. Errors are ptoy.Invalid.
func DecodeEvent(b []byte) (Event, error) {
	const op = "audit.DecodeEvent"
	var e Event
	if len(b) < fixedLen {
		return e, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("an audit event is at least %d bytes, got %d", fixedLen, len(b)))
	}
	if b[0] != EncodingVersion {
		return e, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown audit event encoding version %d", b[0]))
	}
	d := decoder{b: b[1:]}
	e.Seq = d.uint64()
	e.Time = time.Unix(0, int64(d.uint64())).UTC()
	e.Node = d.string()
	d.id(&e.Actor)
	d.id(&e.Patient)
	e.Action = d.string()
	e.Record = d.string()
	e.Purpose = d.string()
	e.Decision = d.string()
	e.Reason = d.string()
	if d.bad {
		return Event{}, ptoy.E(op, ptoy.Invalid, "audit event is truncated or a field length is wrong")
	}
	if len(d.b) != 0 {
		return Event{}, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("audit event has %d trailing bytes", len(d.b)))
	}
	return e, nil
}

type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n uint64) []byte {
	if d.bad || uint64(len(d.b)) < n {
		d.bad = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) string() string {
	v := d.take(4)
	if v == nil {
		return ""
	}
	return string(d.take(uint64(binary.BigEndian.Uint32(v))))
}

func (d *decoder) id(id *ptoy.ID) {
	if v := d.take(ptoy.IDLen); v != nil {
		copy(id[:], v)
	}
}

// Normalize checks an event given to Append and returns it with its Node
// filled in and its Time in UTC at nanosecond precision, without a
// monotonic clock reading.
func Normalize(e Event, node string) (Event, error) {
	const op = "audit.Append"
	bad := func(msg string) (Event, error) { return Event{}, ptoy.E(op, ptoy.Invalid, msg) }
	if e.Time.IsZero() {
		return bad("audit event has no time")
	}
	t := time.Unix(0, e.Time.UnixNano()).UTC()
	if !t.Equal(e.Time) {
		return bad("audit event time " + e.Time.String() + " is outside the years 1678 to 2262")
	}
	e.Time = t
	switch e.Node {
	case "":
		e.Node = node
	case node:
	default:
		return bad(fmt.Sprintf("audit event is from node %q, but this log belongs to node %q", e.Node, node))
	}
	if e.Patient.IsZero() {
		return bad("audit event has no patient")
	}
	if e.Action == "" || len(e.Action) > MaxActionLen {
		return bad(fmt.Sprintf("audit event action must be 1 to %d characters", MaxActionLen))
	}
	for _, r := range e.Action {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
			return bad(fmt.Sprintf("audit event action %q is not lowercase letters, digits and hyphens", e.Action))
		}
	}
	if e.Decision != Allow && e.Decision != Deny {
		return bad(fmt.Sprintf("audit event decision must be %q or %q, not %q", Allow, Deny, e.Decision))
	}
	for _, f := range [...]struct{ name, v string }{
		{"node", e.Node}, {"record", e.Record}, {"purpose", e.Purpose}, {"reason", e.Reason},
	} {
		if len(f.v) > MaxFieldLen {
			return bad(fmt.Sprintf("audit event %s is longer than %d bytes", f.name, MaxFieldLen))
		}
		if !utf8.ValidString(f.v) {
			return bad(fmt.Sprintf("audit event %s is not valid UTF-8", f.name))
		}
		for _, r := range f.v {
			if unicode.IsControl(r) {
				return bad(fmt.Sprintf("audit event %s contains a control character", f.name))
			}
		}
	}
	return e, nil
}

func LeafHash(enc []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0x00})
	h.Write(enc)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
