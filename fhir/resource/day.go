package resource

import "time"

// Day shows a FHIR date or dateTime to a person as a day ("2 March
// 2024"), a partial date as far as it goes ("March 2024", "2024"), and
// anything else as it is.
func Day(s string) string {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			switch layout {
			case "2006":
				return t.Format("2006")
			case "2006-01":
				return t.Format("January 2006")
			}
			return t.Format("2 January 2006")
		}
	}
	return s
}
