package resource

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits of the JSON layer. Numbers: FHIR's integer types are 32-bit and
// checked by the validator; a decimal may have at most MaxDigits significant
// digits (the official decimal test example, Observation-decimal, has 19)
// and a magnitude between 1e-MaxExponent and 1e+MaxExponent (a float64's
// range), so that every accepted number is also a finite IEEE double.
const (
	MaxDepth    = 64  // objects and arrays nested in one another, the resource itself counting as 1
	MaxDigits   = 20  // significant digits of a number
	MaxExponent = 308 // decimal exponent of a number's first significant digit
)

// jsonError is a refusal of the JSON layer, turned into an *Error by its caller.
type jsonError struct {
	status int
	code   string
	msg    string
	path   string // FHIRPath relative to the resource, "" for the whole document
}

// decoder reads one JSON document strictly: valid UTF-8, no duplicate names,
// no lone surrogates, limited depth. With fhir set it also applies the rules
// of FHIR's JSON format that hold in every object: numbers within MaxDigits
// and MaxExponent, element names in lower camel case (optionally prefixed
// with "_"), and no string, object or array empty.
type decoder struct {
	b     []byte
	i     int
	depth int
	fhir  bool
	path  []string // segments: "name" or "[3]"
	rt    string   // the top-level resourceType, once read
}

func (d *decoder) pathString() string {
	var sb strings.Builder
	for _, s := range d.path {
		if sb.Len() > 0 && !strings.HasPrefix(s, "[") {
			sb.WriteByte('.')
		}
		sb.WriteString(s)
	}
	return sb.String()
}

func (d *decoder) fail(status int, code, format string, args ...any) *jsonError {
	path := d.pathString()
	if path != "" {
		rt := d.rt
		if rt == "" {
			rt = findType(d.b)
		}
		if knownType(rt) {
			path = rt + "." + path
		}
	}
	return &jsonError{status: status, code: code, msg: fmt.Sprintf(format, args...), path: path}
}

func (d *decoder) syntax(what string) *jsonError {
	if d.i >= len(d.b) {
		return d.fail(400, "structure", "invalid JSON: unexpected end of input (%s)", what)
	}
	return d.fail(400, "structure", "invalid JSON at byte %d: %s", d.i, what)
}

// DecodeJSON reads a JSON document as encoding/json does into an any
// with UseNumber (objects map[string]any, arrays []any, numbers
// json.Number), strictly (valid UTF-8, no duplicate names, at most
// MaxDepth deep) but without FHIR's rules, in about a third of
// encoding/json's time.
func DecodeJSON(b []byte) (any, error) {
	v, err := decode(b, false)
	if err != nil {
		return nil, fmt.Errorf("%s", err.msg)
	}
	return v, nil
}

// decode reads the whole document: one value and nothing but white space after it.
func decode(b []byte, fhir bool) (any, *jsonError) {
	d := &decoder{b: b, fhir: fhir}
	if !utf8.Valid(b) {
		n := 0
		for n < len(b) {
			r, size := utf8.DecodeRune(b[n:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			n += size
		}
		return nil, &jsonError{status: 400, code: "structure", msg: fmt.Sprintf("invalid UTF-8 at byte %d", n)}
	}
	d.space()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i < len(d.b) {
		d.path = nil
		return nil, d.syntax("data after the end of the document")
	}
	return v, nil
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, *jsonError) {
	if d.i >= len(d.b) {
		return nil, d.syntax("a value")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		if d.fhir && s == "" {
			return nil, d.fail(422, "value", "empty string (FHIR strings may not be empty: leave the element out)")
		}
		return s, nil
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	default:
		return nil, d.syntax(fmt.Sprintf("unexpected character %q", c))
	}
}

func (d *decoder) literal(word string) *jsonError {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return d.syntax("expected " + word)
	}
	d.i += len(word)
	return nil
}

func (d *decoder) enter() *jsonError {
	d.depth++
	if d.depth > MaxDepth {
		return d.fail(400, "too-costly", "nested deeper than %d levels", MaxDepth)
	}
	return nil
}

func (d *decoder) object() (any, *jsonError) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.i++ // {
	m := make(map[string]any)
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.depth--
		if d.fhir {
			return nil, d.fail(422, "value", "empty object (FHIR elements must have a value or children: leave the element out)")
		}
		return m, nil
	}
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, d.syntax("expected a member name")
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.path = append(d.path, k)
		if _, dup := m[k]; dup {
			return nil, d.fail(400, "structure", "duplicate member %q", k)
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, d.syntax("expected ':' after a member name")
		}
		d.i++
		d.space()
		if d.fhir && !elementName(k) {
			return nil, d.fail(422, "structure", "unknown element %q (FHIR element names are lower camel case)", k)
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		d.path = d.path[:len(d.path)-1]
		m[k] = v
		if d.depth == 1 && k == "resourceType" {
			d.rt, _ = v.(string)
		}
		d.space()
		if d.i >= len(d.b) {
			return nil, d.syntax("expected ',' or '}'")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.space()
		case '}':
			d.i++
			d.depth--
			return m, nil
		default:
			return nil, d.syntax("expected ',' or '}'")
		}
	}
}

