package synth

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// editDistance is the Damerau–Levenshtein distance (optimal string
// alignment) of a and b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// With one corruption kind asked for, every copy differs from its
// original in that way and no other.
func TestEachCorruptionKind(t *testing.T) {
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			copies := 0
			for _, p := range generateAll(t, 11, 200, Options{Duplicates: 1, Corruption: k}) {
				if p.Copy == nil {
					if k.applies(p.Record.Person) {
						t.Fatalf("patient %d has no copy though %s applies", p.Index, k)
					}
					continue
				}
				copies++
				if !slices.Equal(p.Corruptions, []Kind{k}) {
					t.Fatalf("patient %d: corruptions %v", p.Index, p.Corruptions)
				}
				a, b := p.Record.Person, p.Copy.Person
				checkKind(t, k, a, b)
				if p.Record.MRN == p.Copy.MRN || p.Record.Hospital == p.Copy.Hospital {
					t.Fatalf("patient %d: the copy has the same hospital or MRN", p.Index)
				}
			}
			if copies < 100 {
				t.Fatalf("only %d copies of 200 patients", copies)
			}
		})
	}
}

func checkKind(t *testing.T, k Kind, a, b Person) {
	t.Helper()
	same := func(fields ...string) {
		t.Helper()
		for _, f := range fields {
			var x, y any
			switch f {
			case "name":
				x, y = a.Given+"|"+a.Family, b.Given+"|"+b.Family
			case "birth":
				x, y = a.Birth, b.Birth
			case "address":
				x, y = a.Line()+a.Unit+a.City+a.State+a.Postcode, b.Line()+b.Unit+b.City+b.State+b.Postcode
			case "phone":
				x, y = a.Phone, b.Phone
			}
			if x != y {
				t.Fatalf("%s changed %s: %v → %v", k, f, x, y)
			}
		}
	}
	switch k {
	case Typo:
		same("birth", "address", "phone")
		dg, df := editDistance(a.Given, b.Given), editDistance(a.Family, b.Family)
		if dg+df != 1 {
			t.Fatalf("typo: %s %s → %s %s", a.Given, a.Family, b.Given, b.Family)
		}
	case Nickname:
		same("birth", "address", "phone")
		if b.Family != a.Family || !slices.Contains(nicknamesOf(a.Given), b.Given) {
			t.Fatalf("nickname: %s → %s", a.Given, b.Given)
		}
	case Swap:
		same("birth", "address", "phone")
		if b.Given != a.Family || b.Family != a.Given {
			t.Fatalf("swap: %s %s → %s %s", a.Given, a.Family, b.Given, b.Family)
		}
	case Date:
		same("name", "address", "phone")
		if b.Birth.Equal(a.Birth) || b.Birth.IsZero() || b.Birth.After(time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("date: %v → %v", a.Birth, b.Birth)
		}
	case Address:
		same("name", "birth", "phone")
		if b.Line() == a.Line() {
			t.Fatalf("address: %s → %s", a.Line(), b.Line())
		}
	case Phone:
		same("name", "birth", "address")
		if b.Phone == a.Phone || len(b.PhoneDigits()) != 10 {
			t.Fatalf("phone: %s → %s", a.Phone, b.Phone)
		}
	case Missing:
		same("name")
		empty := 0
		for _, e := range []bool{b.Phone == "" && a.Phone != "", b.Line() == "", b.Postcode == "", b.Birth.IsZero()} {
			if e {
				empty++
			}
		}
		if empty < 1 || empty > 2 {
			t.Fatalf("missing: %d fields emptied: %+v", empty, b)
		}
	}
}

// Without a kind asked for, copies carry one to three kinds, each of
// which shows.
func TestMixedCorruptions(t *testing.T) {
	seen := map[Kind]int{}
	sizes := map[int]int{}
	for _, p := range generateAll(t, 12, 400, Options{Duplicates: 0.5}) {
		if p.Copy == nil {
			continue
		}
		sizes[len(p.Corruptions)]++
		for _, k := range p.Corruptions {
			seen[k]++
		}
		if p.Copy.Person == p.Record.Person {
			t.Fatalf("patient %d: the copy is not corrupted", p.Index)
		}
	}
	for _, k := range Kinds {
		if seen[k] == 0 {
			t.Errorf("no copy with %s", k)
		}
	}
	if sizes[1] == 0 || sizes[2] == 0 || sizes[3] == 0 || sizes[0] != 0 || len(sizes) != 3 {
		t.Errorf("copies by number of corruptions: %v", sizes)
	}
	total := sizes[1] + sizes[2] + sizes[3]
	if total < 160 || total > 240 {
		t.Errorf("%d copies of 400 patients at a share of 0.5", total)
	}
}

func TestTranspose(t *testing.T) {
	until := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	d := func(s string) time.Time { x, _ := time.Parse(time.DateOnly, s); return x }
	for _, c := range []struct{ in, want string }{
		{"1980-11-03", "1980-03-11"}, // day and month
		{"1980-06-21", "1980-06-12"}, // the day's digits
		{"1967-04-30", "1967-04-03"},
		{"1967-08-25", "1976-08-25"}, // the year's digits
		{"2009-08-25", "2009-08-24"}, // 2090 is in the future: the day moves
		{"1977-07-07", "1977-07-06"},
	} {
		if got := transpose(d(c.in), until).Format(time.DateOnly); got != c.want {
			t.Errorf("transpose(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestTypo(t *testing.T) {
	r := rng(1, 1, 1)
	for _, s := range []string{"Smith", "Li", "Josephine", "Okafor"} {
		for range 200 {
			got := typo(r, s)
			if editDistance(s, got) != 1 || got[0] != s[0] || strings.ToLower(got) == strings.ToLower(s) {
				t.Fatalf("typo(%q) = %q", s, got)
			}
		}
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, o := range []Options{
		{Duplicates: 1.5}, {Duplicates: -0.1}, {Corruption: "smudge"}, {Years: 40},
		{Hospital: "General Hospital", DupHospital: "general hospital"}, {Hospital: "  "},
	} {
		if _, err := Generate(1, 1, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
