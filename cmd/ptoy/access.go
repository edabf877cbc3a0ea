package main

// Commands "ptoy access", "ptoy patients" and "ptoy explain": who holds
// access to a patient's records, a provider's patient list, and why
// someone can or cannot read (or write) in plain words. All three only
// read the ledger.
//
// This file also holds what the consent and records commands (grant.go,
// delegate.go, breakglass.go, audit.go, record.go) share: dates on the
// command line, the patient an --as key acts for, the organisation a
// practitioner acts for, and names for account ids.

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"ptoy"
	"ptoy/client"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

func init() {
	commands["access"] = command{"list who holds access to a patient's records", runAccess}
	commands["patients"] = command{"list a provider's patients (its grants from patients)", runPatients}
	commands["explain"] = command{"say in plain words why someone can or cannot read a patient's records", runExplain}
}

// ---- shared by the consent and records commands ----

const dateHelp = `DATE is a day, 2027-12-31 (UTC), or an RFC 3339 time,
2027-12-31T17:00:00+01:00.`

// parseWhen reads the DATE of flag name: a day (UTC) or an RFC 3339 time.
// With end, a bare day means its end (the next midnight UTC): "--until
// 2027-12-31" includes the 31st.
func parseWhen(name, s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usageErr(fmt.Sprintf("bad --%s %q: want a day like 2027-12-31 or an RFC 3339 time like 2027-12-31T17:00:00Z", name, s))
}

// optWhen is parseWhen for an optional flag: zero when s is empty.
func optWhen(name, s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return parseWhen(name, s, end)
}

// unixOrZero is t in Unix seconds, 0 for the zero time.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// untilWords writes an expiry (Unix seconds) for people: "no end date",
// "the end of 2027-12-31" for a midnight (UTC), else the time in UTC.
func untilWords(s int64) string {
	if s == 0 {
		return "no end date"
	}
	t := time.Unix(s, 0).UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return "the end of " + t.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	return t.Format("2006-01-02 15:04:05 UTC")
}

// untilCell is untilWords for a table cell.
func untilCell(s int64) string {
	if s == 0 {
		return "-"
	}
	t := time.Unix(s, 0).UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return "end of " + t.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	return t.Format("2006-01-02 15:04 UTC")
}

// whenCell writes a time (Unix seconds) in a table cell, in UTC.
func whenCell(s int64) string {
	if s == 0 {
		return "-"
	}
	return time.Unix(s, 0).UTC().Format("2006-01-02 15:04:05")
}

// parseScope reads the --categories (or --labels) flag.
func parseScope(flag, s string) (uint32, error) {
	if strings.TrimSpace(s) == "" {
		return 0, usageErr(fmt.Sprintf("give --%s, such as conditions,medications (or all-clinical, emergency)", flag))
	}
	cats, err := consent.ParseCategories(s)
	if err != nil {
		return 0, ptoy.E("", ptoy.Invalid, "--"+flag+": "+ptoy.Message(err))
	}
	return cats, nil
}

// parsePurposeFlag reads --purpose.
func parsePurposeFlag(s string) (pb.Purpose, error) {
	p, err := consent.ParsePurpose(s)
	if err != nil {
		return 0, ptoy.E("", ptoy.Invalid, "--purpose: "+ptoy.Message(err))
	}
	return p, nil
}

// needAs checks that a command that signs was given --as.
func needAs(name, as, what string) error {
	if as == "" {
		return usageErr(fmt.Sprintf("ptoy %s needs --as KEYNAME, the key of %s (run ptoy %s -h)", name, what, name))
	}
	return nil
}

// resolveArg resolves an account argument (id or key name) on the node.
func resolveArg(ctx context.Context, c *common, cl *client.Client, what, arg string) (ptoy.ID, accountRef, error) {
	ref, err := c.ref(what, arg)
	if err != nil {
		return ptoy.ID{}, ref, err
	}
	id, err := ref.resolve(ctx, cl)
	return id, ref, err
}

