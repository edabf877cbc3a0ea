package web

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"ptoy/fhir/resource"
)

// point is one value of a lab over time.
type point struct {
	Date             string
	Value, Unit      string
	Range, Flag, Ref string // Ref: the record's id
	v                float64
}

// chart draws points (oldest first) as an SVG line chart, with the
// reference range as a band when every point has the same. The numbers
// are in the table beside it; the SVG says what it shows in its title and
// description.
func chart(title string, pts []point, low, high *float64) template.HTML {
	const w, h, left, right, top, bottom = 640.0, 280.0, 56.0, 16.0, 16.0, 40.0
	if len(pts) == 0 {
		return ""
	}
	lo, hi := pts[0].v, pts[0].v
	for _, p := range pts {
		lo, hi = math.Min(lo, p.v), math.Max(hi, p.v)
	}
	if low != nil {
		lo = math.Min(lo, *low)
	}
	if high != nil {
		hi = math.Max(hi, *high)
	}
	pad := (hi - lo) * 0.1
	if pad == 0 {
		pad = math.Max(math.Abs(hi)*0.1, 1)
	}
	lo, hi = lo-pad, hi+pad
	x := func(i int) float64 {
		if len(pts) == 1 {
			return left + (w-left-right)/2
		}
		return left + float64(i)*(w-left-right)/float64(len(pts)-1)
	}
	y := func(v float64) float64 { return top + (hi-v)*(h-top-bottom)/(hi-lo) }
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="chart-title">%s over time</title>`, esc(title))
	fmt.Fprintf(&b, `<desc id="chart-desc">%d results from %s to %s, lowest %s, highest %s %s. The table beside the chart lists every value.</desc>`,
		len(pts), esc(pts[0].Date), esc(pts[len(pts)-1].Date), esc(minMax(pts, false).Value), esc(minMax(pts, true).Value), esc(pts[0].Unit))
	if low != nil && high != nil {
		fmt.Fprintf(&b, `<rect class="range" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, left, y(*high), w-left-right, y(*low)-y(*high))
	}
	// Axes and three value gridlines.
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, left, top, left, h-bottom)
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, left, h-bottom, w-right, h-bottom)
	for _, v := range []float64{lo + pad, (lo + hi) / 2, hi - pad} {
		fmt.Fprintf(&b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text class="tick" x="%g" y="%.1f" text-anchor="end">%s</text>`,
			left, y(v), w-right, y(v), left-6, y(v)+4, esc(fmtNum(math.Round(v*10)/10)))
	}
	fmt.Fprintf(&b, `<text class="tick" x="%g" y="%g" text-anchor="start">%s</text>`, left, h-bottom+18, esc(year4(pts[0].Date)))
	if len(pts) > 1 {
		fmt.Fprintf(&b, `<text class="tick" x="%g" y="%g" text-anchor="end">%s</text>`, w-right, h-bottom+18, esc(year4(pts[len(pts)-1].Date)))
	}
	var line []string
	for i, p := range pts {
		line = append(line, fmt.Sprintf("%.1f,%.1f", x(i), y(p.v)))
	}
	fmt.Fprintf(&b, `<polyline class="line" points="%s"/>`, strings.Join(line, " "))
	for i, p := range pts {
		cls := "dot"
		if p.Flag != "" {
			cls += " flagged"
		}
		fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="4"/>`, cls, x(i), y(p.v))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func year4(d string) string {
	if len(d) >= 10 {
		return d[:10]
	}
	return d
}

func minMax(pts []point, max bool) point {
	cmp := func(a, b point) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	}
	if max {
		return slices.MaxFunc(pts, cmp)
	}
	return slices.MinFunc(pts, cmp)
}

func (s *Server) lab(w http.ResponseWriter, r *http.Request) {
	tok, id, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	code := r.PathValue("code")
	if !codeRE.MatchString(code) {
		s.errorPage(w, r, http.StatusNotFound, "There is no such lab test.")
		return
	}
	rs, err := s.search(r.Context(), r, tok, "Observation?patient="+id.String()+"&code=http://loinc.org|"+code+"&_count=1000")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	k, _ := kindOf("Observation")
	var pts []point
	var low, high *float64
	sameRange := true
	title := ""
	for i, res := range rs {
		e := k.entry(res)
		if title == "" {
			title = e.Title
		}
		l := e.Lab
		if l == nil || !l.hasNum {
			continue
		}
		pts = append(pts, point{Date: e.Date, Value: l.Value, Unit: l.Unit, Range: l.Range, Flag: l.Flag, Ref: e.ID, v: l.num})
		if i == 0 {
			low, high = l.low, l.high
		} else if !eqp(low, l.low) || !eqp(high, l.high) {
			sameRange = false
		}
	}
	if !sameRange {
		low, high = nil, nil
	}
	slices.SortStableFunc(pts, func(a, b point) int { return strings.Compare(a.Date, b.Date) })
	if title == "" {
		title = "Lab " + code
	}
	s.render(w, r, http.StatusOK, "lab", page{Title: title, SignedIn: true, Nav: "/timeline", Data: map[string]any{
		"Title": title, "Code": code, "Points": pts, "Rows": labRows(pts), "Chart": chart(title, pts, low, high),
	}})
}

// labRows writes the rows of a lab's table of values. Written here
// rather than in the template: html/template calls an escaper through
// reflection for each value, which for a lab of 700 values was most of
// the page's time.
func labRows(pts []point) template.HTML {
	var b strings.Builder
	esc := template.HTMLEscapeString
	for _, p := range pts {
		b.WriteString(`<tr><td><a href="/records/Observation/`)
		b.WriteString(esc(url.PathEscape(p.Ref)))
		b.WriteString(`">`)
		b.WriteString(esc(resource.Day(p.Date)))
		b.WriteString(`</a></td><td>`)
		b.WriteString(esc(p.Value))
		b.WriteString(" ")
		b.WriteString(esc(p.Unit))
		b.WriteString(`</td><td>`)
		b.WriteString(esc(p.Range))
		b.WriteString(`</td><td>`)
		switch p.Flag {
		case "H":
			b.WriteString("High")
		case "L":
			b.WriteString("Low")
		}
		b.WriteString("</td></tr>\n")
	}
	return template.HTML(b.String())
}

func eqp(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
