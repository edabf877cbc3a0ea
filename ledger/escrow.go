package ledger

// The emergency escrow on the ledger: validators release their shares of
// a patient's emergency key for an open break-glass (package escrow).
//
// State layout:
//
//	bgshare/  id org            SHA-256 of the share org released for break-glass id
//
// and the hash is appended to the BreakGlassEvent's shares, where the
// gateways find it as key material.

import (
	"google.golang.org/protobuf/proto"

	"bytes"
	"encoding/binary"
	"fmt"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/kv"
)

var prefixGlassShare = []byte("bgshare/")

func glassShareKey(id uint64, org ptoy.ID) []byte {
	return cat(binary.BigEndian.AppendUint64(cat(prefixGlassShare), id), org[:])
}

// releaseShare records a validator organisation's escrow share for an
// open break-glass, sealed to the break-glass's organisation (a blob):
// one share per organisation per break-glass.
func (b *Block) releaseShare(op string, acct *pb.Account, m *pb.ReleaseShare) error {
	orgID, org, err := b.signsForOrg(op, acct, "releases escrow shares")
	if err != nil {
		return err
	}
	if len(org.ValidatorKey) == 0 {
		return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("%s runs no validator: it holds no escrow share", org.Name))
	}
	if err := checkSHA256(op, "the share", m.Share, true); err != nil {
		return err
	}
	ev, err := readGlass(b.get, m.BreakGlass)
	if err != nil {
		return err
	}
	if ev == nil {
		return ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no break-glass %d", m.BreakGlass))
	}
	if now := b.time.Unix(); now < ev.Opened || now >= ev.Closes {
		return ptoy.E(op, ptoy.PermissionDenied, fmt.Sprintf("break-glass %d is closed (it closed at %s): shares are released only while it is open", ev.Id, timeWords(ev.Closes)))
	}
	key := glassShareKey(ev.Id, orgID)
	if v, err := b.get(key); err != nil {
		return err
	} else if v != nil {
		return ptoy.E(op, ptoy.Exists, fmt.Sprintf("%s already released its share for break-glass %d", org.Name, ev.Id))
	}
	ev.Shares = append(ev.Shares, bytes.Clone(m.Share))
	b.putMsg(glassKey(ev.Id), ev)
	b.set(key, bytes.Clone(m.Share))
	return nil
}

// ReleasedShare returns the hash of the share org released for
// break-glass id; ptoy.NotFound if it released none.
func (l *Ledger) ReleasedShare(id uint64, org ptoy.ID) ([]byte, error) {
	v, err := l.kv.Get(glassShareKey(id, org))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, ptoy.E("ledger.ReleasedShare", ptoy.NotFound, fmt.Sprintf("%s released no share for break-glass %d", org, id))
	}
	return bytes.Clone(v), nil
}

// OpenBreakGlass lists the break-glass windows open at the last committed
// block's time, in patient and id order.
func (l *Ledger) OpenBreakGlass() ([]*pb.BreakGlassEvent, error) {
	now := l.BlockTime().Unix()
	var ids []uint64
	err := l.kv.Scan(prefixGlassOpen, kv.PrefixEnd(prefixGlassOpen), func(_, v []byte) error {
		all := unpackU64s(v)
		for i := 0; i+1 < len(all); i += 2 {
			if int64(all[i+1]) > now {
				ids = append(ids, all[i])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []*pb.BreakGlassEvent
	for _, id := range ids {
		ev, err := readGlass(l.kv.Get, id)
		if err != nil {
			return nil, err
		}
		if ev != nil && ev.Opened <= now && now < ev.Closes {
			out = append(out, ev)
		}
	}
	return out, nil
}

// IsBreakGlassKey reports whether a committed key holds a
// BreakGlassEvent: subscribers watch for new break-glass events and
// released shares with it.
func IsBreakGlassKey(k []byte) bool {
	return bytes.HasPrefix(k, prefixGlass) && len(k) == len(prefixGlass)+8
}

// BreakGlassPatient returns the patient of a committed BreakGlassEvent
// write (a new break-glass, or shares released for one); ok is false for
// other writes.
func BreakGlassPatient(w kv.Write) (patient ptoy.ID, ok bool) {
	if !IsBreakGlassKey(w.Key) || w.Value == nil {
		return patient, false
	}
	var ev pb.BreakGlassEvent
	if proto.Unmarshal(w.Value, &ev) != nil || len(ev.Patient) != ptoy.IDLen {
		return patient, false
	}
	return ptoy.ID(ev.Patient), true
}
