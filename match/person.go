package match

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"ptoy"
)

// Person is what one source knows of a person. Every field may be empty.
type Person struct {
	ID       string // the source's own id for the person; not compared
	Given    string // given names
	Family   string // family name
	Sex      string // "F", "M" (any case, or female, male); other values compare as given
	Birth    string // date of birth, YYYYMMDD or YYYY-MM-DD
	Phone    string // any punctuation, with or without a country code
	Street   string // street number and street, "12 Pinkerton Circuit"
	City     string // suburb, town or city
	Postcode string
	State    string
	// Identifiers are numbers the person chooses to give, by kind
	// ("medicare", "ssn", "mrn"): two people share one only when both
	// have the same kind.
	Identifiers map[string]string
}

// Validate reports a field that cannot be what it says: a date of birth
// that is not a date, or a phone number without enough digits.
func (p Person) Validate() error {
	const op = "match.Person"
	if p.Birth != "" {
		d := digits(p.Birth)
		if len(d) != 8 || !validDate(d) {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("date of birth %q is not a date (YYYY-MM-DD)", p.Birth))
		}
	}
	if p.Phone != "" && len(digits(p.Phone)) < 6 {
		return ptoy.E(op, ptoy.Invalid, "the phone number has too few digits")
	}
	for k := range p.Identifiers {
		if strings.TrimSpace(k) == "" {
			return ptoy.E(op, ptoy.Invalid, "an identifier has no kind")
		}
	}
	return nil
}

func validDate(d string) bool {
	y := atoi(d[0:4])
	mo := atoi(d[4:6])
	day := atoi(d[6:8])
	if y < 1800 || mo < 1 || mo > 12 || day < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[mo-1]
	if mo == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return day <= days
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// rec is a Person normalised for comparison, with its phonetic codes.
type rec struct {
	given, family       string // lower-case ASCII letters and single spaces
	givenDM, familyDM   [2]string
	givenSdx, familySdx string
	sex                 string
	birth               string // 8 digits or ""
	phone               string // last 9 digits or ""
	streetNo, street    string
	city, postcode      string
	state               string
	ids                 map[string]string
}

// Normalized returns p as it is compared: names in lower case without
// accents, punctuation or titles; sex F or M; birth as YYYYMMDD; the
// phone's last nine digits (dropping any country code and trunk zero);
// the street number split from the street, whose last word is spelled
// out (st: street); city in lower case; postcode without spaces; state
// abbreviated (new south wales: nsw); identifier kinds in lower case and
// values in upper case without spaces or punctuation.
func Normalized(p Person) Person {
	r := prepare(p)
	q := Person{ID: p.ID, Given: r.given, Family: r.family, Sex: r.sex, Birth: r.birth, Phone: r.phone,
		Street: strings.TrimSpace(r.streetNo + " " + r.street), City: r.city, Postcode: r.postcode, State: r.state}
	if len(r.ids) > 0 {
		q.Identifiers = r.ids
	}
	return q
}

func prepare(p Person) *rec {
	r := &rec{
		given:    normName(p.Given),
		family:   normName(p.Family),
		sex:      normSex(p.Sex),
		phone:    normPhone(p.Phone),
		city:     normWords(p.City),
		postcode: strings.ToUpper(alnum(p.Postcode)),
		state:    normState(p.State),
	}
	if d := digits(p.Birth); len(d) == 8 {
		r.birth = d
	}
	r.streetNo, r.street = normStreet(p.Street)
	r.givenDM = dm(r.given)
	r.familyDM = dm(r.family)
	r.givenSdx = Soundex(r.given)
	r.familySdx = Soundex(r.family)
	for k, v := range p.Identifiers {
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.ToUpper(alnum(v))
		if k == "" || v == "" {
			continue
		}
		if r.ids == nil {
			r.ids = map[string]string{}
		}
		r.ids[k] = v
	}
	return r
}

func dm(name string) [2]string {
	if name == "" {
		return [2]string{}
	}
	p, s := DoubleMetaphone(strings.ReplaceAll(name, " ", ""))
	return [2]string{p, s}
}

var titles = map[string]bool{"mr": true, "mrs": true, "ms": true, "miss": true, "dr": true, "prof": true, "sir": true, "jr": true, "sr": true, "ii": true, "iii": true}

// normName folds a name to lower-case ASCII letters separated by single
// spaces; apostrophes vanish (o'hara: ohara), other punctuation separates.
func normName(s string) string {
	w := strings.Fields(foldWords(s, true))
	out := w[:0]
	for _, x := range w {
		if !titles[x] {
			out = append(out, x)
		}
	}
	return strings.Join(out, " ")
}

func normWords(s string) string { return strings.Join(strings.Fields(foldWords(s, false)), " ") }

// foldWords lowers s, removes accents and apostrophes, and turns other
// characters that are not letters (and, unless lettersOnly, digits) into
// spaces.
func foldWords(s string, lettersOnly bool) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r >= '0' && r <= '9' && !lettersOnly:
			b.WriteRune(r)
		case r == '\'' || r == '’' || r == '`':
		case r >= 0xc0 && r < 0x180:
			if f, ok := accents[r]; ok {
				b.WriteString(f)
			} else {
				b.WriteByte(' ')
			}
		default:
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// accents folds the lower-case letters of Latin-1 and Latin Extended-A.
var accents = func() map[rune]string {
	m := map[rune]string{'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'đ': "d", 'ð': "d", 'þ': "th", 'ł': "l", 'ı': "i", 'ħ': "h", 'ŀ': "l", 'ŉ': "n", 'ĸ': "k", 'ĳ': "ij"}
	groups := map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "d": "ď", "e": "èéêëēĕėęě", "g": "ĝğġģ", "h": "ĥ",
		"i": "ìíîïĩīĭįı", "j": "ĵ", "k": "ķ", "l": "ĺļľ", "n": "ñńņňŋ", "o": "òóôõöōŏő",
		"r": "ŕŗř", "s": "śŝşš", "t": "ţťŧ", "u": "ùúûüũūŭůűų", "w": "ŵ", "y": "ýÿŷ", "z": "źżž",
	}
	for f, rs := range groups {
		for _, r := range rs {
			m[r] = f
		}
	}
	return m
}()

func normSex(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return ""
	case "f", "female", "w", "woman":
		return "F"
	case "m", "male", "man":
		return "M"
	case "u", "unknown":
		return ""
	}
	return strings.ToUpper(strings.TrimSpace(s))
}

