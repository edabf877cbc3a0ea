package match

// Soundex returns the American Soundex code of a name as the US National
// Archives define it ("The Soundex Indexing System", NARA, 2007): the
// first letter, then the digits of the following consonants (B F P V 1,
// C G J K Q S X Z 2, D T 3, L 4, M N 5, R 6), padded with zeros or cut to
// three. Consonants of the same digit side by side, or separated only by
// H or W, count once, including the first letter's; a vowel (A E I O U Y)
// between them makes them count twice. Letters other than A to Z are
// ignored; a name without any gives "".
func Soundex(name string) string {
	var out [4]byte
	n := 0
	var last byte // digit of the previous coded letter, 0 after a vowel
	for i := 0; i < len(name) && n < 4; i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < 'A' || c > 'Z' {
			continue
		}
		d := soundexDigit[c-'A']
		if n == 0 {
			out[0] = c
			n = 1
			last = d
			continue
		}
		switch d {
		case 'h': // H and W: transparent
		case '0': // vowels separate
			last = 0
		default:
			if d != last {
				out[n] = d
				n++
			}
			last = d
		}
	}
	if n == 0 {
		return ""
	}
	for ; n < 4; n++ {
		out[n] = '0'
	}
	return string(out[:])
}

// soundexDigit is the code of A…Z: a digit, '0' for a vowel, 'h' for H and W.
var soundexDigit = [26]byte{
	'0', '1', '2', '3', '0', '1', '2', 'h', '0', '2', '2', '4', '5',
	'5', '0', '1', '2', '6', '2', '3', '0', '1', 'h', '2', '0', '2',
}
