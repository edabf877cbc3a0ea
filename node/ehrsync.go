package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"ptoy"
	"ptoy/client"
	"ptoy/ehrsync"
)

// The EHR syncs a node runs for its organisation: the sources its
// configuration lists ([[ehr_source]]), started and watched by its admins
// in the console. A run is ptoy sync in process: the same source readers,
// checkpoints and failure reports (in HOME/data/ehr-sync), with batches
// filed straight into the organisation's holdings. A run stopped, or cut
// by a restart, resumes from its checkpoint at the next start; after a
// finished run, a FHIR server is asked only for what changed since that
// run started.

// SyncState is where a source's sync is.
type SyncState string

const (
	SyncIdle     SyncState = "never run"
	SyncRunning  SyncState = "running"
	SyncFinished SyncState = "finished"
	SyncStopped  SyncState = "stopped"
	SyncFailed   SyncState = "failed"
)

// SyncStatus is what the console shows of a source.
type SyncStatus struct {
	Name, Kind, Where string
	State             SyncState
	ehrsync.Checkpoint
	Total     int     // -1 when the source does not say
	PerSecond float64 // this run's
	Left      time.Duration
	Ended     time.Time
	Error     string // why the last run failed, for the admin
	// Failures are the newest resources the node did not take, with the
	// reason (at most maxShownFailures).
	Failures []ehrsync.Failure
}

const (
	syncBatch        = 1000
	maxShownFailures = 50
)

type syncJob struct {
	cfg    ehrsync.SourceConfig
	status SyncStatus
	cancel context.CancelFunc
}

type syncJobs struct {
	mu   sync.Mutex
	jobs map[string]*syncJob
}

func (n *Node) syncDir() string { return filepath.Join(n.home, "data", "ehr-sync") }

func (n *Node) syncJob(name string) (*syncJob, error) {
	n.syncs.mu.Lock()
	defer n.syncs.mu.Unlock()
	if n.syncs.jobs == nil {
		n.syncs.jobs = map[string]*syncJob{}
		for _, c := range n.cfg.EHRSources {
			j := &syncJob{cfg: c, status: SyncStatus{Name: c.Name, State: SyncIdle, Total: -1}}
			j.status.Kind, j.status.Where = "directory", c.Dir
			if c.FHIR != "" {
				j.status.Kind, j.status.Where = "FHIR server", c.FHIR
			}
			n.syncs.jobs[c.Name] = j
		}
	}
	j, ok := n.syncs.jobs[name]
	if !ok {
		return nil, ptoy.E("node.sync", ptoy.NotFound, fmt.Sprintf("the node's configuration lists no EHR source %q", name))
	}
	return j, nil
}

// EHRSyncs returns the state of each configured source, in the
// configuration's order.
func (n *Node) EHRSyncs() []SyncStatus {
	var out []SyncStatus
	for _, c := range n.cfg.EHRSources {
		j, err := n.syncJob(c.Name)
		if err != nil {
			continue
		}
		n.syncs.mu.Lock()
		st := j.status
		n.syncs.mu.Unlock()
		if st.State != SyncRunning {
			if cp, err := ehrsync.ReadCheckpoint(n.syncPath(c.Name, ".json")); err == nil {
				st.Checkpoint = *cp
				if st.State == SyncIdle {
					st.State = SyncStopped
					if cp.Finished {
						st.State = SyncFinished
					}
				}
			}
			st.Failures = n.lastFailures(c.Name)
		}
		st.Failures = slices.Clone(st.Failures)
		out = append(out, st)
	}
	return out
}

func (n *Node) syncPath(name, ext string) string { return filepath.Join(n.syncDir(), name+ext) }

// StartEHRSync starts a sync of the named source (resuming a run that did
// not finish), unless one runs.
func (n *Node) StartEHRSync(name string) error {
	const op = "node.StartEHRSync"
	j, err := n.syncJob(name)
	if err != nil {
		return err
	}
	if n.bg == nil {
		return ptoy.E(op, ptoy.Unavailable, "the node is not running")
	}
	if err := os.MkdirAll(n.syncDir(), 0o700); err != nil {
		return ptoy.E(op, ptoy.Unavailable, "cannot make the sync directory", err)
	}
	n.syncs.mu.Lock()
	defer n.syncs.mu.Unlock()
	if j.status.State == SyncRunning {
		return ptoy.E(op, ptoy.Exists, fmt.Sprintf("a sync of %s is running already", name))
	}
	ctx, cancel := context.WithCancel(n.bg)
	j.cancel = cancel
	j.status = SyncStatus{Name: j.status.Name, Kind: j.status.Kind, Where: j.status.Where, State: SyncRunning, Total: -1,
		Checkpoint: ehrsync.Checkpoint{Source: name, Started: time.Now()}}
	if !n.tasks.start(func() { defer cancel(); n.runSync(ctx, j) }) {
		cancel()
		j.status.State = SyncStopped
		return ptoy.E(op, ptoy.Unavailable, "the node is stopping")
	}
	return nil
}

// StopEHRSync stops a running sync after the batch it is filing; started
// again, it resumes from there.
func (n *Node) StopEHRSync(name string) error {
	j, err := n.syncJob(name)
	if err != nil {
		return err
	}
	n.syncs.mu.Lock()
	defer n.syncs.mu.Unlock()
	if j.status.State != SyncRunning || j.cancel == nil {
		return ptoy.E("node.StopEHRSync", ptoy.Invalid, fmt.Sprintf("no sync of %s is running", name))
	}
	j.cancel()
	return nil
}

// lastSince is when the last finished run of a source started: a FHIR
// server is asked for what changed since.
type lastSince struct {
	Started time.Time `json:"started"`
}

