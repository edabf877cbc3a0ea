package main

// Command "ptoy storage" shows storage quotas and sells storage plans.
// Every byte of ciphertext a record takes counts against a quota: a
// patient has the network's free bytes plus the plans they hold; an
// organisation has only its plans (it pays for what it and its staff
// write). Plans are paid in PTOY to the consortium treasury.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
)

func init() {
	commands["storage"] = command{"storage use, quotas and plans", runStorage}
}

var storageSubcommands = []subcommand{
	{"usage", "show an account's storage use, quota and plans", runStorageUsage},
	{"plans", "list the storage plans on offer", runStoragePlans},
	{"buy", "buy a storage plan with PTOY", runStorageBuy},
}

func runStorage(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "storage", storageSubcommands, args)
}

// termText writes a plan's term for people: "365 days", "12 hours".
func termText(sec int64) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.FormatInt(n, 10) + " " + unit + "s"
	}
	switch {
	case sec > 0 && sec%86400 == 0:
		return plural(sec/86400, "day")
	case sec > 0 && sec%3600 == 0:
		return plural(sec/3600, "hour")
	}
	return plural(sec, "second")
}

// planName is a plan's name from the offer, or "#N" if no longer offered.
func planName(p *pb.Params, id uint32) string {
	for _, pl := range p.GetPlans() {
		if pl.Id == id {
			return pl.Name
		}
	}
	return fmt.Sprintf("#%d", id)
}

func runStorageUsage(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "storage usage", "[ACCOUNT] [--as KEYNAME] [--json]",
		`Shows how much storage ACCOUNT (an account id or a key name in the keystore
directory, by default the account of the --as key) is charged for, its quota
and the storage plans it holds. A patient's quota is the network's free
storage plus their plans; an organisation's is its plans alone. The node
answers only the account itself, a patient's delegates, and an
organisation's admins and billing staff: the request is signed with the
--as key (by default ACCOUNT's).`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that asks (and whose account to show when no ACCOUNT is given)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cl, id, label, err := tokenAccount(ctx, c, "storage usage", pos, *as)
	if err != nil {
		return err
	}
	u, err := cl.Usage(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSON(u))
	}
	p, err := cl.Params(ctx)
	if err != nil {
		return err
	}
	names, err := orgNames(ctx, cl)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, u.Formatted)
	tw := table(e.stdout)
	fmt.Fprintf(tw, "account:\t%s\n", label)
	if u.FreeBytes > 0 {
		fmt.Fprintf(tw, "free storage:\t%s\n", ledger.FormatBytes(u.FreeBytes))
	} else {
		fmt.Fprintf(tw, "free storage:\tnone (only patients have free storage)\n")
	}
	if len(u.Plans) == 0 {
		fmt.Fprintf(tw, "plans:\tnone (see ptoy storage plans)\n")
	}
	for i, ps := range u.Plans {
		tag := ""
		if i == 0 {
			tag = "plans:"
		}
		fmt.Fprintf(tw, "%s\t#%d %s: %s until %s, paid by %s\n", tag, ps.Plan, planName(p.Params, ps.Plan), ledger.FormatBytes(ps.Bytes),
			time.Unix(ps.Expires, 0).UTC().Format(time.RFC3339), counterpartyName(names, ps.PaidBy))
	}
	return tw.Flush()
}

func runStoragePlans(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "storage plans", "[--json]",
		`Lists the storage plans on offer (number, name, size, price in PTOY and
term) and the free storage every patient has.`)
	c := addCommon(fs, e, useNode)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("storage plans", pos, 0, ""); err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	r, err := cl.Params(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, map[string]any{"free_bytes": r.Params.FreeBytes, "plans": pbJSONList(r.Params.Plans)})
	}
	if len(r.Params.Plans) == 0 {
		fmt.Fprintln(e.stdout, "this network offers no storage plans")
	} else {
		tw := table(e.stdout)
		fmt.Fprintln(tw, "PLAN\tNAME\tSIZE\tPRICE\tTERM")
		for _, pl := range r.Params.Plans {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", pl.Id, pl.Name, ledger.FormatBytes(pl.Bytes), ledger.FormatPTOY(pl.Price), termText(pl.TermSeconds))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "Every patient has %s free; organisations pay for all they store.\n", ledger.FormatBytes(r.Params.FreeBytes))
	if len(r.Params.Plans) > 0 {
		fmt.Fprintln(e.stdout, "Buy one with: ptoy storage buy --as KEYNAME PLAN [--for ACCOUNT]")
	}
	return nil
}

func runStorageBuy(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "storage buy", "--as KEYNAME PLAN [--for ACCOUNT]",
		`Buys storage plan PLAN (its number in ptoy storage plans) for ACCOUNT (an
account id or key name; by default the account of the --as key), paid in
PTOY by the --as key's account to the consortium treasury. Buying a plan
the account already holds extends it by one term. Plans are for patients
and organisations.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs and pays")
	forArg := fs.String("for", "", "the `ACCOUNT` that gets the storage (default: the payer)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("storage buy", pos, 1, "a PLAN"); err != nil {
		return err
	}
	plan, err := strconv.ParseUint(strings.TrimPrefix(pos[0], "#"), 10, 32)
	if err != nil || plan == 0 {
		return usageErr(fmt.Sprintf("PLAN %q is not a plan number such as 1 (see ptoy storage plans)", pos[0]))
	}
	if *as == "" {
		return usageErr("ptoy storage buy needs --as KEYNAME (run ptoy storage buy -h)")
	}
	var benRef accountRef
	if *forArg != "" {
		if benRef, err = c.ref("account", *forArg); err != nil {
			return err
		}
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	signer, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	var ben ptoy.ID
	benLabel := *as
	if *forArg != "" {
		if ben, err = benRef.resolve(ctx, cl); err != nil {
			return err
		}
		benLabel = refLabel(benRef, ben)
	}
	r, err := cl.BuyPlan(ctx, signer, uint32(plan), ben)
	if err != nil {
		return err
	}
	a, err := cl.AccountByKey(ctx, signer.SigningPublic())
	if err != nil {
		return err
	}
	payer := idOf(a.Account.Id)
	if ben.IsZero() {
		ben, benLabel = payer, fmt.Sprintf("%s (%s)", *as, payer)
	}
	p, err := cl.Params(ctx)
	if err != nil {
		return err
	}
	price := ""
	for _, pl := range p.Params.Plans {
		if pl.Id == uint32(plan) {
			price = " for " + ledger.FormatPTOY(pl.Price)
		}
	}
	fmt.Fprintf(e.stdout, "bought plan #%d (%s) for %s%s at height %d\n", plan, planName(p.Params, uint32(plan)), benLabel, price, r.Height)
	// The beneficiary's use is shown when the payer may see it.
	if u, err := cl.As(signer).Usage(ctx, ben); err == nil {
		fmt.Fprintf(e.stdout, "storage: %s\n", u.Formatted)
	} else if k := ptoy.KindOf(err); k != ptoy.PermissionDenied {
		return err
	}
	return printOwnBalance(ctx, e, cl.As(signer), signer.SigningPublic())
}