// elementName reports whether k is a possible FHIR element name in JSON:
// lower camel case, possibly prefixed by "_" (a primitive's id and extensions).
func elementName(k string) bool {
	k = strings.TrimPrefix(k, "_")
	if k == "" || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (d *decoder) array() (any, *jsonError) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.i++ // [
	a := []any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		d.depth--
		if d.fhir {
			return nil, d.fail(422, "value", "empty array (leave the element out)")
		}
		return a, nil
	}
	for {
		d.path = append(d.path, "["+strconv.Itoa(len(a))+"]")
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		d.path = d.path[:len(d.path)-1]
		a = append(a, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, d.syntax("expected ',' or ']'")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.space()
		case ']':
			d.i++
			d.depth--
			return a, nil
		default:
			return nil, d.syntax("expected ',' or ']'")
		}
	}
}

// str reads a string at d.i (which is '"'). The input is already known to be
// valid UTF-8.
func (d *decoder) str() (string, *jsonError) {
	d.i++
	start := d.i
	// Fast path: no escapes.
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := string(d.b[start:d.i])
			d.i++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", d.syntax("control character in a string (escape it)")
		}
		d.i++
	}
	buf := []byte(string(d.b[start:d.i]))
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(buf), nil
		case c < 0x20:
			return "", d.syntax("control character in a string (escape it)")
		case c != '\\':
			buf = append(buf, c)
			d.i++
			continue
		}
		d.i++ // backslash
		if d.i >= len(d.b) {
			break
		}
		e := d.b[d.i]
		d.i++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.syntax("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				var r2 rune = -1
				if r < 0xdc00 && d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					d.i += 2
					if r2, ok = d.hex4(); !ok {
						return "", d.syntax("bad \\u escape")
					}
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", d.syntax("\\u escape of a lone UTF-16 surrogate")
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", d.syntax(fmt.Sprintf("unknown escape \\%c", e))
		}
	}
	return "", d.syntax("unterminated string")
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}

// number reads a number by JSON's grammar and checks its range.
func (d *decoder) number() (any, *jsonError) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	intStart := d.i
	nInt := digits()
	if nInt == 0 {
		return nil, d.syntax("bad number")
	}
	if nInt > 1 && d.b[intStart] == '0' {
		return nil, d.syntax("number with a leading zero")
	}
	intPart := d.b[intStart : intStart+nInt]
	var frac []byte
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		fs := d.i
		if digits() == 0 {
			return nil, d.syntax("bad number: no digit after '.'")
		}
		frac = d.b[fs:d.i]
	}
	exp := 0
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		neg := false
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			neg = d.b[d.i] == '-'
			d.i++
		}
		es := d.i
		if digits() == 0 {
			return nil, d.syntax("bad number: no digit in the exponent")
		}
		for _, c := range d.b[es:d.i] {
			if exp < 100000 {
				exp = exp*10 + int(c-'0')
			}
		}
		if neg {
			exp = -exp
		}
	}
	lit := string(d.b[start:d.i])
	if !d.fhir {
		return json.Number(lit), nil
	}
	// Significant digits and the exponent of the first one.
	all := string(intPart) + string(frac)
	first := strings.IndexFunc(all, func(r rune) bool { return r != '0' })
	if first >= 0 {
		if sig := len(all) - first; sig > MaxDigits {
			return nil, d.fail(422, "value", "number %s has %d significant digits (at most %d)", short(lit), sig, MaxDigits)
		}
		if mag := exp + len(intPart) - 1 - first; mag > MaxExponent || mag < -MaxExponent {
			return nil, d.fail(422, "value", "number %s is out of range (magnitude 1e%d; at most 1e±%d)", short(lit), mag, MaxExponent)
		}
	} else if len(all) > MaxDigits {
		return nil, d.fail(422, "value", "number %s has %d digits (at most %d)", short(lit), len(all), MaxDigits)
	}
	return json.Number(lit), nil
}

// findType looks for the top-level resourceType of a document that may be
// broken after it, without checking anything else.
func findType(b []byte) string {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(b) {
				return ""
			}
			key := string(b[i+1 : j])
			i = j
			if depth != 1 || key != "resourceType" {
				continue
			}
			k := j + 1
			for k < len(b) && isSpace(b[k]) {
				k++
			}
			if k >= len(b) || b[k] != ':' {
				continue
			}
			k++
			for k < len(b) && isSpace(b[k]) {
				k++
			}
			if k >= len(b) || b[k] != '"' {
				return ""
			}
			end := k + 1
			for end < len(b) && b[end] != '"' && b[end] != '\\' {
				end++
			}
			if end >= len(b) || b[end] != '"' {
				return ""
			}
			return string(b[k+1 : end])
		}
	}
	return ""
}

