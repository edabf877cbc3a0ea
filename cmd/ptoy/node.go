package main

import (
	"context"
	"fmt"
	"log/slog"

	"ptoy/node"
)

func init() {
	commands["node"] = command{"run one node from its home directory", runNode}
}

func runNode(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "node", "--home DIR [setting flags]",
		`Runs the node whose home is DIR (made by ptoy init or ptoy testnet): the
ledger under CometBFT and the HTTP API, with the settings of DIR/ptoy.toml
(ptoy config show --home DIR prints them). A home made before ptoy.toml has
its ptoy.json moved there first. The organisation key's passphrase comes
from the home's passphrase file or PTOY_PASSPHRASE. Stops cleanly on SIGINT
or SIGTERM; after a crash it replays what it missed on restart.

`+settingsHelp)
	home := fs.String("home", "", "node home directory (required)")
	sf := addSettingFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *home == "" {
		return usageErr("--home is required")
	}
	cfg, err := sf.load(*home)
	if err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(cfg.LogLevel)); err != nil && cfg.LogLevel != "" {
		return usageErr(fmt.Sprintf("unknown log level %q", cfg.LogLevel))
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lv}))
	n, err := node.Open(*home, node.Options{Logger: log, Console: e.stdout, Override: sf.apply})
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.Start(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ready %s chain=%s\n", n.URL(), n.ChainID())
	<-ctx.Done()
	return nil
}
