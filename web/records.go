package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"ptoy"
	"ptoy/fhir"
	"ptoy/fhir/resource"
)

// fhirMount is where the node serves FHIR.
const fhirMount = "/fhir"

// errSessionEnded is a FHIR answer of 401: the session is gone.
var errSessionEnded = ptoy.E("web", ptoy.Unauthenticated, "your session ended; sign in again")

// call calls the node's FHIR API in process as the patient's session:
// pathQuery is relative to the FHIR base ("Observation?code=…"). Any
// answer but 200 is an error.
func (s *Server) call(ctx context.Context, in *http.Request, tok, pathQuery string) (*fhir.Recorder, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fhirMount+"/"+pathQuery, nil)
	if err != nil {
		return nil, ptoy.E("web", ptoy.Other, err)
	}
	req.Host, req.RemoteAddr, req.TLS = in.Host, in.RemoteAddr, in.TLS
	req.Header.Set("Authorization", "PTOY-Session "+tok)
	req.Header.Set("Accept", "application/fhir+json")
	rec := fhir.NewRecorder()
	s.cfg.FHIR.ServeHTTP(rec, req)
	switch {
	case rec.Status == http.StatusUnauthorized:
		return nil, errSessionEnded
	case rec.Status == http.StatusNotFound || rec.Status == http.StatusGone:
		return nil, ptoy.E("web", ptoy.NotFound, "there is no such record, or it is not yours")
	case rec.Status != http.StatusOK:
		s.cfg.Log.Warn("web: FHIR call failed", "status", rec.Status)
		return nil, ptoy.E("web", ptoy.Unavailable, "your records could not be read just now; try again in a moment")
	}
	return rec, nil
}

// get reads one resource.
func (s *Server) get(ctx context.Context, in *http.Request, tok, pathQuery string) (map[string]any, error) {
	rec, err := s.call(ctx, in, tok, pathQuery)
	if err != nil {
		return nil, err
	}
	v, err := resource.DecodeJSON(rec.Body.Bytes())
	if err != nil {
		return nil, ptoy.E("web", ptoy.Other, err)
	}
	out, ok := v.(map[string]any)
	if !ok {
		return nil, ptoy.E("web", ptoy.Other, "the FHIR API answered something other than a JSON object")
	}
	return out, nil
}

// search returns every resource of a FHIR search, following next links.
// The resources come from the patient's view, decoded once per version
// for her session: they are read only.
func (s *Server) search(ctx context.Context, in *http.Request, tok, pathQuery string) ([]map[string]any, error) {
	var all []map[string]any
	for page := 0; pathQuery != "" && page < 50; page++ {
		rec, err := s.call(ctx, in, tok, pathQuery)
		if err != nil {
			return nil, err
		}
		if rec.Page == nil {
			return nil, ptoy.E("web", ptoy.Other, "the FHIR API answered a search with something other than a Bundle")
		}
		rs, err := rec.Page.Resources()
		if err != nil {
			return nil, ptoy.E("web", ptoy.Other, err)
		}
		all = append(all, rs...)
		pathQuery = rec.Page.Next(fhirMount)
	}
	return all, nil
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func list(v any) []any         { l, _ := v.([]any); return l }
func str(v any) string         { s, _ := v.(string); return s }

// at follows a path of member names and array indexes (as ints).
func at(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			v = obj(v)[p]
		case int:
			l := list(v)
			if p >= len(l) {
				return nil
			}
			v = l[p]
		}
	}
	return v
}

// concept is the words of a CodeableConcept: its text, else its first
// coding's display, else its code.
func concept(v any) string {
	if t := str(obj(v)["text"]); t != "" {
		return t
	}
	for _, c := range list(obj(v)["coding"]) {
		if d := str(obj(c)["display"]); d != "" {
			return d
		}
	}
	if c := str(at(v, "coding", 0, "code")); c != "" {
		return c
	}
	return ""
}

// loinc returns a concept's LOINC code.
func loinc(v any) string {
	for _, c := range list(obj(v)["coding"]) {
		if str(obj(c)["system"]) == "http://loinc.org" {
			return str(obj(c)["code"])
		}
	}
	return ""
}

// kind is one kind of record on the timeline.
type kind struct {
	Type, Label string
	One         string           // one of them: "Visit"
	Query       string           // search parameters beyond the patient
	date        []func(any) any  // where the record's date is, first found wins
	title       func(any) string // what the record is, in words
}

func dateAt(path ...any) func(any) any { return func(r any) any { return at(r, path...) } }

// has reports whether the kind's search would find r, a resource of its
// type: the category its Query names, if it names one.
func (k kind) has(r map[string]any) bool {
	want, ok := strings.CutPrefix(k.Query, "&category=")
	if !ok {
		return k.Query == ""
	}
	for _, c := range list(r["category"]) {
		for _, cd := range list(obj(c)["coding"]) {
			if str(obj(cd)["code"]) == want {
				return true
			}
		}
	}
	return false
}