func short(s string) string {
	if len(s) > 24 {
		return s[:20] + "…"
	}
	return s
}

// member is one member of a JSON object, by byte offsets into the document.
type member struct {
	name       string
	start, end int // the name's opening quote .. just after the value
	valStart   int
}

// members returns the members of the object that is the whole document b,
// with their offsets, and the offsets of its braces.
func members(b []byte) (ms []member, open, close int, err error) {
	d := &decoder{b: b}
	if !utf8.Valid(b) {
		return nil, 0, 0, fmt.Errorf("invalid UTF-8")
	}
	d.space()
	if d.i >= len(b) || b[d.i] != '{' {
		return nil, 0, 0, fmt.Errorf("not a JSON object")
	}
	open = d.i
	d.i++
	d.depth = 1
	seen := map[string]bool{}
	d.space()
	if d.i < len(b) && b[d.i] == '}' {
		close = d.i
		d.i++
	} else {
		for {
			m := member{start: d.i}
			if d.i >= len(b) || b[d.i] != '"' {
				return nil, 0, 0, fmt.Errorf("expected a member name at byte %d", d.i)
			}
			k, jerr := d.str()
			if jerr != nil {
				return nil, 0, 0, fmt.Errorf("%s", jerr.msg)
			}
			if seen[k] {
				return nil, 0, 0, fmt.Errorf("duplicate member %q", k)
			}
			seen[k] = true
			m.name = k
			d.space()
			if d.i >= len(b) || b[d.i] != ':' {
				return nil, 0, 0, fmt.Errorf("expected ':' at byte %d", d.i)
			}
			d.i++
			d.space()
			m.valStart = d.i
			if _, jerr := d.value(); jerr != nil {
				return nil, 0, 0, fmt.Errorf("%s", jerr.msg)
			}
			m.end = d.i
			ms = append(ms, m)
			d.space()
			if d.i >= len(b) {
				return nil, 0, 0, fmt.Errorf("unexpected end of input")
			}
			if b[d.i] == ',' {
				d.i++
				d.space()
				continue
			}
			if b[d.i] != '}' {
				return nil, 0, 0, fmt.Errorf("expected ',' or '}' at byte %d", d.i)
			}
			close = d.i
			d.i++
			break
		}
	}
	d.space()
	if d.i != len(b) {
		return nil, 0, 0, fmt.Errorf("data after the end of the document")
	}
	return ms, open, close, nil
}

// Equal reports whether a and b are the same JSON document: the same members
// in any order, the same array elements in the same order, the same strings,
// and numbers written the same way (1.0 and 1 differ, as they do in FHIR).
// Documents that are not valid JSON are equal to nothing.
func Equal(a, b []byte) bool {
	va, err := decode(a, false)
	if err != nil {
		return false
	}
	vb, err := decode(b, false)
	if err != nil {
		return false
	}
	return equalValue(va, vb)
}

func equalValue(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !equalValue(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalValue(a[i], b[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

// Without returns raw with the given top-level members removed, every other
// byte as it was. If raw is not a JSON object it is returned unchanged.
func Without(raw []byte, names ...string) []byte {
	ms, _, _, err := members(raw)
	if err != nil {
		return raw
	}
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	return splice(raw, ms, drop, nil)
}

// splice rebuilds the object raw (whose members are ms) without the members
// in drop and with value replaced for the members in repl (by name).
func splice(raw []byte, ms []member, drop map[string]bool, repl map[string][]byte) []byte {
	var kept []member
	for _, m := range ms {
		if !drop[m.name] {
			kept = append(kept, m)
		}
	}
	if len(kept) == len(ms) && len(repl) == 0 {
		return raw
	}
	out := make([]byte, 0, len(raw))
	if len(ms) == 0 {
		return raw
	}
	out = append(out, raw[:ms[0].start]...) // "{" and the white space after it
	for j, m := range kept {
		if j > 0 {
			out = append(out, ',')
			// keep the white space that preceded this member in the original
			k := m.start
			for k > 0 && isSpace(raw[k-1]) {
				k--
			}
			out = append(out, raw[k:m.start]...)
		}
		if v, ok := repl[m.name]; ok {
			out = append(out, raw[m.start:m.valStart]...)
			out = append(out, v...)
		} else {
			out = append(out, raw[m.start:m.end]...)
		}
	}
	last := ms[len(ms)-1].end
	out = append(out, raw[last:]...) // white space, "}" and after
	return out
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
