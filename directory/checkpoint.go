package directory

// Checkpoint writes a copy of the directory's store, as of one moment,
// into dir, which must not exist; Open with the same key opens it. Errors
// are ptoy.Exists when dir exists, ptoy.Unavailable when the directory is
// closed, and ptoy.Other.
func (d *Directory) Checkpoint(dir string) error {
	const op = "directory.Checkpoint"
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return closedErr(op)
	}
	return d.db.Checkpoint(dir)
}
