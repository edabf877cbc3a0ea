package ledger

// Data residency on the ledger: the jurisdiction each organisation's
// storage node declares (Org.jurisdiction, set at admission and changed
// by SetJurisdiction), the network's rule (Params.residency) and each
// patient's own rule (SetResidency), which narrows the network's.
// Placement (package gateway) chooses a patient's nodes among those both
// rules allow.
//
// State layout:
//
//	residency/ patient          ResidencyRule (absent: no rule of the patient's own)

import (
	"bytes"
	"fmt"
	"slices"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/residency"
	"ptoy/tx"
)

var prefixResidency = []byte("residency/")

func residencyKey(patient ptoy.ID) []byte { return cat(prefixResidency, patient[:]) }

// IsResidencyKey reports whether a state key holds a patient's residency
// rule: placement changes when it is written.
func IsResidencyKey(k []byte) bool { return bytes.HasPrefix(k, prefixResidency) }

// checkJurisdiction accepts an empty jurisdiction (none declared) or one
// in canonical form ("DE", "US-CA").
func checkJurisdiction(op, j string) error {
	if j == "" {
		return nil
	}
	c, err := residency.Parse(j)
	if err != nil {
		return ptoy.E(op, ptoy.Invalid, ptoy.Message(err))
	}
	if c != j {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("write the jurisdiction %q as %q", j, c))
	}
	return nil
}

// checkRule parses a rule that must be in canonical form: each
// jurisdiction upper case, listed once, in order.
func checkRule(op string, js []string) (residency.Rule, error) {
	r, err := residency.ParseRule(js)
	if err != nil {
		return nil, ptoy.E(op, ptoy.Invalid, ptoy.Message(err))
	}
	if !slices.Equal(r, js) {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("list the jurisdictions once each, in capitals and in order: %s", r))
	}
	return r, nil
}

// applyResidency applies the residency messages.
func (b *Block) applyResidency(op string, t *tx.Tx, acct *pb.Account) (bool, error) {
	switch m := t.Body.Msg.(type) {
	case *pb.Body_SetJurisdiction:
		return true, b.setJurisdiction(op, acct, m.SetJurisdiction)
	case *pb.Body_SetResidency:
		return true, b.setResidency(op, acct, m.SetResidency)
	}
	return false, nil
}

func (b *Block) setJurisdiction(op string, acct *pb.Account, m *pb.SetJurisdiction) error {
	id, org, err := b.actFor(op, acct, m.OnBehalfOf)
	if err != nil {
		return err
	}
	if err := checkJurisdiction(op, m.Jurisdiction); err != nil {
		return err
	}
	if org.RemovedHeight > 0 {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s's storage node was removed by governance", org.Name))
	}
	if org.Jurisdiction == m.Jurisdiction {
		return ptoy.E(op, ptoy.Exists, fmt.Sprintf("%s's node is already in %s", org.Name, jurisdictionWords(m.Jurisdiction)))
	}
	org.Jurisdiction = m.Jurisdiction
	b.putMsg(orgKey(id), org)
	return nil
}

func jurisdictionWords(j string) string {
	if j == "" {
		return "no declared jurisdiction"
	}
	return j
}

func (b *Block) setResidency(op string, acct *pb.Account, m *pb.SetResidency) error {
	patient, dl, err := b.actForPatient(op, acct, m.Patient, "set the residency rule")
	if err != nil {
		return err
	}
	// The rule moves the ciphertext of every category.
	if err := delegateMayRekey(op, dl); err != nil {
		return ptoy.E(op, ptoy.PermissionDenied, "a caregiver delegated only some categories cannot change where all of the patient's records are kept; only the patient can (or a delegate for all categories)")
	}
	rule, err := checkRule(op, m.Jurisdictions)
	if err != nil {
		return err
	}
	params, err := b.params()
	if err != nil {
		return err
	}
	network := residency.Rule(params.Residency)
	if err := rule.Within(network); err != nil {
		return ptoy.E(op, ptoy.PermissionDenied, ptoy.Message(err))
	}
	if len(rule) == 0 {
		if v, err := b.get(residencyKey(patient)); err != nil {
			return err
		} else if v == nil {
			return ptoy.E(op, ptoy.Exists, "the patient has no residency rule of their own")
		}
		b.del(residencyKey(patient))
		return nil
	}
	// A rule that no member's storage node satisfies would leave the
	// ciphertext nowhere to go.
	orgs, err := b.orgs()
	if err != nil {
		return err
	}
	eff := residency.Effective{Network: network, Patient: rule}
	var where []string
	for _, o := range orgs {
		if o.RemovedHeight > 0 {
			continue
		}
		if o.Jurisdiction != "" && !slices.Contains(where, o.Jurisdiction) {
			where = append(where, o.Jurisdiction)
		}
		if eff.Allows(o.Jurisdiction) {
			b.putMsg(residencyKey(patient), &pb.ResidencyRule{Jurisdictions: rule})
			return nil
		}
	}
	slices.Sort(where)
	return ptoy.E(op, ptoy.Invalid, fmt.Sprintf(
		"no member's storage node is in %s, so the records would have nowhere to go; the nodes are in: %s", rule, residency.Rule(where)))
}

// readResidency returns the patient's own rule (nil if none).
func readResidency(get getFunc, patient ptoy.ID) (residency.Rule, error) {
	r := new(pb.ResidencyRule)
	ok, err := getMsg(get, residencyKey(patient), r)
	if err != nil || !ok {
		return nil, err
	}
	return residency.Rule(r.Jurisdictions), nil
}

// Residency returns the committed rule that places the patient's
// ciphertext: the network's and the patient's own.
func (l *Ledger) Residency(patient ptoy.ID) (residency.Effective, error) {
	p, err := l.Params()
	if err != nil {
		return residency.Effective{}, err
	}
	own, err := readResidency(l.kv.Get, patient)
	if err != nil {
		return residency.Effective{}, err
	}
	return residency.Effective{Network: residency.Rule(p.Residency), Patient: own}, nil
}

// PlacementKey reports whether a state key bears on where ciphertext is
// placed: an organisation (its node, its jurisdiction), a patient's
// residency rule, or the network's parameters (replicas, the network's
// rule).
func PlacementKey(k []byte) bool {
	return IsOrgKey(k) || IsResidencyKey(k) || bytes.Equal(k, keyParams)
}
