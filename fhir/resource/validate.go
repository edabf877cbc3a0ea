package resource

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"github.com/google/fhir/go/jsonformat/errorreporter"
	"google.golang.org/protobuf/reflect/protoreflect"

	r4pb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// The validator: google/fhir's R4 jsonformat with validation (required
// elements, reference targets). An Unmarshaller keeps no state between calls.
var validator = sync.OnceValues(func() (*jsonformat.Unmarshaller, error) {
	return jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
})

// r4Types holds every R4 resource type name, from the validator's
// ContainedResource, and each one's lower-camel form (its oneof field name).
var r4Types = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	oneofs := (&r4pb.ContainedResource{}).ProtoReflect().Descriptor().Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		fs := oneofs.Get(i).Fields()
		for j := 0; j < fs.Len(); j++ {
			f := fs.Get(j)
			if f.Kind() == protoreflect.MessageKind {
				m[string(f.Message().Name())] = true
				m[string(f.Name())] = true // snake case, e.g. "medication_request"
				m[f.JSONName()] = true     // lower camel, e.g. "medicationRequest"
			}
		}
	}
	return m
})

// knownType reports whether t is an R4 resource type.
func knownType(t string) bool {
	return t != "" && t[0] >= 'A' && t[0] <= 'Z' && r4Types()[t]
}

// validate runs the validator over body (already strict JSON, of a known
// type) and turns what it refuses into a 422 with one issue per problem.
// What fastValid accepts the validator accepts: it is not run then.
func validate(rt string, body []byte, m map[string]any) *Error {
	if fastValid(rt, body, m) {
		return nil
	}
	return validateRef(rt, body, m)
}

// validateRef is the validator itself, without the fast path.
func validateRef(rt string, body []byte, m map[string]any) *Error {
	u, err := validator()
	if err != nil {
		return refuse(500, "exception", "the FHIR validator could not start")
	}
	// A primitive array and its "_" array of another length make the
	// validator's answer depend on which of the two it meets first (a
	// map's order): each such pair is refused here, and the validator is
	// shown the document without the "_" arrays, so that the same body
	// always gets the same issues.
	issues := lengthMismatches(rt, m)
	if len(issues) > 0 {
		if body, err = json.Marshal(m); err != nil {
			return refuse(500, "exception", "the FHIR validator could not start")
		}
	}
	er := &reporter{}
	_, err = u.UnmarshalWithErrorReporter(body, er)
	if err != nil {
		issues = append(issues, issuesOf(err)...)
	}
	issues = append(issues, er.issues...)
	issues = append(issues, validateContained(u, rt, m)...)
	if len(issues) == 0 {
		return nil
	}
	slices.SortFunc(issues, func(a, b Issue) int {
		return cmp.Or(cmp.Compare(strings.Join(a.Expression, ","), strings.Join(b.Expression, ",")),
			cmp.Compare(a.Diagnostics, b.Diagnostics))
	})
	issues = slices.CompactFunc(issues, func(a, b Issue) bool {
		return slices.Equal(a.Expression, b.Expression) && a.Diagnostics == b.Diagnostics
	})
	return &Error{Status: 422, Issues: issues}
}

// validateContained validates each contained resource (of the resource m,
// and of each entry of a Bundle) on its own: the validator checks their
// types and codes as part of the resource that holds them, but not their
// required elements and references.
func validateContained(u *jsonformat.Unmarshaller, rt string, m map[string]any) []Issue {
	var issues []Issue
	check := func(prefix string, m map[string]any) {
		cs, _ := m["contained"].([]any)
		for i, c := range cs {
			cm, ok := c.(map[string]any)
			if !ok {
				continue
			}
			crt, _ := cm["resourceType"].(string)
			if !knownType(crt) {
				continue // refused as part of the resource
			}
			b, err := json.Marshal(cm)
			if err != nil {
				continue
			}
			er := &reporter{}
			var found []Issue
			if _, err := u.UnmarshalWithErrorReporter(b, er); err != nil {
				found = issuesOf(err)
			}
			at := fmt.Sprintf("%s.contained[%d]", prefix, i)
			for _, is := range append(found, er.issues...) {
				for j, e := range is.Expression {
					is.Expression[j] = at + strings.TrimPrefix(e, crt)
				}
				issues = append(issues, is)
			}
		}
	}
	check(rt, m)
	if rt == "Bundle" {
		es, _ := m["entry"].([]any)
		for i, e := range es {
			e, _ := e.(map[string]any)
			if r, ok := e["resource"].(map[string]any); ok {
				check(fmt.Sprintf("Bundle.entry[%d].resource", i), r)
			}
		}
	}
	return issues
}

// reporter collects the validator's findings after parsing (required
// elements, reference types, primitive formats).
type reporter struct{ issues []Issue }

