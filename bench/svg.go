package bench

// The report's chart, written with the standard library: bars of
// transactions per second per configuration (median, with the range of
// the runs as a whisker), and lines of Decide's time and FHIR search
// latency against the number of grants or patients on a log axis. Every
// data point is one element of class "point".

import (
	"fmt"
	"html"
	"io"
	"math"
)

const (
	svgW, svgH     = 1080, 400
	panelW, panelH = 300, 250
	panelTop       = 60
)

type bar struct {
	label string
	s     Spread
	fill  string
}

type linePoint struct {
	x float64 // on a log axis
	s Spread
}

// SVG writes the chart.
func (r *FullReport) SVG(w io.Writer) {
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	fmt.Fprintf(w, `<text x="20" y="24" font-size="15">ptoy benchmark report: medians of %d runs, whiskers from min to max</text>`+"\n", r.Opts.Runs)

	var bars []bar
	for _, rep := range []*SteadyReport{r.Ledger, r.LedgerDefault} {
		if rep == nil {
			continue
		}
		for _, v := range []int{1, 4} {
			timeouts := ""
			for _, row := range rep.Rows {
				if row.Timeouts == "default" {
					timeouts = ", default timeouts"
				}
			}
			if kv := rep.Series(kvstoreApp, v); len(kv) > 0 {
				bars = append(bars, bar{fmt.Sprintf("kvstore, %d val.%s", v, timeouts), Summarize(kv), "#9aa5b1"})
				bars = append(bars, bar{fmt.Sprintf("ptoy, %d val.%s", v, timeouts), Summarize(rep.Series(PtoyApp, v)), "#2b6cb0"})
			}
		}
	}
	barPanel(w, 40, "ledger tx/s, steady state", bars)

	sizes, runs := r.decideSeries()
	var dec []linePoint
	for i, g := range sizes {
		dec = append(dec, linePoint{float64(g), Summarize(runs[i])})
	}
	linePanel(w, 40+panelW+60, "ns per Decide against grants", "grants", dec, "#c05621")

	var search []linePoint
	for _, x := range r.FHIRScale {
		if len(x.Searches) > 0 {
			search = append(search, linePoint{float64(x.Patients), Summarize([]float64{ms(x.Searches[0].P99)})})
		}
	}
	linePanel(w, 40+2*(panelW+60), "FHIR search p99 ms against patients", "patients", search, "#2f855a")
	fmt.Fprintln(w, "</svg>")
}

// niceMax rounds x up to 1, 2 or 5 times a power of ten.
func niceMax(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func axes(w io.Writer, x0 int, title string, ymax float64) {
	fmt.Fprintf(w, `<text x="%d" y="%d" font-size="12">%s</text>`+"\n", x0, panelTop-12, html.EscapeString(title))
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, panelTop, x0, panelTop+panelH)
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, panelTop+panelH, x0+panelW, panelTop+panelH)
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		y := float64(panelTop+panelH) - float64(panelH)*float64(i)/4
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e2e8f0"/>`+"\n", x0+1, y, x0+panelW, y)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-4, y+4, number(v, prec(ymax)))
	}
}

// prec is the decimals an axis up to ymax needs.
func prec(ymax float64) int {
	if ymax < 10 {
		return 1
	}
	return 0
}

func barPanel(w io.Writer, x0 int, title string, bars []bar) {
	ymax := 0.0
	for _, b := range bars {
		ymax = math.Max(ymax, b.s.Max)
	}
	ymax = niceMax(ymax)
	axes(w, x0, title, ymax)
	if len(bars) == 0 {
		return
	}
	slot := float64(panelW) / float64(len(bars))
	y := func(v float64) float64 { return float64(panelTop+panelH) - float64(panelH)*v/ymax }
	for i, b := range bars {
		x := float64(x0) + slot*float64(i) + slot*0.15
		bw := slot * 0.7
		fmt.Fprintf(w, `<rect class="point" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" data-value="%.1f"><title>%s: %s tx/s</title></rect>`+"\n",
			x, y(b.s.Median), bw, y(0)-y(b.s.Median), b.fill, b.s.Median, html.EscapeString(b.label), b.s)
		cx := x + bw/2
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx, y(b.s.Min), cx, y(b.s.Max))
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="end" transform="rotate(-45 %.1f %.1f)">%s</text>`+"\n",
			cx+4, float64(panelTop+panelH)+14, cx+4, float64(panelTop+panelH)+14, html.EscapeString(b.label))
	}
}

func linePanel(w io.Writer, x0 int, title, xname string, pts []linePoint, colour string) {
	ymax := 0.0
	for _, p := range pts {
		ymax = math.Max(ymax, p.s.Max)
	}
	ymax = niceMax(ymax)
	axes(w, x0, title, ymax)
	if len(pts) == 0 {
		fmt.Fprintf(w, `<text x="%d" y="%d">not measured</text>`+"\n", x0+10, panelTop+panelH/2)
		return
	}
	// A log axis over whole powers of ten around the points.
	lo, hi := math.Floor(math.Log10(pts[0].x)), math.Ceil(math.Log10(pts[0].x))
	for _, p := range pts {
		lo, hi = math.Min(lo, math.Floor(math.Log10(p.x))), math.Max(hi, math.Ceil(math.Log10(p.x)))
	}
	if hi == lo {
		hi++
	}
	x := func(v float64) float64 { return float64(x0) + float64(panelW)*(math.Log10(v)-lo)/(hi-lo) }
	y := func(v float64) float64 { return float64(panelTop+panelH) - float64(panelH)*v/ymax }
	for e := lo; e <= hi; e++ {
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(math.Pow(10, e)), panelTop+panelH+14, number(math.Pow(10, e), 0))
	}
	fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle">%s (log scale)</text>`+"\n", x0+panelW/2, panelTop+panelH+30, xname)
	path := ""
	for i, p := range pts {
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		path += fmt.Sprintf("%s%.1f %.1f ", cmd, x(p.x), y(p.s.Median))
	}
	fmt.Fprintf(w, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", path, colour)
	for _, p := range pts {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x(p.x), y(p.s.Min), x(p.x), y(p.s.Max), colour)
		fmt.Fprintf(w, `<circle class="point" cx="%.1f" cy="%.1f" r="4" fill="%s" data-value="%.3f"><title>%s %s: %s</title></circle>`+"\n",
			x(p.x), y(p.s.Median), colour, p.s.Median, number(p.x, 0), xname, p.s.Format(2))
	}
}
