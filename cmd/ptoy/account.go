package main

// Command "ptoy account show" shows an account as the ledger holds it:
// kind, id, sequence, encryption key, creation, the registrar of a patient,
// the record of an organisation and the employments of a practitioner. The
// ledger holds no names or phone numbers of people, so none is shown.

import (
	"context"
	"fmt"
	"time"

	"ptoy/devnet"
	pb "ptoy/gen/ptoy/v1"
)

func init() {
	commands["account"] = command{"show an account on the ledger", runAccount}
}

var accountSubcommands = []subcommand{
	{"show", "show an account by id or key name", runAccountShow},
}

func runAccount(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "account", accountSubcommands, args)
}

// kindName is the word for an account kind.
func kindName(k pb.AccountKind) string {
	switch k {
	case pb.AccountKind_ACCOUNT_KIND_PATIENT:
		return "patient"
	case pb.AccountKind_ACCOUNT_KIND_ORG:
		return "organisation"
	case pb.AccountKind_ACCOUNT_KIND_PRACTITIONER:
		return "practitioner"
	case pb.AccountKind_ACCOUNT_KIND_NODE:
		return "node"
	}
	return "unknown"
}

func runAccountShow(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "account show", "ID|KEYNAME [--json]",
		`Shows the account with ID (40 hex digits) or the account of key KEYNAME in
the keystore directory: its kind, id, sequence number, encryption key
algorithm, creation height, and the registrar of a patient, the record of an
organisation or the employments of a practitioner.`)
	c := addCommon(fs, e, useKeys|useNode)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, cl, err := c.oneAccount(ctx, "account show", pos, "account", "an account ID or KEYNAME")
	if err != nil {
		return err
	}
	r, err := cl.Account(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSON(r))
	}
	names, err := orgNames(ctx, cl)
	if err != nil {
		return err
	}
	a := r.Account
	tw := table(e.stdout)
	fmt.Fprintf(tw, "kind:\t%s\n", kindName(a.Kind))
	fmt.Fprintf(tw, "id:\t%s\n", idOf(a.Id))
	fmt.Fprintf(tw, "sequence:\t%d\n", a.Sequence)
	fmt.Fprintf(tw, "encryption key:\t%s, fingerprint %s\n", kemAlgName(a.Kem), fingerprint(a.GetKem().GetKey()))
	created := fmt.Sprintf("height %d", a.CreatedHeight)
	if a.CreatedTime > 0 {
		created += ", " + time.Unix(a.CreatedTime, 0).UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "created:\t%s\n", created)
	switch a.Kind {
	case pb.AccountKind_ACCOUNT_KIND_PATIENT:
		fmt.Fprintf(tw, "registrar:\t%s\n", orgLabel(names, a.Registrar))
	case pb.AccountKind_ACCOUNT_KIND_ORG:
		if o := r.Org; o != nil {
			fmt.Fprintf(tw, "organisation:\t%s, %s, member since height %d\n", o.Name, orgKindName(o.Kind), o.AdmittedHeight)
			if len(o.ValidatorKey) > 0 {
				fmt.Fprintf(tw, "validator key:\t%x\n", o.ValidatorKey)
			}
		}
	case pb.AccountKind_ACCOUNT_KIND_PRACTITIONER, pb.AccountKind_ACCOUNT_KIND_NODE:
		if len(r.Employments) == 0 {
			fmt.Fprintf(tw, "employments:\tnone\n")
		}
		for i, em := range r.Employments {
			label := ""
			if i == 0 {
				label = "employments:"
			}
			fmt.Fprintf(tw, "%s\t%s: %s since height %d\n", label, orgLabel(names, em.Org), devnet.RoleName(em.Role), em.SinceHeight)
		}
	}
	return tw.Flush()
}
