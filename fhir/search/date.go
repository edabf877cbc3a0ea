package search

import (
	"math"
	"time"
)

// Dates are kept as ranges of Unix milliseconds, both ends inclusive: a
// value stands for every instant its precision allows ("2020-03" is the
// whole of March 2020). A date or dateTime without a time zone is read as
// UTC; the spec leaves the zone of such values to the server, and UTC is
// what every node agrees on.

const (
	minTime = math.MinInt64
	maxTime = math.MaxInt64
)

// parseDate reads a FHIR date, dateTime or instant (YYYY, YYYY-MM,
// YYYY-MM-DD, YYYY-MM-DDThh:mm, YYYY-MM-DDThh:mm:ss[.fff], each with an
// optional Z or ±hh:mm after the time) as the range it covers.
func parseDate(s string) (lo, hi int64, ok bool) {
	num := func(i, n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok := num(0, 4)
	if !ok {
		return 0, 0, false
	}
	month, day, hour, min, sec, nsec := 1, 1, 0, 0, 0, 0
	var step func(time.Time) time.Time
	i := 4
	switch {
	case len(s) == 4:
		step = func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }
	case s[4] != '-':
		return 0, 0, false
	default:
		if month, ok = num(5, 2); !ok || month < 1 || month > 12 {
			return 0, 0, false
		}
		i = 7
		if len(s) == 7 {
			step = func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
			break
		}
		if s[7] != '-' {
			return 0, 0, false
		}
		if day, ok = num(8, 2); !ok || day < 1 || day > daysIn(year, month) {
			return 0, 0, false
		}
		i = 10
		if len(s) == 10 {
			step = func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
			break
		}
		if s[10] != 'T' {
			return 0, 0, false
		}
		if hour, ok = num(11, 2); !ok || hour > 23 || len(s) < 14 || s[13] != ':' {
			return 0, 0, false
		}
		if min, ok = num(14, 2); !ok || min > 59 {
			return 0, 0, false
		}
		i = 16
		step = func(t time.Time) time.Time { return t.Add(time.Minute) }
		if i < len(s) && s[i] == ':' {
			if sec, ok = num(17, 2); !ok || sec > 60 {
				return 0, 0, false
			}
			if sec == 60 {
				sec = 59 // a leap second: the last second of the minute
			}
			i = 19
			step = func(t time.Time) time.Time { return t.Add(time.Second) }
			if i < len(s) && s[i] == '.' {
				j := i + 1
				unit := time.Second
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					if unit > time.Millisecond {
						unit /= 10
						nsec += int(s[j]-'0') * int(unit)
					}
					j++
				}
				if j == i+1 {
					return 0, 0, false
				}
				i = j
				step = func(t time.Time) time.Time { return t.Add(unit) }
			}
		}
	}
	loc := time.UTC
	if i < len(s) {
		if i < 16 {
			return 0, 0, false // a zone only after a time
		}
		switch {
		case s[i] == 'Z' && i+1 == len(s):
		case (s[i] == '+' || s[i] == '-') && i+6 == len(s) && s[i+3] == ':':
			h, ok1 := num(i+1, 2)
			m, ok2 := num(i+4, 2)
			if !ok1 || !ok2 || h > 14 || m > 59 {
				return 0, 0, false
			}
			off := h*3600 + m*60
			if s[i] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		default:
			return 0, 0, false
		}
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, loc)
	return t.UnixMilli(), step(t).UnixMilli() - 1, true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
