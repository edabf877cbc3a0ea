package resource

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	d4pb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	r4pb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// The fast accept path. The validator (google/fhir v0.7.4's jsonformat
// Unmarshaller followed by its fhirvalidate walk) builds a proto by
// reflection and walks it again: most of a resource's validation time.
// fastValid walks the document our decoder already produced against a
// table built once from the same R4 proto descriptors and annotations, and
// answers true only where it is certain the validator would accept the
// resource without an issue. Anything it does not model exactly (a
// primitive's "_element", contained resources, Bundles, a null, a reference
// to a type it cannot place, a type of element it has no rule for) makes it
// answer false, and the validator decides as before: the fast path only
// ever skips the validator for documents the validator accepts, so what is
// accepted and every refusal's issues stay the same.

// fastValid reports whether the validator certainly accepts the resource m
// of type rt whose bytes are body. body is read only to know whether any
// string was written with an escape: base64Binary is checked by the
// validator on the string as written, which the decoded m no longer shows.
func fastValid(rt string, body []byte, m map[string]any) bool {
	if rt == "Bundle" {
		return false
	}
	t := fastTable()
	mi := t.resources[rt]
	if mi == nil {
		return false
	}
	w := walker{plain: bytes.IndexByte(body, '\\') < 0}
	return w.object(mi, m, true)
}

// kinds of message the fast path knows.
type msgKind uint8

const (
	kUnsupported msgKind = iota // anything not modelled: the fast path gives up
	kComplex                    // an object of known elements
	kReference                  // a Reference: complex, then its reference string normalised
	kPrimitive                  // a JSON string, number or boolean
)

// primitive types, by the validator's parsing and checks.
type primKind uint8

const (
	pNone        primKind = iota
	pBase64               // base64Binary: decoded as written
	pBoolean              // JSON true or false
	pCanonical            // string; url.Parse must succeed
	pCode                 // string matching Code's value_regex
	pDate                 // YYYY, YYYY-MM, YYYY-MM-DD
	pDateTime             // a date, or a date and time with a zone
	pDecimal              // a JSON number
	pID                   // string matching Id's value_regex
	pInstant              // a date and time with a zone
	pInteger              // a JSON integer in int32
	pMarkdown             // any string
	pOid                  // string matching Oid's value_regex
	pPositiveInt          // a JSON integer 1..2^31-1
	pString               // string without control characters, at most 1 MB
	pTime                 // hh:mm:ss(.f)
	pUnsignedInt          // a JSON integer 0..2^31-1
	pURI                  // string; url.Parse must succeed (uri, url, canonical)
	pUUID                 // string matching Uuid's value_regex
	pXhtml                // any string
	pEnumCode             // a code bound to a value set, stored as an enum
	pStringCode           // a code bound to a value set, stored as a string
)

// msgInfo is what the fast path knows of one proto message type.
type msgInfo struct {
	name     protoreflect.FullName
	kind     msgKind
	prim     primKind
	fields   map[string]*fieldInfo // JSON name → element, as jsonpbhelper.FieldMap
	required [][]string            // per required field, the JSON names that set it
	enum     map[string]bool       // pEnumCode: enum value names (number ≠ 0)
	orig     map[string]bool       // pEnumCode: the values' fhir_original_code
}

// fieldInfo is one JSON element name of a message.
type fieldInfo struct {
	field    protoreflect.Name // the proto field of the message it sets
	ok       bool              // false: the validator refuses the name or the fast path does not model it
	repeated bool              // a JSON array
	choice   int               // ≥ 0: the index of the choice element it sets (one value per choice)
	refTypes []string          // valid_reference_type of the proto field holding a Reference
	msg      *msgInfo
}

type table struct {
	msgs      map[protoreflect.FullName]*msgInfo
	resources map[string]*msgInfo // resource type → its message
	refTypes  map[string]bool     // resource types a Reference can be typed to in R4
	choices   map[protoreflect.FullName]int
	regexOid  *regexp.Regexp
	regexUUID *regexp.Regexp
}

