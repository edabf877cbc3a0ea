package web

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"ptoy/audit"
)

// TestTimelineYears: the timeline shows the newest years up to
// timelineShown entries (at least one year, however large), or the year
// asked for; every year is in the navigation, linked on the page or to
// its own page.
func TestTimelineYears(t *testing.T) {
	var entries []entry
	add := func(year string, n int) {
		for i := range n {
			entries = append(entries, entry{Label: "Lab results", Date: fmt.Sprintf("%s-01-%02d", year, i%28+1)})
		}
	}
	add("2024", 30)
	add("2023", 60)
	add("2022", 40)
	add("2010", 5)
	years := timeline(entries)
	names := func(ys []year) []string {
		var out []string
		for _, y := range ys {
			out = append(out, y.Year)
		}
		return out
	}
	shown := yearsShown(years, "")
	if got := names(shown); !slices.Equal(got, []string{"2024", "2023"}) {
		t.Fatalf("shown %v, want 2024 and 2023 (90 of the first 100)", got)
	}
	want := map[string]string{"2024": "#y2024", "2023": "#y2023", "2022": "/timeline?year=2022#y2022", "2010": "/timeline?year=2010#y2010"}
	for _, y := range years {
		if y.Href != want[y.Year] {
			t.Errorf("year %s links to %q, want %q", y.Year, y.Href, want[y.Year])
		}
	}
	if shown := yearsShown(years, "2010"); len(shown) != 1 || shown[0].Year != "2010" || shown[0].Count != 5 {
		t.Fatalf("asked for 2010, shown %v", names(shown))
	}
	if years[0].Href != "/timeline?year=2024#y2024" {
		t.Errorf("on 2010's page, 2024 links to %q", years[0].Href)
	}
	if shown := yearsShown(years, "1999"); !slices.Equal(names(shown), []string{"2024", "2023"}) {
		t.Fatalf("a year with no records shows %v, want the newest", names(shown))
	}
	entries = nil
	add("2024", 250)
	if shown := yearsShown(timeline(entries), ""); len(shown) != 1 || shown[0].Count != 250 {
		t.Fatal("a year larger than a page is not shown whole")
	}
}

// TestNewestAccesses: the accesses page keeps the newest accessesShown,
// and every older one that failed its check or broke the glass.
func TestNewestAccesses(t *testing.T) {
	var items []accessItem
	for i := range 250 {
		it := accessItem{ev: audit.Event{Seq: uint64(i), Action: "read"}}
		switch i {
		case 180:
			it.err = errors.New("bad proof")
		case 220:
			it.ev.Action = "break-glass"
		}
		items = append(items, it)
	}
	got := newest(items)
	if len(got) != accessesShown+2 || got[accessesShown].ev.Seq != 180 || got[accessesShown+1].ev.Seq != 220 {
		t.Fatalf("kept %d, the last two %v", len(got), got[len(got)-2:])
	}
	if got := newest(items[:50]); len(got) != 50 {
		t.Fatalf("a short list was cut to %d", len(got))
	}
}
