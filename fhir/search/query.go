package search

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"ptoy"
)

// Query is a parsed FHIR search: the result parameters, and the search
// parameters as clauses that must all match (repeated parameters AND),
// each true if any of its values matches (comma-separated values OR).
type Query struct {
	Type     string
	Count    int       // _count: default 50, at most 1000; 0 is allowed
	Sort     []SortKey // _sort
	Total    string    // _total: "", "none", "estimate" or "accurate"
	Summary  string    // _summary: "", "true", "false", "count", "data" or "text"
	Elements []string  // _elements
	Include  []Include // _include
	// RevInclude are the _revinclude: resources of SourceType whose Param
	// points to a match.
	RevInclude []Include

	tp      *typeParams
	clauses []clause
	sorts   []sortKey
}

// SortKey is one key of _sort: "-date" is {date true}.
type SortKey struct {
	Param string
	Desc  bool
}

// Include is one _include or _revinclude: SourceType:Param[:TargetType].
type Include struct {
	SourceType, Param, TargetType string
	Iterate                       bool // _include:iterate
}

// DefaultCount and MaxCount bound _count.
const (
	DefaultCount = 50
	MaxCount     = 1000
)

type modifier uint8

const (
	modNone modifier = iota
	modMissing
	modExact    // string
	modContains // string
	modNot      // token
	modText     // token
	modBelow    // uri
	modAbove    // uri
)

type prefix uint8

const (
	pEq prefix = iota
	pNe
	pGt
	pLt
	pGe
	pLe
	pSa
	pEb
	pAp
)

var prefixes = map[string]prefix{"eq": pEq, "ne": pNe, "gt": pGt, "lt": pLt, "ge": pGe, "le": pLe,
	"sa": pSa, "eb": pEb, "ap": pAp}

type clause struct {
	p       uint8
	kind    ptype
	mod     modifier
	missing bool // with modMissing: true finds resources without a value
	vals    []qvalue
}

// qvalue is one value of a clause, ready to compare with entries.
//
//	string     a folded, b as given
//	token      a system, b code (hasSys: a system part was given; anyCode: "system|")
//	reference  a "Type/id" or the reference as given, or b a bare id
//	uri        a
//	date       lo, hi (and the prefix)
//	number     f the value, flo..fhi the range its precision implies
//	quantity   as number; a system, b code (hasSys: a system part was given)
type qvalue struct {
	pre     prefix
	a, b    string
	hasSys  bool
	anyCode bool
	lo, hi  int64
	f       float64
	flo     float64
	fhi     float64
}

// ParseQuery parses the query of a search on resourceType. It fails with
// ptoy.Invalid, naming the parameter and what is wrong with it, on an
// unknown parameter, modifier or prefix, or a value that is not of the
// parameter's type. It skips the parameters the server handles itself:
// _format, _pretty and _page.
func (r *Registry) ParseQuery(resourceType string, q url.Values) (*Query, error) {
	const op = "search.ParseQuery"
	fail := func(format string, args ...any) (*Query, error) {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf(format, args...))
	}
	tp := r.types[resourceType]
	if tp == nil {
		return fail("resource type %q is not supported", resourceType)
	}
	query := &Query{Type: resourceType, Count: DefaultCount, tp: tp}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		vals := q[key]
		name, mod, _ := strings.Cut(key, ":")
		single := func() (string, bool) {
			if len(vals) != 1 {
				return "", false
			}
			return vals[0], true
		}
		switch name {
		case "_format", "_pretty", "_page":
			continue
		case "_count":
			v, ok := single()
			n, err := strconv.Atoi(v)
			if mod != "" || !ok || err != nil || n < 0 {
				return fail("_count must be one whole number from 0 to %d, not %q", MaxCount, strings.Join(vals, ","))
			}
			query.Count = min(n, MaxCount)
			continue
		case "_total", "_summary":
			v, ok := single()
			allowed := "none, estimate, accurate"
			if name == "_summary" {
				allowed = "true, false, count, data, text"
			}
			if mod != "" || !ok || !strings.Contains(", "+allowed+",", ", "+v+",") {
				return fail("%s must be one of %s, not %q", name, allowed, strings.Join(vals, ","))
			}
			if name == "_total" {
				query.Total = v
			} else {
				query.Summary = v
			}
			continue
		case "_elements":
			for _, v := range vals {
				for _, e := range strings.Split(v, ",") {
					if e = strings.TrimSpace(e); e == "" {
						continue
					}
					if !isElementName(e) {
						return fail("_elements: %q is not the name of an element", e)
					}
					query.Elements = append(query.Elements, e)
				}
			}
			continue
		case "_sort":
			v, ok := single()
			if mod != "" || !ok {
				return fail("_sort must be given once, as a comma-separated list")
			}
			for _, s := range strings.Split(v, ",") {
				k := SortKey{Param: strings.TrimSpace(s)}
				if rest, ok := strings.CutPrefix(k.Param, "-"); ok {
					k.Param, k.Desc = rest, true
				}
				i, ok := tp.byName[k.Param]
				if !ok {
					return fail("_sort: unknown search parameter %q for %s", k.Param, resourceType)
				}
				if tp.kinds[i] == tReference || tp.kinds[i] == tURI {
					return fail("_sort: cannot sort by %s, a %s parameter", k.Param, tp.params[i].Type)
				}
				query.Sort = append(query.Sort, k)
				query.sorts = append(query.sorts, sortKey{p: uint8(i), kind: tp.kinds[i], desc: k.Desc})
			}
			continue
		case "_include", "_revinclude":
			if mod != "" && mod != "iterate" && mod != "recurse" {
				return fail("%s: unknown modifier %q", name, mod)
			}
			for _, v := range vals {
				inc, err := r.parseInclude(name, resourceType, v, mod != "")
				if err != nil {
					return nil, err
				}
				if name == "_include" {
					query.Include = append(query.Include, inc)
				} else {
					query.RevInclude = append(query.RevInclude, inc)
				}
			}
			continue
		}
		if strings.Contains(name, ".") {
			return fail("chained search parameters (%q) are not supported", key)
		}
		i, ok := tp.byName[name]
		if !ok {
			return fail("unknown search parameter %q for %s", name, resourceType)
		}
		for _, v := range vals {
			c, err := parseClause(tp, uint8(i), mod, v)
			if err != nil {
				return nil, err
			}
			if c.mod == modMissing || len(c.vals) > 0 {
				query.clauses = append(query.clauses, c)
			}
		}
	}
	// Cheap clauses first: those that read only the entries, then those
	// that compare text.
	sort.SliceStable(query.clauses, func(i, j int) bool {
		return clauseCost(query.clauses[i]) < clauseCost(query.clauses[j])
	})
	return query, nil
}

