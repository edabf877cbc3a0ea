// Package ehrsync brings an organisation's EHR into the network: it reads
// resources from a source (a directory of FHIR Bundles and NDJSON files,
// or a FHIR R4 server) and files them in batches at the organisation's
// node, which seals and commits them as the organisation's holdings.
//
// A sync is resumable: after each batch the node has committed, the
// source's position is written to a checkpoint file (atomically). A sync
// killed at any moment and started again resumes from the last
// checkpoint; a batch that was committed but not yet checkpointed is sent
// again, and the node, which knows each resource by its source identity,
// finds it unchanged: nothing is lost and nothing is doubled.
package ehrsync

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"ptoy"
	"ptoy/client"
	"ptoy/fhir/resource"
)

// Position is where a source is: opaque to the runner, kept in the
// checkpoint.
type Position = json.RawMessage

// Source yields resources in a fixed order, in batches.
type Source interface {
	// Name names the source: the node keeps resources apart by it.
	Name() string
	// Seek moves to a position a checkpoint kept (nil: the start).
	Seek(ctx context.Context, pos Position) error
	// Next returns up to max resources and the position after them; an
	// empty batch with io.EOF ends the source.
	Next(ctx context.Context, max int) ([]json.RawMessage, Position, error)
	// Total is how many resources the source holds, if it knows (else
	// -1), for progress.
	Total() int
}

// Sink files a batch at the node.
type Sink func(ctx context.Context, source string, batch []json.RawMessage) (*client.ImportResult, error)

// Options shape a run.
type Options struct {
	Batch int // resources per batch; 500
	// InFlight is how many batches are sent before the first is
	// answered (2: the node validates one while the other commits).
	// Checkpoints still follow the batches in order.
	InFlight   int
	Checkpoint string    // the checkpoint file; "" keeps none
	Progress   io.Writer // a line per batch; nil: none
	// Report is told after each committed batch: the counts so far, the
	// source's total (-1 if it does not know) and this run's rate.
	Report func(cp Checkpoint, total int, perSecond float64)
	Now    func() time.Time
}

// Checkpoint is what a checkpoint file holds.
type Checkpoint struct {
	Source    string    `json:"source"`
	Position  Position  `json:"position,omitempty"`
	Done      int       `json:"done"` // resources sent and committed
	Created   int       `json:"created"`
	Updated   int       `json:"updated"`
	Unchanged int       `json:"unchanged"`
	Failed    int       `json:"failed"`
	Finished  bool      `json:"finished,omitempty"`
	Started   time.Time `json:"started"`
}

// Failure is a resource the node did not take.
type Failure struct {
	Ref    string `json:"ref,omitempty"`
	Reason string `json:"reason"`
}

// Summary is what a run did (counted from the checkpoint it resumed).
type Summary struct {
	Checkpoint
	Failures []Failure     // this run's
	Elapsed  time.Duration // this run's
	Resumed  bool
}

