package resource

import "testing"

func TestDay(t *testing.T) {
	for in, want := range map[string]string{
		"2024-03-02T10:20:30+01:00": "2 March 2024",
		"2024-03-02T10:20:30":       "2 March 2024",
		"2024-03-02":                "2 March 2024",
		"2024-03":                   "March 2024",
		"2024":                      "2024",
		"soon":                      "soon",
		"":                          "",
	} {
		if got := Day(in); got != want {
			t.Errorf("Day(%q) = %q, want %q", in, got, want)
		}
	}
}
