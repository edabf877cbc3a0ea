package ledger

import (
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

// applyConsent applies the consent messages.
func (b *Block) applyConsent(op string, t *tx.Tx, acct *pb.Account) (bool, error) {
	return false, nil
}
