package main

// Command "ptoy config" shows a node's settings (HOME/ptoy.toml) and
// migrates those of homes made before it (HOME/ptoy.json).

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"ptoy"
	"ptoy/node"
)

func init() {
	commands["config"] = command{"show a node's settings, or migrate ptoy.json to ptoy.toml", runConfig}
}

var configSubcommands = []subcommand{
	{"show", "print the settings a node runs with, defaults filled in, as TOML", runConfigShow},
	{"migrate", "move a home's ptoy.json to ptoy.toml", runConfigMigrate},
}

func runConfig(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "config", configSubcommands, args)
}

// settingFlags are the flags of ptoy node (and ptoy config show) that
// override a setting of ptoy.toml for one run.
type settingFlags struct {
	fs                         *flag.FlagSet
	httpAddr, p2pAddr, rpcAddr string
	peers, logLevel            string
}

// settingsHelp is said in the help of the commands that take them.
const settingsHelp = `The flags --http-addr, --p2p-addr, --rpc-addr, --peers and --log-level
override the settings of HOME/ptoy.toml (http.addr, consensus.p2p_addr,
consensus.rpc_addr, consensus.peers, log.level) for this run; the file
keeps its own. Moving a storage node's --http-addr does not change where
the other nodes look for it (their [storage]).`

func addSettingFlags(fs *flag.FlagSet) *settingFlags {
	s := &settingFlags{fs: fs}
	fs.StringVar(&s.httpAddr, "http-addr", "", "listen for HTTP on `HOST:PORT` (http.addr)")
	fs.StringVar(&s.p2pAddr, "p2p-addr", "", "CometBFT's peer-to-peer address, `tcp://HOST:PORT` (consensus.p2p_addr)")
	fs.StringVar(&s.rpcAddr, "rpc-addr", "", "CometBFT's RPC address, `tcp://HOST:PORT`; \"\" turns it off (consensus.rpc_addr)")
	fs.StringVar(&s.peers, "peers", "", "the validators to keep connected to, comma-separated `ID@HOST:PORT,...` (consensus.peers)")
	fs.StringVar(&s.logLevel, "log-level", "", "log `LEVEL`: debug, info, warn or error (log.level)")
	fs.StringVar(&s.logLevel, "log", "", "the same as --log-level")
	return s
}

// apply sets the settings whose flags were given on the command line.
func (s *settingFlags) apply(c *node.Config) {
	s.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "http-addr":
			c.HTTPAddr = s.httpAddr
		case "p2p-addr":
			c.P2PAddr = s.p2pAddr
		case "rpc-addr":
			c.RPCAddr = s.rpcAddr
		case "peers":
			c.Peers = nil
			for _, p := range strings.Split(s.peers, ",") {
				if p = strings.TrimSpace(p); p != "" {
					c.Peers = append(c.Peers, p)
				}
			}
		case "log-level", "log":
			c.LogLevel = s.logLevel
		}
	})
}

// load reads the home's settings and applies the flags, checking the
// result.
func (s *settingFlags) load(home string) (node.Config, error) {
	c, err := node.LoadConfig(home)
	if err != nil {
		return c, err
	}
	s.apply(&c)
	if err := c.Validate(); err != nil {
		return c, usageErr("the flags given: " + ptoy.Message(err))
	}
	return c, nil
}

func runConfigShow(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "config show", "--home HOME [setting flags]",
		`Prints the settings the node of HOME runs with as ptoy.toml: the file's,
with defaults for what it leaves out and the flags given here applied, each
with its comment. An unknown setting or a bad value is an error, as at the
node's start.

`+settingsHelp)
	home := fs.String("home", "", "node home directory (required)")
	sf := addSettingFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *home == "" {
		return usageErr("ptoy config show needs --home HOME")
	}
	c, err := sf.load(*home)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(c.TOML())
	return err
}

func runConfigMigrate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "config migrate", "--home HOME",
		`Moves the settings of a home made before ptoy.toml from HOME/ptoy.json to
HOME/ptoy.toml, with the same values and every setting commented, and keeps
the old file as HOME/ptoy.json.migrated. A node does this itself when it
starts; this does it without starting one (the node must be stopped). A
home with both files is refused: remove the one you do not want.`)
	home := fs.String("home", "", "node home directory (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *home == "" {
		return usageErr("ptoy config migrate needs --home HOME")
	}
	moved, err := node.MigrateConfig(*home)
	if err != nil {
		return err
	}
	if !moved {
		fmt.Fprintf(e.stdout, "nothing to migrate: the settings of %s are in ptoy.toml\n", *home)
		return nil
	}
	fmt.Fprintf(e.stdout, "moved the settings of %s to ptoy.toml; the old file is ptoy.json.migrated\n", *home)
	return nil
}
