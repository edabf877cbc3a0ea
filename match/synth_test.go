package match

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// A simple seeded generator of people and of their duplicates as
// another source would have them, for tests and benchmarks.

var (
	synthGiven = strings.Fields(`james john robert michael william david richard joseph thomas charles
		christopher daniel matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george
		timothy ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott
		brandon benjamin samuel gregory alexander patrick frank raymond jack dennis jerry tyler aaron jose
		mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret
		sandra ashley kimberley emily donna michelle carol amanda dorothy melissa deborah stephanie rebecca
		sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen samantha
		katherine christine debra rachel carolyn janet catherine maria heather diane ruth julie olivia joyce
		virginia victoria kelly lauren christina joan evelyn judith megan andrea cheryl hannah jacqueline`)
	synthFamilyA = strings.Fields(`smi john wil brow jon gar mil dav rod mart hern lop gonz wils and thom
		tayl moor jack mart lee per whit harr san clark ram lew rob walk young all king wright scott tor
		ngu hill flor green ad nel bak hall riv camp mitch cart rob gom phil ev turn diaz par cruz edw col
		reyes stew mor kell mur coop rich cox how ward tor peter gray ram jam wat brook kel sand price benn
		wood barn ross hend cole jenk perr pow long patt hug flor wash butl simm fost gonz bry alex russ
		griff hay myer ford ham grah sull wall wood cole west jord owen reyn fish ell harr gib mcd crue`)
	synthFamilyB = strings.Fields(`son ton er ley ford well man ham ings ell wood by s en ard ins ett
		worth more field ridge stone ock ick ers`)
	synthStreets = strings.Fields(`main high church park station victoria george king queen elizabeth
		albert william railway bridge mill river hill forest lake ocean beach garden spring market school
		chapel castle cedar maple oak pine elm willow ash birch laurel`)
	synthKinds = strings.Fields(`street road avenue drive place crescent court lane parade terrace`)
	synthTowns = strings.Fields(`ashfield burwood camden dapto epping forbes gosford hornsby ingleburn
		jindabyne kiama lismore mudgee nowra orange parkes queanbeyan richmond singleton tamworth ulladulla
		wagga yass albury bathurst cessnock dubbo eden gunnedah inverell junee katoomba leeton moree narooma`)
	synthStates = []string{"nsw", "vic", "qld", "sa", "wa", "tas"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// synthPerson returns a made-up person with every field.
func synthPerson(r *rand.Rand, id string) Person {
	sex := "F"
	if r.IntN(2) == 0 {
		sex = "M"
	}
	return Person{
		ID:       id,
		Given:    pick(r, synthGiven),
		Family:   pick(r, synthFamilyA) + pick(r, synthFamilyB),
		Sex:      sex,
		Birth:    fmt.Sprintf("%04d%02d%02d", 1925+r.IntN(95), 1+r.IntN(12), 1+r.IntN(28)),
		Phone:    fmt.Sprintf("04%08d", r.IntN(1e8)),
		Street:   fmt.Sprintf("%d %s %s", 1+r.IntN(300), pick(r, synthStreets), pick(r, synthKinds)),
		City:     pick(r, synthTowns),
		Postcode: fmt.Sprintf("%04d", 2000+r.IntN(3000)),
		State:    pick(r, synthStates),
		Identifiers: map[string]string{
			"medicare": fmt.Sprintf("%010d", r.IntN(1e10)),
		},
	}
}

// synthPeople returns n made-up people with ids p0, p1, ….
func synthPeople(r *rand.Rand, n int) []Person {
	out := make([]Person, n)
	for i := range out {
		out[i] = synthPerson(r, fmt.Sprintf("p%d", i))
	}
	return out
}

// typo changes one letter of s: drops, doubles, swaps or replaces it.
func typo(r *rand.Rand, s string) string {
	if len(s) < 3 {
		return s
	}
	i := 1 + r.IntN(len(s)-2)
	switch r.IntN(4) {
	case 0:
		return s[:i] + s[i+1:]
	case 1:
		return s[:i] + s[i:i+1] + s[i:]
	case 2:
		return s[:i] + s[i+1:i+2] + s[i:i+1] + s[i+2:]
	}
	return s[:i] + string(rune('a'+r.IntN(26))) + s[i+1:]
}

// synthDuplicate returns p as another source might hold it: with up to
// two of the usual faults, each field otherwise as p has it.
func synthDuplicate(r *rand.Rand, p Person, id string) Person {
	d := p
	d.ID = id
	d.Identifiers = nil
	if r.IntN(3) == 0 { // a source with no identifier
		d.Identifiers = p.Identifiers
	}
	for range 1 + r.IntN(2) {
		switch r.IntN(9) {
		case 0:
			d.Given = typo(r, d.Given)
		case 1:
			d.Family = typo(r, d.Family)
		case 2:
			if full := nicknameOf(d.Given); full != "" {
				d.Given = full
			}
		case 3:
			d.Given, d.Family = d.Family, d.Given
		case 4:
			d.Birth = d.Birth[:4] + d.Birth[6:8] + d.Birth[4:6] // day and month swapped
		case 5:
			d.Street = fmt.Sprintf("%d %s %s", 1+r.IntN(300), pick(r, synthStreets), pick(r, synthKinds))
			d.City = pick(r, synthTowns)
			d.Postcode = fmt.Sprintf("%04d", 2000+r.IntN(3000))
		case 6:
			d.Phone = fmt.Sprintf("+61 4%08d", r.IntN(1e8))
		case 7:
			d.Phone, d.Sex = "", ""
		case 8:
			i := r.IntN(8)
			d.Birth = d.Birth[:i] + string(rune('0'+r.IntN(10))) + d.Birth[i+1:]
		}
	}
	// Written as that source writes: upper case, international phone.
	d.Family = strings.ToUpper(d.Family)
	if strings.HasPrefix(d.Phone, "0") {
		d.Phone = "+61 " + d.Phone[1:]
	}
	return d
}

// nicknameOf returns a short form of a full given name, if it has one.
func nicknameOf(given string) string {
	for _, line := range strings.Split(nicknameTable, "\n") {
		if full, rest, ok := strings.Cut(line, ":"); ok && full == given {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}
