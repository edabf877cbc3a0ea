package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"ptoy"
	"ptoy/auth"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/tx"
)

// RotateKeys replaces the encryption key of cur's account with next's
// and, if next has another signing key, its signing key too (the new key
// co-signs; the account id stays the same). It returns nil once the
// ledger holds next's keys, even if the submission itself reported an
// error after the commit (a timeout); otherwise the error, with
// ptoy.Unavailable when the node cannot tell whether it committed. Keep
// next safe before calling: once committed, cur opens nothing new.
func (c *Client) RotateKeys(ctx context.Context, cur, next *keys.KeyPair) error {
	id := cur.ID()
	if a, err := c.AccountByKey(ctx, cur.SigningPublic()); err == nil {
		id = ptoy.ID(a.Account.Id)
	}
	m := &pb.RotateKeys{Kem: KEM(next)}
	var cosigners []tx.Signer
	if !bytes.Equal(next.SigningPublic(), cur.SigningPublic()) {
		m.SigningKey = next.SigningPublic()
		cosigners = append(cosigners, next)
	}
	_, sendErr := c.Send(ctx, &pb.Body{Msg: &pb.Body_RotateKeys{RotateKeys: m}}, cur, cosigners...)
	if sendErr == nil {
		return nil
	}
	now, err := c.Account(ctx, id)
	if err != nil {
		return ptoy.E("client.RotateKeys", ptoy.Unavailable, fmt.Sprintf("the rotation may not have been committed (%s), and the node cannot tell (%s)", ptoy.Message(sendErr), ptoy.Message(err)))
	}
	if Holds(now.Account, next) {
		return nil
	}
	return sendErr
}

// Holds reports whether the ledger's account a has k's current keys.
func Holds(a *pb.Account, k *keys.KeyPair) bool {
	return a.GetKem() != nil && bytes.Equal(a.Kem.Key, k.KEMPublic()) && uint16(a.Kem.Alg) == k.KEMAlg() &&
		bytes.Equal(a.SigningKey, k.SigningPublic())
}

// KeepKeystore gives the patient's home node their keystore file (sealed
// with their passphrase: the node cannot open it), so that they can sign
// in there with the passphrase alone.
func (c *Client) KeepKeystore(ctx context.Context, patient auth.Signer, file []byte) error {
	resp, err := c.gatewayDo(ctx, patient, http.MethodPut, "/v1/keystore", file, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Unseal signs a patient in at their home node with their passphrase: the
// node opens their keystore into a session that holds the keys until it
// ends, and returns the session's token (Authorization: PTOY-Session).
func (c *Client) Unseal(ctx context.Context, patient ptoy.ID, passphrase string) (string, error) {
	body, _ := json.Marshal(map[string]string{"patient": patient.String(), "passphrase": passphrase})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/keystore/unseal", bytes.NewReader(body))
	if err != nil {
		return "", ptoy.E("client", ptoy.Invalid, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", ptoy.E("client", ptoy.Unavailable, "cannot reach the node", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return "", ptoy.E("client.Unseal", httpKind(resp.StatusCode), string(bytes.TrimSpace(b)))
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Token == "" {
		return "", ptoy.E("client.Unseal", ptoy.Other, "the node's answer is malformed")
	}
	return out.Token, nil
}
