package ledger

import (
	pb "ptoy/gen/ptoy/v1"
	"ptoy/tx"
)

// applyRecords applies the records messages.
func (b *Block) applyRecords(op string, t *tx.Tx, acct *pb.Account) (bool, error) {
	return false, nil
}