// patientAsk is a command that asks the node about one patient, signed
// by the patient or a delegate: "ptoy NAME [PATIENT] [--as KEYNAME]
// [--json]".
type patientAsk struct {
	c       *common
	cl      *client.Client // the node
	sc      *client.Client // the node, with requests signed by the --as key
	patient ptoy.ID
	json    bool
}

// askForPatient parses such a command's arguments and resolves who asks
// about whom.
func askForPatient(ctx context.Context, e *env, args []string, name, help string) (*patientAsk, error) {
	fs := flags(e, name, "[PATIENT] [--as KEYNAME] [--json]", help)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that asks: the patient's or a delegate's")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 1 {
		return nil, wantArgs(name, pos, 1, "a PATIENT")
	}
	arg := ""
	if len(pos) == 1 {
		arg = pos[0]
	}
	cl, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	patient, err := patientOf(ctx, c, cl, name, arg, *as)
	if err != nil {
		return nil, err
	}
	sc, err := c.signed(cl, name, *as, arg)
	if err != nil {
		return nil, err
	}
	return &patientAsk{c: c, cl: cl, sc: sc, patient: patient, json: *asJSON}, nil
}

// patientOf is the patient a command is about: the --patient (or
// positional) argument if given, else the account of the --as key.
func patientOf(ctx context.Context, c *common, cl *client.Client, name, arg, as string) (ptoy.ID, error) {
	switch {
	case arg != "":
		id, _, err := resolveArg(ctx, c, cl, "patient", arg)
		return id, err
	case as != "":
		id, _, err := resolveArg(ctx, c, cl, "key", as)
		return id, err
	}
	return ptoy.ID{}, usageErr(fmt.Sprintf("ptoy %s needs a PATIENT (an account id or key name), or --as the patient's key (run ptoy %s -h)", name, name))
}

const orgHelp = "the organisation (`ORG` id or key name) the practitioner acts for; default: the one it works\n" +
	`for, if only one; "self" for none`

// actingOrg is the organisation reader acts for: orgArg if given ("self":
// none), else, for a practitioner employed by exactly one organisation,
// that one; zero otherwise.
func actingOrg(ctx context.Context, c *common, cl *client.Client, orgArg string, reader ptoy.ID) (ptoy.ID, error) {
	switch orgArg {
	case "self", "none":
		return ptoy.ID{}, nil
	case "":
		a, err := cl.Account(ctx, reader)
		if err != nil {
			if ptoy.KindOf(err) == ptoy.NotFound {
				return ptoy.ID{}, nil
			}
			return ptoy.ID{}, err
		}
		if a.Account.GetKind() == pb.AccountKind_ACCOUNT_KIND_PRACTITIONER && len(a.Employments) == 1 {
			return idOf(a.Employments[0].Org), nil
		}
		return ptoy.ID{}, nil
	}
	id, _, err := resolveArg(ctx, c, cl, "organisation", orgArg)
	return id, err
}

// namer gives account ids names for people: an organisation's name from
// the ledger, else the name of a key in the keystore directory (the
// ledger holds no names of people), else the id.
type namer struct {
	orgs map[ptoy.ID]string
	keys map[ptoy.ID]string
}

// loadNamer reads the organisations and the keystore directory; a
// keystore that cannot be listed names nothing.
func loadNamer(ctx context.Context, c *common, cl *client.Client) (*namer, error) {
	orgs, err := orgNames(ctx, cl)
	if err != nil {
		return nil, err
	}
	n := &namer{orgs: orgs, keys: map[ptoy.ID]string{}}
	if d, err := c.dir(); err == nil {
		if infos, err := d.List(); err == nil {
			for _, in := range infos {
				if _, ok := n.keys[in.ID]; !ok {
					n.keys[in.ID] = in.Name
				}
			}
		}
	}
	return n, nil
}

