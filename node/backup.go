package node

// Backup and restore of a node's home while the node runs.
//
// A snapshot is a directory laid out as a home: the settings, keys (still
// sealed; the passphrase file is left out) and certificates as they are,
// and under data/ a consistent copy of every store. Consistent means the
// copy looks like the home of a node that stopped at one moment:
//
//   - Block execution pauses: the backup holds the lock the app's
//     FinalizeBlock and Commit take, and waits until CometBFT is blocked
//     on it with the next block, H+1, decided. By then CometBFT has
//     written block H+1 to its block store, its state is at H (or H+1
//     without the app's commit), the ledger is at H, and the validator
//     has signed nothing past its precommit for H+1. The block store,
//     the state store, the ledger and the validator's last-signed state
//     are copied then: a state CometBFT's own start-up handshake
//     completes (it executes block H+1 again), as after a crash at that
//     point, and the validator signs on from height H+2. (If no block
//     comes within BackupWait, as in a network that has halted, the
//     copies are made anyway, block store before state store, which
//     CometBFT's handshake still completes; the validator may then have
//     signed for a height the copy lacks, which a network with other
//     validators gets past, but a sole validator restored from it may
//     not.)
//   - Then the audit log, the blob store and the registration directory,
//     each a Pebble checkpoint. Taken after the ledger, they hold at least
//     what the ledger's height refers to; a blob placed later is repaired
//     from the peers that hold it.
//
// CometBFT's databases (goleveldb by default) are copied key by key from
// one iterator each, which reads a single point in time. The consensus
// write-ahead log is left out: the restored node starts a fresh one, and
// CometBFT goes on from its stores.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	abci "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"

	"ptoy"
	"ptoy/auth"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/ledger"
	"ptoy/store"
)

// BackupDir is where a node writes its snapshots, under its home.
const BackupDir = "backups"

// ManifestFile names a snapshot's description, at its top.
const ManifestFile = "backup.json"

// Manifest describes a snapshot.
type Manifest struct {
	ChainID string    `json:"chain_id"`
	Moniker string    `json:"moniker"`
	Height  int64     `json:"height"`   // the ledger's committed height
	AppHash string    `json:"app_hash"` // hex, at Height
	Time    time.Time `json:"time"`
	// DBBackend is CometBFT's database backend the copies are in.
	DBBackend string `json:"db_backend"`
	// Dir is where the snapshot lies on the node's disk.
	Dir string `json:"dir"`
}

// BackupWait bounds how long a backup waits for the next block.
const BackupWait = 20 * time.Second

// pausable lets a backup hold block execution: FinalizeBlock and Commit
// wait while it holds mu; waiting counts the calls that wait, and arrived
// wakes a backup waiting for one.
type pausable struct {
	abci.Application
	mu      sync.Mutex
	waiting atomic.Int32
	arrived chan struct{} // buffered, 1
}

func (p *pausable) hold() {
	p.waiting.Add(1)
	select {
	case p.arrived <- struct{}{}:
	default:
	}
	p.mu.Lock()
	p.waiting.Add(-1)
}

func (p *pausable) FinalizeBlock(ctx context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	p.hold()
	defer p.mu.Unlock()
	return p.Application.FinalizeBlock(ctx, req)
}

func (p *pausable) Commit(ctx context.Context, req *abci.RequestCommit) (*abci.ResponseCommit, error) {
	p.hold()
	defer p.mu.Unlock()
	return p.Application.Commit(ctx, req)
}

