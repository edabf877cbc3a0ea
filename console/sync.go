package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	pb "ptoy/gen/ptoy/v1"
)

// The EHR sync page: an admin starts or stops the syncs of the sources
// the node's configuration lists and watches their progress; a small
// script (static/refresh.js) refreshes the progress while one runs, and
// the page's "Refresh" link does the same without it.

func isAdminRole(r pb.Role) bool { return r == pb.Role_ROLE_ADMIN }

// syncRow is a source as the page shows it.
type syncRow struct {
	Sync
	Running                bool
	Progress, Rate, Counts string
	Percent                int // 0-100, -1 unknown
}

func (s *Server) syncPage(w http.ResponseWriter, r *http.Request) {
	tok, m, ok := s.signedIn(w, r)
	if !ok || !s.allowed(w, r, m, isAdminRole(m.Role), "run EHR syncs") {
		return
	}
	s.renderSync(w, r, tok, m, http.StatusOK, "")
}

func (s *Server) renderSync(w http.ResponseWriter, r *http.Request, tok string, m Member, status int, msg string) {
	syncs, err := s.cfg.Org.Syncs(r.Context(), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows := make([]syncRow, len(syncs))
	anyRunning := false
	for i, x := range syncs {
		row := syncRow{Sync: x, Running: x.State == "running", Percent: -1}
		anyRunning = anyRunning || row.Running
		row.Progress = fmt.Sprintf("%s resources", thousands(x.Done))
		if x.Total > 0 {
			row.Percent = min(100, x.Done*100/x.Total)
			row.Progress = fmt.Sprintf("%s of %s resources (%d%%)", thousands(x.Done), thousands(x.Total), row.Percent)
		}
		if row.Running && x.PerSecond > 0 {
			row.Rate = fmt.Sprintf("%s a second", thousands(int(x.PerSecond+0.5)))
			if x.Left > 0 {
				row.Rate += ", about " + x.Left.String() + " left"
			}
		}
		row.Counts = fmt.Sprintf("%s new, %s changed, %s unchanged, %s failed", thousands(x.Created), thousands(x.Updated), thousands(x.Unchanged), thousands(x.Failed))
		rows[i] = row
	}
	s.render(w, r, status, "sync", page{Title: "EHR sync", Member: &m, Nav: "/console/sync", Data: map[string]any{
		"Syncs": rows, "Running": anyRunning, "Message": msg, "Done": r.URL.Query().Get("done"),
	}})
}

// startSync and stopSync act on one source by name.
func (s *Server) startSync(w http.ResponseWriter, r *http.Request) { s.syncAction(w, r, true) }
func (s *Server) stopSync(w http.ResponseWriter, r *http.Request)  { s.syncAction(w, r, false) }

func (s *Server) syncAction(w http.ResponseWriter, r *http.Request, start bool) {
	tok, m, ok := s.form(w, r)
	if !ok || !s.allowed(w, r, m, isAdminRole(m.Role), "run EHR syncs") {
		return
	}
	name := value(r, "source", 65)
	act, done := s.cfg.Org.StopSync, "stopped"
	if start {
		act, done = s.cfg.Org.StartSync, "started"
	}
	if err := act(r.Context(), tok, name); err != nil {
		s.renderSync(w, r, tok, m, http.StatusUnprocessableEntity, s.say("the sync", err))
		return
	}
	http.Redirect(w, r, "/console/sync?done="+done, http.StatusSeeOther)
}

// thousands writes n with thousands separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ago is a time for the page.
func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2 Jan 2006 15:04:05 UTC")
}
