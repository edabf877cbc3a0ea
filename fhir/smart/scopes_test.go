package smart

import (
	"testing"

	"ptoy"
)

func TestParseScopesAllows(t *testing.T) {
	type check struct {
		kind  Kind
		typ   string
		op    byte
		allow bool
	}
	for _, tc := range []struct {
		scope  string
		checks []check
		str    string // String() after parsing; "" = scope
	}{
		{"patient/Observation.rs", []check{
			{KindPatient, "Observation", 'r', true}, {KindPatient, "Observation", 's', true},
			{KindPatient, "Observation", 'c', false}, {KindPatient, "Condition", 'r', false},
			{KindUser, "Observation", 'r', false}, {KindSystem, "Observation", 'r', false}}, ""},
		{"user/*.cruds", []check{
			{KindUser, "Patient", 'c', true}, {KindUser, "Claim", 'd', true}, {KindUser, "Claim", 'x', false},
			{KindPatient, "Patient", 'r', false}}, ""},
		{"system/*.rs", []check{{KindSystem, "Encounter", 's', true}, {KindSystem, "Encounter", 'u', false}}, ""},
		{"patient/Condition.cud", []check{{KindPatient, "Condition", 'u', true}, {KindPatient, "Condition", 'r', false}}, ""},
		{"patient/Condition.d", []check{{KindPatient, "Condition", 'd', true}, {KindPatient, "Condition", 'c', false}}, ""},
		// v1 forms
		{"patient/*.read", []check{{KindPatient, "Goal", 'r', true}, {KindPatient, "Goal", 's', true}, {KindPatient, "Goal", 'c', false}}, ""},
		{"user/Observation.write", []check{{KindUser, "Observation", 'c', true}, {KindUser, "Observation", 'u', true},
			{KindUser, "Observation", 'd', true}, {KindUser, "Observation", 'r', false}}, ""},
		{"user/Observation.*", []check{{KindUser, "Observation", 's', true}, {KindUser, "Observation", 'c', true}}, ""},
		// the others
		{"openid fhirUser launch/patient offline_access", nil, "launch/patient openid fhirUser offline_access"},
		// unknown and granular scopes are kept, never allowed
		{"launch/encounter patient/Observation.rs?category=laboratory profile", []check{
			{KindPatient, "Observation", 'r', false}}, ""},
		// duplicates collapse
		{"patient/*.rs patient/*.rs", nil, "patient/*.rs"},
	} {
		s, err := ParseScopes(tc.scope)
		if err != nil {
			t.Errorf("ParseScopes(%q): %v", tc.scope, err)
			continue
		}
		for _, c := range tc.checks {
			if got := s.Allows(c.kind, c.typ, c.op); got != c.allow {
				t.Errorf("ParseScopes(%q).Allows(%s, %s, %c) = %v, want %v", tc.scope, c.kind, c.typ, c.op, got, c.allow)
			}
		}
		want := tc.str
		if want == "" {
			want = tc.scope
		}
		if got := s.String(); got != want {
			t.Errorf("ParseScopes(%q).String() = %q, want %q", tc.scope, got, want)
		}
		again, err := ParseScopes(s.String())
		if err != nil || again.String() != s.String() {
			t.Errorf("ParseScopes(%q) does not read its own String back: %q, %v", tc.scope, again.String(), err)
		}
	}
}

func TestParseScopesRefuses(t *testing.T) {
	for _, s := range []string{
		"patient/Observation.rc",   // out of order
		"patient/Observation.rr",   // twice
		"patient/Observation.x",    // unknown letter
		"patient/Observation.",     // nothing
		"patient/Observation",      // no interactions
		"user/observation.rs",      // not a type
		"system/Obs-ervation.rs",   // not a type
		"patient/*.rs \"quoted\"",  // a character OAuth forbids
		string(make([]byte, 5000)), // too long
	} {
		if _, err := ParseScopes(s); ptoy.KindOf(err) != ptoy.Invalid {
			t.Errorf("ParseScopes(%.40q) = %v, want an Invalid error", s, err)
		}
	}
}

func TestIntersect(t *testing.T) {
	for _, tc := range []struct{ ask, max, want string }{
		{"patient/*.cruds", "patient/*.rs", "patient/*.rs"},
		{"patient/*.rs", "patient/Observation.rs patient/Condition.r", "patient/Observation.rs patient/Condition.r"},
		{"patient/Observation.read", "patient/*.cruds", "patient/Observation.read"},
		{"patient/Observation.*", "patient/*.rs", "patient/Observation.rs"},
		{"user/*.rs", "patient/*.rs", ""},
		{"patient/Observation.c", "patient/*.rs", ""},
		{"patient/*.rs patient/Observation.r", "patient/*.cruds", "patient/*.rs"},
		{"openid fhirUser offline_access launch/patient patient/*.rs", "patient/*.rs openid fhirUser",
			"patient/*.rs openid fhirUser"},
		{"profile patient/*.rs", "patient/*.rs profile", "patient/*.rs"},
	} {
		a, err := ParseScopes(tc.ask)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseScopes(tc.max)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Intersect(m).String(); got != tc.want {
			t.Errorf("%q ∩ %q = %q, want %q", tc.ask, tc.max, got, tc.want)
		}
	}
}

// FuzzParseScopes: whatever ParseScopes accepts, it reads back from its
// own String, and Intersect with itself changes nothing.
func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"patient/*.rs", "user/Observation.cruds openid fhirUser", "system/*.read patient/Goal.write",
		"launch/patient offline_access x/y", "patient/Observation.rs?category=laboratory", "patient/*.*", "user/A.cd user/A.crud"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScopes(s)
		if err != nil {
			return
		}
		again, err := ParseScopes(sc.String())
		if err != nil || again.String() != sc.String() {
			t.Fatalf("ParseScopes(%q).String() = %q reads back as %q, %v", s, sc.String(), again.String(), err)
		}
		self := sc.Intersect(sc)
		for _, k := range []Kind{KindPatient, KindUser, KindSystem} {
			for _, op := range []byte(interactions) {
				for _, typ := range append(sc.Types(k), "Observation") {
					if sc.Allows(k, typ, op) != self.Allows(k, typ, op) {
						t.Fatalf("%q ∩ itself changes %s %s %c", s, k, typ, op)
					}
				}
			}
		}
	})
}
