package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBenchReportQuick runs "ptoy bench report --quick" into a temporary
// directory: the Markdown has every section, each with a table whose
// figures are numbers, and links its chart; the chart is well-formed XML
// with one element of class "point" per data point (a bar per
// configuration, a point per Decide index size and per FHIR patient
// count), each with a positive value. No figure's size is asserted.
func TestBenchReportQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every benchmark, shrunk: a minute or two")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "report.md")
	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) (string, bool) { return "", false }}
	if code := run(e, []string{"bench", "report", "--quick", "--out", out}); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var steps []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(l, "== ") {
			steps = append(steps, l)
		}
	}
	t.Log("progress:\n" + strings.Join(steps, "\n"))
	if !strings.Contains(stderr.String(), "== Decide on") {
		t.Errorf("no progress printed:\n%s", stderr.String())
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	report := string(md)
	t.Log("\n" + report)
	if !strings.Contains(report, "(report.svg)") {
		t.Errorf("the report does not link its chart")
	}
	if strings.Contains(report, "Not measured") {
		t.Errorf("a section was not measured")
	}
	sections := []string{"## Ledger throughput beside kvstore (steady state)", "## Authorised reads", "## Write path: records end to end",
		"## FHIR import, search and reads", "## Decide", "## Scaling with patients"}
	for i, s := range sections {
		at := strings.Index(report, s+"\n")
		if at < 0 {
			t.Errorf("no section %q", s)
			continue
		}
		body := report[at+len(s):]
		if i+1 < len(sections) {
			if end := strings.Index(body, sections[i+1]+"\n"); end >= 0 {
				body = body[:end]
			}
		}
		rows := tableRows(body)
		if len(rows) == 0 {
			t.Errorf("section %q has no table", s)
		}
		for _, cells := range rows {
			for _, c := range cells[1:] {
				if !strings.ContainsAny(c, "0123456789") {
					t.Errorf("section %q: %q is not a number in row %q", s, c, cells)
				}
			}
		}
	}
	// The ledger rows: 1 and 4 validators, kvstore and ptoy each.
	if !strings.Contains(report, "| 1 (short) | ") || !strings.Contains(report, "| 4 (short) | ") {
		t.Errorf("no ledger row for 1 or 4 validators")
	}

	svg, err := os.ReadFile(filepath.Join(dir, "report.svg"))
	if err != nil {
		t.Fatal(err)
	}
	points := 0
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not XML: %v", err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attr := map[string]string{}
		for _, a := range el.Attr {
			attr[a.Name.Local] = a.Value
		}
		if attr["class"] != "point" {
			continue
		}
		points++
		if v, err := strconv.ParseFloat(attr["data-value"], 64); err != nil || v <= 0 {
			t.Errorf("a %s point has value %q", el.Name.Local, attr["data-value"])
		}
	}
	// 4 bars (kvstore and ptoy on 1 and 4 validators), Decide at 3 index
	// sizes, FHIR search at 2 patient counts.
	if points != 4+3+2 {
		t.Errorf("%d data points in the chart, want 9", points)
	}
}

// tableRows returns the cells of the body rows of the Markdown tables in
// s (not their header and separator rows).
func tableRows(s string) [][]string {
	var rows [][]string
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "|") || strings.HasPrefix(l, "| ---") || strings.HasPrefix(l, "| :") {
			continue
		}
		if i+1 < len(lines) && strings.Contains(lines[i+1], "---") {
			continue // a header
		}
		var cells []string
		for _, c := range strings.Split(strings.ReplaceAll(strings.Trim(l, "|"), `\|`, "/"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	return rows
}
