package main

// Commands "ptoy grant" and "ptoy revoke": a patient gives a provider (an
// organisation, a practitioner, a caregiver, an insurer) access to
// categories of their records, and takes it back. The patient's key agent
// (package agent) makes the key bundle a reader needs, and the new key
// epoch a revocation starts.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

func init() {
	commands["grant"] = command{"give a provider access to categories of your records", runGrant}
	commands["revoke"] = command{"take back a provider's access to your records", runRevoke}
}

func runGrant(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "grant", "--as PATIENT_KEY GRANTEE --categories LIST --permission read|write|read-write [--purpose PURPOSE] [--from DATE] [--until DATE] [--replace]",
		`Gives GRANTEE (an organisation, practitioner or other account: an id or a key
name) access to the categories LIST of the records of the patient whose key
is PATIENT_KEY, for one purpose of use, from --from (default now) until
--until (default: until revoked). A grantee holds one grant at a time: a
grant to a grantee whose grant is in force is refused, and says what that
grant covers, unless --replace says that the new grant replaces it (and
everything it covers: name every category the grantee should keep).

LIST is categories separated by commas: demographics, encounters,
conditions, medications, allergies, immunizations, lab-results, imaging,
notes, insurance-billing, directives, the sensitive mental-health,
substance-use, sexual-reproductive, hiv, genetic, or the groups
all-clinical, emergency, sensitive, all. Sensitive categories are reached
only when named.
--permission read lets the grantee read; write lets it deposit records
without reading any (a lab that sends results); read-write both. A grantee
that reads receives a key bundle: the category keys, sealed to it.
PURPOSE is treatment (the default), payment, operations or research.
`+dateHelp+` A bare day in --until includes
that day: "until the end of next year" is --until `+fmt.Sprint(time.Now().Year()+1)+`-12-31.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the patient, who signs")
	catsArg := fs.String("categories", "", "the `LIST` of categories to grant")
	purposeArg := fs.String("purpose", "treatment", "`PURPOSE` of use")
	permArg := fs.String("permission", "", "`PERMISSION`: read, write or read-write")
	fromArg := fs.String("from", "", "the grant starts on `DATE` (default now)")
	untilArg := fs.String("until", "", "the grant ends after `DATE` (default: until revoked)")
	replace := fs.Bool("replace", false, "replace the grantee's grant in force, and all it covers, with this one")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("grant", pos, 1, "the GRANTEE"); err != nil {
		return err
	}
	if err := needAs("grant", *as, "the patient who grants"); err != nil {
		return err
	}
	cats, err := parseScope("categories", *catsArg)
	if err != nil {
		return err
	}
	if *permArg == "" {
		return usageErr("ptoy grant needs --permission read, write or read-write (run ptoy grant -h)")
	}
	perm, err := consent.ParsePermission(*permArg)
	if err != nil {
		return ptoy.E("", ptoy.Invalid, "--permission: "+ptoy.Message(err))
	}
	purpose, err := parsePurposeFlag(*purposeArg)
	if err != nil {
		return err
	}
	if purpose == pb.Purpose_PURPOSE_EMERGENCY {
		return usageErr("--purpose: emergency access is opened by an emergency physician with ptoy break-glass, not granted")
	}
	from, err := optWhen("from", *fromArg, false)
	if err != nil {
		return err
	}
	until, err := optWhen("until", *untilArg, true)
	if err != nil {
		return err
	}
	if !until.IsZero() && !until.After(time.Now()) {
		return usageErr(fmt.Sprintf("--until %s is in the past: the grant would be expired already", *untilArg))
	}
	if !from.IsZero() && !until.IsZero() && !until.After(from) {
		return usageErr(fmt.Sprintf("--until %s is not after --from %s", *untilArg, *fromArg))
	}
	granteeRef, err := c.ref("grantee", pos[0])
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	grantee, err := granteeRef.resolve(ctx, cl)
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
	err = agent.New(cl, me).Grant(ctx, grantee, agent.GrantOptions{
		Categories: cats, Purpose: purpose, Permission: perm, NotBefore: unixOrZero(from), Expires: unixOrZero(until),
		Replace: *replace,
	})
	if err != nil {
		return namedErr(ctx, c, cl, err)
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "granted %s %s access to %s for %s", n.long(grantee), permissionWords(perm), consent.DescribeCategories(cats),
		consent.PurposeName(purpose))
	if !from.IsZero() {
		fmt.Fprintf(&b, ", from %s", from.Format("2006-01-02 15:04:05 UTC"))
	}
	if until.IsZero() {
		b.WriteString(", until you revoke it")
	} else {
		fmt.Fprintf(&b, ", until %s", untilWords(until.Unix()))
	}
	fmt.Fprintln(e.stdout, b.String())
	if perm&pb.Permission_PERMISSION_READ != 0 {
		fmt.Fprintf(e.stdout, "%s received a key bundle for these categories, sealed to its key\n", n.short(grantee))
	} else {
		fmt.Fprintf(e.stdout, "%s can deposit records but not read any, not even its own\n", n.short(grantee))
	}
	return nil
}

func runRevoke(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "revoke", "--as PATIENT_KEY GRANTEE",
		`Ends the access of GRANTEE (an account id or key name) to the records of
the patient whose key is PATIENT_KEY, at once. Every gateway refuses the
grantee from the next block on, and the categories it could read get new
keys: records written from now on are sealed to keys it never receives,
and the others who keep access get the new keys. What the grantee already
downloaded and decrypted cannot be taken back.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the patient, who signs")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("revoke", pos, 1, "the GRANTEE"); err != nil {
		return err
	}
	if err := needAs("revoke", *as, "the patient who revokes"); err != nil {
		return err
	}
	granteeRef, err := c.ref("grantee", pos[0])
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	grantee, err := granteeRef.resolve(ctx, cl)
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
	// Whether the grantee could read decides what the revocation does
	// to the keys.
	reads := false
	if grants, err := cl.As(me).Grants(ctx, me.ID()); err == nil {
		for _, gs := range grants {
			if idOf(gs.Grant.Grantee) == grantee && gs.Status == pb.GrantStatus_GRANT_STATUS_ACTIVE {
				reads = gs.Grant.Permission&pb.Permission_PERMISSION_READ != 0
			}
		}
	}
	if err := agent.New(cl, me).Revoke(ctx, grantee); err != nil {
		return namedErr(ctx, c, cl, err)
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	who := n.short(grantee)
	fmt.Fprintf(e.stdout, "revoked the access of %s\n", n.long(grantee))
	if reads {
		fmt.Fprintf(e.stdout, "Every gateway refuses %s from now on, and records written from now on are sealed to new keys it never receives.\n", who)
		fmt.Fprintf(e.stdout, "What %s already downloaded cannot be taken back.\n", who)
	} else {
		fmt.Fprintf(e.stdout, "%s could only deposit records; from now on it cannot.\n", capitalizeFirst(who))
	}
	return nil
}

// capitalizeFirst upper-cases the first letter of s.
func capitalizeFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
