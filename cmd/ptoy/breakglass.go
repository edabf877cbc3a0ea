package main

// Commands "ptoy break-glass" (open emergency access; "policy", "queue")
// and "ptoy notifications". An emergency physician opens a time-limited
// read of a patient's emergency set for their organisation; the ledger
// keeps the SHA-256 of the reason, notifies the patient and puts the event
// in the organisation's review queue. The patient can turn break-glass off
// or limit it.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

func init() {
	commands["break-glass"] = command{"open emergency access; the patient's policy; an organisation's review queue", runBreakGlass}
	commands["notifications"] = command{"list what the network told a patient", runNotifications}
}

var breakGlassSubcommands = []subcommand{
	{"open", "open emergency access to a patient's records (the default)", runBreakGlassOpen},
	{"policy", "show or set a patient's break-glass policy", runBreakGlassPolicy},
	{"queue", "list an organisation's break-glass review queue", runBreakGlassQueue},
}

// runBreakGlass opens emergency access unless the first argument names a
// subcommand.
func runBreakGlass(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-help", "--help":
			return runGroup(ctx, e, "break-glass", breakGlassSubcommands, args)
		}
		for _, s := range breakGlassSubcommands {
			if s.name == args[0] {
				return s.run(ctx, e, args[1:])
			}
		}
	}
	return runBreakGlassOpen(ctx, e, args)
}

func runBreakGlassOpen(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "break-glass", "--as PRACTITIONER_KEY --org ORG --reason TEXT PATIENT",
		`Opens emergency access to the records of PATIENT (an account id or key name)
for the emergency physician whose key is PRACTITIONER_KEY, acting for ORG
(an organisation id or key name, where they have the emergency-physician
role): for a few hours they may read the patient's emergency set
(conditions, medications, allergies, immunizations and directives, or less
if the patient limited it), for emergency treatment.

The patient is notified, and the access is put in ORG's review queue (ptoy
break-glass queue ORG) for its privacy officer. The reason's text may hold
health information: it is not sent anywhere. Only its SHA-256 goes on the
ledger; keep the text for the review, where its hash proves it unchanged.

Subcommands: ptoy break-glass policy, ptoy break-glass queue (run ptoy
break-glass help).`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the emergency physician, who signs")
	orgArg := fs.String("org", "", "the organisation (`ORG` id or key name) the physician acts for")
	reason := fs.String("reason", "", "why, in `TEXT`; only its SHA-256 leaves this computer")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("break-glass", pos, 1, "the PATIENT"); err != nil {
		return err
	}
	if err := needAs("break-glass", *as, "the emergency physician"); err != nil {
		return err
	}
	if *orgArg == "" {
		return usageErr("ptoy break-glass needs --org ORG, the organisation the physician acts for (run ptoy break-glass -h)")
	}
	if strings.TrimSpace(*reason) == "" {
		return usageErr(`ptoy break-glass needs --reason "TEXT": why emergency access is needed (run ptoy break-glass -h)`)
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	patient, _, err := resolveArg(ctx, c, cl, "patient", pos[0])
	if err != nil {
		return err
	}
	org, _, err := resolveArg(ctx, c, cl, "organisation", *orgArg)
	if err != nil {
		return err
	}
	me, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	h := sha256.Sum256([]byte(*reason))
	m := &pb.BreakGlass{Patient: patient.Bytes(), ReasonHash: h[:], Org: org.Bytes()}
	if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_BreakGlass{BreakGlass: m}}, me); err != nil {
		return namedErr(ctx, c, cl, err)
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	// The event just opened: the newest of this practitioner for the patient.
	var ev *pb.BreakGlassEvent
	if evs, err := cl.As(me).BreakGlassOf(ctx, patient); err == nil {
		for _, x := range evs {
			if string(x.ReasonHash) == string(h[:]) && (ev == nil || x.Id > ev.Id) {
				ev = x
			}
		}
	}
	if ev == nil {
		fmt.Fprintf(e.stdout, "break-glass opened for %s, acting for %s\n", n.long(patient), n.short(org))
	} else {
		fmt.Fprintf(e.stdout, "break-glass #%d opened for %s, acting for %s\n", ev.Id, n.long(patient), n.short(org))
		fmt.Fprintf(e.stdout, "You may read %s for emergency treatment until %s.\n", consent.DescribeCategories(ev.Categories),
			time.Unix(ev.Closes, 0).UTC().Format("2006-01-02 15:04:05 UTC"))
		if ev.Flagged {
			fmt.Fprintln(e.stdout, "You broke the glass often lately: this access is flagged for review.")
		}
	}
	fmt.Fprintf(e.stdout, "The patient is notified, and %s's review queue lists the access.\n", n.short(org))
	fmt.Fprintf(e.stdout, "reason SHA-256: %x\n", h)
	fmt.Fprintln(e.stdout, "The reason's text was not sent anywhere: only its SHA-256 is on the ledger. Keep the text for the review.")
	return nil
}

