// Package ptoy is the vocabulary of the ptoy health information exchange:
// typed identifiers, the error type with its kinds, and the few interfaces
// that more than one package crosses. It imports nothing of the project.
package ptoy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// IDLen is the length in bytes of an account identifier.
const IDLen = 20

// ID identifies an account on the ledger (patient, organisation or
// practitioner). It is derived from the account's first signing key and
// never from a name or a phone number, so that it carries no PHI.
type ID [IDLen]byte

// IDFromKey derives the account id of an Ed25519 public key: the first 20
// bytes of SHA-256("ptoy-id" || key).
func IDFromKey(signingKey []byte) ID {
	h := sha256.New()
	h.Write([]byte("ptoy-id"))
	h.Write(signingKey)
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// ParseID reads the 40-hex-digit text form of an id.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != IDLen {
		return id, E("parse id", Invalid, fmt.Sprintf("%q is not an account id (40 hex digits)", s))
	}
	copy(id[:], b)
	return id, nil
}

// IDFromBytes converts the byte form used in transactions and state.
func IDFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != IDLen {
		return id, E("id", Invalid, fmt.Sprintf("account id must be %d bytes, got %d", IDLen, len(b)))
	}
	copy(id[:], b)
	return id, nil
}

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// LogValue logs an id in hex, as String writes it, in every slog
// handler (JSON's would write an array of numbers).
func (id ID) LogValue() slog.Value { return slog.StringValue(id.String()) }

// Bytes returns a copy of the id as a slice.
func (id ID) Bytes() []byte { return append([]byte(nil), id[:]...) }

// IsZero reports whether id is the zero value.
func (id ID) IsZero() bool { return id == ID{} }

// PatientID, OrgID and PractitionerID name the kind of account a value
// must be, so that one cannot be passed where another is wanted.
type (
	PatientID      ID
	OrgID          ID
	PractitionerID ID
)

func (id PatientID) String() string      { return ID(id).String() }
func (id OrgID) String() string          { return ID(id).String() }
func (id PractitionerID) String() string { return ID(id).String() }
