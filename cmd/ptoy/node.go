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
	fs := flags(e, "node", "--home DIR",
		`Runs the node whose home is DIR (made by ptoy init or ptoy testnet): the
ledger under CometBFT and the HTTP API. The organisation key's passphrase
comes from the home's passphrase file or PTOY_PASSPHRASE. Stops cleanly on
SIGINT or SIGTERM; after a crash it replays what it missed on restart.`)
	home := fs.String("home", "", "node home directory (required)")
	level := fs.String("log", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *home == "" {
		return usageErr("--home is required")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usageErr(fmt.Sprintf("unknown log level %q", *level))
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lv}))
	n, err := node.Open(*home, node.Options{Logger: log, Console: e.stdout})
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
