package node

import (
	"fmt"
	"net/http"
	"strings"
)

// healthz is the liveness check: the process answers. It says the
// ledger's height.
func (n *Node) healthz(w http.ResponseWriter, r *http.Request) {
	h, _ := n.ledger.Height()
	fmt.Fprintf(w, "ok %d\n", h)
}

// readyz answers 200 when the node can serve: consensus runs and has
// caught up with the network (it is not in block sync), the ledger has
// committed a block, and the audit log can write (reads are refused
// while it cannot). Otherwise 503, with the reasons in plain words.
func (n *Node) readyz(w http.ResponseWriter, r *http.Request) {
	why := n.notReady()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(why) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s\n", strings.Join(why, "; "))
		return
	}
	h, _ := n.ledger.Height()
	fmt.Fprintf(w, "ready %d\n", h)
}

// notReady lists why the node is not ready; none if it is.
func (n *Node) notReady() []string {
	var why []string
	switch {
	case n.stopping.Load():
		why = append(why, "the node is stopping")
	case !n.comet.IsRunning():
		why = append(why, "consensus is not running")
	case n.comet.ConsensusReactor().WaitSync():
		why = append(why, "catching up with the network (block sync)")
	}
	if h, _ := n.ledger.Height(); h == 0 {
		why = append(why, "no block committed yet")
	}
	if err := n.audit.Err(); err != nil {
		why = append(why, "the audit log cannot write (is its disk full?), so reads are refused")
	}
	return why
}
