package abciapp

import (
	stded "crypto/ed25519"
	"testing"

	cmted "github.com/cometbft/cometbft/crypto/ed25519"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/tx"
)

// signedRegistrations returns n RegisterPatient transactions, each
// signed by a new patient key and co-signed by org.
func signedRegistrations(b *testing.B, org *keys.KeyPair, n int) []*tx.Tx {
	out := make([]*tx.Tx, n)
	for i := range out {
		p, err := keys.Generate(keys.KEMX25519)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := tx.Sign("bench", &pb.Body{Sequence: 1, Msg: &pb.Body_RegisterPatient{RegisterPatient: &pb.RegisterPatient{
			Registrar: org.ID().Bytes(), PhoneTag: make([]byte, 32)}}}, p, org)
		if err != nil {
			b.Fatal(err)
		}
		if out[i], err = tx.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// BenchmarkVerifyRegistration compares ways for CheckTx to check a
// registration's two signatures: a new patient's key and the
// organisation's, which recurs. Each transaction is verified copies
// times in a row, as by that many validators in one process (`ptoy
// bench`), which share CometBFT's cache of expanded keys. cpu-us/op is
// per verification of a transaction.
//
//	go test -run '^$' -bench VerifyRegistration -benchtime 2000x -cpu 1 ./abciapp
func BenchmarkVerifyRegistration(b *testing.B) {
	org, err := keys.Generate(keys.KEMX25519)
	if err != nil {
		b.Fatal(err)
	}
	zip215 := &voi.Options{Verify: voi.VerifyOptionsZIP_215} // CometBFT's rules
	orgX, err := voi.NewExpandedPublicKey(voi.PublicKey(org.SigningPublic()))
	if err != nil {
		b.Fatal(err)
	}
	run := func(name string, verify func(t *tx.Tx, msg []byte) bool) {
		for _, copies := range []int{1, 4} {
			b.Run(name+"-x"+string(rune('0'+copies)), func(b *testing.B) {
				txs := signedRegistrations(b, org, b.N)
				b.ResetTimer()
				c0 := cpuTime()
				for _, t := range txs {
					for range copies {
						if !verify(t, tx.SigningBytes("bench", t.Envelope.Body)) {
							b.Fatal("rejected")
						}
					}
				}
				b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(b.N*copies), "cpu-us/op")
			})
		}
	}
	// What CheckTx does: one batch, keys expanded in CometBFT's cache.
	run("cometbft-batch", func(t *tx.Tx, _ []byte) bool {
		bv := cmted.NewBatchVerifier()
		addSignatures(bv, "bench", t)
		ok, _ := bv.Verify()
		return ok
	})
	run("stdlib", func(t *tx.Tx, msg []byte) bool {
		c := t.Envelope.Cosignatures[0]
		return stded.Verify(t.Envelope.Signer, msg, t.Envelope.Signature) && stded.Verify(c.Signer, msg, c.Signature)
	})
	run("voi", func(t *tx.Tx, msg []byte) bool {
		c := t.Envelope.Cosignatures[0]
		return voi.VerifyWithOptions(t.Envelope.Signer, msg, t.Envelope.Signature, zip215) && voi.VerifyWithOptions(c.Signer, msg, c.Signature, zip215)
	})
	// The organisation's key expanded once (a cache of our own), the
	// patient's verified as it comes.
	run("voi-expanded-org", func(t *tx.Tx, msg []byte) bool {
		c := t.Envelope.Cosignatures[0]
		return voi.VerifyWithOptions(t.Envelope.Signer, msg, t.Envelope.Signature, zip215) && voi.VerifyExpandedWithOptions(orgX, msg, c.Signature, zip215)
	})
}
