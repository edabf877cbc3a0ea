package match

// Levenshtein returns the least number of single-rune insertions,
// deletions and substitutions that turn a into b (V. I. Levenshtein, 1965).
func Levenshtein(a, b string) int {
	return editDistance([]rune(a), []rune(b), false)
}

// Damerau returns the optimal string alignment distance of a and b:
// Levenshtein's edits and also the transposition of two adjacent runes,
// no substring edited twice (F. J. Damerau, 1964). A typed date of birth
// "19850312" for "19853012" is two edits apart by Levenshtein and, for
// "19850321", one by Damerau.
func Damerau(a, b string) int {
	return editDistance([]rune(a), []rune(b), true)
}

func editDistance(a, b []rune, transpose bool) int {
	if len(a) == 0 {
		return len(b)
	}
	if len(b) == 0 {
		return len(a)
	}
	// Three rows of the dynamic programme: two back, one back, this one.
	n := len(b) + 1
	rows := make([]int, 3*n)
	prev2, prev, cur := rows[:n], rows[n:2*n], rows[2*n:]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if transpose && i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
