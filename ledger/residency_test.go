package ledger

// Residency in golden scripts (testdata/residency.txt):
//
//	set-jurisdiction [j=J] [for=ORG]          (no j=: declare none)
//	residency [patient=NAME] [J…]             (no J: remove the patient's rule)
//
// query residency NAME prints the patient's effective rule. Genesis lines
// and propose take jurisdiction=J; genesis and propose-params take
// residency=J,J (the network's rule).

import (
	"fmt"

	pb "ptoy/gen/ptoy/v1"
)

func (h *harness) residencyMsg(name string, a *args, body *pb.Body) error {
	switch name {
	case "set-jurisdiction":
		j, _ := a.get("j")
		body.Msg = &pb.Body_SetJurisdiction{SetJurisdiction: &pb.SetJurisdiction{Jurisdiction: j, OnBehalfOf: h.orgArg(a, "for")}}
	case "residency":
		m := &pb.SetResidency{Patient: h.orgArg(a, "patient"), Jurisdictions: a.pos}
		a.pos = nil
		body.Msg = &pb.Body_SetResidency{SetResidency: m}
	default:
		return fmt.Errorf("unknown residency message %q", name)
	}
	return nil
}

func (h *harness) queryResidency(params []string, p func(string, ...any)) error {
	if len(params) != 1 {
		return fmt.Errorf("want: query residency NAME")
	}
	e, err := h.l.Residency(h.w.id(params[0]))
	if err != nil {
		return err
	}
	p("%s network=%s patient=%s", params[0], e.Network, e.Patient)
	return nil
}
