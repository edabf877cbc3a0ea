package consent

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

// Bit is the scope bit of category c: 1 << c.
func Bit(c pb.Category) uint32 { return 1 << uint32(c) }

// Category sets, as scope bitmasks.
const (
	// Clinical is every category that is not a sensitive label:
	// demographics (1) through directives (11).
	Clinical uint32 = 1<<(pb.Category_CATEGORY_DIRECTIVES+1) - 1<<pb.Category_CATEGORY_DEMOGRAPHICS
	// Sensitive is the sensitive labels (16 to 20): mental health,
	// substance use, sexual and reproductive health, HIV, genetic. No
	// scope reaches them unless it names them.
	Sensitive uint32 = 1<<(pb.Category_CATEGORY_GENETIC+1) - 1<<pb.Category_CATEGORY_MENTAL_HEALTH
	// Defined is every category that exists; other bits are invalid.
	Defined = Clinical | Sensitive
	// EmergencySet is what break-glass opens unless the patient limited
	// it: allergies, medications, conditions, immunizations and
	// directives (which hold the blood type).
	EmergencySet uint32 = 1<<pb.Category_CATEGORY_CONDITIONS | 1<<pb.Category_CATEGORY_MEDICATIONS |
		1<<pb.Category_CATEGORY_ALLERGIES | 1<<pb.Category_CATEGORY_IMMUNIZATIONS | 1<<pb.Category_CATEGORY_DIRECTIVES
)

// categoryInfo names a category: in prose (name) and as one word for
// command lines and FormatCategories (word).
type categoryInfo struct {
	c          pb.Category
	name, word string
	aliases    []string
}

var categoryTable = []categoryInfo{
	{pb.Category_CATEGORY_DEMOGRAPHICS, "demographics", "demographics", nil},
	{pb.Category_CATEGORY_ENCOUNTERS, "encounters", "encounters", []string{"encounter", "visits"}},
	{pb.Category_CATEGORY_CONDITIONS, "conditions", "conditions", []string{"condition", "problems"}},
	{pb.Category_CATEGORY_MEDICATIONS, "medications", "medications", []string{"medication", "meds"}},
	{pb.Category_CATEGORY_ALLERGIES, "allergies", "allergies", []string{"allergy"}},
	{pb.Category_CATEGORY_IMMUNIZATIONS, "immunizations", "immunizations", []string{"immunization", "vaccines"}},
	{pb.Category_CATEGORY_LAB_RESULTS, "lab results", "lab-results", []string{"labs", "lab", "vitals"}},
	{pb.Category_CATEGORY_IMAGING, "imaging", "imaging", nil},
	{pb.Category_CATEGORY_NOTES, "clinical notes", "notes", []string{"clinical-notes", "documents"}},
	{pb.Category_CATEGORY_INSURANCE_BILLING, "insurance and billing", "insurance-billing", []string{"billing", "insurance"}},
	{pb.Category_CATEGORY_DIRECTIVES, "directives", "directives", []string{"directive", "blood-type"}},
	{pb.Category_CATEGORY_MENTAL_HEALTH, "mental health", "mental-health", nil},
	{pb.Category_CATEGORY_SUBSTANCE_USE, "substance use", "substance-use", nil},
	{pb.Category_CATEGORY_SEXUAL_REPRODUCTIVE, "sexual and reproductive health", "sexual-reproductive", []string{"reproductive"}},
	{pb.Category_CATEGORY_HIV, "HIV", "hiv", nil},
	{pb.Category_CATEGORY_GENETIC, "genetic", "genetic", []string{"genomic"}},
}

// categoryGroups are the names of sets that ParseCategories accepts.
var categoryGroups = []struct {
	word string
	set  uint32
}{
	{"all-clinical", Clinical},
	{"emergency", EmergencySet},
	{"sensitive", Sensitive},
	{"all", Defined},
}

// CategoryName returns the plain-words name of c ("lab results",
// "mental health"), or "category N" for an unknown one.
func CategoryName(c pb.Category) string {
	for i := range categoryTable {
		if categoryTable[i].c == c {
			return categoryTable[i].name
		}
	}
	return "category " + strconv.Itoa(int(c))
}

// ParseCategories reads a scope: words separated by commas (or spaces),
// case-insensitive. A word is a category ("conditions", "lab-results",
// "mental-health", the enum name "CATEGORY_NOTES", or its number), or a
// group: "all-clinical" (1 to 11), "emergency" (EmergencySet),
// "sensitive" (16 to 20), "all". It returns a ptoy.Invalid error for an
// unknown word or an empty scope. ParseCategories(FormatCategories(x))
// gives back x for every x within Defined.
func ParseCategories(s string) (uint32, error) {
	const op = "consent.ParseCategories"
	words := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '+' })
	if len(words) == 0 {
		return 0, ptoy.E(op, ptoy.Invalid, "no categories given")
	}
	var set uint32
	for _, w := range words {
		b, ok := categoryWord(w)
		if !ok {
			return 0, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("unknown category %q (known: %s, or all-clinical, emergency, sensitive, all)", w, knownWords()))
		}
		set |= b
	}
	return set, nil
}

