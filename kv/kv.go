// Package kv is the vocabulary of ordered key-value state that the ledger
// and the stores share: a write, the end of a prefix's range, the error of
// a value that does not decode, the error that ends a scan early. It holds no storage engine: the ledger
// imports it and stays pure, and package store implements it on Pebble.
package kv

import (
	"bytes"
	"errors"

	"ptoy"
)

// Write is one change: Value nil deletes Key.
type Write struct {
	Key, Value []byte
}

// PrefixEnd returns the smallest key greater than every key with prefix.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// ErrCorrupt reports a stored value that does not decode.
func ErrCorrupt(err error) error { return ptoy.E("store", ptoy.Other, "corrupt stored value", err) }

// ErrStop, returned by a scan's function, ends the scan early; the scan
// returns it, and its caller takes it for success.
var ErrStop = errors.New("scan stopped")