// name is the name of id, "" if none is known.
func (n *namer) name(id ptoy.ID) string {
	if s, ok := n.orgs[id]; ok {
		return s
	}
	return n.keys[id]
}

// short is the name of id, else its id.
func (n *namer) short(id ptoy.ID) string {
	if s := n.name(id); s != "" {
		return s
	}
	return id.String()
}

// shortB is short for the byte form of an id; "-" when empty.
func (n *namer) shortB(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return n.short(idOf(b))
}

// long is "name (id)", or the id.
func (n *namer) long(id ptoy.ID) string {
	if s := n.name(id); s != "" {
		return fmt.Sprintf("%s (%s)", s, id)
	}
	return id.String()
}

// words puts key names in a text from the ledger, which names people by
// kind and short id ("practitioner 1a2b3c4d").
func (n *namer) words(s string) string {
	for id, name := range n.keys {
		if _, ok := n.orgs[id]; ok {
			continue
		}
		short := consent.ShortID(id)
		for _, kind := range []string{"practitioner", "patient"} {
			s = strings.ReplaceAll(s, kind+" "+short, name)
			// At the start of a sentence.
			s = strings.ReplaceAll(s, capitalizeFirst(kind)+" "+short, capitalizeFirst(name))
		}
	}
	return s
}

// sentence is words, capitalized.
func (n *namer) sentence(s string) string {
	s = n.words(s)
	if r, size := utf8.DecodeRuneInString(s); r != utf8.RuneError && !unicode.IsUpper(r) {
		s = string(unicode.ToUpper(r)) + s[size:]
	}
	return s
}

// permissionWords is a permission in a sentence.
func permissionWords(p pb.Permission) string {
	switch p {
	case pb.Permission_PERMISSION_READ:
		return "read"
	case pb.Permission_PERMISSION_WRITE:
		return "write-only (deposit)"
	case pb.Permission_PERMISSION_READ_WRITE:
		return "read and write"
	}
	return consent.PermissionName(p)
}

// grantStatus is a grant's state at now: active, revoked on …, expired
// on …, starts on ….
func grantStatus(gs *pb.GrantState, now time.Time) string {
	g := gs.GetGrant()
	switch {
	case gs.Status == pb.GrantStatus_GRANT_STATUS_REVOKED:
		return "revoked " + time.Unix(gs.RevokedTime, 0).UTC().Format(time.DateOnly)
	case g.GetExpires() != 0 && now.Unix() >= g.GetExpires():
		return "expired"
	case g.GetNotBefore() != 0 && now.Unix() < g.GetNotBefore():
		return "starts " + time.Unix(g.GetNotBefore(), 0).UTC().Format(time.DateOnly)
	}
	return "active"
}

// ---- ptoy access ----

