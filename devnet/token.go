package devnet

// The PTOY token on a development network: the genesis has a treasury and
// the development faucet, and the demo cast gets PTOY from the faucet.
// Organisations have no free storage (they pay for what they and their
// staff write), so each demo organisation also buys a storage plan.

import (
	"context"
	"fmt"
	"sync"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
	"ptoy/node"
)

// Token amounts of a development network, in micro-PTOY.
const (
	// Treasury is the treasury's initial supply.
	Treasury uint64 = 1_000_000 * ledger.MicroPTOY
	// PatientFunds is what each demo patient gets from the faucet.
	PatientFunds uint64 = 100 * ledger.MicroPTOY
	// OrgFunds is what each demo organisation gets from the faucet,
	// before it pays for OrgPlan.
	OrgFunds uint64 = 1000 * ledger.MicroPTOY
)

// OrgPlan is the storage plan each demo organisation buys (plan 1 of the
// default parameters: 100 MB for a year).
const OrgPlan uint32 = 1

// tokenGenesis puts the token part of a development network's genesis in
// spec: the default parameters with the faucet on, and the treasury.
func tokenGenesis(spec *node.NetworkSpec) {
	spec.Params = &pb.Params{DevFaucet: true}
	spec.Treasury = Treasury
}

// fund gives the demo organisations and patients PTOY from the faucet
// and buys each organisation a storage plan, all through node 1, the
// accounts at once.
func (n *Net) fund(ctx context.Context) error {
	c := n.Client(0)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		// Opening a keystore takes 64 MiB with the default KDF: two at
		// a time.
		opening = make(chan struct{}, 2)
	)
	for _, a := range n.Info.Accounts {
		var amount uint64
		switch a.Kind {
		case "organisation":
			amount = OrgFunds
		case "patient":
			amount = PatientFunds
		default:
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				opening <- struct{}{}
				k, err := n.Key(a.Key)
				<-opening
				if err != nil {
					return err
				}
				if _, err := c.Faucet(ctx, k, amount); err != nil {
					return err
				}
				if a.Kind == "organisation" {
					_, err = c.BuyPlan(ctx, k, OrgPlan, ptoy.ID{})
				}
				return err
			}()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("funding %s: %w", a.Key, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
