package ehrsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ptoy/client"
)

// listSource gives fixed batches of resources.
type listSource struct {
	batches [][]json.RawMessage
	next    int
}

func (s *listSource) Name() string { return "list" }
func (s *listSource) Total() int   { return -1 }
func (s *listSource) Seek(_ context.Context, pos Position) error {
	s.next = 0
	if pos != nil {
		return json.Unmarshal(pos, &s.next)
	}
	return nil
}
func (s *listSource) Next(context.Context, int) ([]json.RawMessage, Position, error) {
	if s.next >= len(s.batches) {
		return nil, Position("null"), io.EOF
	}
	b := s.batches[s.next]
	s.next++
	pos, _ := json.Marshal(s.next)
	return b, pos, nil
}

func obs(ids ...int) []json.RawMessage {
	var b []json.RawMessage
	for _, id := range ids {
		b = append(b, json.RawMessage(fmt.Sprintf(`{"resourceType":"Observation","id":"o%d"}`, id)))
	}
	return b
}

// recordingSink answers each batch when the test releases it, and
// remembers which batches were in flight together.
type recordingSink struct {
	mu       sync.Mutex
	inFlight map[string]bool
	most     int
	together [][2]string // batches seen in flight at once
	release  map[string]chan error
	entered  map[string]chan struct{} // closed when the batch is sent
}

func newSink(names ...string) *recordingSink {
	s := &recordingSink{inFlight: map[string]bool{}, release: map[string]chan error{}, entered: map[string]chan struct{}{}}
	for _, n := range names {
		s.release[n] = make(chan error, 1)
		s.entered[n] = make(chan struct{})
	}
	return s
}

func (s *recordingSink) sink(ctx context.Context, _ string, batch []json.RawMessage) (*client.ImportResult, error) {
	name := string(batch[0])
	s.mu.Lock()
	for other := range s.inFlight {
		s.together = append(s.together, [2]string{other, name})
	}
	s.inFlight[name] = true
	s.most = max(s.most, len(s.inFlight))
	ch := s.release[name]
	select {
	case <-s.entered[name]:
	default:
		close(s.entered[name])
	}
	s.mu.Unlock()
	err := <-ch
	s.mu.Lock()
	delete(s.inFlight, name)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &client.ImportResult{Created: len(batch)}, nil
}

// TestRunInFlight: two batches are sent at once and the checkpoint
// follows them in order; a batch holding a resource of one in flight
// waits for it; a failed batch leaves the checkpoint before it, and a run
// started again sends it again.
func TestRunInFlight(t *testing.T) {
	ctx := context.Background()
	b1, b2, b3, b4 := obs(1, 2), obs(3, 4), obs(4, 5), obs(6)
	name := func(b []json.RawMessage) string { return string(b[0]) }
	src := &listSource{batches: [][]json.RawMessage{b1, b2, b3, b4}}
	s := newSink(name(b1), name(b2), name(b3), name(b4))
	cp := filepath.Join(t.TempDir(), "cp.json")
	var reported []int
	// Batch 1 is answered once batch 2 is sent too. Batch 3 repeats o4 of
	// batch 2: batch 2 is answered once batch 3 is sent (which must not
	// happen) or after a while. Batch 4 fails.
	go func() { <-s.entered[name(b2)]; s.release[name(b1)] <- nil }()
	go func() {
		select {
		case <-s.entered[name(b3)]:
		case <-time.After(200 * time.Millisecond):
		}
		s.release[name(b2)] <- nil
	}()
	s.release[name(b3)] <- nil
	s.release[name(b4)] <- errors.New("the node is down")
	_, err := Run(ctx, src, s.sink, Options{Checkpoint: cp, Report: func(c Checkpoint, _ int, _ float64) { reported = append(reported, c.Done) }})
	if err == nil || err.Error() != "the node is down" {
		t.Fatalf("Run: %v, want the sink's error", err)
	}
	if s.most != 2 {
		t.Fatalf("at most %d batches in flight, want 2", s.most)
	}
	for _, p := range s.together {
		if p == [2]string{name(b2), name(b3)} || p == [2]string{name(b3), name(b2)} {
			t.Fatal("a batch repeating a resource of a batch in flight was sent before that one was answered")
		}
	}
	if fmt.Sprint(reported) != "[2 4 6]" {
		t.Fatalf("checkpoints after %v resources, want [2 4 6] (in order)", reported)
	}
	c, err := ReadCheckpoint(cp)
	if err != nil || c.Done != 6 || string(c.Position) != "3" || c.Finished {
		t.Fatalf("checkpoint %+v %v, want 6 done at position 3", c, err)
	}
	// Again: batch 4 is sent again, and the run finishes.
	s.release[name(b4)] <- nil
	sum, err := Run(ctx, src, s.sink, Options{Checkpoint: cp})
	if err != nil || !sum.Resumed || !sum.Finished || sum.Done != 7 || sum.Created != 7 {
		t.Fatalf("the resumed run: %+v %v", sum, err)
	}
}