var kinds = []kind{
	{Type: "Encounter", Label: "Visits", One: "Visit", date: []func(any) any{dateAt("period", "start")},
		title: func(r any) string {
			if t := concept(at(r, "type", 0)); t != "" {
				return t
			}
			return "Visit"
		}},
	{Type: "Condition", Label: "Conditions", One: "Condition", date: []func(any) any{dateAt("onsetDateTime"), dateAt("recordedDate"), dateAt("onsetPeriod", "start")},
		title: func(r any) string { return concept(at(r, "code")) }},
	{Type: "MedicationRequest", Label: "Medications", One: "Medication", date: []func(any) any{dateAt("authoredOn")},
		title: medication},
	{Type: "MedicationStatement", Label: "Medications", One: "Medication", date: []func(any) any{dateAt("effectiveDateTime"), dateAt("effectivePeriod", "start"), dateAt("dateAsserted")},
		title: medication},
	{Type: "Immunization", Label: "Immunisations", One: "Immunisation", date: []func(any) any{dateAt("occurrenceDateTime")},
		title: func(r any) string { return concept(at(r, "vaccineCode")) }},
	{Type: "Observation", Label: "Lab results", One: "Lab result", Query: "&category=laboratory", date: []func(any) any{dateAt("effectiveDateTime"), dateAt("effectivePeriod", "start"), dateAt("issued")},
		title: func(r any) string { return concept(at(r, "code")) }},
	{Type: "Observation", Label: "Vital signs", One: "Vital sign", Query: "&category=vital-signs", date: []func(any) any{dateAt("effectiveDateTime"), dateAt("effectivePeriod", "start"), dateAt("issued")},
		title: func(r any) string { return concept(at(r, "code")) }},
	{Type: "DocumentReference", Label: "Documents", One: "Document", date: []func(any) any{dateAt("date"), dateAt("context", "period", "start")},
		title: func(r any) string {
			if d := str(at(r, "description")); d != "" {
				return d
			}
			return concept(at(r, "type"))
		}},
	{Type: "Claim", Label: "Claims", One: "Claim", date: []func(any) any{dateAt("created"), dateAt("billablePeriod", "start")},
		title: func(r any) string { return "Claim: " + concept(at(r, "type")) }},
	{Type: "ExplanationOfBenefit", Label: "Explanations of benefit", One: "Explanation of benefit", date: []func(any) any{dateAt("created"), dateAt("billablePeriod", "start")},
		title: func(r any) string { return "Explanation of benefit: " + concept(at(r, "type")) }},
}

// medication names a MedicationRequest's or MedicationStatement's
// medication: its concept, else the reference's display.
func medication(r any) string {
	if c := concept(at(r, "medicationCodeableConcept")); c != "" {
		return c
	}
	return str(at(r, "medicationReference", "display"))
}

func kindOf(typ string) (kind, bool) {
	for _, k := range kinds {
		if k.Type == typ {
			return k, true
		}
	}
	return kind{}, false
}

// kindFor is the kind of a record read: a vital-signs Observation is a
// vital sign, any other a lab result.
func kindFor(k kind, r map[string]any) kind {
	if k.Type != "Observation" {
		return k
	}
	for _, c := range list(r["category"]) {
		for _, cd := range list(obj(c)["coding"]) {
			if str(obj(cd)["code"]) == "vital-signs" {
				for _, v := range kinds {
					if v.Label == "Vital signs" {
						return v
					}
				}
			}
		}
	}
	return k
}

// entry is one record as the pages show it.
type entry struct {
	Type, ID, Label, One, Title, Date string
	Lab                               *labValue
	Text                              string // a plain-text document's text
}

