package main

// Command "ptoy wallet" shows and moves PTOY: an account's balance and
// history, transfers, the total supply, and the development faucet.
// Amounts are written for people ("5", "2.5 PTOY") and kept exact in
// micro-PTOY.

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"ptoy"
	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/ledger"
)

func init() {
	commands["wallet"] = command{"PTOY balances, transfers, history and the dev faucet", runWallet}
}

var walletSubcommands = []subcommand{
	{"balance", "show an account's balance", runWalletBalance},
	{"send", "send PTOY to another account", runWalletSend},
	{"history", "list an account's payments, newest first", runWalletHistory},
	{"supply", "show the total supply and the treasury", runWalletSupply},
	{"faucet", "mint PTOY to your account (development networks)", runWalletFaucet},
}

func runWallet(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "wallet", walletSubcommands, args)
}

const amountHelp = `AMOUNT is in PTOY with at most 6 decimals: 5, 2.5, "2.5 PTOY", 0.000001.`

// tokenAccount returns the client and the account a query is about: the
// ACCOUNT argument (an id or key name) if given, else the account of the
// --as key. label names the account for people: "alice (id)" or the id.
func tokenAccount(ctx context.Context, c *common, name string, pos []string, as string) (cl *client.Client, id ptoy.ID, label string, err error) {
	if err := wantAtMost(name, pos, 1, "an ACCOUNT"); err != nil {
		return nil, id, "", err
	}
	arg := as
	if len(pos) == 1 {
		arg = pos[0]
	}
	if arg == "" {
		return nil, id, "", usageErr(fmt.Sprintf("ptoy %s needs an ACCOUNT or --as KEYNAME (run ptoy %s -h)", name, name))
	}
	if arg == "treasury" {
		if cl, err = c.client(ctx); err != nil || as == "" {
			return cl, ledger.Treasury, "the treasury", err
		}
		cl, err = c.signed(cl, name, as, "")
		return cl, ledger.Treasury, "the treasury", err
	}
	ref, err := c.ref("account", arg)
	if err != nil {
		return nil, id, "", err
	}
	if cl, err = c.client(ctx); err != nil {
		return nil, id, "", err
	}
	if id, err = ref.resolve(ctx, cl); err != nil {
		return nil, id, "", err
	}
	if _, err := cl.Account(ctx, id); ptoy.KindOf(err) == ptoy.NotFound {
		return nil, id, "", ptoy.E("", ptoy.NotFound, fmt.Sprintf("no account %s on this network", id))
	}
	// The node answers about an account only to it, a patient's
	// delegates, an organisation's admins and billing staff.
	if cl, err = c.signed(cl, name, as, arg); err != nil {
		return nil, id, "", err
	}
	return cl, id, refLabel(ref, id), nil
}

// refLabel names an account for people: "alice (id)" for a key, else the id.
func refLabel(ref accountRef, id ptoy.ID) string {
	if ref.key != nil {
		return fmt.Sprintf("%s (%s)", ref.arg, id)
	}
	return id.String()
}

// wantAtMost checks that command name got at most n positional arguments.
func wantAtMost(name string, args []string, n int, what string) error {
	if len(args) <= n {
		return nil
	}
	return usageErr(fmt.Sprintf("ptoy %s takes only %s, got extra %q (run ptoy %s -h)", name, what, strings.Join(args[n:], " "), name))
}

// parseArgsAmounts is parseArgs for commands whose arguments include an
// amount: a negative number ("-5") is an argument, to be refused as an
// amount, rather than an unknown flag. strs are the command's string
// flags, which may hold such a value too.
func parseArgsAmounts(fs *flag.FlagSet, args []string, strs ...*string) ([]string, error) {
	const mark = "\x00neg"
	hidden := map[string]string{}
	in := make([]string, len(args))
	for i, a := range args {
		in[i] = a
		if len(a) > 1 && a[0] == '-' && (a[1] >= '0' && a[1] <= '9' || a[1] == '.') {
			in[i] = mark + strconv.Itoa(i)
			hidden[in[i]] = a
		}
	}
	pos, err := parseArgs(fs, in)
	if err != nil {
		return nil, err
	}
	for i, p := range pos {
		if v, ok := hidden[p]; ok {
			pos[i] = v
		}
	}
	for _, s := range strs {
		if v, ok := hidden[*s]; ok {
			*s = v
		}
	}
	return pos, nil
}

// amountArg reads the AMOUNT of a command: one argument ("2.5",
// "2.5 PTOY") or a number followed by the word PTOY.
func amountArg(args []string) (uint64, error) {
	s := strings.Join(args, " ")
	v, err := ledger.ParsePTOY(s)
	if err != nil {
		return 0, ptoy.E("", ptoy.Invalid, "bad amount: "+ptoy.Message(err))
	}
	return v, nil
}

