package audit

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"ptoy"
)

// AccountingOfDisclosures writes a plain-text accounting of disclosures
// (HIPAA, 45 CFR 164.528) for patient over [from, to) (zero bounds are
// open): one row per disclosure, oldest first, with its date (UTC), the
// recipient (the account that asked), the purpose, what was asked for,
// the decision (allowed or denied), the node that decided, and the reason
// in plain words.
//
// A disclosure is an event in events about patient, within the range,
// whose action is read or break-glass and whose actor is someone other
// than the patient; other events (the patient's own reads, grants,
// writes) are left out. events would usually come from Log.ForPatient.
//
// name gives the words for an account ("dr-osei, physician at General
// Hospital", from the ledger's organisations and employees), "" when it
// knows none; the account's id is written then, and wherever name is nil.
func AccountingOfDisclosures(w io.Writer, patient ptoy.ID, events []Event, from, to time.Time, name func(ptoy.ID) string) error {
	const op = "audit.AccountingOfDisclosures"
	if patient.IsZero() {
		return ptoy.E(op, ptoy.Invalid, "no patient")
	}
	var rows []Event
	for _, e := range events {
		if e.Patient == patient && InRange(e.Time, from, to) &&
			(e.Action == ActionRead || e.Action == ActionBreakGlass) &&
			!e.Actor.IsZero() && e.Actor != patient {
			rows = append(rows, e)
		}
	}
	slices.SortStableFunc(rows, func(a, b Event) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.Node, b.Node), cmp.Compare(a.Seq, b.Seq))
	})
	allowed := 0
	for _, e := range rows {
		if e.Decision == Allow {
			allowed++
		}
	}

	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "Accounting of disclosures\n")
	who := func(id ptoy.ID) string {
		if name != nil {
			if s := name(id); s != "" {
				return s
			}
		}
		return id.String()
	}
	if s := who(patient); s != patient.String() {
		fmt.Fprintf(ew, "Patient: %s (%s)\n", s, patient)
	} else {
		fmt.Fprintf(ew, "Patient: %s\n", patient)
	}
	fmt.Fprintf(ew, "Period: %s to %s (UTC)\n", bound(from, "the beginning of the log"), bound(to, "the end of the log"))
	fmt.Fprintf(ew, "Disclosures: %d (%d allowed, %d denied)\n\n", len(rows), allowed, len(rows)-allowed)
	if len(rows) == 0 {
		fmt.Fprintf(ew, "No disclosures in this period.\n")
		return ew.result(op)
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "DATE (UTC)\tRECIPIENT\tPURPOSE\tWHAT\tDECISION\tNODE\tREASON\n")
	for _, e := range rows {
		purpose := e.Purpose
		if purpose == "" {
			purpose = "unstated"
		}
		if e.Action == ActionBreakGlass {
			purpose += " (emergency access)"
		}
		what := "all records"
		switch {
		case isHex(e.Record):
			what = "record " + e.Record
		case e.Record != "":
			what = e.Record
		}
		decision := "allowed"
		if e.Decision != Allow {
			decision = "denied"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			e.Time.UTC().Format("2006-01-02 15:04:05"), cell(who(e.Actor)), cell(purpose), cell(what), decision, cell(e.Node), cell(e.Reason))
	}
	tw.Flush()
	return ew.result(op)
}

func bound(t time.Time, open string) string {
	if t.IsZero() {
		return open
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// cell makes s safe for one tab-separated cell on one line.
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// errWriter remembers the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (ew *errWriter) Write(p []byte) (int, error) {
	if ew.err != nil {
		return 0, ew.err
	}
	n, err := ew.w.Write(p)
	ew.err = err
	return n, err
}

func (ew *errWriter) result(op string) error {
	if ew.err != nil {
		return ptoy.E(op, ptoy.Other, "cannot write the report", ew.err)
	}
	return nil
}

func InRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}
