package smart

import (
	"fmt"
	"sort"
	"strings"

	"ptoy"
)

// Kind is whose data a grant or a resource scope speaks of.
type Kind uint8

const (
	// KindPatient: patient/ scopes, the data of the grant's patient only.
	KindPatient Kind = iota + 1
	// KindUser: user/ scopes, what the signed-in practitioner may see.
	KindUser
	// KindSystem: system/ scopes of a backend service acting as its
	// organisation.
	KindSystem
)

var kindWords = [...]string{KindPatient: "patient", KindUser: "user", KindSystem: "system"}

func (k Kind) String() string {
	if k >= KindPatient && k <= KindSystem {
		return kindWords[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// The interactions of a resource scope, in SMART v2 order.
const interactions = "cruds"

// Limits on a scope string from outside.
const (
	maxScopeLen   = 4096
	maxScopeCount = 100
)

// resourceScope is one patient/, user/ or system/ scope.
type resourceScope struct {
	kind Kind
	typ  string // a resource type or "*"
	ops  uint8  // bit i: interactions[i]
	raw  string // the text as asked, kept for String when unchanged
}

func (r resourceScope) v2() string {
	var b strings.Builder
	b.WriteString(r.kind.String())
	b.WriteByte('/')
	b.WriteString(r.typ)
	b.WriteByte('.')
	for i := 0; i < len(interactions); i++ {
		if r.ops&(1<<i) != 0 {
			b.WriteByte(interactions[i])
		}
	}
	return b.String()
}

func (r resourceScope) text() string {
	if r.raw != "" {
		return r.raw
	}
	return r.v2()
}

// Scopes is a parsed OAuth scope string of SMART App Launch 2.0. The
// zero value grants nothing.
type Scopes struct {
	resources []resourceScope

	OpenID        bool // "openid": an id_token
	FHIRUser      bool // "fhirUser": the id_token names the FHIR resource of the user
	Launch        bool // "launch": an EHR launch (not supported: never granted)
	LaunchPatient bool // "launch/patient": a patient context
	OfflineAccess bool // "offline_access": a refresh token that outlives the session
	OnlineAccess  bool // "online_access": a refresh token

	// Other holds the scopes this server does not know (kept, never
	// granted): other launch contexts, granular scopes with a query
	// ("patient/Observation.rs?category=laboratory").
	Other []string
}

// ParseScopes reads a space-separated scope string: SMART v2 resource
// scopes (patient|user|system)/(Type|*).(c?r?u?d?s?), their v1 forms
// .read (= rs), .write (= cud) and .* (= cruds), and openid, fhirUser,
// launch, launch/patient, offline_access and online_access. A resource
// scope that is malformed (interactions out of order, an unknown
// letter, a bad type) is an error of kind ptoy.Invalid; a scope of any
// other shape is kept in Other.
func ParseScopes(s string) (Scopes, error) {
	const op = "smart.ParseScopes"
	var sc Scopes
	if len(s) > maxScopeLen {
		return sc, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the scope is longer than %d characters", maxScopeLen))
	}
	words := strings.Fields(s)
	if len(words) > maxScopeCount {
		return sc, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("more than %d scopes", maxScopeCount))
	}
	for _, w := range words {
		for _, c := range w {
			// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
			if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				return Scopes{}, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("scope %q has a character OAuth does not allow", w))
			}
		}
		switch w {
		case "openid":
			sc.OpenID = true
			continue
		case "fhirUser":
			sc.FHIRUser = true
			continue
		case "launch":
			sc.Launch = true
			continue
		case "launch/patient":
			sc.LaunchPatient = true
			continue
		case "offline_access":
			sc.OfflineAccess = true
			continue
		case "online_access":
			sc.OnlineAccess = true
			continue
		}
		r, ok, err := parseResourceScope(w)
		if err != nil {
			return Scopes{}, ptoy.E(op, ptoy.Invalid, err.Error())
		}
		if !ok {
			if !contains(sc.Other, w) {
				sc.Other = append(sc.Other, w)
			}
			continue
		}
		sc.add(r)
	}
	return sc, nil
}

// parseResourceScope reads one resource scope; ok is false for a scope
// of another shape.
func parseResourceScope(w string) (resourceScope, bool, error) {
	prefix, rest, ok := strings.Cut(w, "/")
	if !ok {
		return resourceScope{}, false, nil
	}
	var r resourceScope
	switch prefix {
	case "patient":
		r.kind = KindPatient
	case "user":
		r.kind = KindUser
	case "system":
		r.kind = KindSystem
	default:
		return resourceScope{}, false, nil
	}
	if strings.Contains(rest, "?") {
		// A granular scope with a query: this server cannot narrow by
		// search parameters, so it never grants one.
		return resourceScope{}, false, nil
	}
	typ, perm, ok := strings.Cut(rest, ".")
	if !ok {
		return resourceScope{}, false, fmt.Errorf("scope %q lacks the interactions (such as %s/%s.rs)", w, prefix, rest)
	}
	if typ != "*" && !validType(typ) {
		return resourceScope{}, false, fmt.Errorf("scope %q: %q is not a resource type", w, typ)
	}
	r.typ = typ
	switch perm {
	case "read":
		r.ops = opBit('r') | opBit('s')
	case "write":
		r.ops = opBit('c') | opBit('u') | opBit('d')
	case "*":
		r.ops = 0x1f
	default:
		last := -1
		for _, c := range []byte(perm) {
			i := strings.IndexByte(interactions, c)
			if i < 0 {
				return resourceScope{}, false, fmt.Errorf("scope %q: %q is not an interaction (want some of c, r, u, d, s in that order, or read, write, *)", w, string(c))
			}
			if i <= last {
				return resourceScope{}, false, fmt.Errorf("scope %q: the interactions must be in the order c, r, u, d, s, each once", w)
			}
			last = i
			r.ops |= 1 << i
		}
		if r.ops == 0 {
			return resourceScope{}, false, fmt.Errorf("scope %q names no interaction", w)
		}
	}
	r.raw = w
	return r, true, nil
}