func categoryWord(w string) (uint32, bool) {
	w = strings.ToLower(strings.TrimSpace(w))
	w = strings.TrimPrefix(w, "category_")
	w = strings.ReplaceAll(w, "_", "-")
	if n, err := strconv.Atoi(w); err == nil {
		if n > 0 && n < 32 && Bit(pb.Category(n))&Defined != 0 {
			return Bit(pb.Category(n)), true
		}
		return 0, false
	}
	for _, g := range categoryGroups {
		if w == g.word {
			return g.set, true
		}
	}
	for i := range categoryTable {
		ci := &categoryTable[i]
		if w == ci.word || w == strings.ReplaceAll(ci.name, " ", "-") || w == enumWord(ci.c) {
			return Bit(ci.c), true
		}
		for _, a := range ci.aliases {
			if w == a {
				return Bit(ci.c), true
			}
		}
	}
	return 0, false
}

func enumWord(c pb.Category) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(c.String(), "CATEGORY_")), "_", "-")
}

func knownWords() string {
	var w []string
	for i := range categoryTable {
		w = append(w, categoryTable[i].word)
	}
	return strings.Join(w, ", ")
}

// FormatCategories writes a scope in the form ParseCategories reads:
// "all-clinical" for the whole of Clinical, then each other category's
// word in category order, separated by commas ("conditions,medications",
// "all-clinical,mental-health"); "none" for 0. Bits outside Defined are
// written as "bitN", which ParseCategories refuses.
func FormatCategories(set uint32) string {
	if set == 0 {
		return "none"
	}
	var w []string
	if set&Clinical == Clinical {
		w = append(w, "all-clinical")
		set &^= Clinical
	}
	for set != 0 {
		n := bits.TrailingZeros32(set)
		set &^= 1 << n
		if Bit(pb.Category(n))&Defined != 0 {
			w = append(w, categoryTable[tableIndex(pb.Category(n))].word)
		} else {
			w = append(w, "bit"+strconv.Itoa(n))
		}
	}
	return strings.Join(w, ",")
}

func tableIndex(c pb.Category) int {
	for i := range categoryTable {
		if categoryTable[i].c == c {
			return i
		}
	}
	return -1
}

// DescribeCategories writes a set in prose, for people: "conditions,
// medications and allergies", "all clinical categories and mental health".
func DescribeCategories(set uint32) string {
	if set == 0 {
		return "nothing"
	}
	var w []string
	if set&Clinical == Clinical {
		w = append(w, "all clinical categories")
		set &^= Clinical
	}
	for set != 0 {
		n := bits.TrailingZeros32(set)
		set &^= 1 << n
		w = append(w, CategoryName(pb.Category(n)))
	}
	return joinAnd(w)
}