var fastTable = sync.OnceValue(buildTable)

func buildTable() *table {
	t := &table{
		msgs:      map[protoreflect.FullName]*msgInfo{},
		resources: map[string]*msgInfo{},
		refTypes:  map[string]bool{},
	}
	t.regexOid = valueRegex(&d4pb.Oid{})
	t.regexUUID = valueRegex(&d4pb.Uuid{})
	ref := (&d4pb.Reference{}).ProtoReflect().Descriptor()
	if oo := ref.Oneofs().ByName("reference"); oo != nil {
		for i := 0; i < oo.Fields().Len(); i++ {
			f := oo.Fields().Get(i)
			if rt, _ := proto.GetExtension(f.Options(), apb.E_ReferencedFhirType).(string); rt != "" {
				t.refTypes[rt] = true
			}
		}
	}
	cr := (&r4pb.ContainedResource{}).ProtoReflect().Descriptor()
	oneofs := cr.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		fs := oneofs.Get(i).Fields()
		for j := 0; j < fs.Len(); j++ {
			f := fs.Get(j)
			if f.Message() == nil || !Supported(string(f.Message().Name())) {
				continue
			}
			t.resources[string(f.Message().Name())] = t.message(f.Message())
		}
	}
	return t
}

// valueRegex compiles a primitive's value_regex as jsonpbhelper does.
func valueRegex(m proto.Message) *regexp.Regexp {
	re, _ := proto.GetExtension(m.ProtoReflect().Descriptor().Options(), apb.E_ValueRegex).(string)
	if re == "" {
		return nil
	}
	return regexp.MustCompile("^" + re + "$")
}

// primByName are the primitives the Unmarshaller parses by their message
// name; each must be the R4 core type of that name.
var primByName = map[protoreflect.Name]primKind{
	"Base64Binary": pBase64, "Boolean": pBoolean, "Canonical": pURI, "Code": pCode,
	"Date": pDate, "DateTime": pDateTime, "Decimal": pDecimal, "Id": pID,
	"Instant": pInstant, "Integer": pInteger, "Markdown": pMarkdown, "Oid": pOid,
	"PositiveInt": pPositiveInt, "String": pString, "Time": pTime,
	"UnsignedInt": pUnsignedInt, "Uri": pURI, "Url": pURI, "Uuid": pUUID,
	"Xhtml": pXhtml, "ReferenceId": pNone,
}

func isPrimitive(d protoreflect.MessageDescriptor) bool {
	k, _ := proto.GetExtension(d.Options(), apb.E_StructureDefinitionKind).(apb.StructureDefinitionKindValue)
	return k == apb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE
}

func isChoice(d protoreflect.MessageDescriptor) bool {
	return d != nil && proto.HasExtension(d.Options(), apb.E_IsChoiceType)
}

// message returns the msgInfo of d, building it (and what it refers to) once.
func (t *table) message(d protoreflect.MessageDescriptor) *msgInfo {
	if mi, ok := t.msgs[d.FullName()]; ok {
		return mi
	}
	mi := &msgInfo{name: d.FullName()}
	t.msgs[d.FullName()] = mi
	switch {
	case d.FullName() == "google.protobuf.Any" || d.Name() == "ContainedResource" || isChoice(d):
		// contained resources and a choice met other than through its element: not modelled
	case isPrimitive(d):
		t.primitive(d, mi)
	default:
		if proto.HasExtension(d.Options(), apb.E_FhirReferenceType) {
			if d.FullName() != (&d4pb.Reference{}).ProtoReflect().Descriptor().FullName() {
				return mi
			}
			mi.kind = kReference
		} else {
			mi.kind = kComplex
		}
		t.complexFields(d, mi)
	}
	return mi
}

