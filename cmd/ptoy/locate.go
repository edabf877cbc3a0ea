package main

// Command "ptoy locate": a patient asks every member organisation whether
// it holds records of them (the record locator), and confirms or rejects
// what is proposed.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	"ptoy/match"
)

func init() {
	commands["locate"] = command{"find the records hospitals hold about you, and link them (the record locator)", runLocate}
}

func runLocate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "locate", "--as KEYNAME --given NAME --family NAME --birth YYYY-MM-DD [demographics] [--confirm ID | --reject ID]",
		`Asks every member node whether its organisation holds records of you, with
the demographics you give: sealed to each organisation's key and signed by
you; nothing of them goes on the ledger, and each node records the request
in your audit trail. Each proposal says which organisation holds how many
records of which kinds over which years, and nothing more.

--confirm ID links a proposal's records to you: the organisation re-seals
them to your keys and files them as yours. If it may not yet write those
kinds of record for you, a deposit-only grant for them, ending a day later,
is given first (it cannot read them). --reject ID says a proposal is not
you: it is not made again.

Give a previous address (--previous-street, --previous-city,
--previous-postcode, --previous-state) if you have moved: an organisation may
have you at it.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "your key `NAME`")
	var p, prev match.Person
	fs.StringVar(&p.Given, "given", "", "given `NAMES`")
	fs.StringVar(&p.Family, "family", "", "family `NAME`")
	fs.StringVar(&p.Birth, "birth", "", "date of birth, `YYYY-MM-DD`")
	fs.StringVar(&p.Sex, "sex", "", "female or male")
	fs.StringVar(&p.Phone, "phone", "", "phone `NUMBER`")
	fs.StringVar(&p.Street, "street", "", "street number and street")
	fs.StringVar(&p.City, "city", "", "town or city")
	fs.StringVar(&p.Postcode, "postcode", "", "postcode")
	fs.StringVar(&p.State, "state", "", "state")
	fs.StringVar(&prev.Street, "previous-street", "", "a previous address's street")
	fs.StringVar(&prev.City, "previous-city", "", "its town or city (default: --city)")
	fs.StringVar(&prev.Postcode, "previous-postcode", "", "its postcode")
	fs.StringVar(&prev.State, "previous-state", "", "its state (default: --state)")
	confirm := fs.String("confirm", "", "link the proposal `ID`")
	reject := fs.String("reject", "", "say the proposal `ID` is not you")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("locate", pos, 0, ""); err != nil {
		return err
	}
	switch {
	case *as == "":
		return usageErr("ptoy locate needs --as KEYNAME (run ptoy locate -h)")
	case p.Given == "" && p.Family == "" || p.Birth == "":
		return usageErr("ptoy locate needs your name (--given, --family) and date of birth (--birth)")
	case *confirm != "" && *reject != "":
		return usageErr("--confirm and --reject go one at a time")
	}
	if err := p.Validate(); err != nil {
		return err
	}
	people := []match.Person{p}
	if prev.Street != "" || prev.Postcode != "" {
		q := p
		q.Street, q.Postcode = prev.Street, prev.Postcode
		q.City = cmpOr(prev.City, p.City)
		q.State = cmpOr(prev.State, p.State)
		if err := q.Validate(); err != nil {
			return err
		}
		people = append(people, q)
	}
	k, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	a := agent.New(cl, k)
	found, err := a.FindRecords(ctx, people[0], people[1:]...)
	if err != nil {
		return err
	}
	if id := *confirm + *reject; id != "" {
		for _, f := range found {
			for _, pr := range f.Proposals {
				if pr.ID != id {
					continue
				}
				if *reject != "" {
					if err := a.Reject(ctx, f.Node, pr); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "rejected: %s will not propose these records to you again\n", orgName(ctx, cl, f.Node.Org))
					return nil
				}
				n, err := a.Confirm(ctx, f.Node, pr)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "linked %d records from %s: they are yours now (ptoy record list)\n", n, orgName(ctx, cl, f.Node.Org))
				return nil
			}
		}
		return ptoy.E("locate", ptoy.NotFound, "no proposal "+id+" among what the organisations propose now: run ptoy locate without it to see them")
	}
	if *asJSON {
		return writeJSON(e.stdout, found)
	}
	tw := table(e.stdout)
	fmt.Fprintln(tw, "ORGANISATION\tRECORDS\tYEARS\tKINDS\tSTATUS\tPROPOSAL")
	shown := 0
	for _, f := range found {
		if f.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\tnot asked: %s\t\n", orgName(ctx, cl, f.Node.Org), ptoy.Message(f.Err))
			continue
		}
		for _, pr := range f.Proposals {
			kinds := make([]string, 0, len(pr.Categories))
			for k, n := range pr.Categories {
				kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
			}
			slices.Sort(kinds)
			fmt.Fprintf(tw, "%s\t%d\t%d–%d\t%s\t%s\t%s\n", orgName(ctx, cl, f.Node.Org), pr.Records, pr.From, pr.To, strings.Join(kinds, ", "), pr.Status, pr.ID)
			shown++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if shown == 0 {
		fmt.Fprintln(e.stdout, "no organisation proposes records for these details")
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// orgName is an organisation's name from the ledger, or its id.
func orgName(ctx context.Context, cl *client.Client, id ptoy.ID) string {
	if names, err := orgNames(ctx, cl); err == nil && names[id] != "" {
		return names[id]
	}
	return id.String()
}
