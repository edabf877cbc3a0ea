// Command gen writes params.json, the search parameters of the supported
// FHIR R4 resource types, from the official definitions (HL7 FHIR R4 4.0.1,
// CC0) in the npm package hl7.fhir.r4.examples, which tools/npm.sh installs.
//
// Run it with go generate in ptoy/fhir/search. It keeps one entry per
// (resource type, parameter name): for a parameter defined on several
// bases, the expression is cut down to the parts about that type. Common
// parameters (base Resource) are written once, with type "Resource". It
// also records, per type, the top-level elements that are mandatory or in
// the summary, and the names of its choice elements ([x]).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Types are the resource types the FHIR server supports.
var Types = []string{
	"AllergyIntolerance", "AuditEvent", "CarePlan", "CareTeam", "Claim", "Condition", "Consent",
	"Coverage", "DiagnosticReport", "DocumentReference", "Encounter", "ExplanationOfBenefit", "Goal",
	"Immunization", "MedicationRequest", "MedicationStatement", "Observation", "Organization", "Patient",
	"Practitioner", "Procedure", "Provenance",
}

type param struct {
	Resource   string   `json:"resource"`
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Expression string   `json:"expression,omitempty"`
	Targets    []string `json:"targets,omitempty"`
	URL        string   `json:"url"`
	Comparator []string `json:"comparator,omitempty"`
	Modifier   []string `json:"modifier,omitempty"`
}

type typeInfo struct {
	Choice   []string `json:"choice"`
	Required []string `json:"required"`
	Summary  []string `json:"summary"`
}

type searchParameter struct {
	ResourceType string   `json:"resourceType"`
	URL          string   `json:"url"`
	Code         string   `json:"code"`
	Base         []string `json:"base"`
	Type         string   `json:"type"`
	Expression   string   `json:"expression"`
	Target       []string `json:"target"`
	Comparator   []string `json:"comparator"`
	Modifier     []string `json:"modifier"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	out := flag.String("o", "params.json", "the file to write")
	flag.Parse()
	dir, err := examples()
	if err != nil {
		log.Fatal(err)
	}
	supported := map[string]bool{"Resource": true}
	for _, t := range Types {
		supported[t] = true
	}
	files, err := filepath.Glob(filepath.Join(dir, "SearchParameter-*.json"))
	if err != nil {
		log.Fatal(err)
	}
	seen := map[string]param{}
	for _, f := range files {
		// SearchParameter-example*.json are examples of the resource, not definitions.
		if strings.HasPrefix(filepath.Base(f), "SearchParameter-example") {
			continue
		}
		var sp searchParameter
		if err := readJSON(f, &sp); err != nil {
			log.Fatal(err)
		}
		if sp.ResourceType != "SearchParameter" || !strings.HasPrefix(sp.URL, "http://hl7.org/fhir/SearchParameter/") {
			continue
		}
		for _, base := range sp.Base {
			if !supported[base] {
				continue
			}
			p := param{Resource: base, Name: sp.Code, Type: sp.Type, URL: sp.URL,
				Comparator: sp.Comparator, Modifier: sp.Modifier}
			if sp.Expression != "" {
				p.Expression = restrict(sp.Expression, base)
			}
			p.Targets = targets(p.Expression, sp.Target)
			key := base + "\x00" + sp.Code
			if old, dup := seen[key]; dup {
				log.Fatalf("%s: two definitions of %s on %s (%s)", f, sp.Code, base, old.URL)
			}
			seen[key] = p
		}
	}
	var params []param
	for _, p := range seen {
		params = append(params, p)
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].Resource != params[j].Resource {
			return params[i].Resource < params[j].Resource
		}
		return params[i].Name < params[j].Name
	})
	types := map[string]typeInfo{}
	for _, t := range Types {
		ti, err := structure(filepath.Join(dir, "StructureDefinition-"+t+".json"), t)
		if err != nil {
			log.Fatal(err)
		}
		types[t] = ti
	}
	var b bytes.Buffer
	b.WriteString("{\"source\":\"HL7 FHIR R4 4.0.1 (hl7.fhir.r4.examples), CC0\",\n\"types\":{\n")
	for i, t := range Types {
		line, _ := json.Marshal(types[t])
		fmt.Fprintf(&b, "%q:%s", t, line)
		if i < len(Types)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("},\n\"params\":[\n")
	for i, p := range params {
		line, err := json.Marshal(p)
		if err != nil {
			log.Fatal(err)
		}
		b.Write(line)
		if i < len(params)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]}\n")
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

// restrict keeps the parts of a union expression that are about type t:
// "Observation.code | Condition.code" on Condition gives "Condition.code".
func restrict(expr, t string) string {
	var keep []string
	for _, part := range splitUnion(expr) {
		s := strings.TrimLeft(strings.TrimSpace(part), "(")
		if strings.HasPrefix(s, t+".") || s == t {
			keep = append(keep, strings.TrimSpace(part))
		}
	}
	return strings.Join(keep, " | ")
}

// splitUnion splits expr at the '|' that are outside parentheses and quotes.
func splitUnion(expr string) []string {
	var parts []string
	depth, start, quoted := 0, 0, false
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			parts = append(parts, expr[start:i])
			start = i + 1
		}
	}
	return append(parts, expr[start:])
}

type structureDefinition struct {
	Snapshot struct {
		Element []struct {
			Path      string `json:"path"`
			Min       int    `json:"min"`
			IsSummary bool   `json:"isSummary"`
		} `json:"element"`
	} `json:"snapshot"`
}

func structure(file, t string) (typeInfo, error) {
	var sd structureDefinition
	if err := readJSON(file, &sd); err != nil {
		return typeInfo{}, err
	}
	ti := typeInfo{Choice: []string{}, Required: []string{}, Summary: []string{}}
	choice := map[string]bool{}
	for _, e := range sd.Snapshot.Element {
		rest, ok := strings.CutPrefix(e.Path, t+".")
		if !ok {
			continue
		}
		last := rest[strings.LastIndexByte(rest, '.')+1:]
		if name, ok := strings.CutSuffix(last, "[x]"); ok {
			choice[name] = true
		}
		if strings.Contains(rest, ".") {
			continue
		}
		if e.Min > 0 {
			ti.Required = append(ti.Required, rest)
		}
		if e.IsSummary {
			ti.Summary = append(ti.Summary, rest)
		}
	}
	for c := range choice {
		ti.Choice = append(ti.Choice, c)
	}
	sort.Strings(ti.Choice)
	sort.Strings(ti.Required)
	sort.Strings(ti.Summary)
	return ti, nil
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	return nil
}

// targets narrows the targets of a reference parameter to the types its
// expression keeps: the patient parameter of Observation targets Patient
// and Group, but Observation.subject.where(resolve() is Patient) keeps
// only Patient.
func targets(expr string, all []string) []string {
	kept := map[string]bool{}
	for _, part := range splitUnion(expr) {
		_, t, ok := strings.Cut(part, "resolve() is ")
		if !ok {
			return sortedCopy(all)
		}
		t = strings.TrimRight(t, ") ")
		kept[t] = true
	}
	var out []string
	for _, t := range all {
		if kept[t] {
			out = append(out, t)
		}
	}
	return sortedCopy(out)
}

func sortedCopy(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// examples installs the npm packages with the project's tools/npm.sh and
// returns the directory of hl7.fhir.r4.examples.
func examples() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		d = up
	}
	cmd := exec.Command("bash", filepath.Join(d, "tools", "npm.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("tools/npm.sh: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "hl7.fhir.r4.examples"), nil
}
