package consent_test

import (
	"testing"

	"ptoy"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
)

func TestCategorySets(t *testing.T) {
	for c := range pb.Category_name {
		cat := pb.Category(c)
		b := consent.Bit(cat)
		switch {
		case cat == pb.Category_CATEGORY_UNSPECIFIED:
			if b&consent.Defined != 0 {
				t.Errorf("unspecified is in Defined")
			}
		case cat >= 16:
			if b&consent.Sensitive == 0 || b&consent.Clinical != 0 {
				t.Errorf("%v: sensitive labels are Sensitive and not Clinical", cat)
			}
		default:
			if b&consent.Clinical == 0 || b&consent.Sensitive != 0 {
				t.Errorf("%v: 1 to 11 are Clinical", cat)
			}
		}
	}
	if consent.Clinical != 0xffe || consent.Sensitive != 0x1f0000 {
		t.Errorf("Clinical %#x Sensitive %#x", consent.Clinical, consent.Sensitive)
	}
	want := bits(conditions, medications, allergies, pb.Category_CATEGORY_IMMUNIZATIONS, pb.Category_CATEGORY_DIRECTIVES)
	if consent.EmergencySet != want {
		t.Errorf("EmergencySet %s", consent.FormatCategories(consent.EmergencySet))
	}
}

// Every subset of the defined categories formats to words that parse
// back to it.
func TestFormatParseCategories(t *testing.T) {
	var defined []uint32
	for c := uint32(0); c < 32; c++ {
		if 1<<c&consent.Defined != 0 {
			defined = append(defined, 1<<c)
		}
	}
	for m := 1; m < 1<<len(defined); m++ {
		var set uint32
		for i, b := range defined {
			if m&(1<<i) != 0 {
				set |= b
			}
		}
		s := consent.FormatCategories(set)
		got, err := consent.ParseCategories(s)
		if err != nil || got != set {
			t.Fatalf("%#x formats as %q, which parses as %#x, %v", set, s, got, err)
		}
	}
}

func TestParseCategories(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
	}{
		{"conditions,medications", bits(conditions, medications)},
		{"all-clinical", consent.Clinical},
		{"All-Clinical, mental-health", consent.Clinical | bits(mentalHealth)},
		{"emergency", consent.EmergencySet},
		{"sensitive", consent.Sensitive},
		{"all", consent.Defined},
		{"lab results", 0}, // two words: "lab" and "results"; results is unknown
		{"lab-results notes", bits(labResults, notes)},
		{"CATEGORY_HIV 3", bits(hiv, conditions)},
		{"billing", bits(billing)},
		{"", 0},
		{"12", 0},
		{"0", 0},
		{"x-rays", 0},
	} {
		got, err := consent.ParseCategories(tc.in)
		if tc.want == 0 {
			if err == nil || ptoy.KindOf(err) != ptoy.Invalid {
				t.Errorf("%q: %#x, %v; want an invalid-input error", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %#x, %v; want %#x", tc.in, got, err, tc.want)
		}
	}
	if s := consent.FormatCategories(consent.Clinical | bits(mentalHealth)); s != "all-clinical,mental-health" {
		t.Errorf("FormatCategories %q", s)
	}
	if s := consent.FormatCategories(0); s != "none" {
		t.Errorf("FormatCategories(0) %q", s)
	}
	if s := consent.DescribeCategories(bits(allergies, medications, conditions)); s != "conditions, medications and allergies" {
		t.Errorf("DescribeCategories %q", s)
	}
	if s := consent.CategoryName(notes); s != "clinical notes" {
		t.Errorf("CategoryName %q", s)
	}
}

func TestRoleCategories(t *testing.T) {
	for _, tc := range []struct {
		role pb.Role
		want uint32
	}{
		{pb.Role_ROLE_PHYSICIAN, consent.Defined},
		{pb.Role_ROLE_NURSE, consent.Defined},
		{pb.Role_ROLE_EMERGENCY_PHYSICIAN, consent.Defined},
		{pb.Role_ROLE_BILLING, bits(demographics, encounters, billing)},
		{pb.Role_ROLE_LAB_TECHNICIAN, bits(demographics, labResults)},
		{pb.Role_ROLE_PHARMACIST, bits(demographics, medications, allergies)},
		{pb.Role_ROLE_PRIVACY_OFFICER, 0},
		{pb.Role_ROLE_ADMIN, 0},
		{pb.Role_ROLE_NODE, 0},
		{pb.Role_ROLE_UNSPECIFIED, 0},
		{pb.Role(99), 0},
	} {
		if got := consent.RoleCategories(tc.role); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.role, consent.FormatCategories(got), consent.FormatCategories(tc.want))
		}
	}
	if consent.RoleName(pb.Role_ROLE_LAB_TECHNICIAN) != "lab technician" {
		t.Errorf("RoleName %q", consent.RoleName(pb.Role_ROLE_LAB_TECHNICIAN))
	}
}

func TestPurposeAndPermission(t *testing.T) {
	for p := range pb.Purpose_name {
		pp := pb.Purpose(p)
		if pp == pb.Purpose_PURPOSE_UNSPECIFIED {
			continue
		}
		got, err := consent.ParsePurpose(consent.PurposeName(pp))
		if err != nil || got != pp {
			t.Errorf("%v: %q parses as %v, %v", pp, consent.PurposeName(pp), got, err)
		}
	}
	for in, want := range map[string]pb.Purpose{"TREAT": treatment, "hpaymt": payment, "PURPOSE_EMERGENCY": emergency, "ETREAT": emergency} {
		if got, err := consent.ParsePurpose(in); err != nil || got != want {
			t.Errorf("ParsePurpose(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := consent.ParsePurpose("fun"); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("ParsePurpose(fun): %v", err)
	}
	for _, p := range []pb.Permission{read, write, readWrite} {
		got, err := consent.ParsePermission(consent.PermissionName(p))
		if err != nil || got != p {
			t.Errorf("%v: %q parses as %v, %v", p, consent.PermissionName(p), got, err)
		}
	}
	if _, err := consent.ParsePermission("admin"); ptoy.KindOf(err) != ptoy.Invalid {
		t.Errorf("ParsePermission(admin): %v", err)
	}
	if consent.ValidPurpose(emergency) || consent.ValidPurpose(0) || !consent.ValidPurpose(payment) {
		t.Error("ValidPurpose: a grant names treatment, payment, operations or research")
	}
}

// FuzzParseCategories: ParseCategories never panics; what it accepts is
// within Defined, not empty, and formats to words that parse back to it.
func FuzzParseCategories(f *testing.F) {
	for _, s := range []string{"conditions,medications", "all-clinical", "mental-health hiv", "3,4", "", ",,", "all"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := consent.ParseCategories(s)
		if err != nil {
			if ptoy.KindOf(err) != ptoy.Invalid {
				t.Fatalf("error of kind %v", ptoy.KindOf(err))
			}
			return
		}
		if set == 0 || set&^consent.Defined != 0 {
			t.Fatalf("%q parsed to %#x", s, set)
		}
		again, err := consent.ParseCategories(consent.FormatCategories(set))
		if err != nil || again != set {
			t.Fatalf("%#x does not round-trip: %#x, %v", set, again, err)
		}
	})
}
