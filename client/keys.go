package client

import (
	"bytes"
	"context"
	"fmt"

	"ptoy"
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