// noteText is the text of a document's plain-text attachment, if it has
// one inline.
func noteText(r map[string]any) string {
	for _, c := range list(r["content"]) {
		a := obj(obj(c)["attachment"])
		if !strings.HasPrefix(str(a["contentType"]), "text/plain") {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(str(a["data"]))
		if err != nil || !utf8.Valid(b) {
			continue
		}
		t := string(b)
		if utf8.RuneCountInString(t) > 20000 {
			t = string([]rune(t)[:20000]) + "…"
		}
		return t
	}
	return ""
}

// labValue is a lab result's value, unit, reference range and flag.
type labValue struct {
	Code, Value, Unit, Range, Flag string
	num                            float64
	hasNum                         bool
	low, high                      *float64
}

func (k kind) entry(r map[string]any) entry {
	e := entry{Type: k.Type, ID: str(r["id"]), Label: k.Label, One: k.One, Title: k.title(r)}
	if e.Title == "" || e.Title == "Claim: " || e.Title == "Explanation of benefit: " {
		e.Title = strings.TrimSuffix(e.Title, ": ")
		if e.Title == "" {
			e.Title = k.Label
		}
	}
	for _, d := range k.date {
		if s := str(d(r)); s != "" {
			e.Date = s
			break
		}
	}
	if k.Type == "Observation" {
		e.Lab = lab(r)
	}
	if k.Type == "DocumentReference" {
		e.Text = noteText(r)
	}
	return e
}

func num(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// lab reads an Observation's value, reference range and flag (its
// interpretation, else from the range).
func lab(r map[string]any) *labValue {
	l := &labValue{Code: loinc(r["code"])}
	if q := obj(r["valueQuantity"]); q != nil {
		if f, ok := num(q["value"]); ok {
			l.num, l.hasNum, l.Value = f, true, fmtNum(f)
		}
		l.Unit = str(q["unit"])
		if l.Unit == "" {
			l.Unit = str(q["code"])
		}
	} else if s := str(r["valueString"]); s != "" {
		l.Value = s
	} else if c := concept(r["valueCodeableConcept"]); c != "" {
		l.Value = c
	} else if cs := list(r["component"]); len(cs) > 0 {
		// A panel such as blood pressure: its components' values, "128/82".
		var vs []string
		for _, c := range cs {
			if f, ok := num(at(c, "valueQuantity", "value")); ok {
				vs = append(vs, fmtNum(f))
				if l.Unit == "" {
					l.Unit = str(at(c, "valueQuantity", "unit"))
				}
			}
		}
		l.Value = strings.Join(vs, "/")
	}
	rr := obj(at(r, "referenceRange", 0))
	if lo, ok := num(at(rr, "low", "value")); ok {
		l.low = &lo
	}
	if hi, ok := num(at(rr, "high", "value")); ok {
		l.high = &hi
	}
	switch {
	case l.low != nil && l.high != nil:
		l.Range = fmtNum(*l.low) + "–" + fmtNum(*l.high)
	case l.low != nil:
		l.Range = "≥ " + fmtNum(*l.low)
	case l.high != nil:
		l.Range = "≤ " + fmtNum(*l.high)
	default:
		l.Range = str(rr["text"])
	}
	for _, c := range list(at(r, "interpretation", 0, "coding")) {
		switch str(obj(c)["code"]) {
		case "H", "HH", "HU":
			l.Flag = "H"
		case "L", "LL", "LU":
			l.Flag = "L"
		}
	}
	if l.Flag == "" && l.hasNum {
		if l.high != nil && l.num > *l.high {
			l.Flag = "H"
		} else if l.low != nil && l.num < *l.low {
			l.Flag = "L"
		}
	}
	return l
}

// year is one year of the timeline.
type year struct {
	Year   string
	Groups []group
	Count  int    // entries
	Href   string // the year's place: on this page, or a page of its own
}

type group struct {
	Label   string
	Entries []entry
}

// timeline groups entries by year (newest first), then by kind in the
// order of kinds; within a kind, newest first.
func timeline(entries []entry) []year {
	slices.SortStableFunc(entries, func(a, b entry) int { return strings.Compare(b.Date, a.Date) })
	var years []year
	for _, e := range entries {
		y := "Undated"
		if len(e.Date) >= 4 {
			y = e.Date[:4]
		}
		if len(years) == 0 || years[len(years)-1].Year != y {
			years = append(years, year{Year: y})
		}
		yr := &years[len(years)-1]
		i := slices.IndexFunc(yr.Groups, func(g group) bool { return g.Label == e.Label })
		if i < 0 {
			yr.Groups = append(yr.Groups, group{Label: e.Label})
			i = len(yr.Groups) - 1
		}
		yr.Groups[i].Entries = append(yr.Groups[i].Entries, e)
		yr.Count++
	}
	order := map[string]int{}
	for i, k := range kinds {
		if _, ok := order[k.Label]; !ok {
			order[k.Label] = i
		}
	}
	for _, y := range years {
		slices.SortStableFunc(y.Groups, func(a, b group) int { return order[a.Label] - order[b.Label] })
	}
	return years
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch ptoy.KindOf(err) {
	case ptoy.Unauthenticated:
		s.setCookie(w, r, sessionCookie, "", -1)
		http.Redirect(w, r, "/signin?ended=1", http.StatusSeeOther)
	case ptoy.NotFound:
		s.errorPage(w, r, http.StatusNotFound, ptoy.Message(err))
	default:
		s.errorPage(w, r, http.StatusServiceUnavailable, ptoy.Message(err))
	}
}

func (s *Server) timeline(w http.ResponseWriter, r *http.Request) {
	tok, id, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	// One $everything of the kinds shown (decided and audited by the door
	// as one answer), each resource then classed as the kind's search
	// would class it.
	var types []string
	for _, k := range kinds {
		if !slices.Contains(types, k.Type) {
			types = append(types, k.Type)
		}
	}
	found, err := s.search(r.Context(), r, tok, "Patient/"+id.String()+"/$everything?_type="+strings.Join(types, ",")+"&_count=1000")
	if err != nil && ptoy.KindOf(err) != ptoy.NotFound { // NotFound: no record at all
		s.fail(w, r, err)
		return
	}
	var entries []entry
	counts := map[string]int{}
	for _, res := range found {
		for _, k := range kinds {
			if k.Type == str(res["resourceType"]) && k.has(res) {
				entries = append(entries, k.entry(res))
				counts[k.Label]++
				break
			}
		}
	}
	var summary []string
	seen := map[string]bool{}
	for _, k := range kinds {
		if !seen[k.Label] {
			seen[k.Label] = true
			name := k.Label
			if counts[k.Label] == 1 {
				name = k.One
			}
			summary = append(summary, fmt.Sprintf("%d %s", counts[k.Label], strings.ToLower(name)))
		}
	}
	years := timeline(entries)
	shown := yearsShown(years, r.URL.Query().Get("year"))
	s.render(w, r, http.StatusOK, "timeline", page{Title: "Your health timeline", SignedIn: true, Nav: "/timeline", Data: map[string]any{
		"Years": years, "Shown": shown, "Cut": len(shown) < len(years), "Total": len(entries), "Summary": strings.Join(summary, ", "),
	}})
}

// timelineShown is how many entries the timeline shows at once, in
// whole years: the newest years up to it (at least one), or the year
// asked for; the others are a link away.
const timelineShown = 100

// yearsShown picks the years the page shows and sets each year's link.
func yearsShown(years []year, asked string) []year {
	var shown []year
	if i := slices.IndexFunc(years, func(y year) bool { return y.Year == asked }); i >= 0 {
		shown = years[i : i+1]
	} else {
		n := 0
		for _, y := range years {
			if len(shown) > 0 && n+y.Count > timelineShown {
				break
			}
			shown = append(shown, y)
			n += y.Count
		}
	}
	for i := range years {
		years[i].Href = "/timeline?year=" + url.QueryEscape(years[i].Year) + "#y" + years[i].Year
		if slices.ContainsFunc(shown, func(y year) bool { return y.Year == years[i].Year }) {
			years[i].Href = "#y" + years[i].Year
		}
	}
	return shown
}

var (
	idRE   = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	codeRE = regexp.MustCompile(`^[0-9A-Za-z\-]{1,20}$`)
)

// field is one line of a record's details.
type field struct{ Name, Value string }

// details flattens a resource into readable lines, leaving out the
// narrative (never shown unsanitised), meta and references' internals.
func details(v any, prefix string, out *[]field) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			if k == "text" && prefix == "" || k == "meta" || k == "resourceType" || k == "id" || k == "extension" || k == "modifierExtension" || k == "contained" || k == "data" {
				continue
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			name := words(k)
			if prefix != "" {
				name = prefix + " › " + name
			}
			details(v[k], name, out)
		}
	case []any:
		for _, x := range v {
			details(x, prefix, out)
		}
	case string:
		if len(v) > 500 {
			v = v[:500] + "…"
		}
		*out = append(*out, field{prefix, v})
	case float64:
		*out = append(*out, field{prefix, fmtNum(v)})
	case bool:
		*out = append(*out, field{prefix, strconv.FormatBool(v)})
	}
}

