package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunRecords runs a small records benchmark end to end. It asserts
// that every figure was measured, not how fast.
func TestRunRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunRecords(ctx, RecordOptions{Dir: t.TempDir(), Writers: 2, Records: 20, Batch: 5, Sizes: []int{1000},
		Readers: []int{4}, ReadTime: 300 * time.Millisecond, ReadRounds: 2, Grants: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Writes) != 1 || len(rep.Reads) != 2 || rep.Reads[0].Reads == 0 || rep.Reads[1].Reads == 0 || rep.BytesPerRecord <= 0 || rep.BytesPerGrant <= 0 {
		t.Fatalf("report %+v", rep)
	}
	var b strings.Builder
	rep.Print(&b)
	t.Log("\n" + b.String())
}
