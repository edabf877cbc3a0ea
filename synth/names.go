package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// given is a first name and the nicknames another hospital may have filed
// it under.
type given struct {
	name      string
	nicknames []string
}

var givenFemale = []given{
	{"Mary", []string{"Molly", "Polly"}}, {"Patricia", []string{"Pat", "Patty", "Trish"}},
	{"Jennifer", []string{"Jen", "Jenny"}}, {"Linda", []string{"Lindy"}}, {"Elizabeth", []string{"Liz", "Beth", "Betty"}},
	{"Barbara", []string{"Barb", "Babs"}}, {"Susan", []string{"Sue", "Susie"}}, {"Jessica", []string{"Jess", "Jessie"}},
	{"Sarah", []string{"Sally"}}, {"Karen", nil}, {"Margaret", []string{"Peggy", "Maggie", "Meg"}},
	{"Dorothy", []string{"Dot", "Dottie"}}, {"Nancy", nil}, {"Deborah", []string{"Debbie", "Deb"}},
	{"Rebecca", []string{"Becky", "Becca"}}, {"Katherine", []string{"Kate", "Kathy", "Katie"}},
	{"Christine", []string{"Chris", "Chrissy"}}, {"Victoria", []string{"Vicky", "Tori"}},
	{"Kimberly", []string{"Kim"}}, {"Samantha", []string{"Sam", "Sammy"}}, {"Abigail", []string{"Abby"}},
	{"Alexandra", []string{"Alex", "Sandra"}}, {"Cynthia", []string{"Cindy"}}, {"Pamela", []string{"Pam"}},
	{"Jacqueline", []string{"Jackie"}}, {"Emily", []string{"Em"}}, {"Theresa", []string{"Tess", "Terri"}},
	{"Maria", nil}, {"Ana", nil}, {"Aisha", nil}, {"Mei", nil}, {"Priya", nil}, {"Olivia", []string{"Liv"}},
	{"Josephine", []string{"Jo", "Josie"}}, {"Eleanor", []string{"Ellie", "Nora"}}, {"Frances", []string{"Fran", "Frankie"}},
}

var givenMale = []given{
	{"James", []string{"Jim", "Jimmy"}}, {"Robert", []string{"Bob", "Rob", "Bobby"}}, {"John", []string{"Jack", "Johnny"}},
	{"Michael", []string{"Mike", "Mikey"}}, {"William", []string{"Bill", "Will", "Billy"}}, {"David", []string{"Dave"}},
	{"Richard", []string{"Rick", "Dick", "Rich"}}, {"Joseph", []string{"Joe", "Joey"}}, {"Thomas", []string{"Tom", "Tommy"}},
	{"Charles", []string{"Charlie", "Chuck"}}, {"Christopher", []string{"Chris"}}, {"Daniel", []string{"Dan", "Danny"}},
	{"Matthew", []string{"Matt"}}, {"Anthony", []string{"Tony"}}, {"Steven", []string{"Steve"}},
	{"Andrew", []string{"Andy", "Drew"}}, {"Joshua", []string{"Josh"}}, {"Kenneth", []string{"Ken", "Kenny"}},
	{"Edward", []string{"Ed", "Ted", "Eddie"}}, {"Benjamin", []string{"Ben", "Benny"}}, {"Samuel", []string{"Sam"}},
	{"Nicholas", []string{"Nick"}}, {"Jonathan", []string{"Jon"}}, {"Timothy", []string{"Tim"}},
	{"Patrick", []string{"Pat", "Paddy"}}, {"Alexander", []string{"Alex", "Sasha"}}, {"Gregory", []string{"Greg"}},
	{"Lawrence", []string{"Larry"}}, {"Raymond", []string{"Ray"}}, {"Francis", []string{"Frank"}},
	{"Carlos", nil}, {"Jose", nil}, {"Wei", nil}, {"Arjun", nil}, {"Omar", nil}, {"Kwame", nil},
}

var surnames = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
	"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
	"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
	"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
	"Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
	"Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
	"Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
	"Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
	"Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
	"Okafor", "Osei", "Novak", "Kowalski", "Schmidt", "Fischer", "Murray", "Sullivan", "Chen", "Wang",
}

