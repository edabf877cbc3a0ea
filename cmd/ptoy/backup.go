package main

// Commands "ptoy backup" and "ptoy restore": a node writes a consistent
// snapshot of itself to its own disk, and a snapshot is laid into a home
// that "ptoy node" then starts from.

import (
	"context"
	"fmt"
	"path/filepath"

	"ptoy/node"
)

func init() {
	commands["backup"] = command{"have a running node write a snapshot of its stores", runBackup}
	commands["restore"] = command{"lay a node's snapshot into a home", runRestore}
}

func runBackup(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "backup", "--as KEYNAME [--node URL] [--json]",
		`Asks the running node to write a consistent snapshot of its stores (the
ledger, CometBFT's block and state stores, the audit log, the blob store,
the registration directory) with its settings and sealed keys into a new
directory HOME/backups/<time> on its own disk. Block commits pause while
the ledger and CometBFT's stores are copied. The node allows its
organisation's key and its admins. The passphrase file is not copied.
Restore the snapshot with ptoy restore.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	as := fs.String("as", "", "key `NAME` of the organisation or one of its admins, who signs")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("backup", pos, 0, ""); err != nil {
		return err
	}
	if *as == "" {
		return usageErr("ptoy backup needs --as KEYNAME: the node's organisation or one of its admins (run ptoy backup -h)")
	}
	k, err := c.loadKey(*as)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	b, err := cl.Backup(ctx, k)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, b)
	}
	tw := table(e.stdout)
	fmt.Fprintf(tw, "backup:\t%s (on the node's disk)\n", b.Dir)
	fmt.Fprintf(tw, "node:\t%s\n", b.Moniker)
	fmt.Fprintf(tw, "chain:\t%s\n", b.ChainID)
	fmt.Fprintf(tw, "height:\t%d\n", b.Height)
	fmt.Fprintf(tw, "app hash:\t%s\n", b.AppHash)
	return tw.Flush()
}

func runRestore(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "restore", "--from DIR --home HOME [--force]",
		`Lays the snapshot in DIR (written by ptoy backup) into HOME, so that
ptoy node --home HOME starts from it: the ledger at the snapshot's height,
CometBFT's stores with it, the audit log, blobs and directory. HOME must
be empty (--force empties it first) and not in use by a running node.
The snapshot holds no passphrase: put it back in the file the settings
name (HOME/keys/passphrase, mode 0600) or set PTOY_PASSPHRASE before
starting the node. Never run the
restored home while the node it was taken from still runs: both would
sign as the same validator.`)
	from := fs.String("from", "", "the snapshot `DIR`")
	home := fs.String("home", "", "the node home `HOME` to restore into")
	force := fs.Bool("force", false, "replace what HOME holds")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("restore", pos, 0, ""); err != nil {
		return err
	}
	if *from == "" || *home == "" {
		return usageErr("ptoy restore needs --from DIR and --home HOME (run ptoy restore -h)")
	}
	m, err := node.Restore(*from, *home, *force)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s (chain %s, height %d, app hash %s) into %s\n", m.Moniker, m.ChainID, m.Height, m.AppHash, *home)
	where := "PTOY_PASSPHRASE"
	if cfg, err := node.LoadConfig(*home); err == nil && cfg.PassphraseFile != "" {
		p := cfg.PassphraseFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(*home, p)
		}
		where = p + " (mode 0600) or PTOY_PASSPHRASE"
	}
	fmt.Fprintf(e.stdout, "the backup holds no passphrase: put it in %s, then run ptoy node --home %s\n", where, *home)
	return nil
}