// pause takes the lock and waits, up to wait, until CometBFT waits on it
// with a block; it reports whether it did.
func (p *pausable) pause(ctx context.Context, wait time.Duration) bool {
	p.mu.Lock()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for p.waiting.Load() == 0 {
		select {
		case <-p.arrived:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// cometDBs remembers the databases CometBFT opens, by their id
// ("blockstore", "state", "evidence"), so that a backup can copy them.
type cometDBs struct {
	mu  sync.Mutex
	dbs map[string]dbm.DB
}

func (c *cometDBs) provider(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err == nil {
		c.mu.Lock()
		c.dbs[ctx.ID] = db
		c.mu.Unlock()
	}
	return db, err
}

func (c *cometDBs) get(id string) dbm.DB {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dbs[id]
}

// copyDB copies every key of src into a new database id in dir.
func copyDB(src dbm.DB, id string, backend dbm.BackendType, dir string) error {
	dst, err := dbm.NewDB(id, backend, dir)
	if err != nil {
		return err
	}
	defer dst.Close()
	it, err := src.Iterator(nil, nil)
	if err != nil {
		return err
	}
	defer it.Close()
	b := dst.NewBatch()
	n := 0
	for ; it.Valid(); it.Next() {
		if err := b.Set(it.Key(), it.Value()); err != nil {
			b.Close()
			return err
		}
		if n++; n%1000 == 0 {
			if err := b.Write(); err != nil {
				b.Close()
				return err
			}
			b.Close()
			b = dst.NewBatch()
		}
	}
	if err := it.Error(); err != nil {
		b.Close()
		return err
	}
	err = b.WriteSync()
	b.Close()
	return err
}

// Backup writes a consistent snapshot of the running node's stores into
// a new directory HOME/backups/<time> and returns its manifest. One
// backup runs at a time; block commits pause while CometBFT's stores and
// the ledger are copied. Errors are ptoy.Unavailable when the node is
// not running or stopping, ptoy.Other otherwise.
func (n *Node) Backup(ctx context.Context) (Manifest, error) {
	const op = "node.Backup"
	n.backupMu.Lock()
	defer n.backupMu.Unlock()
	if n.cancel == nil || n.stopping.Load() {
		return Manifest{}, ptoy.E(op, ptoy.Unavailable, "the node is not running")
	}
	now := time.Now().UTC()
	name := now.Format("20060102T150405.000Z")
	root := n.path(BackupDir)
	final := filepath.Join(root, name)
	tmp := filepath.Join(root, ".partial-"+name)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return Manifest{}, ptoy.E(op, ptoy.Other, err)
	}
	if _, err := os.Stat(final); err == nil {
		return Manifest{}, ptoy.E(op, ptoy.Exists, "a backup of this moment exists; try again")
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return Manifest{}, ptoy.E(op, ptoy.Other, err)
	}
	if err := n.copyHomeFiles(tmp); err != nil {
		return Manifest{}, ptoy.E(op, ptoy.Other, "copying the home's settings and keys", err)
	}
	cc := cometConfig(n.home, n.cfg)
	backend := dbm.BackendType(cc.DBBackend)
	data := filepath.Join(tmp, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return Manifest{}, ptoy.E(op, ptoy.Other, err)
	}
	rel := func(p string) string { r, _ := filepath.Rel(n.home, p); return filepath.Join(tmp, r) }
	if err := func() error {
		if !n.pause.pause(ctx, BackupWait) {
			n.log.Warn("backup: no block came to pause at; copying the stores as they are", "wait", BackupWait)
		}
		defer n.pause.mu.Unlock()
		// The block store before the state store: see the notes above.
		for _, id := range []string{"blockstore", "state"} {
			db := n.cometDBs.get(id)
			if db == nil {
				return fmt.Errorf("CometBFT's %s database is not open", id)
			}
			if err := copyDB(db, id, backend, data); err != nil {
				return fmt.Errorf("copying CometBFT's %s: %w", id, err)
			}
		}
		if err := n.kv.Checkpoint(filepath.Join(data, "ptoy-state")); err != nil {
			return err
		}
		return copyFile(cc.PrivValidatorStateFile(), rel(cc.PrivValidatorStateFile()))
	}(); err != nil {
		return Manifest{}, ptoy.E(op, ptoy.Other, "copying the ledger and CometBFT's stores", err)
	}
	if db := n.cometDBs.get("evidence"); db != nil {
		if err := copyDB(db, "evidence", backend, data); err != nil {
			return Manifest{}, ptoy.E(op, ptoy.Other, "copying CometBFT's evidence", err)
		}
	}
	// The audit log after the ledger: a block's events the ledger had
	// forgotten by its copy were in the audit log by then, and those it
	// still kept are in its copy, so none is missing from both.
	if err := n.audit.Checkpoint(ctx, filepath.Join(data, "audit")); err != nil {
		return Manifest{}, err
	}
	// Blobs on the node's disk are checkpointed with it; blobs in an S3
	// bucket stay there (the bucket is the copy), and the ledger says
	// which the node should hold.
	if cp, ok := n.blobs.(interface {
		Checkpoint(ctx context.Context, dir string) error
	}); ok {
		if err := cp.Checkpoint(ctx, filepath.Join(data, "blobs")); err != nil {
			return Manifest{}, err
		}
	}
	if err := n.dir.Checkpoint(filepath.Join(data, "directory")); err != nil {
		return Manifest{}, err
	}
	m := Manifest{ChainID: n.ChainID(), Moniker: n.cfg.Moniker, Time: now, DBBackend: string(backend), Dir: final}
	var err error
	if m.Height, m.AppHash, err = snapshotHeight(filepath.Join(data, "ptoy-state")); err != nil {
		return Manifest{}, err
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeFile(filepath.Join(tmp, ManifestFile), append(b, '\n'), 0o600); err != nil {
		return Manifest{}, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return Manifest{}, ptoy.E(op, ptoy.Other, err)
	}
	ok = true
	n.log.Info("backup written", "dir", final, "height", m.Height)
	return m, nil
}

// snapshotHeight reads the height and app hash of a ledger store.
func snapshotHeight(dir string) (int64, string, error) {
	kv, err := store.Open(dir)
	if err != nil {
		return 0, "", err
	}
	defer kv.Close()
	l, err := ledger.Open(kv)
	if err != nil {
		return 0, "", err
	}
	h, hash := l.Height()
	return h, hex.EncodeToString(hash), nil
}

// copyHomeFiles copies the home's files other than its stores, its lock,
// its backups and the passphrase file into dst: the settings, CometBFT's
// keys and genesis, the sealed keys and the TLS certificates.
func (n *Node) copyHomeFiles(dst string) error {
	skip := map[string]bool{"data": true, BackupDir: true, LockFile: true}
	if p := n.cfg.PassphraseFile; p != "" && !filepath.IsAbs(p) {
		skip[filepath.Clean(p)] = true
	}
	return copyTree(n.home, dst, func(rel string) bool { return skip[rel] })
}

// copyTree copies the regular files and directories under src into dst
// (made if missing), leaving out the paths (relative to src) skip names.
func copyTree(src, dst string, skip func(rel string) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel != "." && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular():
			return copyFile(p, target)
		}
		return nil // sockets, links: not part of a home
	})
}

