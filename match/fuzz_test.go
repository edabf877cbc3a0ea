package match

import (
	"strings"
	"testing"
)

// ReadFEBRL reads files from outside: whatever it is given, it returns
// people or an error, and every person it returns can be scored.
func FuzzReadFEBRL(f *testing.F) {
	head := "rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id\n"
	f.Add(head + "rec-1-org, zoë, o'brien, 12a, smith st, , st kilda, 3182, vic, 19850312, 5304218\n")
	f.Add(head + "rec-1-dup-0, , , , , , , , , 1985, \n")
	f.Add("rec_id\n\"unterminated\n")
	f.Fuzz(func(t *testing.T, in string) {
		people, err := ReadFEBRL(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, p := range people {
			compare(prepare(p), prepare(people[0]))
			Normalized(p)
			_ = p.Validate()
		}
	})
}