func runAccess(ctx context.Context, e *env, args []string) error {
	q, err := askForPatient(ctx, e, args, "access",
		`Lists everyone who holds, or held, access to the records of PATIENT (an
account id or a key name; by default the account of the --as key): each
grantee's name and id, permission, purpose of use, end date, status and
categories; then the patient's delegates and break-glass policy. The
node answers only the patient and their delegates: the request is signed
with the --as key (by default PATIENT's, when it is a key name).`)
	if err != nil {
		return err
	}
	c, cl, patient, sc := q.c, q.cl, q.patient, q.sc
	r, err := sc.Access(ctx, patient)
	if err != nil {
		return err
	}
	if q.json {
		return writeJSON(e.stdout, pbJSON(r))
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintf(e.stdout, "access to the records of %s\n", n.long(patient))
	if len(r.Grants) == 0 {
		fmt.Fprintln(e.stdout, "\nno grants: only the patient can read their records")
	} else {
		fmt.Fprintln(e.stdout)
		tw := table(e.stdout)
		fmt.Fprintln(tw, "GRANTEE\tID\tPERMISSION\tPURPOSE\tUNTIL\tSTATUS\tCATEGORIES")
		for _, gs := range r.Grants {
			g := gs.Grant
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.shortB(g.Grantee), idOf(g.Grantee), consent.PermissionName(g.Permission),
				consent.PurposeName(g.Purpose), untilCell(g.Expires), grantStatus(gs, now), consent.DescribeCategories(g.Categories))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Delegations) > 0 {
		fmt.Fprintln(e.stdout)
		tw := table(e.stdout)
		fmt.Fprintln(tw, "DELEGATE\tID\tMAY GRANT\tUNTIL\tSTATUS\tCATEGORIES")
		for _, ds := range r.Delegations {
			d := ds.Delegation
			status := "active"
			if d.Expires != 0 && now.Unix() >= d.Expires {
				status = "expired"
			}
			mayGrant := "no"
			if d.MayGrant {
				mayGrant = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.shortB(d.Delegate), idOf(d.Delegate), mayGrant, untilCell(d.Expires), status,
				consent.DescribeCategories(d.Categories))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "\nbreak-glass: %s\n", policyWords(r.BreakGlassPolicy))
	return nil
}

// policyWords describes a break-glass policy.
func policyWords(p *pb.BreakGlassPolicy) string {
	switch {
	case p.GetDisabled():
		return "off: no one can open emergency access"
	case p.GetCategories() != 0:
		return "on, limited to " + consent.DescribeCategories(p.GetCategories())
	}
	return "on: an emergency physician can open " + consent.DescribeCategories(consent.EmergencySet) + " for a few hours"
}

// ---- ptoy patients ----

func runPatients(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "patients", "ORG_OR_ID [--as KEYNAME] [--json]",
		`Lists the patients who granted ORG_OR_ID (an organisation, or any grantee:
an account id or key name) access, with each grant: permission, purpose,
end date, status and categories. Revoked grants are not listed. The list is
the patients' own grants on the ledger: no one but each patient changes it.
The node answers only the grantee (an organisation: it and its employees):
the request is signed with the --as key (by default ORG_OR_ID's).`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that asks: the grantee's or an employee's")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	grantee, cl, err := c.oneAccount(ctx, "patients", pos, "grantee", "an ORG_OR_ID")
	if err != nil {
		return err
	}
	sc, err := c.signed(cl, "patients", *as, pos[0])
	if err != nil {
		return err
	}
	list, err := sc.Patients(ctx, grantee)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSONList(list))
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintf(e.stdout, "%s has no patients: no patient has granted it access\n", n.short(grantee))
		return nil
	}
	tw := table(e.stdout)
	fmt.Fprintln(tw, "PATIENT\tID\tPERMISSION\tPURPOSE\tUNTIL\tSTATUS\tCATEGORIES")
	for _, pe := range list {
		g := pe.GetGrant().GetGrant()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.shortB(pe.Patient), idOf(pe.Patient), consent.PermissionName(g.GetPermission()),
			consent.PurposeName(g.GetPurpose()), untilCell(g.GetExpires()), pe.Status, consent.DescribeCategories(g.GetCategories()))
	}
	return tw.Flush()
}

// ---- ptoy explain ----

