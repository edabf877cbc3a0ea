// Package residency is the vocabulary of data residency: the jurisdiction
// a storage node declares (an ISO 3166-1 alpha-2 country code, optionally
// with an ISO 3166-2 subdivision: "DE", "US-CA") and the rules that limit
// where a patient's ciphertext may be placed (a set of jurisdictions, in
// which a country allows its subdivisions). It is pure: the ledger checks
// transactions with it and placement filters the storage nodes with it.
package residency

import (
	"fmt"
	"slices"
	"strings"

	"ptoy"
)

// MaxRule bounds the number of jurisdictions in one rule.
const MaxRule = 32

// Parse checks a jurisdiction and returns it in canonical form (upper
// case): an assigned ISO 3166-1 alpha-2 country code, or one followed by
// "-" and an ISO 3166-2 subdivision code of one to three letters or
// digits. The subdivision's format is checked, not that it is assigned.
func Parse(s string) (string, error) {
	j := strings.ToUpper(strings.TrimSpace(s))
	country, sub, hasSub := strings.Cut(j, "-")
	bad := func(why string) (string, error) {
		return "", ptoy.E("residency", ptoy.Invalid, fmt.Sprintf("jurisdiction %q %s", s, why))
	}
	if len(country) != 2 || !isCountry(country) {
		return bad("is not an ISO 3166-1 alpha-2 country code (DE, FR, US) nor one with a subdivision (US-CA)")
	}
	if hasSub {
		if len(sub) < 1 || len(sub) > 3 {
			return bad("has a subdivision of 1 to 3 letters or digits after the country (US-CA, FR-75)")
		}
		for _, c := range sub {
			if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
				return bad("has a subdivision of 1 to 3 letters or digits after the country (US-CA, FR-75)")
			}
		}
	}
	return j, nil
}

// Rule is a set of jurisdictions where ciphertext may be placed, in
// canonical form and sorted; an empty rule places no limit.
type Rule []string

// ParseRule checks each jurisdiction of a rule and returns the rule
// sorted, without duplicates.
func ParseRule(js []string) (Rule, error) {
	if len(js) > MaxRule {
		return nil, ptoy.E("residency", ptoy.Invalid, fmt.Sprintf("a residency rule names at most %d jurisdictions, not %d", MaxRule, len(js)))
	}
	r := make(Rule, 0, len(js))
	for _, s := range js {
		j, err := Parse(s)
		if err != nil {
			return nil, err
		}
		r = append(r, j)
	}
	slices.Sort(r)
	return slices.Compact(r), nil
}

// covers reports whether rule entry e allows jurisdiction j: the same
// jurisdiction, or e is j's country.
func covers(e, j string) bool {
	return e == j || (len(e) == 2 && strings.HasPrefix(j, e+"-"))
}

// Allows reports whether the rule allows a node in jurisdiction j. An
// empty rule allows every node; a non-empty one never allows a node that
// declares no jurisdiction.
func (r Rule) Allows(j string) bool {
	if len(r) == 0 {
		return true
	}
	for _, e := range r {
		if covers(e, j) {
			return true
		}
	}
	return false
}

// Within checks that r narrows network (allows nothing network does not):
// each of r's jurisdictions is one of network's or a subdivision of one
// of its countries. Any rule is within an empty network rule.
func (r Rule) Within(network Rule) error {
	for _, j := range r {
		if !network.Allows(j) {
			return ptoy.E("residency", ptoy.PermissionDenied, fmt.Sprintf(
				"the network allows ciphertext only in %s; a patient's rule may narrow that, not add %s", network, j))
		}
	}
	return nil
}

// String lists the rule's jurisdictions ("DE, FR"; "anywhere" if empty).
func (r Rule) String() string {
	if len(r) == 0 {
		return "anywhere"
	}
	return strings.Join(r, ", ")
}

// Effective is the rule that places a patient's ciphertext: the network's
// and the patient's, both of which a node must satisfy.
type Effective struct {
	Network, Patient Rule
}

// Allows reports whether both rules allow a node in jurisdiction j.
func (e Effective) Allows(j string) bool { return e.Network.Allows(j) && e.Patient.Allows(j) }

// Limited reports whether either rule limits placement.
func (e Effective) Limited() bool { return len(e.Network) > 0 || len(e.Patient) > 0 }

// String describes the effective rule for people.
func (e Effective) String() string {
	switch {
	case len(e.Patient) > 0 && len(e.Network) > 0:
		return e.Patient.String() + " (within the network's " + e.Network.String() + ")"
	case len(e.Patient) > 0:
		return e.Patient.String()
	case len(e.Network) > 0:
		return e.Network.String() + " (the network's rule)"
	}
	return "anywhere"
}

// Eligible returns the nodes (id to jurisdiction) that rule allows,
// sorted: the set placement chooses a patient's nodes from.
func Eligible(nodes map[string]string, rule interface{ Allows(string) bool }) []string {
	var out []string
	for id, j := range nodes {
		if rule.Allows(j) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func isCountry(c string) bool {
	i, ok := slices.BinarySearch(countries, c)
	return ok && countries[i] == c
}

// countries are the assigned ISO 3166-1 alpha-2 codes (249, iso-codes 4.15).
var countries = strings.Fields(`AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ
BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK
HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK
LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI
NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI
SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ
VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW`)
