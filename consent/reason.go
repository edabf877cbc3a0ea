package consent

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

// ShortID is the short form of an id in reasons: its first 4 bytes in hex.
func ShortID(id ptoy.ID) string { return hex.EncodeToString(id[:4]) }

// DefaultName is the display name of an account that has no name on the
// ledger (people have none there): its kind and short id, such as
// "practitioner 1a2b3c4d".
func DefaultName(id ptoy.ID, kind pb.AccountKind) string {
	switch kind {
	case pb.AccountKind_ACCOUNT_KIND_PATIENT:
		return "patient " + ShortID(id)
	case pb.AccountKind_ACCOUNT_KIND_PRACTITIONER:
		return "practitioner " + ShortID(id)
	case pb.AccountKind_ACCOUNT_KIND_ORG:
		return "organisation " + ShortID(id)
	case pb.AccountKind_ACCOUNT_KIND_NODE:
		return "node " + ShortID(id)
	}
	return ShortID(id)
}

// FormatTime writes a time in reasons, in UTC: "2027-01-31" at midnight,
// "2027-01-31 15:04 UTC" on the minute, "2027-01-31 15:04:05 UTC" otherwise.
func FormatTime(t time.Time) string {
	t = t.UTC()
	switch {
	case t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0:
		return t.Format("2006-01-02")
	case t.Second() == 0:
		return t.Format("2006-01-02 15:04 UTC")
	}
	return t.Format("2006-01-02 15:04:05 UTC")
}

// FormatEnd writes the end of an access (an expiry, a close) in reasons.
// An end at midnight UTC is the end of the day before, which is the day
// a person gave ("--until 2027-12-31" stores 2028-01-01 00:00 UTC):
// "the end of 2027-12-31"; any other time as FormatTime.
func FormatEnd(t time.Time) string {
	t = t.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return "the end of " + t.AddDate(0, 0, -1).Format("2006-01-02")
	}
	return FormatTime(t)
}

// endedAt says when an access ended: "at the end of 2027-12-31" for an
// end at midnight UTC (FormatEnd), "on 2027-12-31 15:04 UTC" otherwise.
func endedAt(t time.Time) string {
	if e := FormatEnd(t); strings.HasPrefix(e, "the end of ") {
		return "at " + e
	}
	return "on " + FormatTime(t)
}

func (d Decision) name(id ptoy.ID) string {
	if d.state != nil {
		if n := d.state.Names(id); n != "" {
			return n
		}
	}
	return ShortID(id)
}

func (d Decision) grantor() string {
	if d.By.IsZero() {
		return "the patient"
	}
	return d.name(d.By) + " for the patient"
}

func until(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " until " + FormatEnd(t)
}

// Reason says in plain words why the request was allowed or denied:
// "granted by the patient until 2027-01-31 for treatment", "revoked on
// 2026-11-02", "scope excludes mental health", "practitioner 1a2b3c4d's
// role (billing) does not cover clinical notes", "break-glass by
// practitioner 1a2b3c4d open until 2025-01-01 04:00 UTC". Names come from
// the State the decision was made on. It has no PHI.
func (d Decision) Reason() string {
	r := &d.req
	switch d.Code {
	case CodeOwn:
		return "the patient's own records"
	case CodeGrant:
		return "granted by " + d.grantor() + until(d.Expires) + " for " + PurposeName(d.Purpose)
	case CodeOrgGrant:
		return "granted to " + d.name(d.Org) + " by " + d.grantor() + until(d.Expires) + " for " + PurposeName(d.Purpose)
	case CodeDelegation:
		return "acting for the patient as a delegate" + until(d.Expires)
	case CodeBreakGlass:
		return "break-glass by " + d.name(d.Who) + " open until " + FormatTime(d.Expires)
	case CodeBadAction:
		return "unknown action " + fmt.Sprint(uint8(r.Action))
	case CodeNoCategory:
		return "the request names no category"
	case CodeUnknownCategory:
		return fmt.Sprintf("unknown category bits %#x", d.Categories)
	case CodeNoPatient:
		return "no patient " + ShortID(d.Who)
	case CodeNotPatient:
		return d.name(d.Who) + " is not a patient"
	case CodeNotEmployee:
		return d.name(d.Who) + " does not work for " + d.name(d.Org)
	case CodeRole:
		return d.name(d.Who) + "'s role (" + RoleName(d.Role) + ") does not cover " + DescribeCategories(d.Categories)
	case CodeNoGrant:
		return "the patient has not granted " + d.name(d.Who) + " access"
	case CodeRevoked:
		return "revoked on " + FormatTime(d.At)
	case CodeNotYet:
		return "the grant starts on " + FormatTime(d.At)
	case CodeExpired:
		return "expired " + endedAt(d.At)
	case CodeWriteOnly:
		return "the grant is write-only: it allows depositing records, not reading them"
	case CodeReadOnly:
		return "the grant is read-only: it does not allow writing"
	case CodeNoPurpose:
		return "a read must state its purpose of use"
	case CodePurpose:
		return "granted for " + PurposeName(d.Purpose) + ", not for " + PurposeName(r.Purpose)
	case CodeEmergencyOnly:
		return "emergency access is only by break-glass"
	case CodeScope:
		return "scope excludes " + DescribeCategories(d.Categories)
	case CodeDelegationExpired:
		return "the delegation expired " + endedAt(d.At)
	case CodeDelegationScope:
		return "the delegation's scope excludes " + DescribeCategories(d.Categories)
	case CodeGlassClosed:
		return "break-glass by " + d.name(d.Who) + " closed at " + FormatTime(d.At)
	case CodeGlassOrg:
		return "break-glass by " + d.name(d.Who) + " was for " + d.name(d.Org) + ", not " + d.name(r.Org)
	case CodeGlassRole:
		return d.name(d.Who) + " is no longer an emergency physician at " + d.name(d.Org)
	case CodeGlassScope:
		return "break-glass opens only " + DescribeCategories(d.Scope) + "; it excludes " + DescribeCategories(d.Categories)
	case CodeGlassPurpose:
		if d.Purpose == pb.Purpose_PURPOSE_UNSPECIFIED {
			return "break-glass serves emergency treatment; the request states no purpose"
		}
		return "break-glass serves emergency treatment, not " + PurposeName(d.Purpose)
	case CodeStateError:
		return "consent state unavailable: " + ptoy.Message(d.Err)
	}
	return "no decision"
}

