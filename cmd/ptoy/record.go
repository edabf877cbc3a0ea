package main

// Command "ptoy record": write a record (encrypted by the writer to the
// patient's category key; the ledger gets its hash and size, the nodes
// its ciphertext), read and decrypt one through a gateway that checks
// consent and audits the read, list a patient's records and a record's
// versions, see which nodes hold a record, and erase one the patient
// wrote.

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"ptoy"
	"ptoy/client"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/ledger"
)

func init() {
	commands["record"] = command{"write, read, list and erase encrypted health records", runRecord}
}

var recordSubcommands = []subcommand{
	{"put", "encrypt and write a record (a FHIR resource, a document)", runRecordPut},
	{"get", "read and decrypt a record", runRecordGet},
	{"list", "list a patient's records", runRecordList},
	{"history", "list every version of a record", runRecordHistory},
	{"status", "show which nodes hold a record's ciphertext", runRecordStatus},
	{"erase", "erase a record the patient wrote", runRecordErase},
}

func runRecord(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "record", recordSubcommands, args)
}

// maxRecordFile bounds what ptoy record put reads.
const maxRecordFile = 256 << 20

// parseRecordID reads a record id: 32 hex digits.
func parseRecordID(s string) ([]byte, error) {
	id, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(id) != ledger.RecordIDLen {
		return nil, usageErr(fmt.Sprintf("bad record id %q: want %d hex digits (see ptoy record list)", s, 2*ledger.RecordIDLen))
	}
	return id, nil
}

// readInput reads FILE, or stdin for "-".
func readInput(e *env, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, ptoy.E("", ptoy.Invalid, fmt.Sprintf("cannot read %s: %s", name, plainOSError(err)))
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxRecordFile+1))
	if err != nil {
		return nil, ptoy.E("", ptoy.Invalid, fmt.Sprintf("cannot read %s: %s", name, plainOSError(err)))
	}
	if len(b) > maxRecordFile {
		return nil, usageErr(fmt.Sprintf("%s is larger than %d MiB", name, maxRecordFile>>20))
	}
	if len(b) == 0 {
		return nil, usageErr(fmt.Sprintf("%s is empty: a record holds something", name))
	}
	return b, nil
}

// plainOSError is an os error without the path it repeats.
func plainOSError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// recordSetup resolves what the commands that sign share: the client, the
// patient and the key of --as.
func recordSetup(ctx context.Context, c *common, name, as, patientArg string) (*client.Client, ptoy.ID, *keys.KeyPair, error) {
	if err := needAs("record "+name, as, "the one who acts"); err != nil {
		return nil, ptoy.ID{}, nil, err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return nil, ptoy.ID{}, nil, err
	}
	patient, err := patientOf(ctx, c, cl, "record "+name, patientArg, as)
	if err != nil {
		return nil, ptoy.ID{}, nil, err
	}
	k, err := c.loadKey(as)
	if err != nil {
		return nil, ptoy.ID{}, nil, err
	}
	return cl, patient, k, nil
}

