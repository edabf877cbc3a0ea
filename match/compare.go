package match

// Field is one compared part of a person.
type Field int

// The compared fields, in the order of a comparison vector.
const (
	GivenName Field = iota
	FamilyName
	BirthDate
	SexField
	PhoneField
	AddressField
	StateField
	IdentifierField
	numFields
)

var fieldNames = [numFields]string{"given name", "family name", "date of birth", "sex", "phone",
	"address", "state", "identifier"}

func (f Field) String() string { return fieldNames[f] }

// levelNames names the agreement levels of each field, from 0 (missing
// on either side) up to the closest agreement.
var levelNames = [numFields][]string{
	GivenName:       {"missing", "disagree", "similar", "close", "exact"},
	FamilyName:      {"missing", "disagree", "similar", "close", "exact"},
	BirthDate:       {"missing", "disagree", "two edits", "one edit or day/month swapped", "exact"},
	SexField:        {"missing", "disagree", "agree"},
	PhoneField:      {"missing", "disagree", "one edit", "exact"},
	AddressField:    {"missing", "disagree", "same area", "one part differs", "same"},
	StateField:      {"missing", "disagree", "agree"},
	IdentifierField: {"missing", "disagree", "one edit", "exact"},
}

// vector is the agreement level of each field of a pair.
type vector [numFields]uint8

// key packs a vector into an integer, four bits a field.
func (v vector) key() uint64 {
	var k uint64
	for i, l := range v {
		k |= uint64(l) << (4 * i)
	}
	return k
}

func vectorOf(k uint64) vector {
	var v vector
	for i := range v {
		v[i] = uint8(k >> (4 * i) & 0xf)
	}
	return v
}

// compare returns the agreement levels of a and b. Given and family
// names are also compared crosswise, for a source that swapped them, and
// the better reading is kept.
func compare(a, b *rec) vector {
	var v vector
	g, f := nameLevel(a.given, b.given, a.givenDM, b.givenDM, true), nameLevel(a.family, b.family, a.familyDM, b.familyDM, false)
	if g+f < 7 && a.given != "" && a.family != "" && b.given != "" && b.family != "" {
		sg, sf := nameLevel(a.given, b.family, a.givenDM, b.familyDM, false), nameLevel(a.family, b.given, a.familyDM, b.givenDM, false)
		if sg+sf > g+f+1 {
			g, f = sg, sf
		}
	}
	v[GivenName], v[FamilyName] = g, f
	v[BirthDate] = birthLevel(a.birth, b.birth)
	v[SexField] = equalLevel(a.sex, b.sex)
	v[PhoneField] = editLevel(a.phone, b.phone)
	v[AddressField] = addressLevel(a, b)
	v[StateField] = equalLevel(a.state, b.state)
	v[IdentifierField] = idLevel(a.ids, b.ids)
	return v
}

// nameLevel: 4 equal; 3 Jaro–Winkler at least 0.92, or (given names)
// nicknames of one name; 2 Jaro–Winkler at least 0.8 or a Double
// Metaphone code in common; 1 otherwise; 0 when either is missing.
func nameLevel(a, b string, da, db [2]string, given bool) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 4
	}
	jw := JaroWinkler(a, b)
	switch {
	case jw >= 0.92 || (given && sameByNickname(a, b)):
		return 3
	case jw >= 0.8 || da[0] == db[0] || da[0] == db[1] || da[1] == db[0]:
		return 2
	}
	return 1
}

// birthLevel: 4 equal; 3 one edit apart (a typo or two adjacent digits
// swapped) or day and month swapped; 2 two edits apart; 1 otherwise.
func birthLevel(a, b string) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 4
	case a[:4] == b[:4] && a[4:6] == b[6:8] && a[6:8] == b[4:6]:
		return 3
	}
	switch Damerau(a, b) {
	case 1:
		return 3
	case 2:
		return 2
	}
	return 1
}

func equalLevel(a, b string) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 2
	}
	return 1
}

// editLevel: 3 equal; 2 one edit apart (Damerau); 1 otherwise.
func editLevel(a, b string) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 3
	case Damerau(a, b) == 1:
		return 2
	}
	return 1
}

// jwLevel: 3 equal; 2 Jaro–Winkler at least close; 1 otherwise.
func jwLevel(a, b string, close float64) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 3
	case JaroWinkler(a, b) >= close:
		return 2
	}
	return 1
}

// addressLevel compares the parts of an address together, since a person
// who moves changes them all at once: 4 every part (at least three)
// agrees; 3 all but one agree; 2 the postcode or city agrees; 1 none
// does; 0 no part is known on both sides. Street number agrees when
// equal, street and city when Jaro–Winkler gives at least 0.9, postcode
// when one edit apart or less.
func addressLevel(a, b *rec) uint8 {
	known, agree := 0, 0
	part := func(l uint8, close uint8) bool {
		if l > 0 {
			known++
		}
		if l >= close {
			agree++
			return true
		}
		return false
	}
	part(equalLevel(a.streetNo, b.streetNo), 2)
	part(jwLevel(a.street, b.street, 0.9), 2)
	city := part(jwLevel(a.city, b.city, 0.9), 2)
	postcode := part(editLevel(a.postcode, b.postcode), 2)
	switch {
	case known == 0:
		return 0
	case agree == known && known >= 3:
		return 4
	case agree >= 2 && agree >= known-1:
		return 3
	case city || postcode:
		return 2
	}
	return 1
}

// idLevel compares the identifiers of kinds both have, and keeps the best.
func idLevel(a, b map[string]string) uint8 {
	var best uint8
	for k, x := range a {
		y, ok := b[k]
		if !ok {
			continue
		}
		l := uint8(1)
		if x == y {
			l = 3
		} else if len(x) >= 5 && Damerau(x, y) == 1 {
			l = 2
		}
		best = max(best, l)
	}
	return best
}