func (t *table) primitive(d protoreflect.MessageDescriptor, mi *msgInfo) {
	if k, ok := primByName[d.Name()]; ok {
		if k == pNone || d.FullName() != "google.fhir.r4.core."+protoreflect.FullName(d.Name()) {
			return
		}
		mi.kind, mi.prim = kPrimitive, k
		return
	}
	if !proto.HasExtension(d.Options(), apb.E_FhirValuesetUrl) {
		return
	}
	v := d.Fields().ByName("value")
	if v == nil {
		return
	}
	switch v.Kind() {
	case protoreflect.StringKind:
		mi.kind, mi.prim = kPrimitive, pStringCode
	case protoreflect.EnumKind:
		mi.kind, mi.prim = kPrimitive, pEnumCode
		mi.enum, mi.orig = map[string]bool{}, map[string]bool{}
		vals := v.Enum().Values()
		for i := 0; i < vals.Len(); i++ {
			ev := vals.Get(i)
			if ev.Number() != 0 {
				mi.enum[string(ev.Name())] = true
			}
			if oc, _ := proto.GetExtension(ev.Options(), apb.E_FhirOriginalCode).(string); oc != "" {
				mi.orig[oc] = true
			}
		}
	}
}

// complexFields fills mi.fields as jsonpbhelper.FieldMap maps JSON names
// (later names winning, as there), resolving choice names to the choice's
// element as mergeChoiceField does, and mi.required.
func (t *table) complexFields(d protoreflect.MessageDescriptor, mi *msgInfo) {
	mi.fields = map[string]*fieldInfo{}
	fs := d.Fields()
	byField := map[protoreflect.Name][]string{}
	for i := 0; i < fs.Len(); i++ {
		f := fs.Get(i)
		if isChoice(f.Message()) {
			cm := f.Message()
			cfs := cm.Fields()
			for j := 0; j < cfs.Len(); j++ {
				cf := cfs.Get(j)
				for _, name := range choiceNames(cf) {
					key := name
					if strings.HasPrefix(name, "_") {
						key = "_" + f.JSONName() + upperFirst(name[1:])
					} else {
						key = f.JSONName() + upperFirst(name)
					}
					fi := t.choiceField(f, key)
					fi.field = f.Name()
					mi.fields[key] = fi
					byField[f.Name()] = append(byField[f.Name()], key)
				}
			}
			continue
		}
		fi := &fieldInfo{field: f.Name(), choice: -1}
		mi.fields[f.JSONName()] = fi
		byField[f.Name()] = append(byField[f.Name()], f.JSONName())
		if f.Kind() == protoreflect.MessageKind && isPrimitive(f.Message()) {
			mi.fields["_"+f.JSONName()] = &fieldInfo{field: f.Name()} // a primitive's extensions: not modelled
		}
		if f.Kind() != protoreflect.MessageKind || f.IsMap() {
			continue
		}
		if mi.kind == kReference && f.ContainingOneof() != nil && f.Name() != "uri" {
			continue // the typed forms are for the normaliser, not for writers
		}
		fi.ok = true
		fi.repeated = f.Cardinality() == protoreflect.Repeated
		fi.msg = t.message(f.Message())
		fi.refTypes = validRefTypes(f)
	}
	// Required fields, by what sets them (a later name may have taken over
	// an earlier field's JSON name: then only what maps to it counts).
	for i := 0; i < fs.Len(); i++ {
		f := fs.Get(i)
		req, _ := proto.GetExtension(f.Options(), apb.E_ValidationRequirement).(apb.Requirement)
		if req != apb.Requirement_REQUIRED_BY_FHIR {
			continue
		}
		var keys []string
		for _, k := range byField[f.Name()] {
			if fi := mi.fields[k]; fi != nil && fi.field == f.Name() && !strings.HasPrefix(k, "_") {
				keys = append(keys, k)
			}
		}
		mi.required = append(mi.required, keys)
	}
}

// choiceNames are the names buildFieldMap gives a choice message's field:
// its JSON name and, for a primitive, "_" and its JSON name.
func choiceNames(cf protoreflect.FieldDescriptor) []string {
	names := []string{cf.JSONName()}
	if cf.Kind() == protoreflect.MessageKind && isPrimitive(cf.Message()) {
		names = append(names, "_"+cf.JSONName())
	}
	return names
}