// splitAmount separates the positional arguments before the AMOUNT from
// the AMOUNT, which is the last argument or the last two when the last
// is the word PTOY.
func splitAmount(pos []string) (before, amount []string) {
	n := len(pos)
	if n >= 2 && strings.EqualFold(pos[n-1], "PTOY") {
		return pos[:n-2], pos[n-2:]
	}
	if n == 0 {
		return nil, nil
	}
	return pos[:n-1], pos[n-1:]
}

func runWalletBalance(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "wallet balance", "[ACCOUNT] [--as KEYNAME] [--json]",
		`Shows the PTOY balance of ACCOUNT (an account id, a key name in the keystore
directory, or "treasury"), by default the account of the --as key. The
node answers only the account itself, a patient's delegates, and an
organisation's admins and billing staff: the request is signed with the
--as key (by default ACCOUNT's). The treasury's balance is public.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that asks (and whose account to show when no ACCOUNT is given)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cl, id, label, err := tokenAccount(ctx, c, "wallet balance", pos, *as)
	if err != nil {
		return err
	}
	b, err := cl.Balance(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSON(b))
	}
	tw := table(e.stdout)
	fmt.Fprintf(tw, "account:\t%s\n", label)
	fmt.Fprintf(tw, "balance:\t%s\n", b.Formatted)
	return tw.Flush()
}

func runWalletSend(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "wallet send", "--as KEYNAME TO AMOUNT [--memo TEXT]",
		`Sends AMOUNT PTOY from the account of the --as key to TO (an account id, a
key name in the keystore directory, or "treasury" for a donation to the
consortium) and waits until the transfer is committed.
`+amountHelp+`
A memo is at most 140 characters. It is sealed to the recipient's and your
encryption keys: the ledger holds it encrypted, and only the two of you
read it (ptoy wallet history).`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs and pays")
	memo := fs.String("memo", "", "note of at most 140 characters (`TEXT`), sealed to the recipient and you")
	pos, err := parseArgsAmounts(fs, args, memo)
	if err != nil {
		return err
	}
	to, amt := splitAmount(pos)
	if len(amt) == 0 || len(to) == 0 {
		return usageErr("ptoy wallet send needs TO and AMOUNT (run ptoy wallet send -h)")
	}
	if len(to) > 1 {
		return usageErr(fmt.Sprintf("ptoy wallet send takes only TO and AMOUNT, got extra %q (run ptoy wallet send -h)", strings.Join(to[1:], " ")))
	}
	amount, err := amountArg(amt)
	if err != nil {
		return err
	}
	if *as == "" {
		return usageErr("ptoy wallet send needs --as KEYNAME (run ptoy wallet send -h)")
	}
	var (
		toRef   accountRef
		toLabel = "the treasury"
	)
	if to[0] != "treasury" {
		if toRef, err = c.ref("recipient", to[0]); err != nil {
			return err
		}
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	toID := ledger.Treasury
	if to[0] != "treasury" {
		if toID, err = toRef.resolve(ctx, cl); err != nil {
			return err
		}
		toLabel = refLabel(toRef, toID)
	}
	signer, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	r, err := cl.Transfer(ctx, signer, toID, amount, *memo)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "sent %s to %s at height %d\n", ledger.FormatPTOY(amount), toLabel, r.Height)
	return printOwnBalance(ctx, e, cl.As(signer), signer.SigningPublic())
}

// printOwnBalance prints the balance of the account whose signing key is
// pub: "balance: 95 PTOY".
func printOwnBalance(ctx context.Context, e *env, cl *client.Client, pub []byte) error {
	a, err := cl.AccountByKey(ctx, pub)
	if err != nil {
		return err
	}
	b, err := cl.Balance(ctx, idOf(a.Account.Id))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "balance: %s\n", b.Formatted)
	return nil
}

func runWalletFaucet(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "wallet faucet", "--as KEYNAME AMOUNT",
		`Mints AMOUNT PTOY to the account of the --as key. Only development networks
(ptoy dev) have a faucet; other networks refuse it. `+amountHelp)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` whose account receives the PTOY")
	pos, err := parseArgsAmounts(fs, args)
	if err != nil {
		return err
	}
	rest, amt := splitAmount(pos)
	if len(amt) == 0 {
		return usageErr("ptoy wallet faucet needs an AMOUNT (run ptoy wallet faucet -h)")
	}
	if len(rest) > 0 {
		return usageErr(fmt.Sprintf("ptoy wallet faucet takes only an AMOUNT, got extra %q (run ptoy wallet faucet -h)", strings.Join(rest, " ")))
	}
	amount, err := amountArg(amt)
	if err != nil {
		return err
	}
	if *as == "" {
		return usageErr("ptoy wallet faucet needs --as KEYNAME (run ptoy wallet faucet -h)")
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	signer, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	r, err := cl.Faucet(ctx, signer, amount)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "minted %s to %s at height %d\n", ledger.FormatPTOY(amount), *as, r.Height)
	return printOwnBalance(ctx, e, cl.As(signer), signer.SigningPublic())
}

