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
	Batch      int       // resources per batch; 500
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
	for {
		batch, pos, err := src.Next(ctx, o.Batch)
		if err != nil && err != io.EOF {
			return sum, err
		}
		if len(batch) > 0 {
			res, serr := sink(ctx, src.Name(), batch)
			if serr != nil {
				return sum, serr
			}
			cp.Done += len(batch)
			cp.Created += res.Created
			cp.Updated += res.Updated
			cp.Unchanged += res.Unchanged
			cp.Failed += len(res.Failed)
			for _, f := range res.Failed {
				sum.Failures = append(sum.Failures, Failure{Ref: f.Ref, Reason: f.Reason})
			}
		}
		cp.Position = pos
		if err == io.EOF {
			cp.Finished = true
		}
		if o.Checkpoint != "" {
			if werr := writeCheckpoint(o.Checkpoint, &cp); werr != nil {
				return sum, werr
			}
		}
		el := o.Now().Sub(start)
		rate := float64(cp.Done-doneAtStart) / max(el.Seconds(), 1e-3)
		if o.Report != nil {
			o.Report(cp, total, rate)
		}
		if o.Progress != nil && (len(batch) > 0 || cp.Finished) {
			line := fmt.Sprintf("synced %d resources (%d new, %d changed, %d unchanged, %d failed), %.0f/s", cp.Done, cp.Created, cp.Updated, cp.Unchanged, cp.Failed, rate)
			if total > 0 && rate > 0 && cp.Done < total {
				line += fmt.Sprintf(", about %s left", (time.Duration(float64(total-cp.Done)/rate) * time.Second).Round(time.Second))
			}
			fmt.Fprintln(o.Progress, line)
		}
		if cp.Finished {
			sum.Checkpoint, sum.Elapsed = cp, o.Now().Sub(start)
			return sum, nil
		}
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
	}
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
