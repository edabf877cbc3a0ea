package web

import (
	"html/template"
	"time"
)

// navItem is one link of the main navigation.
type navItem struct{ Path, Label string }

var nav = []navItem{
	{"/timeline", "Timeline"},
	{"/records/new", "Add a record"},
	{"/access", "Who can see"},
	{"/accesses", "Who has seen"},
	{"/wallet", "Wallet"},
	{"/account", "Account"},
}

var funcs = template.FuncMap{
	"navItems": func() []navItem { return nav },
	// date shows a FHIR date or dateTime as a day ("2 March 2024").
	"date": func(s string) string {
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
	},
}