// historyWord says what a history entry was, from its account's side.
func historyWord(k pb.HistoryKind) string {
	switch k {
	case pb.HistoryKind_HISTORY_KIND_TRANSFER_IN:
		return "received"
	case pb.HistoryKind_HISTORY_KIND_TRANSFER_OUT:
		return "sent"
	case pb.HistoryKind_HISTORY_KIND_PLAN:
		return "storage plan"
	case pb.HistoryKind_HISTORY_KIND_FAUCET:
		return "faucet"
	case pb.HistoryKind_HISTORY_KIND_TREASURY:
		return "donation"
	case pb.HistoryKind_HISTORY_KIND_GENESIS:
		return "genesis"
	}
	return "unknown"
}

// counterpartyName names the other side of a history entry: the
// treasury, a member organisation by name, or an id.
func counterpartyName(names map[ptoy.ID]string, b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	id := idOf(b)
	if id == ledger.Treasury {
		return "treasury"
	}
	if n, ok := names[id]; ok {
		return n
	}
	return id.String()
}

func runWalletHistory(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "wallet history", "[ACCOUNT] [--as KEYNAME] [--limit N] [--json]",
		`Lists the payments of ACCOUNT (an account id, a key name in the keystore
directory, or "treasury"), by default of the account of the --as key, newest
first: the height and time, what it was (received, sent, storage plan,
faucet, donation, genesis), the amount (+ in, - out), the balance after it,
the other side and the memo, opened with the --as key (by default
ACCOUNT's) when it is sealed to it ("(sealed)" otherwise). The node answers
only the account itself, a patient's delegates, and an organisation's admins
and billing staff; the treasury's history, the member organisations.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that asks (and whose account to show when no ACCOUNT is given)")
	limit := fs.Int("limit", 20, "show at most `N` entries (at most 1000)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return usageErr("--limit is between 1 and 1000")
	}
	cl, id, label, err := tokenAccount(ctx, c, "wallet history", pos, *as)
	if err != nil {
		return err
	}
	es, err := cl.History(ctx, id, *limit)
	if err != nil {
		return err
	}
	memos := make([]string, len(es))
	me, _ := cl.Signer().(*keys.KeyPair)
	for i, h := range es {
		memos[i] = h.Memo
		if len(h.SealedMemo) == 0 {
			continue
		}
		memos[i] = "(sealed)"
		if me != nil {
			if m, err := client.OpenMemo(me, id, h); err == nil {
				memos[i] = m
			}
		}
	}
	if *asJSON {
		out := pbJSONList(es)
		for i := range out {
			out[i].(map[string]any)["memo"] = memos[i]
		}
		return writeJSON(e.stdout, out)
	}
	if len(es) == 0 {
		fmt.Fprintf(e.stdout, "no payments of %s yet\n", label)
		return nil
	}
	names, err := orgNames(ctx, cl)
	if err != nil {
		return err
	}
	tw := table(e.stdout)
	fmt.Fprintln(tw, "HEIGHT\tTIME\tWHAT\tAMOUNT\tBALANCE\tOTHER SIDE\tMEMO")
	for i, h := range es {
		sign := "-"
		if ledger.Credit(h.Kind) {
			sign = "+"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s%s\t%s\t%s\t%s\n", h.Height, time.Unix(h.Time, 0).UTC().Format(time.RFC3339),
			historyWord(h.Kind), sign, ledger.FormatPTOY(h.Amount), ledger.FormatPTOY(h.Balance), counterpartyName(names, h.Counterparty), memos[i])
	}
	return tw.Flush()
}

func runWalletSupply(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "wallet supply", "[--json]",
		`Shows the total supply of PTOY (the sum of all balances) and the treasury's
balance, which governance proposals spend.`)
	c := addCommon(fs, e, useNode)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("wallet supply", pos, 0, ""); err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	s, err := cl.Supply(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSON(s))
	}
	tw := table(e.stdout)
	fmt.Fprintf(tw, "supply:\t%s\n", s.Formatted)
	fmt.Fprintf(tw, "treasury:\t%s (%s)\n", ledger.FormatPTOY(s.Treasury), ledger.Treasury)
	return tw.Flush()
}