// choiceField is the element a choice JSON name key (for the choice field
// f) sets, resolved as mergeChoiceField resolves it.
func (t *table) choiceField(f protoreflect.FieldDescriptor, key string) *fieldInfo {
	if strings.HasPrefix(key, "_") {
		return &fieldInfo{}
	}
	name := lowerFirst(strings.TrimPrefix(key, f.JSONName()))
	cm := f.Message()
	var cf protoreflect.FieldDescriptor
	for j := 0; j < cm.Fields().Len(); j++ {
		if c := cm.Fields().Get(j); c.JSONName() == name {
			cf = c // the last one, as in FieldMap
		}
	}
	fi := &fieldInfo{}
	for j := 0; j < cm.Fields().Len(); j++ {
		if isChoice(cm.Fields().Get(j).Message()) {
			return fi // a choice in a choice: named otherwise by FieldMap, not modelled
		}
	}
	if cf == nil || cf.Kind() != protoreflect.MessageKind || cf.Cardinality() == protoreflect.Repeated ||
		cf.ContainingOneof() == nil || isChoice(cf.Message()) {
		return fi
	}
	// The choice message itself is walked by fhirvalidate: it must have no
	// required field for the fast path to skip it.
	for j := 0; j < cm.Fields().Len(); j++ {
		req, _ := proto.GetExtension(cm.Fields().Get(j).Options(), apb.E_ValidationRequirement).(apb.Requirement)
		if req == apb.Requirement_REQUIRED_BY_FHIR {
			return fi
		}
	}
	fi.ok = true
	fi.choice = t.choiceIndex(f)
	fi.msg = t.message(cf.Message())
	fi.refTypes = validRefTypes(cf)
	return fi
}

func (t *table) choiceIndex(f protoreflect.FieldDescriptor) int {
	if t.choices == nil {
		t.choices = map[protoreflect.FullName]int{}
	}
	if i, ok := t.choices[f.FullName()]; ok {
		return i
	}
	i := len(t.choices)
	t.choices[f.FullName()] = i
	return i
}

