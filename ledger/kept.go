package ledger

import (
	"encoding/binary"
	"errors"
	"time"

	"ptoy"
	"ptoy/kv"
)

// A node copies the audit events of every committed block into its
// audit log (Events). So that none is lost when the node stops between
// a commit and the copy, or falls behind, the ledger can keep each
// block's events in its store, written in the commit's own batch, until
// the node says they are copied (ForgetEvents). They are the node's own
// bookkeeping, not state: outside the app hash, the read cache and
// StateSize.

// prefixKeptEvents holds the kept events, by height. Keys under "\x00"
// are the ledger's local records, never consensus state.
var prefixKeptEvents = []byte("\x00ev/")

func keptEventsKey(h int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{}, prefixKeptEvents...), uint64(h))
}

// BlockEvents are the audit events of one committed block.
type BlockEvents struct {
	Height int64
	Time   time.Time // the block's time
	Events []Event
}

// KeepEvents makes every later Commit keep its block's events until
// ForgetEvents. Call it before the first commit it should cover.
func (l *Ledger) KeepEvents() { l.keep.Store(true) }

// KeptEvents returns the kept events of the blocks after height after,
// in order, at most max blocks of them (max > 0).
func (l *Ledger) KeptEvents(after int64, max int) ([]BlockEvents, error) {
	var out []BlockEvents
	err := l.kv.Scan(keptEventsKey(after+1), kv.PrefixEnd(prefixKeptEvents), func(k, v []byte) error {
		be, err := decodeKept(k, v)
		if err != nil {
			return err
		}
		out = append(out, be)
		if len(out) == max {
			return kv.ErrStop
		}
		return nil
	})
	if errors.Is(err, kv.ErrStop) {
		err = nil
	}
	return out, err
}

// ForgetEvents drops the kept events of the blocks at heights. The write
// is not synced: what a crash brings back is copied again, and an audit
// log refuses a block it holds already (auditlog.Log.AppendLedger).
func (l *Ledger) ForgetEvents(heights []int64) error {
	if len(heights) == 0 {
		return nil
	}
	dels := make([]kv.Write, len(heights))
	for i, h := range heights {
		dels[i] = kv.Write{Key: keptEventsKey(h)}
	}
	return l.kv.Commit(dels, false)
}

// encodeKept encodes a block's time and events: the time in Unix
// nanoseconds, then each event as its action, actor, patient, record,
// purpose and reason, each length-prefixed.
func encodeKept(t time.Time, evs []Event) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
	for _, e := range evs {
		for _, f := range [...][]byte{[]byte(e.Action), e.Actor[:], e.Patient[:], []byte(e.Record), []byte(e.Purpose), []byte(e.Reason)} {
			b = binary.AppendUvarint(b, uint64(len(f)))
			b = append(b, f...)
		}
	}
	return b
}

func decodeKept(k, v []byte) (BlockEvents, error) {
	bad := ptoy.E("ledger.KeptEvents", ptoy.Other, "corrupt kept events")
	if len(k) != len(prefixKeptEvents)+8 || len(v) < 8 {
		return BlockEvents{}, bad
	}
	be := BlockEvents{Height: int64(binary.BigEndian.Uint64(k[len(prefixKeptEvents):])), Time: time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()}
	v = v[8:]
	field := func() ([]byte, bool) {
		n, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < n {
			return nil, false
		}
		f := v[w : w+int(n)]
		v = v[w+int(n):]
		return f, true
	}
	for len(v) > 0 {
		var fs [6][]byte
		for i := range fs {
			f, ok := field()
			if !ok {
				return BlockEvents{}, bad
			}
			fs[i] = f
		}
		if len(fs[1]) != ptoy.IDLen || len(fs[2]) != ptoy.IDLen {
			return BlockEvents{}, bad
		}
		be.Events = append(be.Events, Event{Action: string(fs[0]), Actor: ptoy.ID(fs[1]), Patient: ptoy.ID(fs[2]),
			Record: string(fs[3]), Purpose: string(fs[4]), Reason: string(fs[5])})
	}
	return be, nil
}
