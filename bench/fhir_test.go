package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunFHIR runs a tiny FHIR benchmark end to end: every resource is
// filed, every search and read answers, the export holds every resource
// and the transactions commit. It asserts that each figure was measured,
// not how fast. It sets the node's repair interval, as
// --fhir-repair-interval does, so that the restart it takes is run too.
func TestRunFHIR(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := RunFHIR(ctx, FHIROptions{Dir: t.TempDir(), Patients: 3, Resources: 60, BundleSize: 15, Writers: 2,
		Searches: 5, Readers: 2, ReadTime: 200 * time.Millisecond, ReadRounds: 1, TxEntries: 10, TxRounds: 1, RepairInterval: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resources != 60 || rep.Bundles != 6 {
		t.Errorf("filed %d resources in %d bundles, want 60 in 6", rep.Resources, rep.Bundles)
	}
	if len(rep.Searches) != 3 || rep.Searches[0].P99 <= 0 {
		t.Errorf("searches %+v", rep.Searches)
	}
	if rep.Searches[1].Matches < 1 {
		t.Errorf("a search by name found no patient: %+v", rep.Searches[1])
	}
	if len(rep.FHIRReads) != 1 || len(rep.Gateway) != 1 || rep.FHIRReads[0].Reads == 0 || rep.Gateway[0].Reads == 0 {
		t.Errorf("reads %+v, gateway %+v", rep.FHIRReads, rep.Gateway)
	}
	// Every resource filed is exported; the end-to-end transaction comes after.
	if rep.Export.Resources != 60 {
		t.Errorf("exported %d resources, want 60", rep.Export.Resources)
	}
	if len(rep.Transaction) != 1 || rep.Transaction[0] <= 0 {
		t.Errorf("transactions %v", rep.Transaction)
	}
	var b strings.Builder
	rep.Print(&b)
	t.Log("\n" + b.String())
}
