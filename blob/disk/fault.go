package disk

import (
	"ptoy/blob"

	"bytes"
	"os"

	"github.com/cockroachdb/pebble/v2"

	"ptoy"
)

// CorruptForTest flips one byte of blob h where it is stored (inside the
// database or in its file), as a fault below the store's checksums would.
// It exists for fault-injection tests of scrub and repair; nothing else
// calls it.
func (d *Store) CorruptForTest(h blob.Hash) error {
	m, err := d.getMeta(h)
	if err != nil {
		return err
	}
	if m.kind == kindFile {
		b, err := os.ReadFile(d.filePath(h))
		if err != nil || len(b) == 0 {
			return ptoy.E("blob.CorruptForTest", ptoy.Other, "cannot read the blob's file", err)
		}
		b[len(b)/2] ^= 0xff
		return os.WriteFile(d.filePath(h), b, 0o600)
	}
	v, closer, err := d.db.Get(dataKey(h))
	if err != nil {
		return err
	}
	c := bytes.Clone(v)
	closer.Close()
	if len(c) == 0 {
		c = []byte{0}
	} else {
		c[len(c)/2] ^= 0xff
	}
	return d.db.Set(dataKey(h), c, pebble.Sync)
}