func runRecordPut(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "record put", "--as WRITER_KEY --patient PATIENT --category CATEGORY [--labels LIST] [--org ORG] [--id HEX] FILE|-",
		`Encrypts FILE (or stdin for -), such as a FHIR JSON resource, to the
patient's current key for CATEGORY and writes it as a new record, or as the
next version of record HEX (--id). The ciphertext goes to the nodes, its
hash and size to the ledger; the plaintext never leaves this computer.
Writing needs only the patient's public keys: it does not let the writer
read.

The writer is the patient, a delegate, a grantee with write permission, or
an employee writing for its organisation (--org). CATEGORY is one category
(notes, lab-results, …; see ptoy grant -h); --labels adds the sensitive
categories the record touches (mental-health, hiv, …), and a reader then
needs all of them. PATIENT and ORG are account ids or key names.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the writer, who signs")
	patientArg := fs.String("patient", "", "the `PATIENT` whose record (default: the account of --as)")
	catArg := fs.String("category", "", "the record's `CATEGORY`")
	labelsArg := fs.String("labels", "", "the `LIST` of further categories the record touches")
	orgArg := fs.String("org", "", orgHelp)
	idArg := fs.String("id", "", "write a new version of record `HEX` (default: a new record)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("record put", pos, 1, "a FILE (or - for stdin)"); err != nil {
		return err
	}
	if *catArg == "" {
		return usageErr("ptoy record put needs --category CATEGORY, such as notes or lab-results (run ptoy record put -h)")
	}
	catBits, err := parseScope("category", *catArg)
	if err != nil {
		return err
	}
	cat, ok := singleCategory(catBits)
	if !ok {
		return usageErr(fmt.Sprintf("--category %q: give one category; put the others in --labels", *catArg))
	}
	var labels uint32
	if *labelsArg != "" {
		if labels, err = parseScope("labels", *labelsArg); err != nil {
			return err
		}
	}
	var rid [16]byte
	if *idArg != "" {
		b, err := parseRecordID(*idArg)
		if err != nil {
			return err
		}
		copy(rid[:], b)
	}
	if pos[0] == "-" && c.prompting() {
		return usageErr("the record comes from stdin (-), so the passphrase cannot: give --passphrase-file or set " + envPass)
	}
	data, err := readInput(e, pos[0])
	if err != nil {
		return err
	}
	cl, patient, writer, err := recordSetup(ctx, c, "put", *as, *patientArg)
	if err != nil {
		return err
	}
	org, err := actingOrg(ctx, c, cl, *orgArg, writer.ID())
	if err != nil {
		return err
	}
	entries, err := cl.PutRecords(ctx, writer, patient, org, []client.NewRecord{{ID: rid, Category: cat, Labels: labels &^ consent.Bit(cat), Data: data}})
	if err != nil {
		return namedErr(ctx, c, cl, err)
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	r := entries[0]
	by := n.short(writer.ID())
	if !org.IsZero() {
		by += " for " + n.short(org)
	}
	tw := table(e.stdout)
	fmt.Fprintf(tw, "record:\t%x\n", r.Id)
	fmt.Fprintf(tw, "version:\t%d\n", r.Version)
	fmt.Fprintf(tw, "patient:\t%s\n", n.long(patient))
	fmt.Fprintf(tw, "categories:\t%s\n", consent.DescribeCategories(r.Labels))
	fmt.Fprintf(tw, "written by:\t%s\n", by)
	fmt.Fprintf(tw, "hash:\t%x\n", r.Hash)
	fmt.Fprintf(tw, "size:\t%d bytes encrypted (%d bytes of plaintext)\n", r.Size, len(data))
	return tw.Flush()
}

// singleCategory is the one category of a set of one.
func singleCategory(bits uint32) (pb.Category, bool) {
	if bits == 0 || bits&(bits-1) != 0 {
		return 0, false
	}
	for c := pb.Category(1); c < 32; c++ {
		if consent.Bit(c) == bits {
			return c, true
		}
	}
	return 0, false
}

func runRecordGet(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "record get", "--as READER_KEY --patient PATIENT [--org ORG] [--purpose PURPOSE] [--version N] [--out FILE] ID",
		`Reads record ID of PATIENT through the node's gateway, which checks that
the reader may read it now and records the read in the patient's audit
trail, and decrypts it with the reader's keys: the patient's own, those of
a grant or delegation, or, reading for an organisation (--org), a key the
organisation's node releases to the reader after checking its role. The
plaintext goes to stdout, or to a new FILE (--out).
PURPOSE is treatment (the default), payment, operations, research or
emergency (after break-glass).`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the reader, who signs")
	patientArg := fs.String("patient", "", "the `PATIENT` whose record (default: the account of --as)")
	orgArg := fs.String("org", "", orgHelp)
	purposeArg := fs.String("purpose", "treatment", "`PURPOSE` of use")
	version := fs.Uint("version", 0, "read version `N` (default the latest)")
	out := fs.String("out", "", "write the plaintext to the new `FILE` rather than stdout")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("record get", pos, 1, "a record ID"); err != nil {
		return err
	}
	id, err := parseRecordID(pos[0])
	if err != nil {
		return err
	}
	purpose, err := parsePurposeFlag(*purposeArg)
	if err != nil {
		return err
	}
	if *version > 1<<32-1 {
		return usageErr("--version is too large")
	}
	cl, patient, reader, err := recordSetup(ctx, c, "get", *as, *patientArg)
	if err != nil {
		return err
	}
	org, err := actingOrg(ctx, c, cl, *orgArg, reader.ID())
	if err != nil {
		return err
	}
	o := client.ReadOptions{Version: uint32(*version), Org: org, Purpose: purpose}
	plain, st, err := cl.GetRecord(ctx, reader, patient, id, o)
	if err != nil {
		return whyRefused(ctx, c, cl.As(reader).For(o.Org, o.Purpose), err, reader.ID(), patient, id, o)
	}
	if *out == "" {
		_, err := e.stdout.Write(plain)
		return err
	}
	if err := writeFileNew(*out, plain); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %d bytes of record %x version %d to %s\n", len(plain), id, st.Entry.Version, *out)
	return nil
}

// whyRefused turns a gateway's refusal, which says nothing on purpose ("no
// such record, or you may not read it"), into the reason when the reader
// may see the record's metadata (it wrote the record, or may read some of
// its versions): the ledger explains its decision. cl signs as the reader.
func whyRefused(ctx context.Context, c *common, cl *client.Client, err error, reader, patient ptoy.ID, id []byte, o client.ReadOptions) error {
	if ptoy.KindOf(err) != ptoy.NotFound {
		return err
	}
	st, lerr := cl.Record(ctx, patient, id, o.Version)
	switch {
	case ptoy.KindOf(lerr) == ptoy.NotFound && reader == patient:
		if o.Version > 0 {
			return ptoy.E("", ptoy.NotFound, fmt.Sprintf("no version %d of record %x of %s (see ptoy record history)", o.Version, id, patient))
		}
		return ptoy.E("", ptoy.NotFound, fmt.Sprintf("no record %x of %s (see ptoy record list)", id, patient))
	case ptoy.KindOf(lerr) == ptoy.NotFound || ptoy.KindOf(lerr) == ptoy.PermissionDenied:
		what := fmt.Sprintf("record %x", id)
		if o.Version > 0 {
			what = fmt.Sprintf("version %d of record %x", o.Version, id)
		}
		return ptoy.E("", ptoy.NotFound, fmt.Sprintf("no %s of %s that you may read (ptoy record list --patient %s lists those you may; ptoy explain --reader %s --patient %s --categories LIST says why for a category)",
			what, patient, patient, reader, patient))
	case lerr != nil:
		return err
	case st.Erased:
		return ptoy.E("", ptoy.NotFound, fmt.Sprintf("record %x was erased by the patient", id))
	}
	req := &pb.ExplainRequest{Reader: reader.Bytes(), Patient: patient.Bytes(), Categories: st.Entry.Labels | consent.Bit(st.Entry.Category),
		Purpose: o.Purpose}
	if !o.Org.IsZero() {
		req.Org = o.Org.Bytes()
	}
	r, xerr := cl.Explain(ctx, req)
	if xerr != nil || r.Allow {
		return err
	}
	n, nerr := loadNamer(ctx, c, cl)
	if nerr != nil {
		return err
	}
	return ptoy.E("", ptoy.PermissionDenied, "refused: "+n.sentence(r.Explanation))
}

func runRecordList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "record list", "--patient PATIENT [--as KEYNAME] [--org ORG] [--purpose PURPOSE] [--json]",
		`Lists the records of PATIENT (an account id or key name) as the ledger
holds them, latest version of each: id, version, categories, writer, the
organisation it wrote for, when, ciphertext size, and whether it was
erased. The ledger holds no content: reading needs ptoy record get.
The node lists every record to the patient; to anyone else (the --as key,
by default PATIENT's) only the records consent lets them read, for ORG and
PURPOSE, and those they wrote.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	patientArg := fs.String("patient", "", "the `PATIENT` whose records")
	as := fs.String("as", "", "key `NAME` that asks")
	orgArg := fs.String("org", "", orgHelp)
	purposeArg := fs.String("purpose", "treatment", "`PURPOSE` of use")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("record list", pos, 0, ""); err != nil {
		return err
	}
	if *patientArg == "" {
		return usageErr("ptoy record list needs --patient PATIENT (run ptoy record list -h)")
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	patient, _, err := resolveArg(ctx, c, cl, "patient", *patientArg)
	if err != nil {
		return err
	}
	sc, err := c.recordQueries(ctx, cl, "record list", *as, *patientArg, *orgArg, *purposeArg)
	if err != nil {
		return err
	}
	recs, err := sc.Records(ctx, patient)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSONList(recs))
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		fmt.Fprintf(e.stdout, "%s has no records\n", n.long(patient))
		return nil
	}
	return recordTable(e, n, recs)
}

