package blob

import ()

// CorruptInline corrupts inline blob h (see CorruptForTest).
func (d *Disk) CorruptInline(h Hash) error { return d.CorruptForTest(h) }

// IsInline reports whether h is stored inside Pebble.
func (d *Disk) IsInline(h Hash) bool {
	m, err := d.getMeta(h)
	return err == nil && m.kind == kindInline
}