func clauseCost(c clause) int {
	switch {
	case c.mod == modMissing:
		return 0
	case c.kind == tDate || c.kind == tNumber:
		return 1
	case c.kind == tString || c.mod == modNot:
		return 3
	}
	return 2
}

func isElementName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (r *Registry) parseInclude(name, resourceType, v string, iterate bool) (Include, error) {
	fail := func(format string, args ...any) (Include, error) {
		return Include{}, ptoy.E("search.ParseQuery", ptoy.Invalid, fmt.Sprintf(name+": "+format, args...))
	}
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fail("%q is not SourceType:parameter[:TargetType]", v)
	}
	inc := Include{SourceType: parts[0], Param: parts[1], Iterate: iterate}
	if len(parts) == 3 {
		inc.TargetType = parts[2]
	}
	src := r.types[inc.SourceType]
	if src == nil {
		return fail("resource type %q is not supported", inc.SourceType)
	}
	i, ok := src.byName[inc.Param]
	if !ok || src.kinds[i] != tReference {
		return fail("%s has no reference search parameter %q", inc.SourceType, inc.Param)
	}
	if name == "_include" && !iterate && inc.SourceType != resourceType {
		return fail("%q does not start with %s, the type searched", v, resourceType)
	}
	if inc.TargetType != "" && r.types[inc.TargetType] == nil {
		return fail("resource type %q is not supported", inc.TargetType)
	}
	if name == "_revinclude" && inc.TargetType != "" && inc.TargetType != resourceType {
		return fail("%q does not point to %s, the type searched", v, resourceType)
	}
	return inc, nil
}