// recordTable prints record versions.
func recordTable(e *env, n *namer, recs []*pb.RecordState) error {
	tw := table(e.stdout)
	fmt.Fprintln(tw, "ID\tVERSION\tCATEGORIES\tWRITER\tFOR\tWRITTEN (UTC)\tSIZE\tSTATE")
	for _, st := range recs {
		state := "stored"
		if st.Erased {
			state = "erased"
		}
		fmt.Fprintf(tw, "%x\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", st.Entry.Id, st.Entry.Version,
			consent.FormatCategories(st.Entry.Labels|consent.Bit(st.Entry.Category)), n.shortB(st.Writer), n.shortB(st.Org),
			whenCell(st.Time), st.Entry.Size, state)
	}
	return tw.Flush()
}

func runRecordHistory(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "record history", "--patient PATIENT [--as KEYNAME] [--org ORG] [--purpose PURPOSE] ID [--json]",
		`Lists every version of record ID of PATIENT, oldest first, as the ledger
holds them: version, categories, writer, organisation, time, ciphertext
hash and size, and whether it was erased. Like ptoy record list, it is
answered to the patient, and to others (the --as key, by default
PATIENT's) for the versions they may read or wrote.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	patientArg := fs.String("patient", "", "the `PATIENT` whose record")
	as := fs.String("as", "", "key `NAME` that asks")
	orgArg := fs.String("org", "", orgHelp)
	purposeArg := fs.String("purpose", "treatment", "`PURPOSE` of use")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("record history", pos, 1, "a record ID"); err != nil {
		return err
	}
	id, err := parseRecordID(pos[0])
	if err != nil {
		return err
	}
	if *patientArg == "" {
		return usageErr("ptoy record history needs --patient PATIENT (run ptoy record history -h)")
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	patient, _, err := resolveArg(ctx, c, cl, "patient", *patientArg)
	if err != nil {
		return err
	}
	sc, err := c.recordQueries(ctx, cl, "record history", *as, *patientArg, *orgArg, *purposeArg)
	if err != nil {
		return err
	}
	recs, err := sc.RecordHistory(ctx, patient, id)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return ptoy.E("", ptoy.NotFound, fmt.Sprintf("no record %x of %s (see ptoy record list)", id, patient))
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSONList(recs))
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	tw := table(e.stdout)
	fmt.Fprintln(tw, "VERSION\tCATEGORIES\tWRITER\tFOR\tWRITTEN (UTC)\tHEIGHT\tHASH\tSIZE\tSTATE")
	for _, st := range recs {
		state := "stored"
		if st.Erased {
			state = "erased"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%x\t%d\t%s\n", st.Entry.Version, consent.FormatCategories(st.Entry.Labels|consent.Bit(st.Entry.Category)),
			n.shortB(st.Writer), n.shortB(st.Org), whenCell(st.Time), st.Height, st.Entry.Hash, st.Entry.Size, state)
	}
	return tw.Flush()
}

func runRecordStatus(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "record status", "--as KEY --patient PATIENT [--org ORG] [--purpose PURPOSE] [--version N] [--json] ID",
		`Shows which nodes the record's ciphertext is placed on and whether each
holds it (held, missing, unreachable), as the node (--node) sees it. Only
someone who may read the record may ask; the request is signed with KEY.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` that signs")
	patientArg := fs.String("patient", "", "the `PATIENT` whose record (default: the account of --as)")
	orgArg := fs.String("org", "", orgHelp)
	purposeArg := fs.String("purpose", "treatment", "`PURPOSE` of use")
	version := fs.Uint("version", 0, "version `N` (default the latest)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("record status", pos, 1, "a record ID"); err != nil {
		return err
	}
	id, err := parseRecordID(pos[0])
	if err != nil {
		return err
	}
	purpose, err := parsePurposeFlag(*purposeArg)
	if err != nil {
		return err
	}
	cl, patient, k, err := recordSetup(ctx, c, "status", *as, *patientArg)
	if err != nil {
		return err
	}
	org, err := actingOrg(ctx, c, cl, *orgArg, k.ID())
	if err != nil {
		return err
	}
	body, err := cl.RecordStatus(ctx, k, patient, id, uint32(*version), org, purpose)
	if err != nil {
		return whyRefused(ctx, c, cl.As(k).For(org, purpose), err, k.ID(), patient, id, client.ReadOptions{Version: uint32(*version), Org: org, Purpose: purpose})
	}
	// The body: "record ID version N hash H size S", then "ORG STATE" per
	// placement node.
	type placement struct {
		Org   string `json:"org"`
		Name  string `json:"name,omitempty"`
		State string `json:"state"`
	}
	var head []string
	var places []placement
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 8 && f[0] == "record":
			head = f
		case len(f) == 2:
			p := placement{Org: f[0], State: f[1]}
			if oid, err := ptoy.ParseID(f[0]); err == nil {
				p.Name = n.name(oid)
			}
			places = append(places, p)
		}
	}
	if head == nil {
		return ptoy.E("", ptoy.Other, fmt.Sprintf("the node's answer is not a record status: %q", body))
	}
	ver, _ := strconv.ParseUint(head[3], 10, 32)
	size, _ := strconv.ParseUint(head[7], 10, 64)
	if *asJSON {
		return writeJSON(e.stdout, map[string]any{"record": head[1], "version": ver, "hash": head[5], "size": size, "placements": places})
	}
	tw := table(e.stdout)
	fmt.Fprintf(tw, "record:\t%s\n", head[1])
	fmt.Fprintf(tw, "version:\t%d\n", ver)
	fmt.Fprintf(tw, "hash:\t%s\n", head[5])
	fmt.Fprintf(tw, "size:\t%d bytes encrypted\n", size)
	for i, p := range places {
		label := ""
		if i == 0 {
			label = "placed on:"
		}
		who := p.Org
		if p.Name != "" {
			who = p.Name + " (" + p.Org + ")"
		}
		fmt.Fprintf(tw, "%s\t%s: %s\n", label, who, p.State)
	}
	if len(places) == 0 {
		fmt.Fprintf(tw, "placed on:\tno node\n")
	}
	return tw.Flush()
}

func runRecordErase(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "record erase", "--as PATIENT_KEY [--patient PATIENT] ID",
		`Erases record ID, every version: its ciphertext is deleted from every node
and the storage it took is given back; the ledger keeps a tombstone with
the hashes. Only the patient may erase, and only records they wrote
themselves: what a provider wrote is kept under the network's retention
rule.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the patient, who signs")
	patientArg := fs.String("patient", "", "the `PATIENT` whose record (default: the account of --as)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("record erase", pos, 1, "a record ID"); err != nil {
		return err
	}
	id, err := parseRecordID(pos[0])
	if err != nil {
		return err
	}
	cl, patient, k, err := recordSetup(ctx, c, "erase", *as, *patientArg)
	if err != nil {
		return err
	}
	m := &pb.EraseRecord{Patient: patient.Bytes(), Id: id}
	if _, err := cl.Send(ctx, &pb.Body{Msg: &pb.Body_EraseRecord{EraseRecord: m}}, k); err != nil {
		return namedErr(ctx, c, cl, err)
	}
	fmt.Fprintf(e.stdout, "erased record %x: its ciphertext is deleted from every node; the ledger keeps a tombstone with the hashes\n", id)
	return nil
}

// recordQueries returns cl signing record queries as the --as key (by
// default the patient's), for the organisation and purpose given.
func (c *common) recordQueries(ctx context.Context, cl *client.Client, name, as, patientArg, orgArg, purposeArg string) (*client.Client, error) {
	k, err := c.asKey(name, as, patientArg)
	if err != nil {
		return nil, err
	}
	purpose, err := parsePurposeFlag(purposeArg)
	if err != nil {
		return nil, err
	}
	org, err := actingOrg(ctx, c, cl, orgArg, k.ID())
	if err != nil {
		return nil, err
	}
	return cl.As(k).For(org, purpose), nil
}