// validType reports whether s reads as a FHIR resource type name.
func validType(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func opBit(c byte) uint8 { return 1 << strings.IndexByte(interactions, c) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// add puts r in s unless the same scope is there.
func (s *Scopes) add(r resourceScope) {
	for _, x := range s.resources {
		if x.kind == r.kind && x.typ == r.typ && x.ops == r.ops {
			return
		}
	}
	s.resources = append(s.resources, r)
}

// Allows reports whether the scopes allow interaction (one of 'c', 'r',
// 'u', 'd', 's') on resourceType for a grant of kind kind.
func (s Scopes) Allows(kind Kind, resourceType string, interaction byte) bool {
	i := strings.IndexByte(interactions, interaction)
	if i < 0 || resourceType == "" {
		return false
	}
	for _, r := range s.resources {
		if r.kind == kind && (r.typ == "*" || r.typ == resourceType) && r.ops&(1<<i) != 0 {
			return true
		}
	}
	return false
}

// Has reports whether s holds any resource scope of kind.
func (s Scopes) Has(kind Kind) bool {
	for _, r := range s.resources {
		if r.kind == kind {
			return true
		}
	}
	return false
}

// Empty reports whether s grants nothing at all.
func (s Scopes) Empty() bool {
	return len(s.resources) == 0 && !s.OpenID && !s.FHIRUser && !s.Launch && !s.LaunchPatient && !s.OfflineAccess && !s.OnlineAccess
}

// String writes the scopes as a space-separated scope string: resource
// scopes as they were asked (or in v2 form when narrowed), then the
// others. ParseScopes(s.String()) gives back s.
func (s Scopes) String() string {
	var ws []string
	for _, r := range s.resources {
		ws = append(ws, r.text())
	}
	for _, f := range []struct {
		on bool
		w  string
	}{{s.Launch, "launch"}, {s.LaunchPatient, "launch/patient"}, {s.OpenID, "openid"}, {s.FHIRUser, "fhirUser"},
		{s.OfflineAccess, "offline_access"}, {s.OnlineAccess, "online_access"}} {
		if f.on {
			ws = append(ws, f.w)
		}
	}
	ws = append(ws, s.Other...)
	return strings.Join(ws, " ")
}

// Intersect returns what s asks that max allows: each resource scope of
// s narrowed to the types and interactions of max's scopes of the same
// kind, and the other scopes both hold. Other is dropped: unknown
// scopes are never granted.
func (s Scopes) Intersect(max Scopes) Scopes {
	var out Scopes
	for _, r := range s.resources {
		for _, m := range max.resources {
			if m.kind != r.kind {
				continue
			}
			n := resourceScope{kind: r.kind, ops: r.ops & m.ops}
			switch {
			case m.typ == "*" || m.typ == r.typ:
				n.typ = r.typ
			case r.typ == "*":
				n.typ = m.typ
			default:
				continue
			}
			if n.ops == 0 {
				continue
			}
			if n.typ == r.typ && n.ops == r.ops {
				n.raw = r.raw
			}
			out.add(n)
		}
	}
	out.dropCovered()
	out.OpenID = s.OpenID && max.OpenID
	out.FHIRUser = s.FHIRUser && max.FHIRUser
	out.Launch = s.Launch && max.Launch
	out.LaunchPatient = s.LaunchPatient && max.LaunchPatient
	out.OfflineAccess = s.OfflineAccess && max.OfflineAccess
	out.OnlineAccess = s.OnlineAccess && max.OnlineAccess
	return out
}

// dropCovered removes the resource scopes that another one in s
// already covers, keeping the order of the rest.
func (s *Scopes) dropCovered() {
	keep := s.resources[:0:0]
	for i, r := range s.resources {
		covered := false
		for j, o := range s.resources {
			if i == j || o.kind != r.kind || (o.typ != "*" && o.typ != r.typ) || o.ops&r.ops != r.ops {
				continue
			}
			// o covers r; of two equal ones keep the first.
			if o.typ != r.typ || o.ops != r.ops || j < i {
				covered = true
				break
			}
		}
		if !covered {
			keep = append(keep, r)
		}
	}
	s.resources = keep
}

// only returns the resource scopes of s of the kinds given, and its
// other scopes.
func (s Scopes) only(kinds ...Kind) Scopes {
	out := s
	out.resources = nil
	for _, r := range s.resources {
		for _, k := range kinds {
			if r.kind == k {
				out.resources = append(out.resources, r)
			}
		}
	}
	return out
}

// Types returns the resource types (or "*") the scopes name for kind,
// sorted.
func (s Scopes) Types(kind Kind) []string {
	var ts []string
	for _, r := range s.resources {
		if r.kind == kind && !contains(ts, r.typ) {
			ts = append(ts, r.typ)
		}
	}
	sort.Strings(ts)
	return ts
}
