package search

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The FHIRPath subset: enough for the expressions of the official search
// parameters of the supported types.
//
//	union   = asExpr { "|" asExpr }
//	asExpr  = postfix [ "as" Type ]
//	postfix = primary { "." name | "." fn "(" args ")" }
//	primary = "(" union ")" | name
//	fn      = as(Type) | ofType(Type) | where(resolve() is Type) | where(name = 'literal')
//
// The first name of a path is the resource type (or Resource). A choice
// element is named without its type: value finds valueQuantity, valueString...
// and "as Quantity" keeps the valueQuantity.

type expr struct{ alts []chain }

type chain struct {
	sub  *expr  // a parenthesised expression, or nil
	root string // else the first name
	ops  []op
}

type opKind uint8

const (
	opField   opKind = iota // .name
	opAs                    // as T, .as(T), .ofType(T)
	opResolve               // .where(resolve() is T)
	opEq                    // .where(name = 'literal')
)

type op struct {
	kind opKind
	name string // field, type, or the field compared
	lit  string // the literal of opEq
}

type token struct {
	kind byte // 'i' name, 's' string literal, or the punctuation itself
	text string
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, token{'i', s[i:j]})
			i = j
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated string")
			}
			lit := s[i+1 : i+1+j]
			if strings.ContainsRune(lit, '\\') {
				return nil, fmt.Errorf("escapes in strings are not supported")
			}
			toks = append(toks, token{'s', lit})
			i += j + 2
		case strings.IndexByte(".()|=", c) >= 0:
			toks = append(toks, token{c, string(c)})
			i++
		default:
			return nil, fmt.Errorf("unsupported character %q", c)
		}
	}
	return toks, nil
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{}
}

func (p *parser) next() token { t := p.peek(); p.pos++; return t }

func (p *parser) expect(kind byte) (token, error) {
	t := p.next()
	if t.kind != kind {
		return t, fmt.Errorf("expected %q, found %q", kind, t.text)
	}
	return t, nil
}

// compile parses a FHIRPath expression of the subset.
func compile(s string) (*expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.union()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.peek().text)
	}
	return e, nil
}

func (p *parser) union() (*expr, error) {
	e := &expr{}
	for {
		c, err := p.asExpr()
		if err != nil {
			return nil, err
		}
		e.alts = append(e.alts, c)
		if p.peek().kind != '|' {
			return e, nil
		}
		p.next()
	}
}

func (p *parser) asExpr() (chain, error) {
	c, err := p.postfix()
	if err != nil {
		return c, err
	}
	if t := p.peek(); t.kind == 'i' && t.text == "as" {
		p.next()
		typ, err := p.expect('i')
		if err != nil {
			return c, err
		}
		c.ops = append(c.ops, op{kind: opAs, name: typ.text})
	}
	if t := p.peek(); t.kind == 'i' {
		return c, fmt.Errorf("unsupported operator %q", t.text)
	}
	return c, nil
}

func (p *parser) postfix() (chain, error) {
	var c chain
	switch t := p.next(); t.kind {
	case '(':
		sub, err := p.union()
		if err != nil {
			return c, err
		}
		if _, err := p.expect(')'); err != nil {
			return c, err
		}
		c.sub = sub
	case 'i':
		c.root = t.text
	default:
		return c, fmt.Errorf("unexpected %q", t.text)
	}
	for p.peek().kind == '.' {
		p.next()
		name, err := p.expect('i')
		if err != nil {
			return c, err
		}
		if p.peek().kind != '(' {
			c.ops = append(c.ops, op{kind: opField, name: name.text})
			continue
		}
		p.next()
		o, err := p.function(name.text)
		if err != nil {
			return c, err
		}
		if _, err := p.expect(')'); err != nil {
			return c, err
		}
		c.ops = append(c.ops, o)
	}
	return c, nil
}

