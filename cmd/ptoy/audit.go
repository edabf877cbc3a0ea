package main

// Command "ptoy audit": a patient lists every access to their records
// that a node recorded, each checked against the audit batch root the
// node's organisation anchored on the ledger; as FHIR AuditEvent
// resources, or as an accounting of disclosures.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"ptoy"
	"ptoy/audit"
	"ptoy/client"
	"ptoy/consent"
)

func init() {
	commands["audit"] = command{"list every access to a patient's records, with proofs", runAudit}
}

func runAudit(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "audit", "--as PATIENT_KEY [--patient PATIENT] [--ledger-node URL] [--from DATE] [--to DATE] [--fhir | --report | --json]",
		`Lists the accesses to the patient's records that the node (--node) recorded:
every read and key release, allowed or denied, with who, what, for which
purpose, the decision and its reason. Each event is checked against the
Merkle root of its batch, which the node's organisation anchored on the
ledger; events of the last moments are not anchored yet and are listed as
pending. The patient's events are also chained, and each anchored batch
commits the chain's head, so that an event left out of the list is caught
as well. A check that fails means the node altered or dropped events: the
command then fails. The anchors are read through --ledger-node (env
`+envLedgerNode+`), another node than --node, so that the node whose events
are checked does not vouch for itself; without it they are read through
--node, and the summary says so.

The patient signs the request (--as); a delegate signs with its own key and
names the patient with --patient. --from and --to bound the events' times
(--to a bare day includes it). `+dateHelp+`
--fhir prints the events as a FHIR R4 Bundle of AuditEvent resources;
--report prints the accounting of disclosures (HIPAA, 45 CFR 164.528).`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the patient (or of a delegate), who signs")
	patientArg := fs.String("patient", "", "the `PATIENT` (default: the account of --as)")
	fromArg := fs.String("from", "", "events from `DATE` on")
	toArg := fs.String("to", "", "events up to `DATE`")
	fhir := fs.Bool("fhir", false, "print FHIR AuditEvent resources (JSON)")
	report := fs.Bool("report", false, "print the accounting of disclosures")
	asJSON := fs.Bool("json", false, "print JSON")
	ledgerDef, _ := e.getenv(envLedgerNode)
	ledgerNode := fs.String("ledger-node", ledgerDef, "`URL` of another node, through which the anchors are read (env "+envLedgerNode+")")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("audit", pos, 0, ""); err != nil {
		return err
	}
	if err := needAs("audit", *as, "the patient"); err != nil {
		return err
	}
	if (*fhir && *report) || (*fhir && *asJSON) || (*report && *asJSON) {
		return usageErr("give one of --fhir, --report and --json")
	}
	from, err := optWhen("from", *fromArg, false)
	if err != nil {
		return err
	}
	to, err := optWhen("to", *toArg, true)
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return usageErr(fmt.Sprintf("--to %s is not after --from %s", *toArg, *fromArg))
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	patient, err := patientOf(ctx, c, cl, "audit", *patientArg, *as)
	if err != nil {
		return err
	}
	me, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	ledger := cl
	if *ledgerNode != "" {
		u, err := url.Parse(*ledgerNode)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErr(fmt.Sprintf("bad --ledger-node URL %q: want http://HOST:PORT", *ledgerNode))
		}
		ledger = client.New(strings.TrimSuffix(*ledgerNode, "/"), &http.Client{Timeout: requestTimeout})
	}
	trail, err := cl.AuditEventsVia(ctx, ledger, me, patient, from, to)
	if err != nil {
		// A proof that does not check wraps the verification's error; a
		// refused request does not.
		var pe *ptoy.Error
		if errors.As(err, &pe) && pe.Kind == ptoy.Unauthenticated && pe.Err != nil {
			return ptoy.E("", ptoy.Unauthenticated, fmt.Sprintf("the audit trail does not check: %s; do not trust this node's audit trail",
				ptoy.Message(err)))
		}
		return err
	}
	n, err := loadNamer(ctx, c, cl)
	if err != nil {
		return err
	}
	all := append(append([]audit.Event(nil), trail.Verified...), trail.Pending...)
	summary := fmt.Sprintf("%d events verified against audit batches %s anchored on the ledger; %d pending anchoring (recorded, not yet provable)",
		len(trail.Verified), n.short(trail.Org), len(trail.Pending))
	if trail.Complete {
		summary += "\nnone left out: the list matches the anchored count and chain of the patient's events"
	}
	if ledger == cl {
		summary += "\nanchors read through the same node (give --ledger-node to check them through another)"
	} else {
		summary += "\nanchors read through " + trail.LedgerNode
	}
	switch {
	case *fhir:
		bundle := map[string]any{"resourceType": "Bundle", "type": "collection", "total": len(all)}
		var entries []any
		for _, ev := range all {
			b, err := audit.FHIRAuditEvent(ev)
			if err != nil {
				return err
			}
			entries = append(entries, map[string]any{"resource": json.RawMessage(b)})
		}
		bundle["entry"] = entries
		fmt.Fprintln(e.stderr, summary)
		return writeJSON(e.stdout, bundle)
	case *report:
		fmt.Fprintln(e.stderr, summary)
		recipients, err := recipientNames(ctx, cl, n)
		if err != nil {
			return err
		}
		worded := make([]audit.Event, len(all))
		for i, ev := range all {
			ev.Reason = n.words(ev.Reason)
			worded[i] = ev
		}
		return audit.AccountingOfDisclosures(e.stdout, patient, worded, from, to, recipients)
	case *asJSON:
		var out []any
		add := func(evs []audit.Event, verified bool) {
			for _, ev := range evs {
				out = append(out, map[string]any{
					"seq": ev.Seq, "time": ev.Time.Format(time.RFC3339Nano), "node": ev.Node, "actor": ev.Actor.String(),
					"patient": ev.Patient.String(), "action": ev.Action, "record": ev.Record, "purpose": ev.Purpose,
					"decision": ev.Decision, "reason": ev.Reason, "verified": verified,
				})
			}
		}
		add(trail.Verified, true)
		add(trail.Pending, false)
		return writeJSON(e.stdout, map[string]any{"node": trail.Node, "org": trail.Org.String(), "events": out,
			"verified": len(trail.Verified), "pending": len(trail.Pending), "complete": trail.Complete, "ledger_node": trail.LedgerNode})
	}
	fmt.Fprintf(e.stdout, "audit trail of %s, as recorded by node %s of %s\n\n", n.long(patient), trail.Node, n.short(trail.Org))
	if len(all) == 0 {
		fmt.Fprintln(e.stdout, "no accesses recorded")
	} else {
		tw := table(e.stdout)
		fmt.Fprintln(tw, "TIME (UTC)\tWHO\tACTION\tRECORD\tPURPOSE\tDECISION\tPROOF\tNODE\tREASON")
		row := func(ev audit.Event, proof string) {
			who := "the node"
			if !ev.Actor.IsZero() {
				who = n.short(ev.Actor)
			}
			record := ev.Record
			if record == "" {
				record = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.UTC().Format("2006-01-02 15:04:05"), who, ev.Action, record,
				ev.Purpose, ev.Decision, proof, ev.Node, n.ids(n.words(ev.Reason)))
		}
		for _, ev := range trail.Verified {
			row(ev, "verified")
		}
		for _, ev := range trail.Pending {
			row(ev, "pending")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout)
	}
	fmt.Fprintln(e.stdout, summary)
	return nil
}

// recipientNames names accounts for the accounting of disclosures from
// the ledger: an organisation by its name, an employee as "NAME, ROLE at
// ORGANISATION" (NAME the key's name in the keystore, or
// "practitioner 1a2b3c4d"), anyone else by a key name if there is one.
func recipientNames(ctx context.Context, cl *client.Client, n *namer) (func(ptoy.ID) string, error) {
	staff := map[ptoy.ID]string{}
	orgs := slices.SortedFunc(maps.Keys(n.orgs), func(a, b ptoy.ID) int { return bytes.Compare(a[:], b[:]) })
	for _, org := range orgs {
		emps, err := cl.Employees(ctx, org)
		if err != nil {
			return nil, err
		}
		for _, em := range emps {
			p := idOf(em.Practitioner)
			who := n.keys[p]
			if who == "" {
				who = "practitioner " + consent.ShortID(p)
			}
			role := fmt.Sprintf("%s, %s at %s", who, consent.RoleName(em.Role), n.orgs[org])
			if prev, ok := staff[p]; ok {
				role = prev + "; " + role
			}
			staff[p] = role
		}
	}
	return func(id ptoy.ID) string {
		if s, ok := staff[id]; ok {
			return s
		}
		return n.name(id)
	}, nil
}