// String is "allow (org grant): reason" or "deny: reason".
func (d Decision) String() string {
	if d.Allow {
		return "allow (" + d.Via + "): " + d.Reason()
	}
	return "deny: " + d.Reason()
}

// Explain answers "why can (or can't) X read Y" in one or two sentences
// of plain words: Decide's reason, then what the patient's grant or the
// reader's role does cover, or what could be done.
func Explain(s State, r Request) string {
	d := Decide(s, r)
	var b strings.Builder
	who := d.name(r.Reader)
	if !r.Org.IsZero() && r.Org != r.Reader {
		who += " (for " + d.name(r.Org) + ")"
	}
	verb := r.Action.String()
	what := DescribeCategories(r.Categories)
	switch {
	case d.Code == CodeOwn:
		b.WriteString("The patient can " + verb + " their own records.")
		return b.String()
	case d.Allow:
		fmt.Fprintf(&b, "%s can %s the patient's %s: %s.", who, verb, what, d.Reason())
	default:
		fmt.Fprintf(&b, "%s cannot %s the patient's %s: %s.", who, verb, what, d.Reason())
	}
	if c := context(s, &d, &r); c != "" {
		b.WriteString(" " + c)
	}
	return capitalize(b.String())
}

func context(s State, d *Decision, r *Request) string {
	switch d.Code {
	case CodeOrgGrant:
		return capitalize(d.name(r.Reader)) + "'s role (" + RoleName(d.Role) + ") covers " + DescribeCategories(r.Categories) + "."
	case CodeBreakGlass:
		return "Break-glass opened " + DescribeCategories(d.Scope) + " for " + d.name(d.Org) + "; the patient was notified and the access is queued for review."
	case CodeRole:
		if RoleCategories(d.Role) == 0 {
			return "That role manages and reviews; it does not read charts."
		}
		return "That role covers " + DescribeCategories(RoleCategories(d.Role)) + "."
	case CodeScope, CodeDelegationScope, CodeGlassScope:
		c := "It covers " + DescribeCategories(d.Scope) + "."
		if d.Categories&Sensitive != 0 {
			c += " Sensitive categories are reached only when the patient names them."
		}
		return c
	case CodePurpose, CodeWriteOnly, CodeReadOnly, CodeNotYet:
		if d.Scope != 0 {
			return "The grant covers " + DescribeCategories(d.Scope) + " for " + PurposeName(d.Purpose) + "."
		}
	case CodeRevoked:
		return "What was downloaded before the revocation cannot be taken back; nothing written after it can be opened with the old keys."
	case CodeExpired, CodeDelegationExpired:
		return "The patient can grant access again."
	case CodeNoGrant:
		return "The patient can grant access; in an emergency, an emergency physician can break the glass."
	case CodeNotEmployee:
		return "Only an organisation's own employees act for it."
	case CodeGlassClosed:
		return "A break-glass window lasts a few hours; a new one can be opened if the emergency goes on, unless the patient has turned break-glass off."
	case CodeEmergencyOnly:
		return "An emergency physician opens emergency access with break-glass."
	}
	return ""
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || unicode.IsUpper(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