var streetNames = []string{
	"Maple", "Oak", "Pine", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Main",
	"Church", "Highland", "Spring", "Chestnut", "Walnut", "Franklin", "Jefferson", "Lincoln", "Madison", "Union",
	"River", "Sunset", "Willow", "Meadow", "Prospect", "Forest", "Ridge", "Cherry", "Mill", "School",
	"Summit", "Pleasant", "Lakeview", "Harbor", "Orchard", "Birch", "Dogwood", "Hickory", "Adams", "Grant",
}

var streetTypes = []string{"Street", "Avenue", "Road", "Lane", "Drive", "Court", "Place", "Way", "Terrace", "Boulevard"}

// city is a real city with its state, a postal code of it and its area
// code.
type city struct{ name, state, postcode, area string }

var cities = []city{
	{"Boston", "MA", "02108", "617"}, {"Cambridge", "MA", "02139", "617"}, {"Worcester", "MA", "01608", "508"},
	{"Springfield", "MA", "01103", "413"}, {"Lowell", "MA", "01852", "978"}, {"Providence", "RI", "02903", "401"},
	{"Hartford", "CT", "06103", "860"}, {"New Haven", "CT", "06510", "203"}, {"Albany", "NY", "12207", "518"},
	{"Buffalo", "NY", "14202", "716"}, {"Rochester", "NY", "14604", "585"}, {"Syracuse", "NY", "13202", "315"},
	{"Newark", "NJ", "07102", "973"}, {"Philadelphia", "PA", "19107", "215"}, {"Pittsburgh", "PA", "15222", "412"},
	{"Baltimore", "MD", "21202", "410"}, {"Richmond", "VA", "23219", "804"}, {"Columbus", "OH", "43215", "614"},
	{"Cleveland", "OH", "44113", "216"}, {"Detroit", "MI", "48226", "313"}, {"Chicago", "IL", "60601", "312"},
	{"Milwaukee", "WI", "53202", "414"}, {"Minneapolis", "MN", "55401", "612"}, {"St. Louis", "MO", "63101", "314"},
	{"Denver", "CO", "80202", "303"}, {"Austin", "TX", "78701", "512"}, {"Houston", "TX", "77002", "713"},
	{"Phoenix", "AZ", "85004", "602"}, {"Seattle", "WA", "98101", "206"}, {"Portland", "OR", "97204", "503"},
}

// Person is the demographics a hospital holds of a patient.
type Person struct {
	Given, Family string
	Sex           string // "female" or "male"
	Birth         time.Time
	Phone         string // (617) 555-0123: the 555 exchange, as in fiction
	StreetNumber  string
	Street        string // "Maple Street"
	Unit          string // "Apt 4", or ""
	City, State   string
	Postcode      string
}

// Line is the first line of the address: "12 Maple Street".
func (p Person) Line() string {
	return strings.TrimSpace(p.StreetNumber + " " + p.Street)
}

// newPerson draws a person born between from and to.
func newPerson(r *rand.Rand, from, to time.Time) Person {
	p := Person{Sex: "female"}
	names := givenFemale
	if r.IntN(2) == 0 {
		p.Sex, names = "male", givenMale
	}
	p.Given = names[r.IntN(len(names))].name
	p.Family = surnames[r.IntN(len(surnames))]
	days := int(to.Sub(from).Hours() / 24)
	p.Birth = from.AddDate(0, 0, r.IntN(days))
	c := cities[r.IntN(len(cities))]
	p.City, p.State, p.Postcode = c.name, c.state, c.postcode
	p.Phone = newPhone(r, c.area)
	p.StreetNumber, p.Street, p.Unit = newStreet(r)
	return p
}

func newPhone(r *rand.Rand, area string) string {
	return fmt.Sprintf("(%s) 555-%04d", area, r.IntN(10000))
}

func newStreet(r *rand.Rand) (number, street, unit string) {
	number = fmt.Sprint(1 + r.IntN(1999))
	street = streetNames[r.IntN(len(streetNames))] + " " + streetTypes[r.IntN(len(streetTypes))]
	if r.IntN(5) == 0 {
		unit = fmt.Sprintf("Apt %d", 1+r.IntN(40))
	}
	return
}

// nicknamesOf returns the nicknames of a given name, or nil.
func nicknamesOf(name string) []string {
	for _, l := range [][]given{givenFemale, givenMale} {
		for _, g := range l {
			if g.name == name {
				return g.nicknames
			}
		}
	}
	return nil
}

// PhoneDigits is the phone's ten digits: "6175550123".
func (p Person) PhoneDigits() string {
	var b strings.Builder
	for _, c := range p.Phone {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}
