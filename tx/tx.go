// Package tx defines how ptoy transactions are encoded, signed and checked
// before the ledger applies them.
//
// A transaction is an Envelope (see proto/ptoy/v1/tx.proto): the raw bytes
// of a Body, the signer's Ed25519 public key and a signature over
// SigningBytes(chainID, body). Co-signatures sign the same bytes. The
// ledger applies the body bytes exactly as signed; nothing is re-encoded.
package tx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

// Limits on what a transaction may carry.
const (
	MaxTxBytes      = 64 << 10 // a transaction is metadata; data goes to blob stores
	MaxCosignatures = 4
	domain          = "ptoy-tx-v1"
)

// SigningBytes returns the bytes a signer signs: a domain tag, the chain
// id and the body, so that a transaction cannot be replayed on another chain.
func SigningBytes(chainID string, body []byte) []byte {
	b := make([]byte, 0, len(domain)+len(chainID)+2+len(body))
	b = append(b, domain...)
	b = append(b, 0)
	b = append(b, chainID...)
	b = append(b, 0)
	return append(b, body...)
}

// Signer is what can sign a transaction: a key pair held by the caller.
type Signer interface {
	SigningPublic() ed25519.PublicKey
	Sign(msg []byte) []byte
}

// Sign encodes body, signs it for chainID with signer and each cosigner,
// and returns the encoded envelope.
func Sign(chainID string, body *pb.Body, signer Signer, cosigners ...Signer) ([]byte, error) {
	bb, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		return nil, ptoy.E("tx.Sign", ptoy.Invalid, err)
	}
	return SignBytes(chainID, bb, signer, cosigners...)
}

// SignBytes is Sign for an already encoded body.
func SignBytes(chainID string, body []byte, signer Signer, cosigners ...Signer) ([]byte, error) {
	msg := SigningBytes(chainID, body)
	env := &pb.Envelope{Body: body, Signer: signer.SigningPublic(), Signature: signer.Sign(msg)}
	for _, c := range cosigners {
		env.Cosignatures = append(env.Cosignatures, &pb.Cosignature{Signer: c.SigningPublic(), Signature: c.Sign(msg)})
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(env)
}

// Cosign adds a co-signature by c to an encoded envelope and returns the
// new encoding. It does not check the existing signatures.
func Cosign(chainID string, raw []byte, c Signer) ([]byte, error) {
	t, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	msg := SigningBytes(chainID, t.Envelope.Body)
	t.Envelope.Cosignatures = append(t.Envelope.Cosignatures, &pb.Cosignature{Signer: c.SigningPublic(), Signature: c.Sign(msg)})
	return proto.MarshalOptions{Deterministic: true}.Marshal(t.Envelope)
}

// Tx is a decoded transaction.
type Tx struct {
	Raw      []byte
	Hash     [32]byte
	Envelope *pb.Envelope
	Body     *pb.Body
	verified bool
}

// HashHex is the transaction hash as CometBFT prints it (upper-case hex).
func (t *Tx) HashHex() string { return fmt.Sprintf("%X", t.Hash[:]) }

// Signer returns the signer's public key.
func (t *Tx) Signer() ed25519.PublicKey { return t.Envelope.Signer }

// Cosigned reports whether key co-signed the transaction.
func (t *Tx) Cosigned(key []byte) bool {
	for _, c := range t.Envelope.Cosignatures {
		if bytes.Equal(c.Signer, key) {
			return true
		}
	}
	return false
}

// Verified reports whether Verify, or a batch verification, accepted the
// signatures.
func (t *Tx) Verified() bool { return t.verified }

// MarkVerified records that the signatures were checked elsewhere (a
// verifier cache or a batch verifier).
func (t *Tx) MarkVerified() { t.verified = true }

// Decode parses and checks the form of a transaction: sizes, key and
// signature lengths, a known message, no unknown fields. It does not
// check signatures (Verify does) nor anything that needs the ledger.
func Decode(raw []byte) (*Tx, error) {
	const op = "tx.Decode"
	if len(raw) == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "empty transaction")
	}
	if len(raw) > MaxTxBytes {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("transaction is %d bytes, the limit is %d", len(raw), MaxTxBytes))
	}
	env := new(pb.Envelope)
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "malformed transaction envelope", err)
	}
	if len(env.ProtoReflect().GetUnknown()) > 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "transaction envelope has unknown fields")
	}
	if len(env.Signer) != ed25519.PublicKeySize {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("signer key must be %d bytes, got %d", ed25519.PublicKeySize, len(env.Signer)))
	}
	if len(env.Signature) != ed25519.SignatureSize {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("signature must be %d bytes, got %d", ed25519.SignatureSize, len(env.Signature)))
	}
	if len(env.Cosignatures) > MaxCosignatures {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("at most %d co-signatures", MaxCosignatures))
	}
	for i, c := range env.Cosignatures {
		if len(c.Signer) != ed25519.PublicKeySize || len(c.Signature) != ed25519.SignatureSize {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("co-signature %d is malformed", i))
		}
		if len(c.ProtoReflect().GetUnknown()) > 0 {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("co-signature %d has unknown fields", i))
		}
	}
	body := new(pb.Body)
	if err := proto.Unmarshal(env.Body, body); err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, "malformed transaction body", err)
	}
	if hasUnknown(body.ProtoReflect()) {
		return nil, ptoy.E(op, ptoy.Invalid, "transaction body has unknown fields")
	}
	if body.Msg == nil {
		return nil, ptoy.E(op, ptoy.Invalid, "transaction body carries no message")
	}
	if body.Sequence == 0 {
		return nil, ptoy.E(op, ptoy.Invalid, "sequence numbers start at 1")
	}
	return &Tx{Raw: raw, Hash: sha256.Sum256(raw), Envelope: env, Body: body}, nil
}

// hasUnknown reports whether m or any message inside it carries fields
// this version does not know: the ledger stores what it accepts, so it
// accepts nothing it cannot read.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len() && !found; i++ {
				found = hasUnknown(l.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}

// Verify checks the signature and every co-signature for chainID.
func (t *Tx) Verify(chainID string) error {
	msg := SigningBytes(chainID, t.Envelope.Body)
	if !ed25519.Verify(t.Envelope.Signer, msg, t.Envelope.Signature) {
		return ptoy.E("tx.Verify", ptoy.Unauthenticated, "bad signature (or a transaction signed for another chain)")
	}
	for i, c := range t.Envelope.Cosignatures {
		if !ed25519.Verify(c.Signer, msg, c.Signature) {
			return ptoy.E("tx.Verify", ptoy.Unauthenticated, fmt.Sprintf("bad co-signature %d", i))
		}
	}
	t.verified = true
	return nil
}

// Name returns the message type name ("Grant"), for logs and results.
func Name(b *pb.Body) string {
	m := b.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("msg"))
	if fd == nil || fd.Message() == nil {
		return "unknown"
	}
	return string(fd.Message().Name())
}

// Code is the stable result code of an error kind on the ledger: 0 is
// success, and each ptoy.Kind k has code k+1.
func Code(err error) uint32 {
	if err == nil {
		return 0
	}
	return uint32(ptoy.KindOf(err)) + 1
}

// Err turns a result code and log back into an error (nil for code 0).
func Err(op string, code uint32, log string) error {
	if code == 0 {
		return nil
	}
	return ptoy.E(op, ptoy.Kind(code-1), log)
}

// ShortHash is the first bytes of a hash in hex, for logs.
func ShortHash(h []byte) string {
	if len(h) > 6 {
		h = h[:6]
	}
	return hex.EncodeToString(h)
}
