package devnet

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"ptoy"
	"ptoy/match"
	"ptoy/synth"
)

// The demo EHR: what General Hospital's own EHR holds before it joins the
// network. Alice is in it as "Alicia", at the address she had before;
// beside her, a woman with a name like hers born another year, and a
// man born the same year as she was, whom the hospital registered twice.
var (
	// AliceDemographics are what Alice gives the record locator.
	AliceDemographics = match.Person{Given: "Alice", Family: "Example", Sex: "female", Birth: "1985-03-14",
		Phone: "+1 555 010 0001", Street: "12 Harbour Street", City: "Springfield", Postcode: "01103", State: "MA"}
	// AliceBefore is Alice as she was: the address she lived at before.
	AliceBefore = match.Person{Given: "Alice", Family: "Example", Sex: "female", Birth: "1985-03-14",
		Phone: "+1 555 010 0001", Street: "48 Elm Road", City: "Springfield", Postcode: "01105", State: "MA"}
	// BobDemographics are Bob's.
	BobDemographics = match.Person{Given: "Bob", Family: "Example", Sex: "male", Birth: "1979-06-02",
		Phone: "+1 555 010 0002", Street: "7 Quay Lane", City: "Springfield", Postcode: "01104", State: "MA"}
)

// demoEHRPeople are the people of the demo EHR whom the story names:
// Alice as the hospital filed her years ago, and two others the locator
// must not take for her.
var demoEHRPeople = []match.Person{
	{Given: "Alicia", Family: "Example", Sex: "female", Birth: "1985-03-14", Phone: "(555) 010-0001",
		Street: "48 Elm Road", City: "Springfield", Postcode: "01105", State: "MA"},
	{Given: "Alison", Family: "Exampel", Sex: "female", Birth: "1988-11-23", Phone: "(555) 014-7721",
		Street: "3 Mill Street", City: "Chicopee", Postcode: "01013", State: "MA"},
	{Given: "Robert", Family: "Sample", Sex: "male", Birth: "1985-08-30", Phone: "(555) 019-3340",
		Street: "90 Dock Road", City: "Holyoke", Postcode: "01040", State: "MA"},
	// The same man registered twice by the hospital itself.
	{Given: "Bob", Family: "Sample", Sex: "male", Birth: "1985-08-30", Phone: "(555) 019-3340",
		Street: "90 Dock Rd", City: "Holyoke", Postcode: "01040", State: "MA"},
}

// RobertDemographics are the demo EHR's Robert Sample as he would give
// them.
var RobertDemographics = match.Person{Given: "Robert", Family: "Sample", Sex: "male", Birth: "1985-08-30",
	Phone: "+1 555 019 3340", Street: "90 Dock Road", City: "Holyoke", Postcode: "01040", State: "MA"}

// DemoEHRPatients is how many synthetic patients the demo EHR holds
// beside the four the story names.
const DemoEHRPatients = 60

// DemoEHRSource is the name General Hospital's demo EHR is synced under.
const DemoEHRSource = "general-hospital-ehr"

// DemoEHR returns General Hospital's demo EHR as NDJSON-style resources
// (ids kept, references as Type/id): others synthetic patients with years
// of history (package synth), then the people the story names. It also
// returns how many resources are Alicia's.
func DemoEHR(others int) (resources []json.RawMessage, alicia int, err error) {
	ps, err := synth.Generate(20261202, others+len(demoEHRPeople), synth.Options{Hospital: "General Hospital"})
	if err != nil {
		return nil, 0, err
	}
	i := 0
	for p := range ps {
		rec := p.Record
		if i >= others {
			person := demoEHRPeople[i-others]
			setDemographics(rec.Resources[0].Body, person)
		}
		n := 0
		err := rec.Each(func(_ string, b []byte) error {
			resources = append(resources, json.RawMessage(b))
			n++
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		if i == others {
			alicia = n
		}
		i++
	}
	return resources, alicia, nil
}

// setDemographics puts a person's demographics in a Patient body.
func setDemographics(body map[string]any, p match.Person) {
	body["name"] = []any{map[string]any{"use": "official", "family": p.Family, "given": []any{p.Given}}}
	body["gender"] = p.Sex
	body["birthDate"] = p.Birth
	body["telecom"] = []any{map[string]any{"system": "phone", "value": p.Phone, "use": "home"}}
	body["address"] = []any{map[string]any{"use": "home", "line": []any{p.Street}, "city": p.City, "postalCode": p.Postcode, "state": p.State, "country": "US"}}
}

// seedEHR files General Hospital's demo EHR as its holdings, as its sync
// would.
// DemoExportSource names the EHR source of General Hospital's node in a
// network with the demo EHR: an export of 20 more synthetic patients, in
// HOME/ehr-export, that its admin syncs from the console.
const DemoExportSource = "demo-export"

func demoExportDir(home string) string { return filepath.Join(home, "ehr-export", "general-hospital") }

func (n *Net) seedEHR(ctx context.Context) error {
	res, _, err := DemoEHR(DemoEHRPatients)
	if err != nil {
		return err
	}
	// A further export of the hospital's EHR, not yet synced: the console's
	// "EHR sync" page starts its sync (DemoExportSource).
	if _, err := synth.Write(ctx, 11, 20, synth.Options{Years: 3}, synth.WriteOptions{Dir: filepath.Join(n.opt.Home, "ehr-export"), Format: synth.FormatNDJSON}); err != nil {
		return err
	}
	h := n.Nodes[0].Holdings()
	for start := 0; start < len(res); start += 500 {
		part := res[start:min(start+500, len(res))]
		raws := make([][]byte, len(part))
		for i, r := range part {
			raws[i] = r
		}
		out, err := h.Import(ctx, DemoEHRSource, raws)
		if err != nil {
			return err
		}
		if len(out.Failed) > 0 {
			return ptoy.E("devnet.seedEHR", ptoy.Other, fmt.Sprintf("%d demo EHR resources failed, the first: %s", len(out.Failed), out.Failed[0].Reason))
		}
	}
	return nil
}
