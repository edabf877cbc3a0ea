// Package search is FHIR R4 search for ptoy: the official search
// parameters of the supported resource types, a FHIRPath subset that
// evaluates their expressions over a resource, the parsing of a search
// query, and the matching and sorting of indexed resources.
//
// The definitions are HL7 FHIR R4 4.0.1 (the SearchParameter and
// StructureDefinition resources of the npm package hl7.fhir.r4.examples),
// published by HL7 under CC0. gen/main.go turns them into params.json,
// which is embedded here; run go generate to rebuild it.
//
// The package is pure: no I/O, no clock, no globals but the registry built
// once from the embedded definitions. Match and Compare allocate nothing,
// so a server can run them over every candidate of a search.
package search

//go:generate go run ./gen

import (
	_ "embed"
	"encoding/json"
	"sort"
	"strings"
	"sync"
)

//go:embed params.json
var paramsJSON []byte

// Param is one search parameter of one resource type.
type Param struct {
	Name       string
	Type       string   // "string", "token", "reference", "date", "uri", "number" or "quantity"
	Expression string   // the FHIRPath expression, restricted to the resource type
	Targets    []string // the resource types a reference parameter may point to
	Definition string   // the canonical url of the SearchParameter
}

// Registry holds the search parameters of the supported resource types:
// only those of a supported type whose expression this package evaluates.
// A Registry is read-only and safe for concurrent use.
type Registry struct {
	types map[string]*typeParams
	names []string
}

// typeParams is what the registry knows of one resource type.
type typeParams struct {
	name     string
	params   []Param // sorted by name
	exprs    []*expr // compiled Expression of params[i]
	kinds    []ptype
	byName   map[string]int
	choice   map[string]bool // names of its choice elements (value for value[x])
	required []string        // mandatory top-level elements
	summary  []string        // top-level elements in the summary
}

type ptype uint8

const (
	tString ptype = iota
	tToken
	tReference
	tDate
	tURI
	tNumber
	tQuantity
)

var ptypes = map[string]ptype{
	"string": tString, "token": tToken, "reference": tReference, "date": tDate,
	"uri": tURI, "number": tNumber, "quantity": tQuantity,
}

// generated is the shape of params.json.
type generated struct {
	Types map[string]struct {
		Choice   []string `json:"choice"`
		Required []string `json:"required"`
		Summary  []string `json:"summary"`
	} `json:"types"`
	Params []struct {
		Resource   string   `json:"resource"`
		Name       string   `json:"name"`
		Type       string   `json:"type"`
		Expression string   `json:"expression"`
		Targets    []string `json:"targets"`
		URL        string   `json:"url"`
	} `json:"params"`
}

var (
	defaultOnce sync.Once
	defaultReg  *Registry
)

// Default returns the registry built from the embedded official
// definitions. It is built once.
func Default() *Registry {
	defaultOnce.Do(func() {
		r, err := load(paramsJSON)
		if err != nil {
			panic("search: the embedded params.json is broken: " + err.Error())
		}
		defaultReg = r
	})
	return defaultReg
}

// load builds a registry from generated definitions, keeping only the
// parameters of a supported type whose expression compiles.
func load(data []byte) (*Registry, error) {
	var g generated
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, err
	}
	r := &Registry{types: map[string]*typeParams{}}
	for name, ti := range g.Types {
		tp := &typeParams{name: name, byName: map[string]int{}, choice: map[string]bool{},
			required: ti.Required, summary: ti.Summary}
		for _, c := range ti.Choice {
			tp.choice[c] = true
		}
		r.types[name] = tp
		r.names = append(r.names, name)
	}
	sort.Strings(r.names)
	for _, p := range g.Params {
		if _, ok := ptypes[p.Type]; !ok || p.Expression == "" {
			continue
		}
		var targets []*typeParams
		if p.Resource == "Resource" || p.Resource == "DomainResource" {
			for _, n := range r.names {
				targets = append(targets, r.types[n])
			}
		} else if tp := r.types[p.Resource]; tp != nil {
			targets = []*typeParams{tp}
		}
		for _, tp := range targets {
			expression := p.Expression
			if p.Resource == "Resource" || p.Resource == "DomainResource" {
				expression = strings.ReplaceAll(expression, p.Resource+".", tp.name+".")
			}
			if len(tp.params) == 256 {
				break // an Index keeps a parameter in a byte
			}
			e, err := compile(expression)
			if err != nil {
				continue // not in the FHIRPath subset: the parameter is not offered
			}
			tp.params = append(tp.params, Param{Name: p.Name, Type: p.Type, Expression: expression,
				Targets: p.Targets, Definition: p.URL})
			tp.exprs = append(tp.exprs, e)
		}
	}
	for _, tp := range r.types {
		idx := make([]int, len(tp.params))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return tp.params[idx[a]].Name < tp.params[idx[b]].Name })
		params := make([]Param, len(idx))
		exprs := make([]*expr, len(idx))
		for i, j := range idx {
			params[i], exprs[i] = tp.params[j], tp.exprs[j]
		}
		tp.params, tp.exprs = params, exprs
		tp.kinds = make([]ptype, len(params))
		for i, p := range params {
			tp.kinds[i] = ptypes[p.Type]
			tp.byName[p.Name] = i
		}
	}
	return r, nil
}

// Types returns the supported resource types, sorted.
func (r *Registry) Types() []string {
	return append([]string(nil), r.names...)
}

// Params returns the search parameters of a resource type, sorted by name,
// or nil if the type is not supported.
func (r *Registry) Params(resourceType string) []Param {
	tp := r.types[resourceType]
	if tp == nil {
		return nil
	}
	return append([]Param(nil), tp.params...)
}

// Param returns one search parameter of a resource type.
func (r *Registry) Param(resourceType, name string) (Param, bool) {
	tp := r.types[resourceType]
	if tp == nil {
		return Param{}, false
	}
	i, ok := tp.byName[name]
	if !ok {
		return Param{}, false
	}
	return tp.params[i], true
}