func runBreakGlassPolicy(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "break-glass policy", "--as PATIENT_KEY [--off | --on] [--categories LIST] [--json]",
		`Shows the break-glass policy of the patient whose key is PATIENT_KEY, or
sets it: --off turns break-glass off (open windows close at once), --on
turns it back on for the network's emergency set, and --categories limits
it to LIST within that set (conditions, medications, allergies,
immunizations, directives; open windows narrow at once).`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the patient, who signs")
	off := fs.Bool("off", false, "turn break-glass off")
	on := fs.Bool("on", false, "turn break-glass on, for the whole emergency set")
	catsArg := fs.String("categories", "", "limit break-glass to `LIST`")
	asJSON := fs.Bool("json", false, "print the policy as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("break-glass policy", pos, 0, ""); err != nil {
		return err
	}
	if err := needAs("break-glass policy", *as, "the patient"); err != nil {
		return err
	}
	var cats uint32
	if *catsArg != "" {
		if cats, err = parseScope("categories", *catsArg); err != nil {
			return err
		}
		if bad := cats &^ consent.EmergencySet; bad != 0 {
			return usageErr(fmt.Sprintf("--categories: break-glass can be limited within %s only; %s is not among them",
				consent.DescribeCategories(consent.EmergencySet), consent.DescribeCategories(bad)))
		}
	}
	switch {
	case *off && *on:
		return usageErr("give --off or --on, not both")
	case *off && cats != 0:
		return usageErr("--off turns break-glass off: it takes no --categories")
	}
	set := *off || *on || cats != 0
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	me, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	if set {
		if err := mustBePatient(ctx, cl, me, *as); err != nil {
			return err
		}
		m := &pb.SetBreakGlassPolicy{Patient: me.ID().Bytes(), Disabled: *off, Categories: cats}
		if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_BreakGlassPolicy{BreakGlassPolicy: m}}, me); err != nil {
			return namedErr(ctx, c, cl, err)
		}
	}
	patient, _, err := resolveArg(ctx, c, cl, "key", *as)
	if err != nil {
		return err
	}
	r, err := cl.As(me).Access(ctx, patient)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSON(r.BreakGlassPolicy))
	}
	fmt.Fprintf(e.stdout, "break-glass: %s\n", policyWords(r.BreakGlassPolicy))
	return nil
}

func runBreakGlassQueue(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "break-glass queue", "ORG [--as KEYNAME] [--json]",
		`Lists the break-glass review queue of ORG (an organisation id or key name):
every emergency access its practitioners opened, oldest first, with the
practitioner, the patient, when it opened and closes, what it opened,
whether it is flagged (a practitioner who broke the glass often), and the
reason's SHA-256 to check against the text the practitioner kept. The node
answers only the organisation, its privacy officers and its admins: the
request is signed with the --as key (by default ORG's).`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that asks: the organisation's, a privacy officer's or an admin's")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	org, cl, err := c.oneAccount(ctx, "break-glass queue", pos, "organisation", "an ORG")
	if err != nil {
		return err
	}
	sc, err := c.signed(cl, "break-glass queue", *as, pos[0])
	if err != nil {
		return err
	}
	evs, err := sc.BreakGlassQueue(ctx, org)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSONList(evs))
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		fmt.Fprintf(e.stdout, "%s's review queue is empty: none of its practitioners broke the glass\n", n.short(org))
		return nil
	}
	now := time.Now().Unix()
	tw := table(e.stdout)
	fmt.Fprintln(tw, "#\tPRACTITIONER\tPATIENT\tOPENED (UTC)\tCLOSES (UTC)\tSTATE\tFLAGGED\tREASON SHA-256\tCATEGORIES")
	for _, ev := range evs {
		state := "closed"
		if now < ev.Closes {
			state = "open"
		}
		flagged := "no"
		if ev.Flagged {
			flagged = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Id, n.shortB(ev.Practitioner), n.shortB(ev.Patient), whenCell(ev.Opened),
			whenCell(ev.Closes), state, flagged, hex.EncodeToString(ev.ReasonHash)[:16]+"…", consent.DescribeCategories(ev.Categories))
	}
	return tw.Flush()
}

func runNotifications(ctx context.Context, e *env, args []string) error {
	q, err := askForPatient(ctx, e, args, "notifications",
		`Lists what the network told PATIENT (an account id or key name; by default
the account of the --as key), oldest first: emergency access to their
records, and more. Notifications hold no health information. The node
answers only the patient and their delegates: the request is signed with
the --as key (by default PATIENT's, when it is a key name).`)
	if err != nil {
		return err
	}
	c, cl, patient, sc := q.c, q.cl, q.patient, q.sc
	ns, err := sc.Notifications(ctx, patient)
	if err != nil {
		return err
	}
	if q.json {
		return writeJSON(e.stdout, pbJSONList(ns))
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	if len(ns) == 0 {
		fmt.Fprintf(e.stdout, "no notifications for %s\n", n.long(patient))
		return nil
	}
	for _, x := range ns {
		fmt.Fprintf(e.stdout, "%s  %s  %s\n", whenCell(x.Time), x.Kind, n.words(x.Text))
	}
	return nil
}