// Run syncs src into sink until the source ends or ctx is done.
func Run(ctx context.Context, src Source, sink Sink, o Options) (*Summary, error) {
	const op = "ehrsync.Run"
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.InFlight <= 0 {
		o.InFlight = 2
	}
	cp := Checkpoint{Source: src.Name(), Started: o.Now()}
	sum := &Summary{}
	if o.Checkpoint != "" {
		old, err := ReadCheckpoint(o.Checkpoint)
		switch {
		case err == nil && old.Source != src.Name():
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("the checkpoint %s is of source %q, not %q: remove it or name another", o.Checkpoint, old.Source, src.Name()))
		case err == nil && !old.Finished:
			cp, sum.Resumed = *old, true
		case err != nil && !os.IsNotExist(err):
			return nil, err
		}
	}
	if err := src.Seek(ctx, cp.Position); err != nil {
		return nil, err
	}
	start := o.Now()
	doneAtStart := cp.Done
	total := src.Total()
	var queue []*flight
	// settle waits for the oldest batch in flight and counts it in the
	// checkpoint; finished once the source's end is counted.
	settle := func() (finished bool, err error) {
		f := queue[0]
		queue = queue[1:]
		<-f.done
		if f.err != nil {
			return false, f.err
		}
		if len(f.batch) > 0 {
			cp.Done += len(f.batch)
			cp.Created += f.res.Created
			cp.Updated += f.res.Updated
			cp.Unchanged += f.res.Unchanged
			cp.Failed += len(f.res.Failed)
			for _, fl := range f.res.Failed {
				sum.Failures = append(sum.Failures, Failure{Ref: fl.Ref, Reason: fl.Reason})
			}
		}
		cp.Position = f.pos
		cp.Finished = f.eof
		if o.Checkpoint != "" {
			if err := writeCheckpoint(o.Checkpoint, &cp); err != nil {
				return false, err
			}
		}
		el := o.Now().Sub(start)
		rate := float64(cp.Done-doneAtStart) / max(el.Seconds(), 1e-3)
		if o.Report != nil {
			o.Report(cp, total, rate)
		}
		if o.Progress != nil && (len(f.batch) > 0 || cp.Finished) {
			line := fmt.Sprintf("synced %d resources (%d new, %d changed, %d unchanged, %d failed), %.0f/s", cp.Done, cp.Created, cp.Updated, cp.Unchanged, cp.Failed, rate)
			if total > 0 && rate > 0 && cp.Done < total {
				line += fmt.Sprintf(", about %s left", (time.Duration(float64(total-cp.Done)/rate) * time.Second).Round(time.Second))
			}
			fmt.Fprintln(o.Progress, line)
		}
		return cp.Finished, nil
	}
	// fail waits for what is still in flight (its work may be committed,
	// but the checkpoint stays before it: sent again, it is unchanged).
	fail := func(err error) (*Summary, error) {
		for _, f := range queue {
			<-f.done
		}
		return sum, err
	}
	ended := false
	for {
		for !ended && len(queue) < o.InFlight && ctx.Err() == nil {
			batch, pos, err := src.Next(ctx, o.Batch)
			if err != nil && err != io.EOF {
				for len(queue) > 0 {
					if _, serr := settle(); serr != nil {
						return fail(serr)
					}
				}
				return sum, err
			}
			f := &flight{batch: batch, pos: pos, eof: err == io.EOF, refs: refsOf(batch), done: make(chan struct{})}
			ended = f.eof
			// A resource that is also in a batch still in flight (a
			// source that gave it twice, changed in between) waits for
			// that batch, so that its versions are filed in order.
			for len(queue) > 0 && f.overlaps(queue) {
				if _, serr := settle(); serr != nil {
					return fail(serr)
				}
			}
			queue = append(queue, f)
			if len(batch) == 0 {
				close(f.done)
				continue
			}
			go func() {
				defer close(f.done)
				f.res, f.err = sink(ctx, src.Name(), f.batch)
			}()
		}
		if len(queue) == 0 {
			return sum, ctx.Err()
		}
		finished, err := settle()
		if err != nil {
			return fail(err)
		}
		if finished {
			sum.Checkpoint, sum.Elapsed = cp, o.Now().Sub(start)
			return sum, nil
		}
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
	}
}

// flight is a batch sent to the node and not yet counted.
type flight struct {
	batch []json.RawMessage
	pos   Position
	eof   bool
	refs  map[string]bool // resourceType/id of each resource
	res   *client.ImportResult
	err   error
	done  chan struct{} // closed once res or err is set
}

// overlaps reports whether f holds a resource that one of fs holds.
func (f *flight) overlaps(fs []*flight) bool {
	for _, o := range fs {
		for ref := range f.refs {
			if o.refs[ref] {
				return true
			}
		}
	}
	return false
}

// refsOf names the resources of batch (resourceType/id); a resource that
// does not say is left out (the node refuses it).
func refsOf(batch []json.RawMessage) map[string]bool {
	refs := make(map[string]bool, len(batch))
	for _, raw := range batch {
		if typ, id := resource.TypeAndID(raw); typ != "" && id != "" {
			refs[typ+"/"+id] = true
		}
	}
	return refs
}

// ReadCheckpoint reads a checkpoint file.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, ptoy.E("ehrsync", ptoy.Invalid, "the checkpoint "+path+" is damaged: remove it to start over", err)
	}
	return &cp, nil
}

// writeCheckpoint replaces the checkpoint file atomically and durably.
func writeCheckpoint(path string, cp *Checkpoint) error {
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return ptoy.E("ehrsync", ptoy.Other, err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return ptoy.E("ehrsync", ptoy.Unavailable, "cannot write the checkpoint", err)
	}
	if _, err = f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		if d, derr := os.Open(filepath.Dir(path)); derr == nil {
			d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return ptoy.E("ehrsync", ptoy.Unavailable, "cannot write the checkpoint", err)
	}
	return nil
}
