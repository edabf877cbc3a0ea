package search

import (
	"math"
	"slices"
	"strings"
)

// Match reports whether an indexed resource matches every clause of the
// query. It allocates nothing.
func (q *Query) Match(ix *Index) bool {
	if ix.tp != q.tp {
		return false
	}
	for i := range q.clauses {
		if !q.clauses[i].match(ix) {
			return false
		}
	}
	return true
}

func (c *clause) match(ix *Index) bool {
	ents := ix.find(c.p)
	switch c.mod {
	case modMissing:
		return (len(ents) == 0) == c.missing
	case modNot:
		// :not matches the resources that have no value matching any of
		// the values, including those with no value at all.
		for i := range ents {
			for j := range c.vals {
				if tokenMatch(ix, &ents[i], &c.vals[j]) {
					return false
				}
			}
		}
		return true
	}
	for i := range ents {
		for j := range c.vals {
			if c.valueMatch(ix, &ents[i], &c.vals[j]) {
				return true
			}
		}
	}
	return false
}

func (c *clause) valueMatch(ix *Index, e *entry, v *qvalue) bool {
	switch c.kind {
	case tString:
		switch c.mod {
		case modExact:
			return ix.str(e.b) == v.b
		case modContains:
			return strings.Contains(ix.str(e.a), v.a)
		}
		return strings.HasPrefix(ix.str(e.a), v.a)
	case tToken:
		if c.mod == modText {
			return strings.HasPrefix(ix.str(e.c), v.a)
		}
		return tokenMatch(ix, e, v)
	case tReference:
		ref := ix.str(e.a)
		if v.a != "" {
			return ref == v.a
		}
		if ref == v.b {
			return true
		}
		i := strings.LastIndexByte(ref, '/')
		return i > 0 && ref[i+1:] == v.b
	case tURI:
		u := ix.str(e.a)
		switch c.mod {
		case modBelow:
			return strings.HasPrefix(u, v.a)
		case modAbove:
			return strings.HasPrefix(v.a, u)
		}
		return u == v.a
	case tDate:
		return dateMatch(v.pre, v.lo, v.hi, e.lo, e.hi)
	case tNumber:
		return numberMatch(v, fval(e.lo), fval(e.hi))
	case tQuantity:
		if v.hasSys {
			if v.a != "" {
				if ix.str(e.a) != v.a || ix.str(e.b) != v.b {
					return false
				}
			} else if ix.str(e.b) != v.b && !foldedEqual(ix.str(e.c), v.b) {
				return false // number||code: the code or the unit
			}
		}
		return numberMatch(v, fval(e.lo), fval(e.hi))
	}
	return false
}

func tokenMatch(ix *Index, e *entry, v *qvalue) bool {
	if e.flag&flagTextOnly != 0 {
		return false
	}
	if !v.anyCode && ix.str(e.b) != v.b {
		return false
	}
	return !v.hasSys || ix.str(e.a) == v.a
}

// foldedEqual compares an already folded string with one that may not be,
// ignoring ASCII case, without allocating.
func foldedEqual(folded, s string) bool {
	return strings.EqualFold(folded, s)
}

// dateMatch compares the range of a search value [sl, sh] with the range
// of a target value [tl, th], as the R4 search page defines each prefix.
// ap is within a tenth of the search range's width, and at least a day.
func dateMatch(pre prefix, sl, sh, tl, th int64) bool {
	contains := sl <= tl && th <= sh
	switch pre {
	case pEq:
		return contains
	case pNe:
		return !contains
	case pGt:
		return th > sh
	case pLt:
		return tl < sl
	case pGe:
		return th > sh || contains
	case pLe:
		return tl < sl || contains
	case pSa:
		return tl > sh
	case pEb:
		return th < sl
	case pAp:
		w := max((sh-sl+1)/10, 24*3600*1000)
		return tl <= sh+w && th >= sl-w
	}
	return false
}

// numberMatch compares a search number with a target [tl, th] (a single
// value, or a Range). eq is within the precision of the search value
// (100 is [99.5, 100.5)); ap within 10% of it.
func numberMatch(v *qvalue, tl, th float64) bool {
	eq := tl >= v.flo && th < v.fhi
	switch v.pre {
	case pEq:
		return eq
	case pNe:
		return !eq
	case pGt:
		return th > v.f
	case pLt:
		return tl < v.f
	case pGe:
		return th >= v.f
	case pLe:
		return tl <= v.f
	case pSa:
		return tl > v.f
	case pEb:
		return th < v.f
	case pAp:
		d := max(math.Abs(v.f)/10, v.fhi-v.f)
		return tl <= v.f+d && th >= v.f-d
	}
	return false
}

