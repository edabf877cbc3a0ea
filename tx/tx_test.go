package tx_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/tx"
)

const chainID = "ptoy-test"

func newKey(t testing.TB) *keys.KeyPair {
	t.Helper()
	k, err := keys.Generate(keys.KEMX25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func kemOf(k *keys.KeyPair) *pb.KemKey {
	return &pb.KemKey{Alg: uint32(k.KEMAlg()), Key: k.KEMPublic()}
}

// sampleBodies are bodies of every message type.
func sampleBodies(k, other *keys.KeyPair) []*pb.Body {
	id := k.ID()
	return []*pb.Body{
		{Sequence: 1, Msg: &pb.Body_RegisterPatient{RegisterPatient: &pb.RegisterPatient{Kem: kemOf(k), Registrar: id.Bytes()}}},
		{Sequence: 2, Msg: &pb.Body_ProposeOrg{ProposeOrg: &pb.ProposeOrg{Name: "Riverside Clinic", Kind: pb.OrgKind_ORG_KIND_CLINIC, SigningKey: other.SigningPublic(), Kem: kemOf(other), ValidatorKey: other.SigningPublic()}}},
		{Sequence: 3, Msg: &pb.Body_Vote{Vote: &pb.Vote{Proposal: 7, Approve: true, OnBehalfOf: id.Bytes()}}},
		{Sequence: 4, Msg: &pb.Body_AddEmployee{AddEmployee: &pb.AddEmployee{Org: id.Bytes(), SigningKey: other.SigningPublic(), Kem: kemOf(other), Role: pb.Role_ROLE_NURSE}}},
		{Sequence: 5, Msg: &pb.Body_RemoveEmployee{RemoveEmployee: &pb.RemoveEmployee{Org: id.Bytes(), Employee: other.ID().Bytes()}}},
		{Sequence: 6, Msg: &pb.Body_SetRole{SetRole: &pb.SetRole{Org: id.Bytes(), Employee: other.ID().Bytes(), Role: pb.Role_ROLE_ADMIN}}},
		{Sequence: 1 << 62, Msg: &pb.Body_RotateKeys{RotateKeys: &pb.RotateKeys{Kem: kemOf(other), SigningKey: other.SigningPublic()}}},
	}
}

func sign(t testing.TB, body *pb.Body, signer tx.Signer, cosigners ...tx.Signer) []byte {
	t.Helper()
	raw, err := tx.Sign(chainID, body, signer, cosigners...)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSignDecodeVerify(t *testing.T) {
	k, c1, c2 := newKey(t), newKey(t), newKey(t)
	names := []string{"RegisterPatient", "ProposeOrg", "Vote", "AddEmployee", "RemoveEmployee", "SetRole", "RotateKeys"}
	for i, body := range sampleBodies(k, c1) {
		for n := 0; n <= 2; n++ {
			cos := []tx.Signer{c1, c2}[:n]
			raw := sign(t, body, k, cos...)
			got, err := tx.Decode(raw)
			if err != nil {
				t.Fatalf("%s with %d cosigners: %v", names[i], n, err)
			}
			if !proto.Equal(got.Body, body) {
				t.Errorf("%s: decoded body differs", names[i])
			}
			if !bytes.Equal(got.Raw, raw) || got.Hash != sha256.Sum256(raw) {
				t.Errorf("%s: Raw or Hash wrong", names[i])
			}
			if got.HashHex() != strings.ToUpper(fmt.Sprintf("%x", sha256.Sum256(raw))) {
				t.Errorf("HashHex %s", got.HashHex())
			}
			if !bytes.Equal(got.Signer(), k.SigningPublic()) {
				t.Error("Signer is not the signing key")
			}
			if tx.Name(got.Body) != names[i] {
				t.Errorf("Name %q, want %q", tx.Name(got.Body), names[i])
			}
			if got.Cosigned(c1.SigningPublic()) != (n >= 1) || got.Cosigned(c2.SigningPublic()) != (n >= 2) {
				t.Errorf("%s: Cosigned wrong with %d cosigners", names[i], n)
			}
			if got.Cosigned(k.SigningPublic()) {
				t.Error("the signer is not a cosigner")
			}
			if got.Verified() {
				t.Error("Verified before Verify")
			}
			if err := got.Verify(chainID); err != nil {
				t.Fatalf("%s: Verify: %v", names[i], err)
			}
			if !got.Verified() {
				t.Error("not Verified after Verify")
			}
			// The envelope's body bytes are exactly what Sign encoded.
			bb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(body)
			if !bytes.Equal(got.Envelope.Body, bb) {
				t.Error("body bytes are not the deterministic encoding")
			}
			// SignBytes of those bytes gives the same transaction (Ed25519 is deterministic).
			raw2, err := tx.SignBytes(chainID, bb, k, cos...)
			if err != nil || !bytes.Equal(raw2, raw) {
				t.Errorf("SignBytes differs from Sign: %v", err)
			}
		}
	}
}

func TestCosign(t *testing.T) {
	k, c1, c2 := newKey(t), newKey(t), newKey(t)
	body := sampleBodies(k, c1)[3]
	raw := sign(t, body, k, c1)
	raw2, err := tx.Cosign(chainID, raw, c2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tx.Decode(raw2)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cosigned(c1.SigningPublic()) || !got.Cosigned(c2.SigningPublic()) {
		t.Error("Cosign lost or did not add a co-signature")
	}
	if err := got.Verify(chainID); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw2, sign(t, body, k, c1, c2)) {
		t.Error("Cosign differs from Sign with both cosigners")
	}
	// Cosign for another chain adds a co-signature that does not verify.
	raw3, err := tx.Cosign("ptoy-other", raw, c2)
	if err != nil {
		t.Fatal(err)
	}
	got3, err := tx.Decode(raw3)
	if err != nil {
		t.Fatal(err)
	}
	if err := got3.Verify(chainID); ptoy.KindOf(err) != ptoy.Unauthenticated {
		t.Errorf("co-signature for another chain: %v", err)
	}
	if _, err := tx.Cosign(chainID, []byte{0xff}, c2); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("Cosign of garbage: %v", err)
	}
}

// mutateEnvelope decodes raw, changes the envelope and encodes it again.
func mutateEnvelope(t testing.TB, raw []byte, f func(*pb.Envelope)) []byte {
	t.Helper()
	env := new(pb.Envelope)
	if err := proto.Unmarshal(raw, env); err != nil {
		t.Fatal(err)
	}
	f(env)
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyFails(t *testing.T) {
	k, c1, c2 := newKey(t), newKey(t), newKey(t)
	body := sampleBodies(k, c1)[1]
	raw := sign(t, body, k, c1, c2)

	mustFail := func(name string, raw []byte, chain string) {
		t.Helper()
		got, err := tx.Decode(raw)
		if err != nil {
			// A mutation of the body may make it undecodable: also a refusal,
			// but then it must be an Invalid one.
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Errorf("%s: Decode: %v", name, err)
			}
			return
		}
		err = got.Verify(chain)
		if err == nil {
			t.Errorf("%s: Verify accepted", name)
			return
		}
		if ptoy.KindOf(err) != ptoy.Unauthenticated || tx.Code(err) != uint32(ptoy.Unauthenticated)+1 {
			t.Errorf("%s: %v is not Unauthenticated", name, err)
		}
		if got.Verified() {
			t.Errorf("%s: Verified after a failed Verify", name)
		}
	}

	mustFail("wrong chain", raw, "ptoy-other")
	mustFail("empty chain", raw, "")
	mustFail("chain prefix", raw, chainID[:len(chainID)-1])
	other, err := tx.Sign("ptoy-other", body, k, c1, c2)
	if err != nil {
		t.Fatal(err)
	}
	mustFail("signed for another chain", other, chainID)
	if got, err := tx.Decode(other); err != nil || got.Verify("ptoy-other") != nil {
		t.Errorf("a transaction signed for ptoy-other does not verify there: %v", err)
	}

	// Every bit of the body, one at a time.
	env := new(pb.Envelope)
	if err := proto.Unmarshal(raw, env); err != nil {
		t.Fatal(err)
	}
	decodable := 0
	for i := range len(env.Body) * 8 {
		m := mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Body[i/8] ^= 1 << (i % 8) })
		if _, err := tx.Decode(m); err == nil {
			decodable++
		}
		mustFail(fmt.Sprintf("body bit %d", i), m, chainID)
	}
	if decodable == 0 {
		t.Error("no body bit flip left the body decodable: the signature check was never reached")
	}
	for i := range 64 * 8 {
		mustFail(fmt.Sprintf("signature bit %d", i), mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Signature[i/8] ^= 1 << (i % 8) }), chainID)
	}
	for c := range 2 {
		for _, i := range []int{0, 100, 255, 300, 511} {
			mustFail(fmt.Sprintf("co-signature %d bit %d", c, i), mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Cosignatures[c].Signature[i/8] ^= 1 << (i % 8) }), chainID)
		}
		// A co-signature attributed to another key.
		mustFail(fmt.Sprintf("co-signer %d replaced", c), mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Cosignatures[c].Signer = k.SigningPublic() }), chainID)
	}
	// The signer's key replaced by a co-signer's; signature and
	// co-signature swapped.
	mustFail("signer replaced", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Signer = c1.SigningPublic() }), chainID)
	mustFail("signatures swapped", mutateEnvelope(t, raw, func(e *pb.Envelope) {
		e.Signature, e.Cosignatures[0].Signature = e.Cosignatures[0].Signature, e.Signature
	}), chainID)
	// A signature over the body alone, without the domain and chain.
	mustFail("raw body signature", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Signature = k.Sign(e.Body) }), chainID)

	// The error says which co-signature is bad.
	got, err := tx.Decode(mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Cosignatures[1].Signature[0] ^= 1 }))
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(chainID); err == nil || !strings.Contains(ptoy.Message(err), "co-signature 1") {
		t.Errorf("bad co-signature 1: %v", err)
	}
}

