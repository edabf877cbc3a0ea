package search

import "strings"

// subsetted is the tag a server puts on a resource it does not return
// whole (R4 search, "Summary" and "Elements").
var subsetted = map[string]any{
	"system":  "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
	"code":    "SUBSETTED",
	"display": "Resource encoded in summary mode",
}

// Elements returns a copy of a resource with only the named top-level
// elements (_elements=status,code), plus resourceType, id, meta and the
// elements the type makes mandatory. A choice element may be named without
// its type ("value" keeps valueQuantity). If anything was left out,
// meta.tag gets SUBSETTED. The copy shares the values it keeps with res,
// except meta.
func Elements(res map[string]any, elements []string) map[string]any {
	keep := map[string]bool{}
	for _, e := range elements {
		keep[e] = true
	}
	return subset(res, func(tp *typeParams, k string) bool { return hasElement(tp, keep, k) })
}

// Summary returns a resource as _summary asks: "true" keeps the elements
// the type marks as summary, "text" keeps text and the mandatory elements,
// "data" removes text; "false", "" and "count" return res itself. The
// copy gets meta.tag SUBSETTED.
func Summary(res map[string]any, mode string) map[string]any {
	switch mode {
	case "true":
		return subset(res, func(tp *typeParams, k string) bool {
			return tp != nil && hasElement(tp, toSet(tp.summary), k)
		})
	case "text":
		return subset(res, func(tp *typeParams, k string) bool { return k == "text" })
	case "data":
		return subset(res, func(tp *typeParams, k string) bool { return k != "text" })
	}
	return res
}

func toSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// hasElement reports whether JSON key k is one of the names: the name
// itself, a choice element named name[x] or name, or the primitive
// extension _name of one.
func hasElement(tp *typeParams, names map[string]bool, k string) bool {
	k = strings.TrimPrefix(k, "_")
	if names[k] {
		return true
	}
	for i := 1; i < len(k); i++ {
		if k[i] >= 'A' && k[i] <= 'Z' {
			base := k[:i]
			if tp != nil && tp.choice[base] && (names[base] || names[base+"[x]"]) {
				return true
			}
		}
	}
	return false
}

// subset copies res with the keys keep accepts, the mandatory ones, and
// resourceType, id and meta.
func subset(res map[string]any, keep func(tp *typeParams, k string) bool) map[string]any {
	rt, _ := res["resourceType"].(string)
	tp := Default().types[rt]
	var required map[string]bool
	if tp != nil {
		required = toSet(tp.required)
	}
	out := make(map[string]any, len(res))
	dropped := false
	for k, v := range res {
		switch {
		case k == "resourceType" || k == "id" || k == "meta":
			out[k] = v
		case keep(tp, k) || hasElement(tp, required, k):
			out[k] = v
		default:
			dropped = true
		}
	}
	if !dropped {
		return out
	}
	meta := map[string]any{}
	if m, ok := res["meta"].(map[string]any); ok {
		for k, v := range m {
			meta[k] = v
		}
	}
	tags, _ := meta["tag"].([]any)
	for _, t := range tags {
		if t, ok := t.(map[string]any); ok && t["code"] == subsetted["code"] && t["system"] == subsetted["system"] {
			out["meta"] = meta
			return out
		}
	}
	tag := make(map[string]any, len(subsetted))
	for k, v := range subsetted {
		tag[k] = v
	}
	meta["tag"] = append(append([]any(nil), tags...), tag)
	out["meta"] = meta
	return out
}
