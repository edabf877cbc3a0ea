package disk

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"

	"ptoy"
	"ptoy/blob"
)

// Checkpoint writes a copy of the store, as of one moment, into dir,
// which must not exist; Open opens it as a store. The index is a Pebble
// checkpoint; the large blobs it lists are hard-linked into dir (copied
// where a link cannot be made, as across file systems). A blob deleted
// between the checkpoint of the index and its link is left out: the
// copy then lists it without its content, and Scrub reports it missing
// (a node repairs it from its peers). Errors are ptoy.Exists when dir
// exists, ptoy.Unavailable when the store is closed, and ptoy.Other.
func (d *Store) Checkpoint(ctx context.Context, dir string) error {
	const op = "blob.Disk.Checkpoint"
	if _, err := os.Stat(dir); err == nil {
		return ptoy.E(op, ptoy.Exists, dir+" already exists")
	}
	if err := d.enter(op); err != nil {
		return err
	}
	err := d.db.Checkpoint(filepath.Join(dir, dbDir), pebble.WithFlushedWAL())
	d.leave()
	if err != nil {
		return ptoy.E(op, ptoy.Other, err)
	}
	cp, err := Open(dir, Options{CacheBytes: 1 << 20})
	if err != nil {
		return err
	}
	defer cp.Close()
	// Open made files/ and tmp/ and removed nothing (files/ is empty).
	var hashes []blob.Hash
	err = cp.scan(op, ctx, func(rec record) error {
		if rec.err == nil && rec.m.kind == kindFile {
			hashes = append(hashes, rec.h)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, h := range hashes {
		if err := blob.CtxErr(op, ctx); err != nil {
			return err
		}
		src, dst := d.filePath(h), cp.filePath(h)
		if err := os.MkdirAll(filepath.Dir(dst), dirPerm); err != nil {
			return ptoy.E(op, ptoy.Other, err)
		}
		if err := linkOrCopy(src, dst); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted since
			}
			return ptoy.E(op, ptoy.Other, err)
		}
	}
	return nil
}

// linkOrCopy hard-links src to dst, or copies it (synced) if it cannot.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
