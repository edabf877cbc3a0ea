package bench

import (
	"fmt"
	"slices"
)

// Spread is the median and range of one figure over several runs.
type Spread struct {
	Median, Min, Max float64
	N                int
}

// Summarize returns the spread of xs (zero if empty).
func Summarize(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// String is "median (min–max)", rounded to whole numbers.
func (s Spread) String() string { return s.Format(0) }

// Format is "median (min–max)" with prec decimals.
func (s Spread) Format(prec int) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return number(s.Median, prec)
	}
	return fmt.Sprintf("%s (%s–%s)", number(s.Median, prec), number(s.Min, prec), number(s.Max, prec))
}

// number formats x with prec decimals and thousands separated by commas.
func number(x float64, prec int) string {
	s := fmt.Sprintf("%.*f", prec, x)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	whole, frac := s, ""
	for i := range s {
		if s[i] == '.' {
			whole, frac = s[:i], s[i:]
			break
		}
	}
	var b []byte
	for i := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, whole[i])
	}
	if neg {
		return "-" + string(b) + frac
	}
	return string(b) + frac
}
