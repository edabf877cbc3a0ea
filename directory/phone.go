package directory

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"unicode"
	"unicode/utf8"

	"ptoy"
)

// Limits on phone numbers and names.
const (
	minPhoneDigits = 8   // E.164 numbers in use are at least this long
	maxPhoneDigits = 15  // E.164 limit
	maxPhoneInput  = 64  // bytes of input NormalizePhone looks at
	maxNameRunes   = 200 // longest full name CheckName accepts
	maskRune       = '•'
	maskKeepTail   = 4 // digits Mask keeps at the end
)

const phoneFormMsg = "phone number must be in international form, like +1 555 010 0100"

// NormalizePhone validates and normalises an E.164 phone number. It
// accepts spaces, dashes, dots and parentheses between digits (so
// "+1 (555) 010-0100" is fine), requires a leading '+', 8 to 15 digits and
// a first digit other than 0, and returns "+<digits>". Otherwise it returns
// a ptoy.Invalid error whose message never repeats the input.
func NormalizePhone(s string) (string, error) {
	const op = "directory.NormalizePhone"
	s = strings.TrimSpace(s)
	if len(s) > maxPhoneInput || len(s) < 2 || s[0] != '+' {
		return "", ptoy.E(op, ptoy.Invalid, phoneFormMsg)
	}
	digits := make([]byte, 0, maxPhoneDigits+1)
	open := false // inside parentheses
	openDigits := 0
	prevDigit := false
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
			if open {
				openDigits++
			}
			prevDigit = true
			continue
		case len(digits) == 0:
			// Nothing but a digit may follow the '+'.
			return "", ptoy.E(op, ptoy.Invalid, phoneFormMsg)
		case c == ' ' || c == '-' || c == '.':
		case c == '(' && !open:
			open, openDigits = true, 0
		case c == ')' && open && prevDigit && openDigits > 0:
			open = false
		default:
			return "", ptoy.E(op, ptoy.Invalid, phoneFormMsg)
		}
		prevDigit = false
	}
	if open || !prevDigit && s[len(s)-1] != ')' {
		// Separators must be between digits; a closing parenthesis may
		// end the number only if it follows a digit, checked above.
		return "", ptoy.E(op, ptoy.Invalid, phoneFormMsg)
	}
	if n := len(digits); n < minPhoneDigits || n > maxPhoneDigits {
		return "", ptoy.E(op, ptoy.Invalid, "phone number must have 8 to 15 digits, including the country code, like +1 555 010 0100")
	}
	if digits[0] == '0' {
		return "", ptoy.E(op, ptoy.Invalid, "phone number must start with a country code, which never begins with 0, like +1 555 010 0100")
	}
	return "+" + string(digits), nil
}

// PhoneTag returns the phone tag of a normalised phone number (see
// NormalizePhone): HMAC-SHA256 of "+<digits>" under the network phone
// key, the 32-byte secret the member nodes share. The ledger holds the
// tag of every registered patient's phone, never the number, and refuses
// a second registration with the same tag. Anyone with the key can test
// a guessed number against a tag.
func PhoneTag(networkKey []byte, phone string) []byte {
	m := hmac.New(sha256.New, networkKey)
	m.Write([]byte(phone))
	return m.Sum(nil)
}

// Mask hides most of a phone number so that it may be shown in logs and
// messages: it keeps a leading '+', the first digit and the last 4 digits,
// and turns every other digit into '•'; other characters are dropped. A
// string with fewer than 8 digits, too short to be a phone number, has
// all its digits masked, so Mask never reveals a short secret whole.
func Mask(phone string) string {
	var b strings.Builder
	if strings.HasPrefix(phone, "+") {
		b.WriteByte('+')
	}
	n := 0
	for i := 0; i < len(phone); i++ {
		if c := phone[i]; c >= '0' && c <= '9' {
			n++
		}
	}
	i := 0
	for j := 0; j < len(phone); j++ {
		c := phone[j]
		if c < '0' || c > '9' {
			continue
		}
		if n >= minPhoneDigits && (i == 0 || i >= n-maskKeepTail) {
			b.WriteByte(c)
		} else {
			b.WriteRune(maskRune)
		}
		i++
	}
	return b.String()
}

// CheckName validates a person's full name and returns it trimmed of
// surrounding white space. A name must be valid UTF-8, 1 to 200
// characters, printable (no control characters, tabs or line breaks) and
// contain at least one letter; otherwise the error is ptoy.Invalid, and its
// message never repeats the name.
func CheckName(s string) (string, error) {
	const op = "directory.CheckName"
	if !utf8.ValidString(s) {
		return "", ptoy.E(op, ptoy.Invalid, "full name is not valid text")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ptoy.E(op, ptoy.Invalid, "full name is required")
	}
	if utf8.RuneCountInString(s) > maxNameRunes {
		return "", ptoy.E(op, ptoy.Invalid, "full name must be at most 200 characters")
	}
	letter := false
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", ptoy.E(op, ptoy.Invalid, "full name contains characters that are not allowed")
		}
		if unicode.IsLetter(r) {
			letter = true
		}
	}
	if !letter {
		return "", ptoy.E(op, ptoy.Invalid, "full name must contain at least one letter")
	}
	return s, nil
}