// normPhone keeps the last nine digits: enough to tell numbers apart,
// and the same with or without a country code or trunk zero
// (+61 2 9555 0100 and 02 9555 0100).
func normPhone(s string) string {
	d := digits(s)
	if len(d) < 6 {
		return ""
	}
	if len(d) > 9 {
		d = d[len(d)-9:]
	}
	return d
}

var streetWords = map[string]string{
	"st": "street", "str": "street", "rd": "road", "ave": "avenue", "av": "avenue", "dr": "drive", "drv": "drive",
	"pl": "place", "cres": "crescent", "cr": "crescent", "ct": "court", "crt": "court", "cct": "circuit",
	"cir": "circuit", "ln": "lane", "hwy": "highway", "pde": "parade", "tce": "terrace", "ter": "terrace",
	"blvd": "boulevard", "cl": "close", "gr": "grove", "sq": "square", "esp": "esplanade", "wy": "way",
}

// normStreet splits "12a Smith St" into "12a" and "smith street".
func normStreet(s string) (number, street string) {
	w := strings.Fields(foldWords(s, false))
	for len(w) > 0 && w[0] != "" && w[0][0] >= '0' && w[0][0] <= '9' {
		if number == "" {
			number = w[0]
		}
		w = w[1:]
	}
	if len(w) > 1 {
		if full, ok := streetWords[w[len(w)-1]]; ok {
			w[len(w)-1] = full
		}
	}
	return number, strings.Join(w, " ")
}

var stateNames = map[string]string{
	"new south wales": "nsw", "victoria": "vic", "queensland": "qld", "south australia": "sa",
	"western australia": "wa", "tasmania": "tas", "northern territory": "nt",
	"australian capital territory": "act",
}

func normState(s string) string {
	w := normWords(s)
	if a, ok := stateNames[w]; ok {
		return a
	}
	return w
}

func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func alnum(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sortedPair returns a and b in order, joined by a space.
func sortedPair(a, b string) string {
	s := []string{a, b}
	sort.Strings(s)
	return s[0] + " " + s[1]
}
