package search

import (
	"math"
	"strings"
	"time"
	"unsafe"

	"ptoy"
)

// Index is what a server keeps of one resource version for search: the
// values of every search parameter of its type, in one slice of fixed-size
// entries and one string that holds all their text. No query matches the
// zero Index.
type Index struct {
	tp *typeParams
	// strs starts with the parameter of each entry, one byte each, so
	// that finding a parameter's entries reads one cache line; the text
	// of all entries follows.
	strs string
	ents []entry // sorted by param
}

// span is a piece of Index.strs.
type span struct{ off, n uint32 }

// entry is one value of one parameter. What a, b, c, lo and hi hold depends
// on the parameter's type:
//
//	string     a folded (lower case, no accents), b as written
//	token      a system, b code, c folded text (display, CodeableConcept.text, Identifier.type.text)
//	reference  a "Type/id" (or the reference as written when it is not one)
//	uri        a the uri
//	date       lo, hi: Unix milliseconds, inclusive
//	number     lo, hi: float64 bits
//	quantity   lo, hi: float64 bits; a system, b code, c unit
type entry struct {
	p       uint8 // the parameter: its place in typeParams.params
	flag    uint8
	a, b, c span
	lo, hi  int64
}

// flagTextOnly marks a token entry that only :text matches
// (CodeableConcept.text, which has no code).
const flagTextOnly uint8 = 1

func (ix *Index) str(s span) string { return ix.strs[s.off : s.off+s.n] }

// find returns the entries of parameter p.
func (ix *Index) find(p uint8) []entry {
	n := len(ix.ents)
	ids := ix.strs[:n]
	i := strings.IndexByte(ids, p)
	if i < 0 {
		return nil
	}
	j := i + 1
	for j < n && ids[j] == p {
		j++
	}
	return ix.ents[i:j]
}

func (ix *Index) param(name string) (uint8, bool) {
	if ix.tp == nil {
		return 0, false
	}
	i, ok := ix.tp.byName[name]
	return uint8(i), ok
}

// Type returns the resource type of the indexed resource.
func (ix Index) Type() string {
	if ix.tp == nil {
		return ""
	}
	return ix.tp.name
}

// ID returns the id of the indexed resource.
func (ix Index) ID() string {
	if p, ok := ix.param("_id"); ok {
		if e := ix.find(p); len(e) > 0 {
			return ix.str(e[0].b)
		}
	}
	return ""
}

// Size returns about how many bytes the index holds in memory.
func (ix Index) Size() int {
	return int(unsafe.Sizeof(ix)) + len(ix.strs) + cap(ix.ents)*int(unsafe.Sizeof(entry{}))
}

// References returns the references a reference parameter found, as
// "Type/id" when they are one: ix.References("patient") -> ["Patient/123"].
func (ix Index) References(param string) []string {
	p, ok := ix.param(param)
	if !ok || ix.tp.kinds[p] != tReference {
		return nil
	}
	var out []string
	for _, e := range ix.find(p) {
		out = append(out, ix.str(e.a))
	}
	return out
}

// Dates returns the earliest start and the latest end of the values of a
// date parameter, for sorting. An open end (a Period without start or end)
// is the zero Time. ok is false if the parameter has no value.
func (ix Index) Dates(param string) (low, high time.Time, ok bool) {
	p, found := ix.param(param)
	if !found || ix.tp.kinds[p] != tDate {
		return
	}
	lo, hi, ok := ix.dates(p)
	if !ok {
		return
	}
	if lo != minTime {
		low = time.UnixMilli(lo).UTC()
	}
	if hi != maxTime {
		high = time.UnixMilli(hi).UTC()
	}
	return low, high, true
}

func (ix *Index) dates(p uint8) (lo, hi int64, ok bool) {
	ents := ix.find(p)
	if len(ents) == 0 {
		return 0, 0, false
	}
	lo, hi = maxTime, minTime
	for _, e := range ents {
		lo, hi = min(lo, e.lo), max(hi, e.hi)
	}
	return lo, hi, true
}

