package synth

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Kind is a way the second hospital's copy of a person differs from the
// first's.
type Kind string

const (
	Typo     Kind = "typo"     // one edit (insert, delete, replace, swap neighbours) in the given or family name
	Nickname Kind = "nickname" // the given name as a nickname: William → Bill
	Swap     Kind = "swap"     // given and family names swapped
	Date     Kind = "date"     // day and month of birth transposed (or, where they cannot be, two digits of the year)
	Address  Kind = "address"  // moved: another street, often another city
	Phone    Kind = "phone"    // another phone number
	Missing  Kind = "missing"  // one or two of phone, address, postcode and birth date left empty
)

// Kinds lists every corruption, in the order of the truth file.
var Kinds = []Kind{Typo, Nickname, Swap, Date, Address, Phone, Missing}

// KindNames lists the names of the corruptions.
func KindNames() []string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return s
}

func (k Kind) valid() bool { return slices.Contains(Kinds, k) }

// applies reports whether k can change p.
func (k Kind) applies(p Person) bool {
	switch k {
	case Nickname:
		return len(nicknamesOf(p.Given)) > 0
	case Date:
		return !p.Birth.IsZero()
	case Swap:
		return p.Given != p.Family
	}
	return true
}

// pickKinds chooses one to three corruptions that apply to p: one for
// most copies, two for some, three for a few.
func pickKinds(r *rand.Rand, p Person) []Kind {
	n := 1
	switch x := r.IntN(10); {
	case x >= 9:
		n = 3
	case x >= 6:
		n = 2
	}
	var kinds []Kind
	for _, i := range r.Perm(len(Kinds)) {
		if len(kinds) == n {
			break
		}
		if Kinds[i].applies(p) {
			kinds = append(kinds, Kinds[i])
		}
	}
	slices.SortFunc(kinds, func(a, b Kind) int { return slices.Index(Kinds, a) - slices.Index(Kinds, b) })
	return kinds
}

// corrupt returns the copy of p with kinds applied, and the kinds that
// did apply (in the order of Kinds).
func corrupt(r *rand.Rand, p Person, kinds []Kind, until time.Time) (Person, []Kind) {
	q := p
	var applied []Kind
	for _, k := range Kinds {
		if !slices.Contains(kinds, k) || !k.applies(q) {
			continue
		}
		before := q
		switch k {
		case Typo:
			if r.IntN(2) == 0 {
				q.Given = typo(r, q.Given)
			} else {
				q.Family = typo(r, q.Family)
			}
		case Nickname:
			nn := nicknamesOf(q.Given)
			q.Given = nn[r.IntN(len(nn))]
		case Swap:
			q.Given, q.Family = q.Family, q.Given
		case Date:
			q.Birth = transpose(q.Birth, until)
		case Address:
			for q.Line() == p.Line() {
				q.StreetNumber, q.Street, q.Unit = newStreet(r)
			}
			if r.IntN(2) == 0 {
				c := cities[r.IntN(len(cities))]
				q.City, q.State, q.Postcode = c.name, c.state, c.postcode
			}
		case Phone:
			area := q.PhoneDigits()
			if len(area) >= 3 {
				area = area[:3]
			} else {
				area = "617"
			}
			for q.Phone == p.Phone || q.Phone == before.Phone {
				q.Phone = newPhone(r, area)
			}
		case Missing:
			// Not a field another corruption changed: that one would no
			// longer show.
			var fields []func(*Person)
			if q.Phone == p.Phone {
				fields = append(fields, func(p *Person) { p.Phone = "" })
			}
			if q.Line() == p.Line() {
				fields = append(fields, func(p *Person) { p.StreetNumber, p.Street, p.Unit = "", "", "" })
			}
			if q.Postcode == p.Postcode {
				fields = append(fields, func(p *Person) { p.Postcode = "" })
			}
			if q.Birth.Equal(p.Birth) {
				fields = append(fields, func(p *Person) { p.Birth = time.Time{} })
			}
			perm := r.Perm(len(fields))
			for _, i := range perm[:min(len(perm), 1+r.IntN(2))] {
				fields[i](&q)
			}
		}
		if q != before {
			applied = append(applied, k)
		}
	}
	return q, applied
}

// typo makes one edit in s: a letter left out, added, replaced, or two
// neighbours swapped. The first letter is kept.
func typo(r *rand.Rand, s string) string {
	b := []byte(s)
	if len(b) < 3 {
		return s + string(rune('a'+r.IntN(26)))
	}
	letter := func() byte { return byte('a' + r.IntN(26)) }
	i := 1 + r.IntN(len(b)-1)
	for {
		switch r.IntN(4) {
		case 0: // delete
			out := append(append([]byte{}, b[:i]...), b[i+1:]...)
			return string(out)
		case 1: // insert
			out := append(append(append([]byte{}, b[:i]...), letter()), b[i:]...)
			return string(out)
		case 2: // replace
			c := letter()
			if c == b[i] || c == b[i]|0x20 {
				continue
			}
			out := append([]byte{}, b...)
			out[i] = c
			return string(out)
		case 3: // swap with the neighbour before
			if i < 2 || b[i] == b[i-1] {
				continue
			}
			out := append([]byte{}, b...)
			out[i], out[i-1] = out[i-1], out[i]
			return string(out)
		}
	}
}

// transpose swaps the day and the month of a date when both could be
// months and differ (3 November → 11 March); otherwise the day's two
// digits (13 → 31, 21 → 12), or else the last two digits of the year
// (1967 → 1976) if that is not after until, or else it moves the day by
// one.
func transpose(t, until time.Time) time.Time {
	d, m, y := t.Day(), int(t.Month()), t.Year()
	valid := func(y, m, d int) bool {
		return d >= 1 && time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() == d
	}
	at := func(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }
	if d <= 12 && d != m {
		return at(y, d, m)
	}
	if dd := d%10*10 + d/10; dd != d && valid(y, m, dd) {
		return at(y, m, dd)
	}
	if tens, ones := y/10%10, y%10; tens != ones && y-tens*10-ones+ones*10+tens <= until.Year() {
		return at(y-tens*10-ones+ones*10+tens, m, d)
	}
	if d > 1 {
		return t.AddDate(0, 0, -1)
	}
	return t.AddDate(0, 0, 1)
}
