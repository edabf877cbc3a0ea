package search

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Strings are matched case- and accent-insensitively: both sides are
// folded to lower case with the accents of Latin letters removed.

// latin maps U+00C0..U+017F to its letter without accent; '.' keeps the rune.
const latin = "AAAAAAACEEEEIIIIDNOOOOO.OUUUUY.." + "aaaaaaaceeeeiiiidnooooo.ouuuuy.y" +
	"AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnnNnOoOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs"

// fold returns s in lower case without accents. It does not allocate when s
// is already folded.
func fold(s string) string {
	folded := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			folded = false
			break
		}
	}
	if folded {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r >= 0xC0 && r <= 0x17F {
			if c := latin[r-0xC0]; c != '.' {
				r = rune(c)
			}
		} else if r >= 0x300 && r <= 0x36F {
			continue // combining diacritical marks
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

func init() {
	if len(latin) != 0x180-0xC0 || utf8.RuneCountInString(latin) != len(latin) {
		panic("search: the accent table is wrong")
	}
}