func (r *reporter) ReportValidationError(_ string, err error) error {
	r.issues = append(r.issues, issuesOf(err)...)
	return nil
}

func (r *reporter) ReportValidationWarning(string, error) error { return nil }

var _ errorreporter.ErrorReporter = (*reporter)(nil)

// issuesOf turns one of the validator's errors into issues. Its errors carry
// a path (JSON names, resource types as extra segments) and a detail that
// repeats no value; where the path stops at the parent (unknown and missing
// elements), the element's name is added.
func issuesOf(err error) []Issue {
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Slice { // jsonpbhelper.UnmarshalErrorList
		var out []Issue
		for i := 0; i < v.Len(); i++ {
			if e, ok := v.Index(i).Interface().(error); ok && e != nil {
				out = append(out, issueOf(e))
			}
		}
		return out
	}
	return []Issue{issueOf(err)}
}

// unmarshalError reads the fields of the validator's *UnmarshalError (its
// package is internal, so by reflection).
func unmarshalError(err error) (path, details, diagnostics string, ok bool) {
	v := reflect.ValueOf(err)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return "", "", "", false
	}
	v = v.Elem()
	get := func(name string) (string, bool) {
		f := v.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.String {
			return "", false
		}
		return f.String(), true
	}
	path, ok1 := get("Path")
	details, ok2 := get("Details")
	diagnostics, ok3 := get("Diagnostics")
	return path, details, diagnostics, ok1 && ok2 && ok3
}

func issueOf(err error) Issue {
	path, details, diag, ok := unmarshalError(err)
	if !ok {
		return Issue{Severity: "error", Code: "invalid", Diagnostics: "not valid FHIR R4"}
	}
	expr := fhirPath(path)
	is := Issue{Severity: "error", Code: "invalid"}
	switch {
	case strings.HasPrefix(details, "missing required field "):
		name := strings.Trim(strings.TrimPrefix(details, "missing required field "), `"`)
		expr = join(expr, name)
		is.Code, is.Diagnostics = "required", "a required element is missing"
	case details == "unknown field":
		expr = join(expr, strings.Trim(diag, `"`))
		is.Code, is.Diagnostics = "structure", "unknown element"
	case strings.HasPrefix(details, "cannot accept multiple values for "):
		name := strings.TrimSuffix(strings.TrimPrefix(details, "cannot accept multiple values for "), " field")
		expr = join(expr, camel(name))
		is.Code, is.Diagnostics = "structure", "more than one type given for a choice element"
	case details == "unknown resource type":
		if i := strings.LastIndexByte(expr, '.'); i >= 0 {
			expr = expr[:i]
		}
		expr = join(expr, "resourceType")
		is.Code, is.Diagnostics = "value", "unknown resource type"
	case details == "code type mismatch":
		is.Code, is.Diagnostics = "code-invalid", "not a code of the required value set"
	case strings.HasPrefix(details, "expected "):
		is.Code, is.Diagnostics = "value", "wrong type or format: "+details
	case strings.HasPrefix(details, "invalid reference"):
		is.Code, is.Diagnostics = "value", details
	case details == "invalid JSON":
		is.Code, is.Diagnostics = "structure", "wrong JSON type for this element"
	default:
		is.Code, is.Diagnostics = "value", details
	}
	if expr != "" {
		is.Expression = []string{expr}
	}
	return is
}

// camel turns a proto field name (multiple_birth) into FHIR's (multipleBirth).
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fhirPath turns the validator's path into a FHIRPath: the resource type
// segments it puts after a nested resource (Bundle.entry[0].resource.Observation.status,
// Patient.contained[0].Observation.status) are dropped.
func fhirPath(p string) string {
	segs := strings.Split(p, ".")
	out := segs[:0:0]
	for i, s := range segs {
		if i > 0 && r4Types()[s] && !strings.Contains(s, "[") {
			prev := segs[i-1]
			if j := strings.IndexByte(prev, '['); j >= 0 {
				prev = prev[:j]
			}
			if prev == "resource" || prev == "contained" || prev == "outcome" {
				continue
			}
		}
		out = append(out, s)
	}
	return strings.Join(out, ".")
}

// lengthMismatches finds, anywhere in m, a primitive array "x" beside an
// array "_x" of its extensions of another length, removes "_x" from m
// (the resource is refused) and returns an issue for each.
func lengthMismatches(rt string, m map[string]any) []Issue {
	var issues []Issue
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				ext, ok := v["_"+k].([]any)
				if arr, isArr := x.([]any); isArr && ok && len(ext) != len(arr) {
					issues = append(issues, Issue{Severity: "error", Code: "value",
						Diagnostics: fmt.Sprintf("array length mismatch, expected %d, found %d", len(arr), len(ext)),
						Expression:  []string{path + "._" + k}})
					delete(v, "_"+k)
				}
			}
			for k, x := range v {
				walk(path+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	walk(rt, m)
	return issues
}
