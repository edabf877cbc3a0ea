package blob

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"
)

// CorruptInline replaces the stored content of inline blob h with bytes
// of the same length that differ (or one byte, if it is empty), as a
// fault below Pebble's checksums would. It is a hook for tests.
func (d *Disk) CorruptInline(h Hash) error {
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

// IsInline reports whether h is stored inside Pebble.
func (d *Disk) IsInline(h Hash) bool {
	m, err := d.getMeta(h)
	return err == nil && m.kind == kindInline
}
