package disk

import (
	"ptoy/blob"
)

// CorruptInline corrupts inline blob h (see CorruptForTest).
func (d *Store) CorruptInline(h blob.Hash) error { return d.CorruptForTest(h) }

// IsInline reports whether h is stored inside Pebble.
func (d *Store) IsInline(h blob.Hash) bool {
	m, err := d.getMeta(h)
	return err == nil && m.kind == kindInline
}