func validRefTypes(f protoreflect.FieldDescriptor) []string {
	v, _ := proto.GetExtension(f.Options(), apb.E_ValidReferenceType).([]string)
	return v
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// walker walks one document.
type walker struct {
	plain bool  // the document has no escaped character
	used  []int // choice elements set in the current object (a small stack)
}

// object checks one JSON object against mi (a complex type or Reference).
func (w *walker) object(mi *msgInfo, m map[string]any, top bool) bool {
	if mi.kind != kComplex && mi.kind != kReference {
		return false
	}
	mark := len(w.used)
	defer func() { w.used = w.used[:mark] }()
	for k, v := range m {
		if top && k == "resourceType" {
			continue
		}
		fi := mi.fields[k]
		if fi == nil || !fi.ok {
			return false
		}
		if fi.choice >= 0 {
			for _, c := range w.used[mark:] {
				if c == fi.choice {
					return false // two types for one choice element
				}
			}
			w.used = append(w.used, fi.choice)
		}
		if fi.repeated {
			a, ok := v.([]any)
			if !ok || len(a) == 0 {
				return false
			}
			for _, e := range a {
				if !w.value(fi, e) {
					return false
				}
			}
		} else if !w.value(fi, v) {
			return false
		}
	}
	for _, keys := range mi.required {
		if !present(m, keys) {
			return false
		}
	}
	if mi.kind == kReference {
		return w.reference(m)
	}
	return true
}

// present reports whether one of keys is set in m to a value that sets the
// proto field beyond doubt (not false or 0, which a primitive leaves unset).
func present(m map[string]any, keys []string) bool {
	for _, k := range keys {
		switch v := m[k].(type) {
		case nil:
		case bool:
			if v {
				return true
			}
		case json.Number:
			if v != "0" {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// value checks one value of the element fi (one element of an array).
func (w *walker) value(fi *fieldInfo, v any) bool {
	mi := fi.msg
	switch mi.kind {
	case kPrimitive:
		return w.primitive(mi, v)
	case kComplex:
		o, ok := v.(map[string]any)
		return ok && len(o) > 0 && w.object(mi, o, false)
	case kReference:
		o, ok := v.(map[string]any)
		if !ok || len(o) == 0 || !w.object(mi, o, false) {
			return false
		}
		return refTypeOK(fi.refTypes, o)
	}
	return false
}

// reference checks the reference string of a Reference as NormalizeReference
// parses it and fhirvalidate checks what it becomes.
func (w *walker) reference(m map[string]any) bool {
	v, ok := m["reference"]
	if !ok {
		return true
	}
	s := v.(string) // checked as a String already
	if strings.HasPrefix(s, "#") {
		return validString(s[1:])
	}
	typ, id, hist, typed := splitRef(s)
	if !typed {
		return true // kept as a String, already checked
	}
	if !fastTable().refTypes[typ] || ValidID(id) != nil {
		return false
	}
	return hist == "" || validIDValue(hist)
}

// splitRef splits a relative reference as normalizeR4Reference does:
// Type/id or Type/id/_history/version.
func splitRef(s string) (typ, id, hist string, typed bool) {
	parts := strings.Split(s, "/")
	switch {
	case len(parts) == 2:
		return parts[0], parts[1], "", true
	case len(parts) == 4 && parts[2] == "_history":
		return parts[0], parts[1], parts[3], true
	}
	return "", "", "", false
}

// refTypeOK applies ValidateReferenceType: a typed reference must be to one
// of the field's valid types (or the field allows any).
func refTypeOK(valid []string, m map[string]any) bool {
	if len(valid) == 0 {
		return true
	}
	s, _ := m["reference"].(string)
	if s == "" || strings.HasPrefix(s, "#") {
		return true
	}
	typ, _, _, typed := splitRef(s)
	if !typed {
		return true
	}
	for _, v := range valid {
		if v == "Resource" || v == typ {
			return true
		}
	}
	return false
}

// primitive checks a primitive's JSON value as the Unmarshaller parses it
// and fhirvalidate then checks it.
func (w *walker) primitive(mi *msgInfo, v any) bool {
	switch mi.prim {
	case pBoolean:
		_, ok := v.(bool)
		return ok
	case pDecimal:
		_, ok := v.(json.Number) // our decoder checked JSON's number grammar, which is Decimal's value_regex
		return ok
	case pInteger:
		n, ok := v.(json.Number)
		return ok && intLiteral(string(n), true)
	case pPositiveInt:
		n, ok := v.(json.Number)
		return ok && n != "0" && intLiteral(string(n), false)
	case pUnsignedInt:
		n, ok := v.(json.Number)
		return ok && intLiteral(string(n), false)
	}
	s, ok := v.(string)
	if !ok {
		return false
	}
	switch mi.prim {
	case pString:
		return validString(s)
	case pMarkdown, pXhtml, pStringCode:
		return true
	case pCode:
		return validCode(s)
	case pID:
		return validIDValue(s)
	case pURI:
		_, err := url.Parse(s)
		return err == nil
	case pOid:
		return fastTable().regexOid.MatchString(s)
	case pUUID:
		return fastTable().regexUUID.MatchString(s)
	case pDate:
		return validDate(s)
	case pDateTime:
		if len(s) <= 10 {
			return validDate(s)
		}
		return validDateTime(s)
	case pInstant:
		return validDateTime(s)
	case pTime:
		return validTime(s)
	case pBase64:
		return w.plain && validBase64(s)
	case pEnumCode:
		k := strings.Replace(strings.ToUpper(s), "-", "_", -1)
		return mi.enum[k] || mi.orig[s]
	}
	return false
}

// intLiteral reports whether n is an integer literal the Unmarshaller reads
// without doubt: digits with no sign (or a '-' if neg is allowed, never
// "-0"), within 0..2^31-1 (or down to -2^31).
func intLiteral(n string, neg bool) bool {
	if neg && len(n) > 1 && n[0] == '-' {
		n = n[1:]
		if n == "0" {
			return false
		}
		if len(n) == 10 && n == "2147483648" {
			return true
		}
	}
	if n == "" || len(n) > 10 || n[0] == '0' && len(n) > 1 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return len(n) < 10 || n <= "2147483647"
}

// validString is jsonpbhelper.ValidateString: at most 1 MB, no control
// character but tab, newline and carriage return.
func validString(s string) bool {
	if len(s) > 1024*1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// validCode is Code's value_regex [^\s]+(\s[^\s]+)* (RE2's \s: tab,
// newline, form feed, carriage return, space).
func validCode(s string) bool {
	if s == "" || isRE2Space(s[0]) || isRE2Space(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isRE2Space(s[i]) && isRE2Space(s[i-1]) {
			return false
		}
	}
	return true
}

func isRE2Space(c byte) bool {
	return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

// validIDValue is Id's value_regex [A-Za-z0-9\-\.]{1,64}.
func validIDValue(s string) bool { return ValidID(s) == nil }

// validDate accepts YYYY, YYYY-MM and YYYY-MM-DD of a real day (years 1 to
// 9999): what DateCompiledRegex matches and time.Parse then reads.
func validDate(s string) bool {
	var layout string
	switch len(s) {
	case 4:
		layout = "2006"
	case 7:
		layout = "2006-01"
	case 10:
		layout = "2006-01-02"
	default:
		return false
	}
	if !digits(s[0:4]) || s[0:4] == "0000" {
		return false
	}
	if len(s) >= 7 && (s[4] != '-' || !month(s[5:7])) {
		return false
	}
	if len(s) == 10 && (s[7] != '-' || !digits(s[8:10]) || s[8:10] == "00" || s[8] > '3') {
		return false
	}
	_, err := time.Parse(layout, s)
	return err == nil
}

// validDateTime accepts YYYY-MM-DDThh:mm:ss(.f+)(Z|±hh:mm) as
// DateTimeCompiledRegex and InstantCompiledRegex match it and time.Parse
// reads it.
func validDateTime(s string) bool {
	if len(s) < 20 || !validDate(s[:10]) || s[10] != 'T' || !clock(s[11:19]) {
		return false
	}
	rest := s[19:]
	if len(rest) > 1 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	layout := "2006-01-02T15:04:05-07:00"
	switch {
	case rest == "Z":
		layout = "2006-01-02T15:04:05Z"
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' && digits(rest[1:3]) && digits(rest[4:6]):
		if !(rest[1:3] <= "13" && rest[4] <= '5' || rest[1:] == "14:00") {
			return false
		}
	default:
		return false
	}
	_, err := time.Parse(layout, s)
	return err == nil
}

// validTime is TimeCompiledRegex ([01]d|2[0-3]):[0-5]d:[0-5]d(\.d+)? read
// by time.Parse.
func validTime(s string) bool {
	if len(s) < 8 || !clock(s[:8]) {
		return false
	}
	if len(s) > 8 && (s[8] != '.' || len(s) == 9 || !digits(s[9:])) {
		return false
	}
	_, err := time.Parse("15:04:05", s)
	return err == nil
}

// clock accepts hh:mm:ss, hours 00-23.
func clock(s string) bool {
	return len(s) == 8 && digits(s[0:2]) && s[0:2] <= "23" && s[2] == ':' &&
		digits(s[3:5]) && s[3] <= '5' && s[5] == ':' && digits(s[6:8]) && s[6] <= '5'
}

func month(s string) bool { return digits(s) && s >= "01" && s <= "12" }

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validBase64 is parseBinary for a value written without escapes and without
// spaces (spaces make it record a stride: not modelled).
func validBase64(s string) bool {
	if strings.IndexByte(s, ' ') >= 0 || !utf8.ValidString(s) {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}