// Extract evaluates every search parameter of resourceType over a decoded
// resource (numbers as json.Number or float64) and returns its index,
// including _id (res["id"]) and _lastUpdated (meta.lastUpdated), the common
// parameters every type has. References are kept as "Type/id".
// Values that are not what their parameter expects (a date that is not a
// FHIR date) are left out. It fails with ptoy.Invalid if the type is not
// supported or is not the resource's.
func (r *Registry) Extract(resourceType string, res map[string]any) (Index, error) {
	const op = "search.Extract"
	tp := r.types[resourceType]
	if tp == nil {
		return Index{}, ptoy.E(op, ptoy.Invalid, "resource type \""+resourceType+"\" is not supported")
	}
	if rt, ok := res["resourceType"]; ok && rt != resourceType {
		return Index{}, ptoy.E(op, ptoy.Invalid, "the resource is not a "+resourceType)
	}
	b := builder{tp: tp, seen: map[string]span{}}
	var items []item
	for i, e := range tp.exprs {
		b.p, b.first = uint8(i), len(b.ents)
		items = e.eval(tp, res, items[:0])
		for _, it := range items {
			b.add(tp.kinds[i], it)
		}
	}
	n := len(b.ents)
	ents := make([]entry, n)
	strs := make([]byte, n, n+len(b.buf))
	for i, e := range b.ents {
		strs[i] = e.p
		for _, s := range []*span{&e.a, &e.b, &e.c} {
			if s.n > 0 {
				s.off += uint32(n)
			}
		}
		ents[i] = e
	}
	return Index{tp: tp, strs: string(append(strs, b.buf...)), ents: ents}, nil
}

type builder struct {
	tp    *typeParams
	p     uint8
	first int // the first entry of parameter p
	buf   []byte
	seen  map[string]span
	ents  []entry
}

func (b *builder) str(s string) span {
	if s == "" {
		return span{}
	}
	if sp, ok := b.seen[s]; ok {
		return sp
	}
	sp := span{uint32(len(b.buf)), uint32(len(s))}
	b.buf = append(b.buf, s...)
	b.seen[s] = sp
	return sp
}

func (b *builder) emit(e entry) {
	e.p = b.p
	for _, old := range b.ents[b.first:] {
		if old == e {
			return
		}
	}
	b.ents = append(b.ents, e)
}

// nameParts are the parts of a HumanName or Address a string search matches.
var nameParts = []string{"text", "family", "given", "prefix", "suffix",
	"line", "city", "district", "state", "postalCode", "country"}

func (b *builder) add(k ptype, it item) {
	switch k {
	case tString:
		switch v := it.v.(type) {
		case string:
			b.addString(v)
		case map[string]any:
			for _, part := range nameParts {
				switch x := v[part].(type) {
				case string:
					b.addString(x)
				case []any:
					for _, y := range x {
						if s, ok := y.(string); ok {
							b.addString(s)
						}
					}
				}
			}
		}
	case tToken:
		b.addToken(it.v)
	case tReference:
		switch v := it.v.(type) {
		case map[string]any:
			if ref, _ := v["reference"].(string); ref != "" {
				b.emit(entry{a: b.str(normRef(ref))})
			}
		case string: // a canonical
			b.emit(entry{a: b.str(v)})
		}
	case tURI:
		if s, ok := it.v.(string); ok && s != "" {
			b.emit(entry{a: b.str(s)})
		}
	case tDate:
		b.addDate(it.v)
	case tNumber:
		if f, ok := number(it.v); ok {
			b.emit(entry{lo: fbits(f), hi: fbits(f)})
		}
	case tQuantity:
		m, ok := it.v.(map[string]any)
		if !ok {
			return
		}
		if f, ok := number(m["value"]); ok {
			// A comparator makes the value a bound: >60 is (60, +Inf),
			// kept here as [60, +Inf].
			lo, hi := f, f
			switch m["comparator"] {
			case "<", "<=":
				lo = math.Inf(-1)
			case ">", ">=":
				hi = math.Inf(1)
			}
			b.addQuantity(m, lo, hi)
			return
		}
		low, _ := m["low"].(map[string]any)
		high, _ := m["high"].(map[string]any)
		lo, okl := number(low["value"])
		hi, okh := number(high["value"])
		if !okl && !okh {
			return
		}
		if !okl {
			lo = math.Inf(-1)
		}
		if !okh {
			hi = math.Inf(1)
		}
		unit := low
		if !okl {
			unit = high
		}
		b.addQuantity(unit, lo, hi)
	}
}

