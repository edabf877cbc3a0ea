package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"google.golang.org/protobuf/proto"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/kv"
)

// Event is a consent or record change seen in a committed block, in the
// words of an audit log: who did what to whose records.
type Event struct {
	Action  string // grant, revoke, write, erase, break-glass
	Actor   ptoy.ID
	Patient ptoy.ID
	Record  string // record id@version, or the scope of a grant
	Purpose string
	Reason  string
}

// Events returns the audit events a committed block's writes stand for
// (none for most writes). Nodes append them to their audit logs. A
// break-glass is one event, when it opens: its record is written again
// when shares are released or the patient's policy closes it, and those
// writes are not new break-glass events.
func Events(writes []kv.Write) []Event {
	opened := map[uint64]bool{}
	for _, w := range writes {
		if bytes.HasPrefix(w.Key, prefixGlassPatient) && len(w.Key) == len(prefixGlassPatient)+ptoy.IDLen+8 && w.Value != nil {
			opened[binary.BigEndian.Uint64(w.Key[len(w.Key)-8:])] = true
		}
	}
	var out []Event
	for _, w := range writes {
		if bytes.HasPrefix(w.Key, prefixGlass) && len(w.Key) == len(prefixGlass)+8 &&
			!opened[binary.BigEndian.Uint64(w.Key[len(prefixGlass):])] {
			continue
		}
		out = append(out, eventsOf(w.Key, w.Value)...)
	}
	return out
}

// eventsOf returns the audit events one write stands for.
func eventsOf(k, v []byte) []Event {
	if v == nil {
		return nil
	}
	switch {
	case bytes.HasPrefix(k, prefixGrant) && len(k) == len(prefixGrant)+2*ptoy.IDLen:
		gs := new(pb.GrantState)
		if proto.Unmarshal(v, gs) != nil {
			return nil
		}
		patient, grantee := ptoy.ID(k[len(prefixGrant):]), ptoy.ID(k[len(prefixGrant)+ptoy.IDLen:])
		fillGrant(gs, patient, grantee)
		e := Event{Action: "grant", Actor: ptoy.ID(gs.GrantedBy), Patient: patient,
			Record:  "scope:" + consent.FormatCategories(gs.Grant.Categories),
			Purpose: consent.PurposeName(gs.Grant.Purpose),
			Reason:  fmt.Sprintf("%s to %s", consent.PermissionName(gs.Grant.Permission), grantee)}
		if gs.Status == pb.GrantStatus_GRANT_STATUS_REVOKED {
			e.Action, e.Reason = "revoke", "access of "+grantee.String()+" revoked"
		}
		return []Event{e}
	case IsRecordKey(k):
		st := new(pb.RecordState)
		if proto.Unmarshal(v, st) != nil || st.Entry == nil {
			return nil
		}
		patient, id, version, _ := ParseRecordKey(k)
		e := Event{Action: "write", Actor: ptoy.ID(st.Writer), Patient: patient,
			Record: fmt.Sprintf("%s@%d", hex.EncodeToString(id), version),
			Reason: "category " + consent.CategoryName(st.Entry.Category)}
		if st.Erased {
			e.Action, e.Reason = "erase", "erased by the patient"
		}
		return []Event{e}
	case bytes.HasPrefix(k, prefixGlass) && len(k) == len(prefixGlass)+8:
		ev := new(pb.BreakGlassEvent)
		if proto.Unmarshal(v, ev) != nil {
			return nil
		}
		e := Event{Action: "break-glass", Actor: ptoy.ID(ev.Practitioner), Patient: ptoy.ID(ev.Patient),
			Record: "scope:" + consent.FormatCategories(ev.Categories), Purpose: "emergency",
			Reason: fmt.Sprintf("break-glass %d for organisation %s", ev.Id, ptoy.ID(ev.Org))}
		if ev.Flagged {
			e.Reason += " (flagged: repeated break-glass)"
		}
		return []Event{e}
	}
	return nil
}