func (n *Node) runSync(ctx context.Context, j *syncJob) {
	name := j.cfg.Name
	set := func(f func(*SyncStatus)) {
		n.syncs.mu.Lock()
		f(&j.status)
		n.syncs.mu.Unlock()
	}
	end := func(err error) {
		set(func(s *SyncStatus) {
			s.Ended = time.Now()
			switch {
			case err == nil:
				s.State = SyncFinished
			case ctx.Err() != nil:
				s.State = SyncStopped
			default:
				s.State, s.Error = SyncFailed, ptoy.Message(err)
				if s.Error == "" {
					s.Error = "the sync failed; see the node's log"
				}
			}
		})
		if err != nil && ctx.Err() == nil {
			n.log.Warn("ehr sync failed", "source", name, "kind", ptoy.KindOf(err).String(), "err", err)
		} else {
			n.log.Info("ehr sync ended", "source", name, "stopped", ctx.Err() != nil)
		}
	}
	cpPath := n.syncPath(name, ".json")
	var since time.Time
	if j.cfg.FHIR != "" {
		if b, err := os.ReadFile(n.syncPath(name, ".last.json")); err == nil {
			var l lastSince
			if json.Unmarshal(b, &l) == nil {
				since = l.Started
			}
		}
		if cp, err := ehrsync.ReadCheckpoint(cpPath); err == nil && !cp.Finished {
			since = time.Time{} // a resumed run reads what it started to read
			if b, err := os.ReadFile(n.syncPath(name, ".since.json")); err == nil {
				var l lastSince
				if json.Unmarshal(b, &l) == nil {
					since = l.Started
				}
			}
		} else if err := writeJSONFile(n.syncPath(name, ".since.json"), lastSince{Started: since}); err != nil {
			end(err)
			return
		}
	}
	src, err := j.cfg.Open(ctx, n.home, &http.Client{Timeout: 2 * time.Minute}, since)
	if err != nil {
		end(err)
		return
	}
	// The failure report is the current run's: a fresh run starts it
	// anew, a resumed one adds to it.
	flags := os.O_CREATE | os.O_APPEND | os.O_WRONLY
	if cp, err := ehrsync.ReadCheckpoint(cpPath); err != nil || cp.Finished {
		flags |= os.O_TRUNC
	}
	rep, err := os.OpenFile(n.syncPath(name, ".failed.ndjson"), flags, 0o600)
	if err != nil {
		end(ptoy.E("node.sync", ptoy.Unavailable, "cannot open the failure report", err))
		return
	}
	defer rep.Close()
	sink := func(ctx context.Context, source string, b []json.RawMessage) (*client.ImportResult, error) {
		raws := make([][]byte, len(b))
		for i, r := range b {
			raws[i] = r
		}
		// A stop (or the node closing) lets the batch under way finish.
		res, err := n.holdings.Import(context.WithoutCancel(ctx), source, raws)
		if err != nil {
			return nil, err
		}
		out := &client.ImportResult{Created: res.Created, Updated: res.Updated, Unchanged: res.Unchanged, Forwarded: res.Forwarded}
		enc := json.NewEncoder(rep)
		for _, f := range res.Failed {
			out.Failed = append(out.Failed, client.ImportFailure{Index: f.Index, Ref: f.Ref, Reason: f.Reason})
			enc.Encode(ehrsync.Failure{Ref: f.Ref, Reason: f.Reason})
		}
		return out, nil
	}
	runStart := time.Now()
	_, err = ehrsync.Run(ctx, src, sink, ehrsync.Options{Batch: syncBatch, Checkpoint: cpPath,
		Report: func(cp ehrsync.Checkpoint, total int, rate float64) {
			set(func(s *SyncStatus) {
				s.Checkpoint, s.Total, s.PerSecond, s.Left = cp, total, rate, 0
				if total > 0 && rate > 0 && cp.Done < total {
					s.Left = (time.Duration(float64(total-cp.Done)/rate) * time.Second).Round(time.Second)
				}
			})
		}})
	if err == nil && j.cfg.FHIR != "" {
		started := runStart
		if cp, cerr := ehrsync.ReadCheckpoint(cpPath); cerr == nil {
			started = cp.Started
		}
		err = writeJSONFile(n.syncPath(name, ".last.json"), lastSince{Started: started})
	}
	set(func(s *SyncStatus) { s.Failures = n.lastFailures(name) })
	end(err)
}

// lastFailures reads the newest failures of a source's report.
func (n *Node) lastFailures(name string) []ehrsync.Failure {
	f, err := os.Open(n.syncPath(name, ".failed.ndjson"))
	if err != nil {
		return nil
	}
	defer f.Close()
	const tail = 256 << 10
	if st, err := f.Stat(); err == nil && st.Size() > tail {
		f.Seek(st.Size()-tail, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, tail))
	var out []ehrsync.Failure
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), tail)
	for sc.Scan() {
		var fl ehrsync.Failure
		if json.Unmarshal(sc.Bytes(), &fl) == nil && fl.Reason != "" {
			out = append(out, fl)
		}
	}
	if len(out) > maxShownFailures {
		out = out[len(out)-maxShownFailures:]
	}
	slices.Reverse(out)
	return out
}

// writeJSONFile writes v to path atomically.
func writeJSONFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return ptoy.E("node.sync", ptoy.Other, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return ptoy.E("node.sync", ptoy.Unavailable, "cannot write "+filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return ptoy.E("node.sync", ptoy.Unavailable, "cannot write "+filepath.Base(path), errors.Join(err, os.Remove(tmp)))
	}
	return nil
}
