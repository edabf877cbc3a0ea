package web

import (
	"html/template"
	"strings"

	"ptoy/fhir/resource"
)

// inputField is a labelled input, with its hint and its error (template
// "input" in layout.html).
type inputField struct {
	ID, Label, Value, Error, Hint, Type, Auto, Mode string
	Optional                                        bool
}

// input makes an inputField; opts are "type=…", "auto=…" (autocomplete),
// "mode=…" (inputmode), "hint=…" and "optional".
func input(id, label, value, err string, opts ...string) inputField {
	f := inputField{ID: id, Label: label, Value: value, Error: err, Type: "text"}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "type":
			f.Type = v
		case "auto":
			f.Auto = v
		case "mode":
			f.Mode = v
		case "hint":
			f.Hint = v
		case "optional":
			f.Optional = true
		}
	}
	return f
}

// navItem is one link of the main navigation.
type navItem struct{ Path, Label string }

var nav = []navItem{
	{"/timeline", "Timeline"},
	{"/find", "Find my records"},
	{"/records/new", "Add a record"},
	{"/access", "Who can see"},
	{"/accesses", "Who has seen"},
	{"/caregivers", "Caregivers"},
	{"/wallet", "Wallet"},
	{"/account", "Account"},
}

var funcs = template.FuncMap{
	"navItems": func() []navItem { return nav },
	"input":    input,
	"date":     resource.Day,
}
