// Package wire is what a node's API and its clients agree on besides the
// protobuf messages: how error kinds travel as Connect codes, and the
// bytes a patient signs to list their own audit trail. Both sides import
// it; it links nothing of a node.
package wire

import (
	"bytes"
	"errors"
	"time"

	"connectrpc.com/connect"

	"ptoy"
)

// codes maps each error kind to its Connect (and so HTTP) status: the one
// place where the API translates errors.
var codes = map[ptoy.Kind]connect.Code{
	ptoy.Other:            connect.CodeInternal,
	ptoy.Invalid:          connect.CodeInvalidArgument,
	ptoy.Unauthenticated:  connect.CodeUnauthenticated,
	ptoy.PermissionDenied: connect.CodePermissionDenied,
	ptoy.NotFound:         connect.CodeNotFound,
	ptoy.Exists:           connect.CodeAlreadyExists,
	ptoy.BadSequence:      connect.CodeFailedPrecondition,
	ptoy.Unavailable:      connect.CodeUnavailable,
	ptoy.Expired:          connect.CodeDeadlineExceeded,
}

// ToConnect turns a ptoy error into the Connect error a client sees: its
// kind's code and its message, or "internal error" for what is not the
// caller's to know.
func ToConnect(err error) error {
	if err == nil {
		return nil
	}
	k := ptoy.KindOf(err)
	c, ok := codes[k]
	if !ok {
		c = connect.CodeInternal
	}
	msg := ptoy.Message(err)
	if k == ptoy.Other {
		msg = "internal error"
	}
	return connect.NewError(c, errors.New(msg))
}

// KindOf maps a Connect error from a node back to a ptoy kind.
func KindOf(err error) ptoy.Kind {
	c := connect.CodeOf(err)
	for k, v := range codes {
		if v == c && k != ptoy.Other {
			return k
		}
	}
	return ptoy.Other
}

// AuditSigningBytes are the bytes a patient signs to list their audit
// trail at time t (unix seconds).
func AuditSigningBytes(chainID string, patient ptoy.ID, t int64) []byte {
	var b bytes.Buffer
	b.WriteString("ptoy-audit-v1\x00")
	b.WriteString(chainID)
	b.WriteByte(0)
	b.WriteString(patient.String())
	b.WriteByte(0)
	b.WriteString(time.Unix(t, 0).UTC().Format(time.RFC3339))
	return b.Bytes()
}