// parseClause parses one occurrence of a search parameter: name:mod=v1,v2.
func parseClause(tp *typeParams, p uint8, mod, v string) (clause, error) {
	name := tp.params[p].Name
	fail := func(format string, args ...any) (clause, error) {
		return clause{}, ptoy.E("search.ParseQuery", ptoy.Invalid, fmt.Sprintf(name+": "+format, args...))
	}
	c := clause{p: p, kind: tp.kinds[p]}
	var refType string
	switch mod {
	case "":
	case "missing":
		switch v {
		case "true", "false":
			c.mod, c.missing = modMissing, v == "true"
			return c, nil
		}
		return fail(":missing must be true or false, not %q", v)
	case "exact", "contains":
		if c.kind != tString {
			return fail("the modifier :%s applies to string parameters only", mod)
		}
		c.mod = map[string]modifier{"exact": modExact, "contains": modContains}[mod]
	case "not", "text":
		if c.kind != tToken {
			return fail("the modifier :%s applies to token parameters only", mod)
		}
		c.mod = map[string]modifier{"not": modNot, "text": modText}[mod]
	case "below", "above":
		if c.kind != tURI {
			return fail("the modifier :%s is supported on uri parameters only", mod)
		}
		c.mod = map[string]modifier{"below": modBelow, "above": modAbove}[mod]
	default:
		if c.kind == tReference && isTypeName(mod) && targets(tp.params[p], mod) {
			refType = mod
			break
		}
		return fail("unknown or unsupported modifier %q", ":"+mod)
	}
	for _, raw := range splitEscaped(v, ',') {
		if raw == "" {
			continue
		}
		val := unescape(raw)
		var qv qvalue
		switch c.kind {
		case tString:
			qv.a, qv.b = fold(val), val
		case tURI:
			qv.a = val
		case tToken:
			if c.mod == modText {
				qv.a = fold(val)
				break
			}
			parts := splitEscaped(raw, '|')
			switch len(parts) {
			case 1:
				qv.b = val
			case 2:
				qv.a, qv.b, qv.hasSys = unescape(parts[0]), unescape(parts[1]), true
				if qv.b == "" {
					if qv.a == "" {
						return fail("%q has neither system nor code", val)
					}
					qv.anyCode = true
				}
			default:
				return fail("%q is not [system]|[code]", val)
			}
		case tReference:
			if strings.Contains(val, "/") || strings.Contains(val, ":") {
				qv.a = normRef(val)
				if refType != "" && !strings.HasPrefix(qv.a, refType+"/") {
					return fail("%q is not a reference to a %s", val, refType)
				}
			} else if refType != "" {
				qv.a = refType + "/" + val
			} else {
				qv.b = val
			}
		case tDate:
			pre, rest, err := cutPrefix(val)
			if err != nil {
				return fail("%v", err)
			}
			lo, hi, ok := parseDate(rest)
			if !ok {
				return fail("date value %q is not a FHIR date", val)
			}
			qv.pre, qv.lo, qv.hi = pre, lo, hi
		case tNumber, tQuantity:
			pre, rest, err := cutPrefix(val)
			if err != nil {
				return fail("%v", err)
			}
			qv.pre = pre
			num := rest
			if c.kind == tQuantity {
				parts := splitEscaped(rest, '|')
				switch len(parts) {
				case 1:
				case 3:
					num, qv.a, qv.b, qv.hasSys = parts[0], unescape(parts[1]), unescape(parts[2]), true
				default:
					return fail("%q is not number|system|code, number||code or number", val)
				}
			}
			f, half, ok := parseNumber(num)
			if !ok {
				return fail("%q is not a number", val)
			}
			qv.f, qv.flo, qv.fhi = f, f-half, f+half
		}
		c.vals = append(c.vals, qv)
	}
	return c, nil
}

func targets(p Param, typ string) bool {
	if len(p.Targets) == 0 {
		return true
	}
	for _, t := range p.Targets {
		if t == typ {
			return true
		}
	}
	return false
}

// cutPrefix splits the comparison prefix (eq, ne, gt, lt, ge, le, sa, eb,
// ap) from a date, number or quantity value.
func cutPrefix(v string) (prefix, string, error) {
	if len(v) >= 2 && v[0] >= 'a' && v[0] <= 'z' {
		pre, ok := prefixes[v[:2]]
		if !ok {
			return 0, "", fmt.Errorf("prefix %q is not one of eq, ne, gt, lt, ge, le, sa, eb, ap", v[:2])
		}
		return pre, v[2:], nil
	}
	return pEq, v, nil
}

// parseNumber reads a decimal and half of the unit of its last digit: the
// search value 100 stands for [99.5, 100.5), 1.50 for [1.495, 1.505).
func parseNumber(s string) (f, half float64, ok bool) {
	if s == "" || strings.ContainsAny(s, "xXpP_") || strings.EqualFold(strings.TrimLeft(s, "+-"), "inf") {
		return 0, 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, 0, false
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		if exp, err = strconv.Atoi(s[i+1:]); err != nil {
			return 0, 0, false
		}
	}
	decimals := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		decimals = len(mant) - i - 1
	}
	return f, 0.5 * math.Pow(10, float64(exp-decimals)), true
}

// splitEscaped splits s at each sep not escaped with a backslash.
func splitEscaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unescape removes the backslashes of \, \| \$ and \\.
func unescape(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// HasParam reports whether the query has a clause on the search parameter.
func (q *Query) HasParam(name string) bool {
	i, ok := q.tp.byName[name]
	if !ok {
		return false
	}
	for _, c := range q.clauses {
		if c.p == uint8(i) {
			return true
		}
	}
	return false
}

// References returns the values the query gives for a reference parameter,
// as "Type/id" when the type is known (given, or the only target of the
// parameter); a bare id otherwise. A server may narrow its candidates to
// the resources that reference one of them.
func (q *Query) References(param string) []string {
	i, ok := q.tp.byName[param]
	if !ok || q.tp.kinds[i] != tReference {
		return nil
	}
	var out []string
	for _, c := range q.clauses {
		if c.p != uint8(i) || c.mod == modMissing {
			continue
		}
		for _, v := range c.vals {
			switch {
			case v.a != "":
				out = append(out, v.a)
			case len(q.tp.params[i].Targets) == 1:
				out = append(out, q.tp.params[i].Targets[0]+"/"+v.b)
			default:
				out = append(out, v.b)
			}
		}
	}
	return out
}