func joinAnd(w []string) string {
	switch len(w) {
	case 0:
		return ""
	case 1:
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}

// RoleCategories is what an employee with role r may read or write for
// the organisation, before the patient's grant narrows it further:
//
//	physician, nurse, emergency physician   every category; sensitive
//	                                        labels only where the grant
//	                                        names them
//	billing                                 demographics, encounters,
//	                                        insurance and billing
//	lab technician                          demographics, lab results
//	pharmacist                              demographics, medications,
//	                                        allergies
//	privacy officer, admin, others          nothing: they manage and
//	                                        review, they do not read charts
func RoleCategories(r pb.Role) uint32 {
	const (
		demographics = 1 << pb.Category_CATEGORY_DEMOGRAPHICS
		encounters   = 1 << pb.Category_CATEGORY_ENCOUNTERS
		billing      = 1 << pb.Category_CATEGORY_INSURANCE_BILLING
		labs         = 1 << pb.Category_CATEGORY_LAB_RESULTS
		meds         = 1 << pb.Category_CATEGORY_MEDICATIONS
		allergies    = 1 << pb.Category_CATEGORY_ALLERGIES
	)
	switch r {
	case pb.Role_ROLE_PHYSICIAN, pb.Role_ROLE_NURSE, pb.Role_ROLE_EMERGENCY_PHYSICIAN:
		return Defined
	case pb.Role_ROLE_BILLING:
		return demographics | encounters | billing
	case pb.Role_ROLE_LAB_TECHNICIAN:
		return demographics | labs
	case pb.Role_ROLE_PHARMACIST:
		return demographics | meds | allergies
	}
	return 0
}

// RoleName returns a role in plain words ("lab technician").
func RoleName(r pb.Role) string {
	switch r {
	case pb.Role_ROLE_UNSPECIFIED:
		return "no role"
	case pb.Role_ROLE_PHYSICIAN, pb.Role_ROLE_NURSE, pb.Role_ROLE_EMERGENCY_PHYSICIAN, pb.Role_ROLE_BILLING,
		pb.Role_ROLE_PRIVACY_OFFICER, pb.Role_ROLE_ADMIN, pb.Role_ROLE_LAB_TECHNICIAN, pb.Role_ROLE_PHARMACIST,
		pb.Role_ROLE_NODE:
		return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_")), "_", " ")
	}
	return "role " + strconv.Itoa(int(r))
}

var purposeWords = []struct {
	p         pb.Purpose
	name, hl7 string
}{
	{pb.Purpose_PURPOSE_TREATMENT, "treatment", "TREAT"},
	{pb.Purpose_PURPOSE_PAYMENT, "payment", "HPAYMT"},
	{pb.Purpose_PURPOSE_OPERATIONS, "operations", "HOPERAT"},
	{pb.Purpose_PURPOSE_RESEARCH, "research", "HRESCH"},
	{pb.Purpose_PURPOSE_EMERGENCY, "emergency", "ETREAT"},
}

// PurposeName returns a purpose of use in plain words ("treatment"),
// which ParsePurpose reads back.
func PurposeName(p pb.Purpose) string {
	for _, w := range purposeWords {
		if w.p == p {
			return w.name
		}
	}
	if p == pb.Purpose_PURPOSE_UNSPECIFIED {
		return "unspecified"
	}
	return "purpose " + strconv.Itoa(int(p))
}

// ParsePurpose reads a purpose of use: its name ("treatment"), the enum
// name, or the HL7 v3 PurposeOfUse code (TREAT, HPAYMT, HOPERAT, HRESCH,
// ETREAT), case-insensitive. It returns ptoy.Invalid otherwise.
func ParsePurpose(s string) (pb.Purpose, error) {
	w := strings.ToLower(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "PURPOSE_"))
	for _, p := range purposeWords {
		if w == p.name || w == strings.ToLower(p.hl7) {
			return p.p, nil
		}
	}
	return 0, ptoy.E("consent.ParsePurpose", ptoy.Invalid, fmt.Sprintf("unknown purpose of use %q (treatment, payment, operations, research or emergency)", s))
}

// PermissionName returns "read", "write" or "read-write", which
// ParsePermission reads back.
func PermissionName(p pb.Permission) string {
	switch p {
	case pb.Permission_PERMISSION_READ:
		return "read"
	case pb.Permission_PERMISSION_WRITE:
		return "write"
	case pb.Permission_PERMISSION_READ_WRITE:
		return "read-write"
	case pb.Permission_PERMISSION_UNSPECIFIED:
		return "unspecified"
	}
	return "permission " + strconv.Itoa(int(p))
}

// ParsePermission reads "read", "write", "read-write" (also "rw",
// "read+write", "read and write" and the enum names). It returns
// ptoy.Invalid otherwise.
func ParsePermission(s string) (pb.Permission, error) {
	w := strings.ToLower(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "PERMISSION_"))
	switch w {
	case "read", "r":
		return pb.Permission_PERMISSION_READ, nil
	case "write", "w", "write-only":
		return pb.Permission_PERMISSION_WRITE, nil
	case "read-write", "read_write", "rw", "read+write", "read and write":
		return pb.Permission_PERMISSION_READ_WRITE, nil
	}
	return 0, ptoy.E("consent.ParsePermission", ptoy.Invalid, fmt.Sprintf("unknown permission %q (read, write or read-write)", s))
}

// ValidPurpose reports whether p is a purpose a grant may name: any
// defined purpose but unspecified and emergency (emergency access is by
// break-glass only).
func ValidPurpose(p pb.Purpose) bool {
	return p >= pb.Purpose_PURPOSE_TREATMENT && p <= pb.Purpose_PURPOSE_RESEARCH
}

// ValidPermission reports whether p is read, write or read-write.
func ValidPermission(p pb.Permission) bool {
	return p >= pb.Permission_PERMISSION_READ && p <= pb.Permission_PERMISSION_READ_WRITE
}

// canRead and canWrite: the permission values are bit flags (read 1,
// write 2, read-write 3).
func canRead(p pb.Permission) bool { return ValidPermission(p) && p&pb.Permission_PERMISSION_READ != 0 }
func canWrite(p pb.Permission) bool {
	return ValidPermission(p) && p&pb.Permission_PERMISSION_WRITE != 0
}

// SealCategory is the category whose key seals a record: its most
// sensitive label if it has one, else its category.
func SealCategory(cat pb.Category, labels uint32) pb.Category {
	for c := 31; c >= 16; c-- {
		if labels&(1<<uint(c)) != 0 {
			return pb.Category(c)
		}
	}
	return cat
}
