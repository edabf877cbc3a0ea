package node

import (
	"bytes"
	"context"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

// StartRegistration sends a one-time code to a new patient's phone.
func (n *Node) StartRegistration(ctx context.Context, name, phone string) (*pb.StartRegistrationResponse, error) {
	id, exp, err := n.dir.Start(ctx, name, phone)
	if err != nil {
		return nil, err
	}
	return &pb.StartRegistrationResponse{RegistrationId: id, ExpiresUnix: exp.Unix(), Registrar: n.Org().Bytes()}, nil
}

// CompleteRegistration checks the code, co-signs the patient's signed
// RegisterPatient transaction with the organisation key (the phone
// attestation), submits it and, once committed, keeps the patient's name
// and phone in the node's encrypted directory.
func (n *Node) CompleteRegistration(ctx context.Context, regID, code string, raw []byte) (*pb.SubmitResponse, error) {
	const op = "node.CompleteRegistration"
	t, err := tx.Decode(raw)
	if err != nil {
		return nil, err
	}
	reg, ok := t.Body.Msg.(*pb.Body_RegisterPatient)
	if !ok {
		return nil, ptoy.E(op, ptoy.Invalid, "the transaction is not a patient registration")
	}
	if !bytes.Equal(reg.RegisterPatient.Registrar, n.Org().Bytes()) {
		return nil, ptoy.E(op, ptoy.Invalid, "the registration names another registrar than this node's organisation")
	}
	if err := t.Verify(n.ChainID()); err != nil {
		return nil, err
	}
	if err := n.dir.Check(ctx, regID, code); err != nil {
		return nil, err
	}
	cosigned, err := tx.Cosign(n.ChainID(), raw, n.orgKey)
	if err != nil {
		return nil, err
	}
	resp, err := n.Submit(ctx, cosigned, true)
	if err != nil || resp.Code != 0 {
		return resp, err
	}
	if _, err := n.dir.Complete(ctx, regID, code, ptoy.IDFromKey(t.Signer())); err != nil {
		return nil, err
	}
	n.log.Info("patient registered", "patient", ptoy.IDFromKey(t.Signer()))
	return resp, nil
}