// copyFile copies src to dst (which must not exist) with src's mode, and
// syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ReadManifest reads the manifest of the snapshot in dir.
func ReadManifest(dir string) (Manifest, error) {
	const op = "node.ReadManifest"
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return Manifest{}, ptoy.E(op, ptoy.Invalid, dir+" is not a ptoy backup (it has no "+ManifestFile+")")
	}
	if err != nil {
		return Manifest{}, ptoy.E(op, ptoy.Other, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Height < 0 || m.ChainID == "" {
		return Manifest{}, ptoy.E(op, ptoy.Invalid, dir+"/"+ManifestFile+" is not a valid backup manifest")
	}
	return m, nil
}

// Restore lays the snapshot in from into home, so that a node started
// there goes on from it. It refuses a home another process runs and,
// unless force, a home that is not empty; with force it first removes
// what the home holds. The passphrase file is not in a snapshot: the
// restored node needs it put back (or PTOY_PASSPHRASE). Errors are
// ptoy.Invalid (not a snapshot), ptoy.Unavailable (the home is in use),
// ptoy.Exists (the home is not empty) and ptoy.Other.
func Restore(from, home string, force bool) (Manifest, error) {
	const op = "node.Restore"
	m, err := ReadManifest(from)
	if err != nil {
		return Manifest{}, err
	}
	_, terr := os.Stat(filepath.Join(from, configFile))
	if _, jerr := os.Stat(filepath.Join(from, legacyConfigFile)); terr != nil && jerr != nil {
		return Manifest{}, ptoy.E(op, ptoy.Invalid, from+" holds no node settings ("+configFile+")")
	}
	lock, err := LockHome(home)
	if err != nil {
		return Manifest{}, err
	}
	defer lock.Release()
	entries, err := os.ReadDir(home)
	if err != nil {
		return Manifest{}, ptoy.E(op, ptoy.Other, err)
	}
	for _, e := range entries {
		if e.Name() == LockFile {
			continue
		}
		if !force {
			return Manifest{}, ptoy.E(op, ptoy.Exists, home+" is not empty; restore into an empty directory, or pass --force to replace what it holds")
		}
		if err := os.RemoveAll(filepath.Join(home, e.Name())); err != nil {
			return Manifest{}, ptoy.E(op, ptoy.Other, err)
		}
	}
	skip := func(rel string) bool { return rel == ManifestFile || rel == LockFile }
	if err := copyTree(from, home, skip); err != nil {
		return Manifest{}, ptoy.E(op, ptoy.Other, "copying the backup", err)
	}
	m.Dir = from
	return m, nil
}

// serveBackup is POST /v1/admin/backup: a snapshot of the node, for its
// own organisation's key or one of its admins.
func (n *Node) serveBackup(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) {
		code := ptoy.HTTPStatus(err)
		msg := ptoy.Message(err)
		if code == http.StatusInternalServerError {
			n.log.Error("backup", "err", err)
			msg = "the backup failed; the node's log says why"
		}
		http.Error(w, msg, code)
	}
	acct := auth.CallerFrom(r.Context())
	if acct == nil {
		var err error
		if acct, err = n.auth.Caller(r); err != nil {
			fail(err)
			return
		}
	}
	if err := n.mayBackUp(ptoy.ID(acct.Id)); err != nil {
		fail(err)
		return
	}
	m, err := n.Backup(r.Context())
	if err != nil {
		fail(err)
		return
	}
	b, _ := json.Marshal(m)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// mayBackUp allows the node's organisation and its admins.
func (n *Node) mayBackUp(who ptoy.ID) error {
	org := n.Org()
	if who == org {
		return nil
	}
	if e, err := n.ledger.Employee(org, who); err == nil && e.Role == pb.Role_ROLE_ADMIN {
		return nil
	}
	return ptoy.E("node.Backup", ptoy.PermissionDenied, "only the node's organisation or one of its admins may back it up")
}