func (p *parser) function(name string) (op, error) {
	switch name {
	case "as", "ofType":
		t, err := p.expect('i')
		return op{kind: opAs, name: t.text}, err
	case "where":
		// resolve() is T
		if t := p.peek(); t.kind == 'i' && t.text == "resolve" {
			p.next()
			if _, err := p.expect('('); err != nil {
				return op{}, err
			}
			if _, err := p.expect(')'); err != nil {
				return op{}, err
			}
			if t, err := p.expect('i'); err != nil || t.text != "is" {
				return op{}, fmt.Errorf("expected resolve() is Type")
			}
			t, err := p.expect('i')
			return op{kind: opResolve, name: t.text}, err
		}
		// name = 'literal'
		f, err := p.expect('i')
		if err != nil {
			return op{}, err
		}
		if _, err := p.expect('='); err != nil {
			return op{}, err
		}
		lit, err := p.expect('s')
		return op{kind: opEq, name: f.text, lit: lit.text}, err
	}
	return op{}, fmt.Errorf("unsupported function %s()", name)
}

// item is one value found by an expression, with its type when the JSON
// says it (the suffix of a choice element: "Quantity" for valueQuantity).
type item struct {
	v   any
	typ string
}

// eval evaluates e over a resource of type tp.
func (e *expr) eval(tp *typeParams, res map[string]any, out []item) []item {
	for _, c := range e.alts {
		out = c.eval(tp, res, out)
	}
	return out
}

func (c *chain) eval(tp *typeParams, res map[string]any, out []item) []item {
	var cur []item
	switch {
	case c.sub != nil:
		cur = c.sub.eval(tp, res, nil)
	case c.root == tp.name || c.root == "Resource" || c.root == "DomainResource":
		cur = []item{{v: res, typ: tp.name}}
	case c.root != "" && c.root[0] >= 'a' && c.root[0] <= 'z':
		cur = child(tp, item{v: res}, c.root, nil)
	default:
		return out // a path on another type
	}
	for _, o := range c.ops {
		var next []item
		for _, it := range cur {
			switch o.kind {
			case opField:
				next = child(tp, it, o.name, next)
			case opAs:
				if it.typ == "" || strings.EqualFold(it.typ, o.name) {
					next = append(next, it)
				}
			case opResolve:
				if m, ok := it.v.(map[string]any); ok && refType(m) == o.name {
					next = append(next, it)
				}
			case opEq:
				if m, ok := it.v.(map[string]any); ok {
					if s, _ := m[o.name].(string); s == o.lit {
						next = append(next, it)
					}
				}
			}
		}
		cur = next
	}
	return append(out, cur...)
}

// child appends the values of element name of it.
func child(tp *typeParams, it item, name string, out []item) []item {
	m, ok := it.v.(map[string]any)
	if !ok {
		return out
	}
	if v, ok := m[name]; ok {
		return appendValues(out, v, "")
	}
	if !tp.choice[name] {
		return out
	}
	var keys []string
	for k := range m {
		if len(k) > len(name) && strings.HasPrefix(k, name) && k[len(name)] >= 'A' && k[len(name)] <= 'Z' {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = appendValues(out, m[k], k[len(name):])
	}
	return out
}

func appendValues(out []item, v any, typ string) []item {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			if x != nil {
				out = append(out, item{v: x, typ: typ})
			}
		}
	case nil:
	default:
		out = append(out, item{v: v, typ: typ})
	}
	return out
}

// refType is the resource type a Reference points to: its type element,
// else the type in its reference ("Patient/1", ".../Patient/1").
func refType(m map[string]any) string {
	if t, _ := m["type"].(string); t != "" {
		return t
	}
	ref, _ := m["reference"].(string)
	norm := normRef(ref)
	if i := strings.IndexByte(norm, '/'); i > 0 && !strings.Contains(norm, ":") {
		return norm[:i]
	}
	return ""
}

// normRef reduces a literal reference to "Type/id" when it is relative or
// an absolute URL that ends in Type/id (with or without _history/vid).
// Other references (urn:uuid:..., #contained, canonical URLs) are kept.
func normRef(ref string) string {
	if ref == "" || ref[0] == '#' {
		return ref
	}
	s := ref
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	j := strings.LastIndexByte(s, '/')
	if j <= 0 {
		return ref
	}
	id := s[j+1:]
	k := strings.LastIndexByte(s[:j], '/')
	typ := s[k+1 : j]
	if !isTypeName(typ) || !isID(id) {
		return ref
	}
	return s[k+1:]
}

func isTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// isID reports whether s is a FHIR id: [A-Za-z0-9\-\.]{1,64}.
func isID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// number reads a JSON number (json.Number from a decoder with UseNumber,
// or float64).
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}
