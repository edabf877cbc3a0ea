package main

// Commands "ptoy residency" (a patient's residency rule: where their
// ciphertext may be placed) and "ptoy org jurisdiction" (where an
// organisation's storage node is).

import (
	"context"
	"fmt"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/residency"
)

func init() {
	commands["residency"] = command{"show or set where a patient's records may be stored", runResidency}
}

var residencySubcommands = []subcommand{
	{"show", "show where a patient's records may be stored", runResidencyShow},
	{"set", "set the jurisdictions where a patient's records may be stored", runResidencySet},
}

func runResidency(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "residency", residencySubcommands, args)
}

func runResidencySet(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "residency set", "--as KEYNAME [--patient PATIENT] [JURISDICTION…]",
		`Sets the jurisdictions where the patient's encrypted records may be stored:
ISO 3166-1 alpha-2 country codes (a country allows its subdivisions) or
ISO 3166-2 subdivisions, such as DE FR or US-CA. Nothing removes the
patient's own rule; the network's rule, if it has one, still applies, and
a patient's rule can only narrow it. Records already stored on nodes
outside the rule move to nodes inside it, and only then leave the others.
The patient signs (--as), or a caregiver whose delegation covers every
category signs for --patient. A rule no member's storage node satisfies
is refused.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs: the patient's, or a delegate's")
	patientArg := fs.String("patient", "", "the `PATIENT` a delegate acts for (an account id or key name)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := needAs("residency set", *as, "the patient or a delegate"); err != nil {
		return err
	}
	rule, err := residency.ParseRule(pos)
	if err != nil {
		return usageErr(ptoy.Message(err))
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	me, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	patient, err := patientOf(ctx, c, cl, "residency set", *patientArg, *as)
	if err != nil {
		return err
	}
	m := &pb.SetResidency{Jurisdictions: rule}
	if patient != me.ID() {
		m.Patient = patient.Bytes()
	}
	if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_SetResidency{SetResidency: m}}, me); err != nil {
		return namedErr(ctx, c, cl, err)
	}
	return showResidency(ctx, e, cl.As(me), patient)
}

func runResidencyShow(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "residency show", "--as KEYNAME [--patient PATIENT] [--json]",
		`Shows where the patient's encrypted records may be stored: the patient's
own rule and the network's. The node answers the patient and those who
act for them.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that asks: the patient's, or a delegate's")
	patientArg := fs.String("patient", "", "the `PATIENT` (an account id or key name; default the --as key's)")
	asJSON := fs.Bool("json", false, "print the rules as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("residency show", pos, 0, ""); err != nil {
		return err
	}
	if err := needAs("residency show", *as, "the patient or a delegate"); err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	me, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	patient, err := patientOf(ctx, c, cl, "residency show", *patientArg, *as)
	if err != nil {
		return err
	}
	if *asJSON {
		r, err := cl.As(me).Access(ctx, patient)
		if err != nil {
			return err
		}
		return writeJSON(e.stdout, map[string][]string{"patient": orEmpty(r.Residency), "network": orEmpty(r.NetworkResidency)})
	}
	return showResidency(ctx, e, cl.As(me), patient)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// accessReader is what showResidency asks.
type accessReader interface {
	Access(ctx context.Context, patient ptoy.ID) (*pb.AccessResponse, error)
}

func showResidency(ctx context.Context, e *env, cl accessReader, patient ptoy.ID) error {
	r, err := cl.Access(ctx, patient)
	if err != nil {
		return err
	}
	rule := residency.Effective{Network: r.NetworkResidency, Patient: r.Residency}
	fmt.Fprintf(e.stdout, "records stored in: %s\n", rule)
	return nil
}

func runOrgJurisdiction(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "org jurisdiction", "[--as KEYNAME [--for ORG] (CODE | --none)]",
		`Without arguments, lists where each member organisation's storage node is.
With --as and a CODE (an ISO 3166-1 alpha-2 country code, optionally with
an ISO 3166-2 subdivision: DE, US-CA), sets the jurisdiction of the
signer's organisation's node on the ledger (--none: declare none); an
admin signs with --for. Ciphertext of patients whose residency rule no
longer allows the node moves to nodes it allows. Set the same code as
jurisdiction in the node's ptoy.toml.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs")
	forOrg := fs.String("for", "", "organisation (`ORG` id or key name) an admin signs for")
	none := fs.Bool("none", false, "declare no jurisdiction")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	if *as == "" {
		if err := wantArgs("org jurisdiction", pos, 0, ""); err != nil {
			return err
		}
		orgs, err := cl.Orgs(ctx)
		if err != nil {
			return err
		}
		tw := table(e.stdout)
		fmt.Fprintln(tw, "ID\tNAME\tJURISDICTION")
		for _, o := range orgs {
			j := o.Jurisdiction
			if j == "" {
				j = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", idOf(o.Id), o.Name, j)
		}
		return tw.Flush()
	}
	var j string
	switch {
	case *none && len(pos) == 0:
	case !*none && len(pos) == 1:
		if j, err = jurisdictionFlag(pos[0]); err != nil {
			return err
		}
	default:
		return usageErr("ptoy org jurisdiction --as KEYNAME needs one CODE (such as DE or US-CA), or --none")
	}
	fr, err := forRef(c, *forOrg)
	if err != nil {
		return err
	}
	behalf, err := onBehalfOf(ctx, cl, fr)
	if err != nil {
		return err
	}
	signer, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	m := &pb.SetJurisdiction{Jurisdiction: j, OnBehalfOf: behalf}
	if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_SetJurisdiction{SetJurisdiction: m}}, signer); err != nil {
		return err
	}
	if j == "" {
		j = "no jurisdiction"
	}
	fmt.Fprintf(e.stdout, "storage node jurisdiction: %s\n", j)
	return nil
}