// appendUnknown appends an unknown varint field to an encoding.
func appendUnknown(b []byte) []byte {
	b = protowire.AppendTag(b, 99, protowire.VarintType)
	return protowire.AppendVarint(b, 7)
}

func encodeBody(t testing.TB, body *pb.Body) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRejects(t *testing.T) {
	k, c := newKey(t), newKey(t)
	good := sampleBodies(k, c)[0]
	raw := sign(t, good, k, c)
	signBody := func(b []byte) []byte {
		r, err := tx.SignBytes(chainID, b, k)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	many := func(n int) []byte {
		var cs []tx.Signer
		for range n {
			cs = append(cs, newKey(t))
		}
		return sign(t, good, k, cs...)
	}
	big := &pb.Body{Sequence: 1, Msg: &pb.Body_ProposeOrg{ProposeOrg: &pb.ProposeOrg{Name: strings.Repeat("x", tx.MaxTxBytes)}}}

	cases := []struct {
		name string
		raw  []byte
		msg  string // part of the message
	}{
		{"nil", nil, "empty"},
		{"empty", []byte{}, "empty"},
		{"oversize", sign(t, big, k), "limit"},
		{"oversize garbage", bytes.Repeat([]byte{0}, tx.MaxTxBytes+1), "limit"},
		{"not protobuf", []byte{0xff, 0xff, 0xff}, "malformed transaction envelope"},
		{"truncated", raw[:len(raw)-1], "malformed transaction envelope"},
		{"signer missing", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Signer = nil }), "signer key must be 32 bytes, got 0"},
		{"signer short", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Signer = e.Signer[:31] }), "signer key must be 32 bytes, got 31"},
		{"signer long", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Signer = append(e.Signer, 0) }), "got 33"},
		{"signature missing", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Signature = nil }), "signature must be 64 bytes, got 0"},
		{"signature short", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Signature = e.Signature[:63] }), "got 63"},
		{"signature long", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Signature = append(e.Signature, 0) }), "got 65"},
		{"co-signer short", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Cosignatures[0].Signer = e.Cosignatures[0].Signer[:31] }), "co-signature 0 is malformed"},
		{"co-signature long", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Cosignatures[0].Signature = append(e.Cosignatures[0].Signature, 1) }), "co-signature 0 is malformed"},
		{"co-signature empty", mutateEnvelope(t, raw, func(e *pb.Envelope) { e.Cosignatures = append(e.Cosignatures, &pb.Cosignature{}) }), "co-signature 1 is malformed"},
		{"too many co-signatures", many(tx.MaxCosignatures + 1), "at most 4 co-signatures"},
		{"unknown envelope field", appendUnknown(bytes.Clone(raw)), "envelope has unknown fields"},
		{"unknown co-signature field", mutateEnvelope(t, raw, func(e *pb.Envelope) {
			e.Cosignatures[0].ProtoReflect().SetUnknown(appendUnknown(nil))
		}), "co-signature 0 has unknown fields"},
		{"unknown body field", signBody(appendUnknown(encodeBody(t, good))), "body has unknown fields"},
		{"body not protobuf", signBody([]byte{0xff, 0xff}), "malformed transaction body"},
		{"body empty", signBody(nil), "no message"},
		{"no message", signBody(encodeBody(t, &pb.Body{Sequence: 1})), "no message"},
		{"sequence 0", sign(t, &pb.Body{Msg: good.Msg}, k), "sequence numbers start at 1"},
		{"invalid UTF-8 name", signBody(func() []byte {
			b := protowire.AppendTag(nil, 1, protowire.VarintType)
			b = protowire.AppendVarint(b, 1)
			inner := protowire.AppendTag(nil, 1, protowire.BytesType)
			inner = protowire.AppendBytes(inner, []byte{0xff, 0xfe})
			b = protowire.AppendTag(b, 11, protowire.BytesType)
			return protowire.AppendBytes(b, inner)
		}()), "malformed transaction body"},
	}
	for _, tc := range cases {
		got, err := tx.Decode(tc.raw)
		if err == nil {
			t.Errorf("%s: Decode accepted it", tc.name)
			continue
		}
		if got != nil {
			t.Errorf("%s: a Tx along with the error", tc.name)
		}
		if ptoy.KindOf(err) != ptoy.Invalid || tx.Code(err) != uint32(ptoy.Invalid)+1 {
			t.Errorf("%s: %v is not Invalid", tc.name, err)
		}
		if !strings.Contains(ptoy.Message(err), tc.msg) {
			t.Errorf("%s: message %q does not mention %q", tc.name, ptoy.Message(err), tc.msg)
		}
	}

	// The limits themselves are accepted: 4 co-signatures, and a
	// transaction of exactly MaxTxBytes.
	if _, err := tx.Decode(many(tx.MaxCosignatures)); err != nil {
		t.Errorf("%d co-signatures: %v", tx.MaxCosignatures, err)
	}
	exact := exactSize(t, k, tx.MaxTxBytes)
	if len(exact) != tx.MaxTxBytes {
		t.Fatalf("could not build a %d-byte transaction (got %d)", tx.MaxTxBytes, len(exact))
	}
	if _, err := tx.Decode(exact); err != nil {
		t.Errorf("a transaction of exactly MaxTxBytes: %v", err)
	}
	if _, err := tx.Decode(append(exact, 0)); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("MaxTxBytes+1: %v", err)
	}
}