// words turns a FHIR element name into words: "effectiveDateTime" →
// "effective date time".
func words(name string) string {
	var b strings.Builder
	for i, r := range name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r + ('a' - 'A'))
			continue
		}
		b.WriteRune(r)
	}
	s := b.String()
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

func (s *Server) record(w http.ResponseWriter, r *http.Request) {
	tok, _, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	typ, id := r.PathValue("type"), r.PathValue("id")
	k, known := kindOf(typ)
	if !known || !idRE.MatchString(id) {
		s.errorPage(w, r, http.StatusNotFound, "There is no such record.")
		return
	}
	res, err := s.get(r.Context(), r, tok, typ+"/"+id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	k = kindFor(k, res)
	e := k.entry(res)
	var fs []field
	details(res, "", &fs)
	data := map[string]any{"Entry": e, "Status": str(res["status"]), "Fields": fs, "Added": r.URL.Query().Get("added") == "1"}
	if a, ok := fileOf(res); ok && typ == "DocumentReference" {
		data["File"] = map[string]string{"Href": "/records/DocumentReference/" + id + "/file", "Kind": fileLabel(a.Type), "Size": sizeText(len(a.Data))}
	}
	s.render(w, r, http.StatusOK, "record", page{Title: e.Title, SignedIn: true, Nav: "/timeline", Data: data})
}
