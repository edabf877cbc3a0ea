package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"ptoy"
)

// Issue is one issue of an OperationOutcome.
type Issue struct {
	Severity    string // fatal | error | warning | information
	Code        string // invalid | structure | required | value | not-found | security | processing | too-costly | exception | conflict | not-supported | too-long ...
	Diagnostics string
	Expression  []string
}

// Error is a refusal of a FHIR request: the HTTP status and the issues of the
// OperationOutcome that says why. Diagnostics never repeat the values sent
// (only element names, in Expression), so an Error may be logged.
type Error struct {
	Status int // HTTP status: 400, 413, 415, 422 (valid JSON, invalid FHIR), ...
	Issues []Issue
}

func (e *Error) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "fhir: %d", e.Status)
	for i, is := range e.Issues {
		if i == 3 {
			fmt.Fprintf(&sb, "; and %d more", len(e.Issues)-i)
			break
		}
		sb.WriteString("; ")
		if len(is.Expression) > 0 {
			sb.WriteString(strings.Join(is.Expression, ", ") + ": ")
		}
		sb.WriteString(is.Diagnostics)
	}
	return sb.String()
}

// refuse builds an *Error of one issue at severity error.
func refuse(status int, code, diagnostics string, expression ...string) *Error {
	return &Error{Status: status, Issues: []Issue{{Severity: "error", Code: code, Diagnostics: diagnostics, Expression: expression}}}
}

// PreconditionFailed is the refusal of a conditional interaction whose
// condition does not hold (If-Match on another version): 412.
func PreconditionFailed(diagnostics string) *Error {
	return refuse(412, "conflict", diagnostics)
}

type outcomeJSON struct {
	ResourceType string      `json:"resourceType"`
	Issue        []issueJSON `json:"issue"`
}

type issueJSON struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// Outcome renders an OperationOutcome. With no issues it says that all is
// well (an OperationOutcome has at least one issue).
func Outcome(issues ...Issue) []byte {
	o := outcomeJSON{ResourceType: "OperationOutcome"}
	for _, is := range issues {
		j := issueJSON{Severity: is.Severity, Code: is.Code, Diagnostics: is.Diagnostics, Expression: is.Expression}
		if j.Severity == "" {
			j.Severity = "error"
		}
		if j.Code == "" {
			j.Code = "processing"
		}
		o.Issue = append(o.Issue, j)
	}
	if len(o.Issue) == 0 {
		o.Issue = []issueJSON{{Severity: "information", Code: "informational", Diagnostics: "ok"}}
	}
	b, err := json.Marshal(o)
	if err != nil { // strings and slices of strings always marshal
		panic(err)
	}
	return b
}

// OutcomeOf turns any error into (HTTP status, OperationOutcome): *Error as it
// is; ptoy errors by kind (Invalid 400, NotFound 404, PermissionDenied 403,
// Unauthenticated 401, Exists 409, Unavailable 503, with the error's message);
// anything else 500 with a generic message that leaks nothing. Use
// PreconditionFailed for 412.
func OutcomeOf(err error) (int, []byte) {
	if err == nil {
		return 200, Outcome()
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Status, Outcome(fe.Issues...)
	}
	status, code := 500, "exception"
	msg := "internal error"
	var pe *ptoy.Error
	if errors.As(err, &pe) {
		switch ptoy.KindOf(err) {
		case ptoy.Invalid:
			status, code = 400, "invalid"
		case ptoy.NotFound:
			status, code = 404, "not-found"
		case ptoy.PermissionDenied:
			status, code = 403, "forbidden"
		case ptoy.Unauthenticated:
			status, code = 401, "login"
		case ptoy.Exists:
			status, code = 409, "duplicate"
		case ptoy.Unavailable:
			status, code = 503, "transient"
		}
		if status != 500 {
			msg = ptoy.Message(err)
		}
	}
	return status, Outcome(Issue{Severity: "error", Code: code, Diagnostics: msg})
}