func (b *builder) addString(s string) {
	if s == "" {
		return
	}
	b.emit(entry{a: b.str(fold(s)), b: b.str(s)})
}

func (b *builder) addQuantity(m map[string]any, lo, hi float64) {
	sys, _ := m["system"].(string)
	code, _ := m["code"].(string)
	unit, _ := m["unit"].(string)
	b.emit(entry{a: b.str(sys), b: b.str(code), c: b.str(fold(unit)), lo: fbits(lo), hi: fbits(hi)})
}

func (b *builder) addToken(v any) {
	switch v := v.(type) {
	case string:
		if v != "" {
			b.emit(entry{b: b.str(v)})
		}
	case bool:
		if v {
			b.emit(entry{b: b.str("true")})
		} else {
			b.emit(entry{b: b.str("false")})
		}
	case map[string]any:
		coding, isCC := v["coding"].([]any)
		text, hasText := v["text"].(string)
		if isCC || hasText && v["value"] == nil && v["code"] == nil {
			for _, c := range coding {
				if c, ok := c.(map[string]any); ok {
					b.addCoding(c)
				}
			}
			if text != "" {
				b.emit(entry{flag: flagTextOnly, c: b.str(fold(text))})
			}
			return
		}
		if value, ok := v["value"].(string); ok { // Identifier, ContactPoint
			sys, _ := v["system"].(string)
			if contactSystems[sys] {
				sys = "" // ContactPoint: its system is not a code system
			}
			typ, _ := v["type"].(map[string]any)
			ttext, _ := typ["text"].(string)
			b.emit(entry{a: b.str(sys), b: b.str(value), c: b.str(fold(ttext))})
			return
		}
		b.addCoding(v)
	}
}

var contactSystems = map[string]bool{"phone": true, "fax": true, "email": true, "pager": true,
	"url": true, "sms": true, "other": true}

func (b *builder) addCoding(c map[string]any) {
	sys, _ := c["system"].(string)
	code, _ := c["code"].(string)
	display, _ := c["display"].(string)
	if sys == "" && code == "" && display == "" {
		return
	}
	b.emit(entry{a: b.str(sys), b: b.str(code), c: b.str(fold(display))})
}

func (b *builder) addDate(v any) {
	switch v := v.(type) {
	case string:
		if lo, hi, ok := parseDate(v); ok {
			b.emit(entry{lo: lo, hi: hi})
		}
	case map[string]any:
		if ev, ok := v["event"].([]any); ok || v["repeat"] != nil { // Timing
			for _, e := range ev {
				b.addDate(e)
			}
			if rep, ok := v["repeat"].(map[string]any); ok && len(ev) == 0 {
				if bp, ok := rep["boundsPeriod"].(map[string]any); ok {
					b.addDate(bp)
				}
			}
			return
		}
		start, _ := v["start"].(string)
		end, _ := v["end"].(string)
		lo, hi := int64(minTime), int64(maxTime)
		okStart, okEnd := false, false
		if start != "" {
			lo, _, okStart = parseDate(start)
		}
		if end != "" {
			_, hi, okEnd = parseDate(end)
		}
		if !okStart && !okEnd {
			return
		}
		if !okStart {
			lo = minTime
		}
		if !okEnd {
			hi = maxTime
		}
		b.emit(entry{lo: lo, hi: hi})
	}
}

func fbits(f float64) int64 { return int64(math.Float64bits(f)) }
func fval(i int64) float64  { return math.Float64frombits(uint64(i)) }
