package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"syscall"

	"ptoy"
	"ptoy/devnet"
)

func init() {
	commands["dev"] = command{"run a whole development network in this process", runDev}
}

func runDev(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "dev", "[--home DIR] [--validators 1|4] [--listen 127.0.0.1:PORT]",
		`Runs a local network with demo organisations, staff and patients, short
block times and embedded storage. It prints one line starting with "ready"
when it serves, and writes DIR/dev.json with every URL and the demo
accounts (keystores in DIR/keys, passphrase "demo"). A second start of the
same home resumes the same chain; --listen given then moves node 1 to the
new address. One process at a time runs a home. If the first start fails,
nothing is left behind. Development only.`)
	home := fs.String("home", ".ptoy-dev", "directory of the development network")
	vals := fs.Int("validators", 1, "number of validator nodes: 1 or 4")
	const defaultListen = "127.0.0.1:8080"
	listen := fs.String("listen", defaultListen, "HTTP address of node 1 (API, FHIR and the patient app)")
	verbose := fs.Bool("v", false, "log node activity to stderr")
	patients := fs.Bool("demo-patients", true, "register the demo patients (off: they register themselves)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	// The default address is for a new home; an existing one keeps its
	// own unless --listen is given.
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "listen" })
	addr := *listen
	if !given && devnet.Exists(*home) {
		addr = ""
	}
	n, err := devnet.Start(ctx, devnet.Options{Home: *home, Validators: *vals, Listen: addr, Logger: log, Console: e.stdout,
		NoPatients: !*patients, DemoRecords: true, KeepKeystores: true, DemoEHR: true, KDF: homeKDF(e)})
	if errors.Is(err, syscall.EADDRINUSE) {
		return ptoy.E("dev", ptoy.Unavailable, ptoy.Message(err)+"; choose another address with --listen", err)
	}
	if err != nil {
		return err
	}
	defer n.Close()
	st, err := n.Client(0).Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "FHIR R4 at %s (SMART access tokens for the demo cast in dev.json)\n", n.Info.FHIR)
	fmt.Fprintf(e.stdout, "patient app at %s/ (demo patients sign in with their id from dev.json and the passphrase %q)\n", n.Info.Web, devnet.Passphrase)
	held := n.Nodes[0].Holdings().Summary()
	fmt.Fprintf(e.stdout, "General Hospital's EHR synced: %d records of %d patients held; sign up at %s/signup, then find your records at /find\n", held.Records, held.Patients, n.Info.Web)
	ready := fmt.Sprintf("ready %s chain=%s validators=%d height=%d info=%s/dev.json\n", n.Info.API, st.ChainId, len(n.Nodes), st.Height, n.Opts().Home)
	fmt.Fprint(e.stdout, ready)
	if err := os.WriteFile(devnet.ReadyFile(n.Opts().Home), []byte(ready), 0o600); err != nil {
		return err
	}
	defer os.Remove(devnet.ReadyFile(n.Opts().Home))
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "stopping")
	return nil
}
