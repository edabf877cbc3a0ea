package main

// Commands "ptoy delegate" and "ptoy undelegate": a patient lets a
// caregiver or guardian act for them within categories (read and write
// those records, list their audit trail, and, with --may-grant, grant and
// revoke access in that scope), and ends it.
//
// A delegate reads with a key bundle like a grantee's: the patient's
// category keys of the scope, every epoch, sealed to the delegate by the
// patient's agent (agent.Delegate).

import (
	"context"
	"fmt"

	"ptoy/agent"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

func init() {
	commands["delegate"] = command{"let a caregiver or guardian act for you", runDelegate}
	commands["undelegate"] = command{"end a delegation", runUndelegate}
}

func runDelegate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "delegate", "--as PATIENT_KEY DELEGATE --categories LIST [--may-grant] [--until DATE]",
		`Lets DELEGATE (a person: a patient's or practitioner's account, by id or key
name) act for the patient whose key is PATIENT_KEY within the categories
LIST: read and write those records (it receives their keys, sealed to it)
and list the patient's audit trail; with --may-grant also grant and revoke
others' access within LIST. A new delegation to the same person replaces
the old one. LIST is as in ptoy grant. `+dateHelp)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the patient, who signs")
	catsArg := fs.String("categories", "", "the `LIST` of categories the delegate acts on")
	mayGrant := fs.Bool("may-grant", false, "the delegate may also grant and revoke access within LIST")
	untilArg := fs.String("until", "", "the delegation ends after `DATE` (default: until ended)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("delegate", pos, 1, "the DELEGATE"); err != nil {
		return err
	}
	if err := needAs("delegate", *as, "the patient who delegates"); err != nil {
		return err
	}
	cats, err := parseScope("categories", *catsArg)
	if err != nil {
		return err
	}
	until, err := optWhen("until", *untilArg, true)
	if err != nil {
		return err
	}
	ref, err := c.ref("delegate", pos[0])
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	delegate, err := ref.resolve(ctx, cl)
	if err != nil {
		return err
	}
	me, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	if err := mustBePatient(ctx, cl, me, *as); err != nil {
		return err
	}
	if delegate == me.ID() {
		return usageErr("a patient does not delegate to themselves")
	}
	err = agent.New(cl, me).Delegate(ctx, delegate, agent.DelegateOptions{Categories: cats, MayGrant: *mayGrant, Expires: unixOrZero(until)})
	if err != nil {
		return namedErr(ctx, c, cl, err)
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	what := "read and write"
	if *mayGrant {
		what = "read, write, grant and revoke"
	}
	end := "until you end it"
	if !until.IsZero() {
		end = "until " + untilWords(until.Unix())
	}
	fmt.Fprintf(e.stdout, "%s may now %s your %s for you, %s\n", n.long(delegate), what, consent.DescribeCategories(cats), end)
	fmt.Fprintf(e.stdout, "%s received a key bundle for these categories, sealed to its key\n", n.short(delegate))
	return nil
}

func runUndelegate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "undelegate", "--as KEYNAME [--patient PATIENT] DELEGATE",
		`Ends the delegation of DELEGATE (an account id or key name) to act for
PATIENT. The patient signs (--as, and PATIENT defaults to that account), or
the delegate itself steps down (--as the delegate's key, --patient the
patient). When the patient ends it, the categories the delegate held keys
of get a new key epoch, as on a revoke: the former delegate cannot open
records written after it. What the delegate already downloaded cannot be
taken back.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the patient or of the delegate, who signs")
	patientArg := fs.String("patient", "", "the `PATIENT` (default: the account of --as)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("undelegate", pos, 1, "the DELEGATE"); err != nil {
		return err
	}
	if err := needAs("undelegate", *as, "the patient or of the delegate"); err != nil {
		return err
	}
	ref, err := c.ref("delegate", pos[0])
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	delegate, err := ref.resolve(ctx, cl)
	if err != nil {
		return err
	}
	patient, err := patientOf(ctx, c, cl, "undelegate", *patientArg, *as)
	if err != nil {
		return err
	}
	me, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	if patient == me.ID() {
		err = agent.New(cl, me).Undelegate(ctx, delegate)
	} else {
		m := &pb.Undelegate{Patient: patient.Bytes(), Delegate: delegate.Bytes()}
		_, err = cl.Send(ctx, &pb.Body{Msg: &pb.Body_Undelegate{Undelegate: m}}, me)
	}
	if err != nil {
		return namedErr(ctx, c, cl, err)
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s no longer acts for %s\n", n.long(delegate), n.long(patient))
	return nil
}
