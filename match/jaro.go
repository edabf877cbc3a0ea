package match

// Jaro returns the Jaro similarity of a and b, from 0 (nothing in common)
// to 1 (equal), compared rune by rune: characters match when equal and no
// farther apart than half the longer length less one; the score is the
// mean of the matched share of a, of b, and of matches in the same order.
// (M. A. Jaro, "Advances in record-linkage methodology as applied to
// matching the 1985 census of Tampa, Florida", JASA 84, 1989.)
func Jaro(a, b string) float64 {
	return jaro([]rune(a), []rune(b))
}

func jaro(a, b []rune) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	window := max(len(a), len(b))/2 - 1
	if window < 0 {
		window = 0
	}
	var bufA, bufB [64]bool
	ma, mb := bufA[:0], bufB[:0]
	if len(a) <= 64 && len(b) <= 64 {
		ma, mb = bufA[:len(a)], bufB[:len(b)]
	} else {
		ma, mb = make([]bool, len(a)), make([]bool, len(b))
	}
	m := 0
	for i, r := range a {
		lo, hi := max(0, i-window), min(len(b)-1, i+window)
		for j := lo; j <= hi; j++ {
			if !mb[j] && b[j] == r {
				ma[i], mb[j] = true, true
				m++
				break
			}
		}
	}
	if m == 0 {
		return 0
	}
	// Half the number of matched characters out of order.
	t, j := 0, 0
	for i := range a {
		if !ma[i] {
			continue
		}
		for !mb[j] {
			j++
		}
		if a[i] != b[j] {
			t++
		}
		j++
	}
	fm := float64(m)
	return (fm/float64(len(a)) + fm/float64(len(b)) + (fm-float64(t)/2)/fm) / 3
}

// JaroWinkler returns the Jaro–Winkler similarity of a and b: the Jaro
// similarity raised for a common prefix of up to four characters, by 0.1
// of the remaining distance per character, when the Jaro similarity is
// above 0.7 (W. E. Winkler, "String comparator metrics and enhanced
// decision rules in the Fellegi–Sunter model of record linkage", 1990).
func JaroWinkler(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	j := jaro(ra, rb)
	if j <= 0.7 {
		return j
	}
	l := 0
	for l < 4 && l < len(ra) && l < len(rb) && ra[l] == rb[l] {
		l++
	}
	return j + float64(l)*0.1*(1-j)
}