func runExplain(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "explain", "--reader KEY_OR_ID --patient PATIENT --categories LIST [--org ORG] [--purpose PURPOSE] [--write] [--as KEYNAME] [--json]",
		`Says in plain words whether READER can read (or, with --write, write) the
categories LIST of PATIENT's records now, and why: which grant, role or
break-glass allows it, or what stands in the way. It asks the ledger only;
nothing is read and nothing is logged.
READER, PATIENT and ORG are account ids or key names. A practitioner is
judged acting for the organisation it works for (--org, by default the one
it works for if only one). LIST is categories such as notes or
conditions,medications; PURPOSE is treatment (the default), payment,
operations, research or emergency.
The node answers the patient and their delegates, the reader itself, and
the admins and privacy officers of the organisation it reads for: the
request is signed with the --as key (by default READER's, else PATIENT's,
when they are key names).`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that asks")
	readerArg := fs.String("reader", "", "`KEY_OR_ID` of who would read")
	patientArg := fs.String("patient", "", "the `PATIENT` whose records (id or key name)")
	catsArg := fs.String("categories", "", "the categories, a `LIST` such as notes or conditions,medications")
	orgArg := fs.String("org", "", orgHelp)
	purposeArg := fs.String("purpose", "treatment", "`PURPOSE` of use")
	write := fs.Bool("write", false, "ask about writing rather than reading")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("explain", pos, 0, ""); err != nil {
		return err
	}
	if *readerArg == "" {
		return usageErr("ptoy explain needs --reader KEY_OR_ID (run ptoy explain -h)")
	}
	if *patientArg == "" {
		return usageErr("ptoy explain needs --patient PATIENT (run ptoy explain -h)")
	}
	cats, err := parseScope("categories", *catsArg)
	if err != nil {
		return err
	}
	purpose, err := parsePurposeFlag(*purposeArg)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	reader, _, err := resolveArg(ctx, c, cl, "reader", *readerArg)
	if err != nil {
		return err
	}
	patient, _, err := resolveArg(ctx, c, cl, "patient", *patientArg)
	if err != nil {
		return err
	}
	org, err := actingOrg(ctx, c, cl, *orgArg, reader)
	if err != nil {
		return err
	}
	req := &pb.ExplainRequest{Reader: reader.Bytes(), Patient: patient.Bytes(), Categories: cats, Purpose: purpose, Write: *write}
	if !org.IsZero() {
		req.Org = org.Bytes()
	}
	fallback := *readerArg
	if _, err := c.keyInfo(fallback); err != nil {
		fallback = *patientArg
	}
	sc, err := c.signed(cl, "explain", *as, fallback)
	if err != nil {
		return err
	}
	r, err := sc.Explain(ctx, req)
	if err != nil {
		return err
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, map[string]any{"allow": r.Allow, "via": r.Via, "reason": n.words(r.Reason), "explanation": n.sentence(r.Explanation)})
	}
	fmt.Fprintln(e.stdout, n.sentence(r.Explanation))
	return nil
}

// ids puts names for the full account ids in a text.
func (n *namer) ids(s string) string {
	for id, name := range n.orgs {
		s = strings.ReplaceAll(s, id.String(), name)
	}
	for id, name := range n.keys {
		if _, ok := n.orgs[id]; !ok {
			s = strings.ReplaceAll(s, id.String(), name)
		}
	}
	return s
}

// namedErr is err with names for the account ids its message holds (the
// ledger's messages name accounts by id).
func namedErr(ctx context.Context, c *common, cl *client.Client, err error) error {
	if err == nil {
		return nil
	}
	n, nerr := loadNamer(ctx, c, cl)
	if nerr != nil {
		return err
	}
	msg := ptoy.Message(err)
	if named := n.ids(msg); named != msg {
		return ptoy.E("", ptoy.KindOf(err), named)
	}
	return err
}

// mustBePatient checks that key name (loaded as k) is a patient's, for
// the commands by which a patient manages their consent.
func mustBePatient(ctx context.Context, cl *client.Client, k *keys.KeyPair, name string) error {
	a, err := cl.AccountByKey(ctx, k.SigningPublic())
	if ptoy.KindOf(err) == ptoy.NotFound {
		return ptoy.E("", ptoy.NotFound, fmt.Sprintf("key %q has no account on this network (register with ptoy register)", name))
	}
	if err != nil {
		return err
	}
	if a.Account.GetKind() != pb.AccountKind_ACCOUNT_KIND_PATIENT {
		return ptoy.E("", ptoy.PermissionDenied, fmt.Sprintf("key %q is not a patient's: only a patient manages access to their own records", name))
	}
	return nil
}
