package ptoy

import (
	"errors"
	"fmt"
)

// Kind classifies an error. The list is append-only: each kind's value is
// part of the ledger's result codes and the API's status mapping.
type Kind uint8

const (
	Other            Kind = iota // unclassified; an internal fault
	Invalid                      // malformed or out-of-range input
	Unauthenticated              // missing or bad signature, wrong chain
	PermissionDenied             // the signer may not do this
	NotFound                     // no such account, organisation, proposal
	Exists                       // already registered or present
	BadSequence                  // replayed or skipped sequence number
	Unavailable                  // try again later (node not ready, shutting down)
	Expired                      // a code, session or window has expired
)

var kindNames = [...]string{
	Other:            "internal error",
	Invalid:          "invalid input",
	Unauthenticated:  "unauthenticated",
	PermissionDenied: "permission denied",
	NotFound:         "not found",
	Exists:           "already exists",
	BadSequence:      "bad sequence",
	Unavailable:      "unavailable",
	Expired:          "expired",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is the error type of ptoy. Op names the operation ("ledger.AddEmployee"),
// Kind classifies it, Msg says in plain words what went wrong, and Err is
// the underlying cause, if any.
type Error struct {
	Op   string
	Kind Kind
	Msg  string
	Err  error
}

// E builds an *Error. args may be a string (the message) and an error (the cause).
func E(op string, kind Kind, args ...any) error {
	e := &Error{Op: op, Kind: kind}
	for _, a := range args {
		switch a := a.(type) {
		case string:
			e.Msg = a
		case error:
			e.Err = a
		}
	}
	return e
}

func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = e.Kind.String()
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Op != "" {
		return e.Op + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, Other if none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		if e.Kind == Other && e.Err != nil {
			return KindOf(e.Err)
		}
		return e.Kind
	}
	return Other
}

// Message returns the plain-words message of err for a user: the first
// *Error's message, without the operation.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		if e.Msg != "" {
			return e.Msg
		}
		if e.Err != nil {
			return Message(e.Err)
		}
		return e.Kind.String()
	}
	return err.Error()
}

// HTTPStatus is the HTTP status of an error's kind, for every edge that
// answers over HTTP: 400, 401, 403, 404, 409, 503, else 500.
func HTTPStatus(err error) int {
	switch KindOf(err) {
	case Invalid:
		return 400
	case Unauthenticated:
		return 401
	case PermissionDenied:
		return 403
	case NotFound:
		return 404
	case Exists:
		return 409
	case Unavailable:
		return 503
	}
	return 500
}