// exactSize signs a ProposeOrg whose name pads the transaction to n bytes.
func exactSize(t *testing.T, k *keys.KeyPair, n int) []byte {
	pad := n - 200
	for range 20 {
		raw := sign(t, &pb.Body{Sequence: 1, Msg: &pb.Body_ProposeOrg{ProposeOrg: &pb.ProposeOrg{Name: strings.Repeat("x", pad)}}}, k)
		if len(raw) == n {
			return raw
		}
		pad += n - len(raw)
	}
	return nil
}

// TestDecodeNestedUnknownFields: Decode promises "no unknown fields", but
// checks only the envelope, the co-signatures and the top level of the
// body; unknown fields inside a message (RegisterPatient, KemKey, …) pass.
// Reported; this test skips while the gap is there and checks the fix
// once it is made.
func TestDecodeNestedUnknownFields(t *testing.T) {
	k := newKey(t)
	inner, err := proto.Marshal(&pb.RegisterPatient{Kem: kemOf(k), Registrar: k.ID().Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	body := protowire.AppendTag(nil, 1, protowire.VarintType)
	body = protowire.AppendVarint(body, 1)
	body = protowire.AppendTag(body, 10, protowire.BytesType)
	body = protowire.AppendBytes(body, appendUnknown(inner))
	raw, err := tx.SignBytes(chainID, body, k)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Decode(raw)
	if err == nil {
		t.Fatal("Decode accepted an unknown field inside RegisterPatient")
	}
	if ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("nested unknown field: %v is not Invalid", err)
	}
}

func TestCodeErr(t *testing.T) {
	if tx.Code(nil) != 0 {
		t.Error("Code(nil) != 0")
	}
	if tx.Err("op", 0, "whatever") != nil {
		t.Error("Err of code 0 is not nil")
	}
	for k := ptoy.Other; k <= ptoy.Expired; k++ {
		err := ptoy.E("ledger.X", k, "it went wrong")
		code := tx.Code(err)
		if code != uint32(k)+1 {
			t.Errorf("Code(%v) = %d, want %d", k, code, k+1)
		}
		back := tx.Err("client", code, "it went wrong")
		if ptoy.KindOf(back) != k || tx.Code(back) != code || ptoy.Message(back) != "it went wrong" {
			t.Errorf("Err(%d) = %v: kind %v, code %d", code, back, ptoy.KindOf(back), tx.Code(back))
		}
		// Wrapped errors keep their code.
		if tx.Code(fmt.Errorf("context: %w", err)) != code {
			t.Errorf("wrapped %v lost its code", k)
		}
		if tx.Code(ptoy.E("outer", ptoy.Other, err)) != code {
			t.Errorf("an Other wrapping %v lost its code", k)
		}
	}
	if tx.Code(errors.New("plain")) != uint32(ptoy.Other)+1 {
		t.Error("a plain error is not Other")
	}
}

func TestSigningBytesAndShortHash(t *testing.T) {
	got := tx.SigningBytes("chain", []byte("body"))
	if string(got) != "ptoy-tx-v1\x00chain\x00body" {
		t.Errorf("SigningBytes = %q", got)
	}
	if bytes.Equal(tx.SigningBytes("ab", []byte("c")), tx.SigningBytes("a", []byte("bc"))) {
		t.Error("chain id and body are not separated")
	}
	if tx.ShortHash([]byte{1, 2, 3, 4, 5, 6, 7, 8}) != "010203040506" || tx.ShortHash([]byte{0xab}) != "ab" || tx.ShortHash(nil) != "" {
		t.Error("ShortHash")
	}
}