type sortKey struct {
	p    uint8
	kind ptype
	desc bool
}

// Compare orders two indexed resources by the query's _sort keys: it
// returns -1 if a comes first, 1 if b does, and 0 if the keys do not tell
// (the server breaks ties). A parameter with several values sorts by its
// lowest value ascending and its highest descending; resources without a
// value come last either way. It allocates nothing.
func (q *Query) Compare(a, b *Index) int {
	for _, k := range q.sorts {
		c, ok := k.compare(a, b)
		if ok && c != 0 {
			return c
		}
	}
	return 0
}

func (k sortKey) compare(a, b *Index) (int, bool) {
	ea, eb := a.find(k.p), b.find(k.p)
	switch {
	case len(ea) == 0 && len(eb) == 0:
		return 0, false
	case len(ea) == 0:
		return 1, true
	case len(eb) == 0:
		return -1, true
	}
	var c int
	switch k.kind {
	case tDate:
		c = cmp3(k.dateKey(ea), k.dateKey(eb))
	case tNumber, tQuantity:
		c = cmp3(k.numberKey(ea), k.numberKey(eb))
	case tString:
		c = strings.Compare(k.strKey(a, ea, false), k.strKey(b, eb, false))
	case tToken:
		c = strings.Compare(k.strKey(a, ea, true), k.strKey(b, eb, true))
	}
	if k.desc {
		c = -c
	}
	return c, true
}

func (k sortKey) dateKey(ents []entry) int64 {
	v := ents[0].lo
	if k.desc {
		v = ents[0].hi
	}
	for _, e := range ents[1:] {
		if k.desc {
			v = max(v, e.hi)
		} else {
			v = min(v, e.lo)
		}
	}
	return v
}

func (k sortKey) numberKey(ents []entry) float64 {
	v := fval(ents[0].lo)
	if k.desc {
		v = fval(ents[0].hi)
	}
	for _, e := range ents[1:] {
		if k.desc {
			v = max(v, fval(e.hi))
		} else {
			v = min(v, fval(e.lo))
		}
	}
	return v
}

func (k sortKey) strKey(ix *Index, ents []entry, code bool) string {
	pick := func(e *entry) string {
		if code {
			return ix.str(e.b)
		}
		return ix.str(e.a)
	}
	v := pick(&ents[0])
	for i := range ents[1:] {
		s := pick(&ents[i+1])
		if k.desc && s > v || !k.desc && s < v {
			v = s
		}
	}
	return v
}

func cmp3[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SortIndexes sorts indexed resources by the query's _sort keys, keeping the
// order of those the keys do not tell apart. It gives the order of
// slices.SortStableFunc(ixs, q.Compare), several times faster on many
// resources: it reads each resource's first key once.
func (q *Query) SortIndexes(ixs []*Index) {
	if len(q.sorts) == 0 || len(ixs) < 2 {
		return
	}
	k := q.sorts[0]
	type keyed struct {
		ix  *Index
		has bool
		n   int64 // date
		f   float64
		s   string
	}
	ks := make([]keyed, len(ixs))
	for i, ix := range ixs {
		ks[i].ix = ix
		ents := ix.find(k.p)
		if len(ents) == 0 {
			continue
		}
		ks[i].has = true
		switch k.kind {
		case tDate:
			ks[i].n = k.dateKey(ents)
		case tNumber, tQuantity:
			ks[i].f = k.numberKey(ents)
		case tString:
			ks[i].s = k.strKey(ix, ents, false)
		case tToken:
			ks[i].s = k.strKey(ix, ents, true)
		}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		var c int
		switch {
		case !a.has && !b.has:
		case !a.has:
			return 1
		case !b.has:
			return -1
		case k.kind == tDate:
			c = cmp3(a.n, b.n)
		case k.kind == tNumber || k.kind == tQuantity:
			c = cmp3(a.f, b.f)
		default:
			c = strings.Compare(a.s, b.s)
		}
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		for _, k := range q.sorts[1:] {
			if c, ok := k.compare(a.ix, b.ix); ok && c != 0 {
				return c
			}
		}
		return 0
	})
	for i := range ks {
		ixs[i] = ks[i].ix
	}
}
