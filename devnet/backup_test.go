package devnet

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ptoy"
	"ptoy/blob"
	"ptoy/client"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/node"
)

// TestBackupAndRestore backs a running one-validator network up while a
// patient keeps writing records, stops it, restores the snapshot into a
// fresh home and starts a node there: it goes on from the snapshot's
// height with the snapshot's app hash, every record on its ledger reads
// back from its own disk, and its audit log holds the events and batches
// that verify. Only the node's organisation and its admins may ask for a
// backup.
func TestBackupAndRestore(t *testing.T) {
	ctx, n := startNet(t, 4*time.Minute, Options{Validators: 1})
	alice := mustKey(t, n, "alice")
	gh, ghAdmin, lee := mustKey(t, n, "general-hospital"), mustKey(t, n, "gh-admin"), mustKey(t, n, "nurse-lee")
	c := n.Client(0)
	home := n.Info.Nodes[0].Home

	var mu sync.Mutex
	written := map[string][]byte{} // record id (hex) -> plaintext, acknowledged
	put := func(i int) error {
		data := fmt.Appendf(nil, `{"resourceType":"Observation","code":{"text":"test %d"}}`, i)
		recs, err := c.PutRecords(ctx, alice, alice.ID(), ptoy.ID{}, []client.NewRecord{{Category: pb.Category_CATEGORY_LAB_RESULTS, Data: data}})
		if err != nil {
			return err
		}
		mu.Lock()
		written[hex.EncodeToString(recs[0].Id)] = data
		mu.Unlock()
		return nil
	}
	for i := range 3 {
		if err := put(i); err != nil {
			t.Fatal(err)
		}
	}
	// A read, so that the audit log has events of its own to keep.
	var first []byte
	for id := range written {
		first, _ = hex.DecodeString(id)
		break
	}
	if _, _, err := c.GetRecord(ctx, alice, alice.ID(), first, client.ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	nd := n.Nodes[0]
	waitFor(t, ctx, "an audit batch", func() bool {
		bs, _ := nd.Audit().Batches(ctx, 0)
		return len(bs) > 0
	})

	// Who may ask.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, nd.URL()+"/v1/admin/backup", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an unsigned backup request: %d, want 401", resp.StatusCode)
	}
	for who, k := range map[string]*keys.KeyPair{"a nurse of the organisation": lee, "a patient": alice} {
		if _, err := c.Backup(ctx, k); ptoy.KindOf(err) != ptoy.PermissionDenied {
			t.Fatalf("a backup asked by %s: %v, want PermissionDenied", who, err)
		}
	}
	if _, err := c.Backup(ctx, ghAdmin); err != nil {
		t.Fatalf("a backup asked by the organisation's admin: %v", err)
	}

	// The backup itself, with writes going on.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var writeErr error
	go func() {
		defer wg.Done()
		for i := 100; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := put(i); err != nil {
				writeErr = err
				return
			}
		}
	}()
	auditBefore := nd.Audit().Last()
	mu.Lock()
	before := len(written)
	mu.Unlock()
	m, err := c.Backup(ctx, gh)
	if err != nil {
		t.Fatal(err)
	}
	// Some writes after it, then stop.
	waitFor(t, ctx, "writes after the backup", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(written) >= before+3 || writeErr != nil
	})
	close(stop)
	wg.Wait()
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	if filepath.Dir(m.Dir) != filepath.Join(home, node.BackupDir) || m.Height < 1 {
		t.Fatalf("backup manifest: %+v", m)
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "keys", "passphrase")); !os.IsNotExist(err) {
		t.Fatalf("the backup holds the passphrase file (%v)", err)
	}
	// A home in use is not restored into.
	if _, err := node.Restore(m.Dir, home, true); ptoy.KindOf(err) != ptoy.Unavailable {
		t.Fatalf("restore into a running node's home: %v, want Unavailable", err)
	}
	n.Close()

	restored := filepath.Join(t.TempDir(), "restored")
	if err := os.MkdirAll(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(restored, "stray"), nil, 0o600)
	if _, err := node.Restore(m.Dir, restored, false); ptoy.KindOf(err) != ptoy.Exists {
		t.Fatalf("restore into a home that is not empty: %v, want Exists", err)
	}
	if _, err := node.Restore(m.Dir, restored, true); err != nil {
		t.Fatal(err)
	}
	pass, err := os.ReadFile(filepath.Join(home, "keys", "passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	rn, err := node.Open(restored, node.Options{Passphrase: bytes.TrimSpace(pass)})
	if err != nil {
		t.Fatal(err)
	}
	defer rn.Close()
	if h, _ := rn.Ledger().Height(); h < m.Height {
		t.Fatalf("the restored ledger is at %d, the snapshot at %d", h, m.Height)
	}
	if err := rn.Start(); err != nil {
		t.Fatal(err)
	}
	// The restored validator makes new blocks on top of the snapshot.
	if err := rn.WaitHeight(ctx, m.Height+2); err != nil {
		t.Fatal(err)
	}
	meta := rn.Comet().BlockStore().LoadBlockMeta(m.Height + 1)
	if meta == nil || hex.EncodeToString(meta.Header.AppHash) != m.AppHash {
		t.Fatalf("block %d does not carry the snapshot's app hash %s", m.Height+1, m.AppHash)
	}

	// Every record on the restored ledger reads back from the node's own
	// disk, and every one acknowledged before the backup is there.
	rc := client.New(rn.URL(), &http.Client{Transport: rn.Transport()})
	states, err := rc.As(alice).Records(ctx, alice.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(states) < before {
		t.Fatalf("the restored ledger holds %d records, %d were written before the backup", len(states), before)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, st := range states {
		if _, err := rn.Blobs().Stat(ctx, blob.Hash(st.Entry.Hash)); err != nil {
			t.Fatalf("the ciphertext of a restored record: %v", err)
		}
		got, _, err := rc.GetRecord(ctx, alice, alice.ID(), st.Entry.Id, client.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want, ok := written[hex.EncodeToString(st.Entry.Id)]; !ok || !bytes.Equal(got, want) {
			t.Fatalf("a restored record reads %q", got)
		}
	}

	// The audit log holds what it held before the backup, and its
	// batches verify.
	if rn.Audit().Last() < auditBefore {
		t.Fatalf("the restored audit log ends at %d, it held %d before the backup", rn.Audit().Last(), auditBefore)
	}
	bs, err := rn.Audit().Batches(ctx, 0)
	if err != nil || len(bs) == 0 {
		t.Fatalf("restored audit batches: %v %v", bs, err)
	}
	for _, b := range bs {
		if err := rn.Audit().VerifyBatch(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
	}
}
