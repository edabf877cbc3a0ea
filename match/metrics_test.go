package match

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ptoy/internal/npmdeps"
)

// Winkler's published values (W. E. Winkler, "String comparator metrics
// and enhanced decision rules in the Fellegi–Sunter model of record
// linkage", 1990, table 1; the same pairs as Wikipedia's
// Jaro–Winkler article).
func TestJaroWinklerPublished(t *testing.T) {
	for _, c := range []struct {
		a, b    string
		jaro, w float64
	}{
		{"MARTHA", "MARHTA", 0.9444, 0.9611},
		{"DWAYNE", "DUANE", 0.8222, 0.8400},
		{"DIXON", "DICKSONX", 0.7667, 0.8133},
		{"JELLYFISH", "SMELLYFISH", 0.8963, 0.8963},
	} {
		if got := Jaro(c.a, c.b); math.Abs(got-c.jaro) > 0.00005 {
			t.Errorf("Jaro(%s, %s) = %.4f, want %.4f", c.a, c.b, got, c.jaro)
		}
		if got := JaroWinkler(c.a, c.b); math.Abs(got-c.w) > 0.00005 {
			t.Errorf("JaroWinkler(%s, %s) = %.4f, want %.4f", c.a, c.b, got, c.w)
		}
		if got := JaroWinkler(c.b, c.a); math.Abs(got-c.w) > 0.00005 {
			t.Errorf("JaroWinkler(%s, %s) = %.4f, want %.4f (symmetric)", c.b, c.a, got, c.w)
		}
	}
	for _, c := range []struct {
		a, b string
		want float64
	}{{"", "", 1}, {"A", "", 0}, {"ABC", "XYZ", 0}, {"SAME", "SAME", 1}} {
		if got := JaroWinkler(c.a, c.b); got != c.want {
			t.Errorf("JaroWinkler(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// The examples of the US National Archives ("The Soundex Indexing
// System", https://www.archives.gov/research/census/soundex).
func TestSoundexNARA(t *testing.T) {
	for name, want := range map[string]string{
		"Schmidt":    "S530",
		"Tymczak":    "T522",
		"Pfister":    "P236",
		"Honeyman":   "H555",
		"Ashcraft":   "A261",
		"Gutierrez":  "G362",
		"Jackson":    "J250",
		"Lee":        "L000",
		"Washington": "W252",
		"Van Deusen": "V532",
		"O'Hara":     "O600",
		"":           "",
		"123":        "",
	} {
		if got := Soundex(name); got != want {
			t.Errorf("Soundex(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestEditDistances(t *testing.T) {
	for _, c := range []struct {
		a, b     string
		lev, osa int
	}{
		{"kitten", "sitting", 3, 3},
		{"", "abc", 3, 3},
		{"abc", "", 3, 3},
		{"same", "same", 0, 0},
		{"19850312", "19850321", 2, 1}, // day digits swapped
		{"ca", "abc", 3, 3},            // OSA edits no substring twice (unrestricted Damerau: 2)
		{"flaw", "lawn", 2, 2},
		{"5304218", "5304281", 2, 1},
	} {
		if got := Levenshtein(c.a, c.b); got != c.lev {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", c.a, c.b, got, c.lev)
		}
		if got := Damerau(c.a, c.b); got != c.osa {
			t.Errorf("Damerau(%q, %q) = %d, want %d", c.a, c.b, got, c.osa)
		}
	}
}

// Examples from Philips' article and the comments of his code.
func TestDoubleMetaphoneExamples(t *testing.T) {
	for word, want := range map[string][2]string{
		"Smith":      {"SM0", "XMT"},
		"Schmidt":    {"XMT", "SMT"},
		"Michael":    {"MKL", "MXL"},
		"Xavier":     {"SF", "SFR"},
		"Jose":       {"HS", "HS"},
		"Caesar":     {"SSR", "SSR"},
		"Gallegos":   {"KLKS", "KKS"},
		"Cabrillo":   {"KPRL", "KPR"},
		"Knight":     {"NT", "NT"},
		"Arnow":      {"ARN", "ARNF"},
		"Zhao":       {"J", "J"},
		"Breaux":     {"PR", "PR"},
		"Dumb":       {"TM", "TM"},
		"Filipowicz": {"FLPTS", "FLPFX"},
	} {
		p, s := DoubleMetaphone(word)
		if p != want[0] || s != want[1] {
			t.Errorf("DoubleMetaphone(%q) = %q, %q; want %q, %q", word, p, s, want[0], want[1])
		}
	}
}

// TestDoubleMetaphoneReference compares every word of
// testdata/metaphone-words.txt (the names and places of the FEBRL data
// sets and the examples of Philips' code) with the codes of npm
// double-metaphone 2.0.1 (MIT), run under node.
func TestDoubleMetaphoneReference(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed: install Node.js (Debian: apt-get install nodejs)")
	}
	f, err := os.Open(filepath.Join("testdata", "metaphone-words.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var words []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			words = append(words, w)
		}
	}
	mod := filepath.Join(npmdeps.Package(t, "double-metaphone"), "index.js")
	script := `import {doubleMetaphone} from ` + jsString("file://"+mod) + `;
import {readFileSync} from 'node:fs';
const words = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(words.map(w => doubleMetaphone(w))));`
	cmd := exec.Command("node", "--input-type=module", "-e", script)
	in, _ := json.Marshal(words)
	cmd.Stdin = strings.NewReader(string(in))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var want [][2]string
	if err := json.Unmarshal(out, &want); err != nil || len(want) != len(words) {
		t.Fatalf("node answered %d codes for %d words: %v", len(want), len(words), err)
	}
	bad := 0
	for i, w := range words {
		p, s := DoubleMetaphone(w)
		if p != want[i][0] || s != want[i][1] {
			bad++
			if bad <= 30 {
				t.Errorf("DoubleMetaphone(%q) = %q, %q; double-metaphone 2.0.1 gives %q, %q", w, p, s, want[i][0], want[i][1])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d words differ", bad, len(words))
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
