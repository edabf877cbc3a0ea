package auditlog

import (
	"context"
)

// Checkpoint writes a copy of the log, as of one moment, into dir, which
// must not exist; Open opens it as a log, whose batches verify. Appends
// wait while the copy is made (Pebble links its files, so it is quick).
// Errors are ptoy.Exists when dir exists, ptoy.Unavailable when the log
// is closed or broken, and ptoy.Other.
func (l *Log) Checkpoint(ctx context.Context, dir string) error {
	const op = "audit.Checkpoint"
	if err := l.enter(ctx, op); err != nil {
		return err
	}
	defer l.mu.RUnlock()
	// Neither repair (excluded by the read lock) nor the committer (by
	// dbMu) touches the database meanwhile.
	l.dbMu.Lock()
	defer l.dbMu.Unlock()
	if err := l.db.Checkpoint(dir); err != nil {
		return wrap(op, err)
	}
	return nil
}
