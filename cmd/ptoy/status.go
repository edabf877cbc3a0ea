package main

// Command "ptoy status" shows the status of a node: its chain, height, app
// hash, validators, the organisation that runs it and its node id.

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"ptoy/escrow"
)

func init() {
	commands["status"] = command{"show a node's chain, height and validators", runStatus}
}

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "status", "[--node URL] [--json]",
		`Shows the status of the node: chain id, moniker, committed height and
app hash, time of the last block, number of validators, the organisation
that runs the node and its CometBFT node id.`)
	c := addCommon(fs, e, useNode)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("status", pos, 0, ""); err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pbJSON(st))
	}
	names, err := orgNames(ctx, cl)
	if err != nil {
		return err
	}
	tw := table(e.stdout)
	fmt.Fprintf(tw, "node:\t%s\n", c.node)
	fmt.Fprintf(tw, "chain:\t%s\n", st.ChainId)
	fmt.Fprintf(tw, "moniker:\t%s\n", st.Moniker)
	fmt.Fprintf(tw, "height:\t%d\n", st.Height)
	fmt.Fprintf(tw, "app hash:\t%s\n", hex.EncodeToString(st.AppHash))
	if st.BlockTimeUnix > 0 {
		fmt.Fprintf(tw, "block time:\t%s\n", time.Unix(st.BlockTimeUnix, 0).UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "validators:\t%d\n", st.Validators)
	orgs, err := cl.Orgs(ctx)
	if err != nil {
		return err
	}
	holders := 0
	for _, o := range orgs {
		if len(o.ValidatorKey) > 0 {
			holders++
		}
	}
	if holders < escrow.MinHolders {
		fmt.Fprintf(tw, "emergency escrow:\toff: %d validator organisation; no one node may hold patients' emergency keys, so break-glass opens no encrypted record\n", holders)
	} else {
		fmt.Fprintf(tw, "emergency escrow:\t%d of %d validator organisations open it together\n", escrow.Threshold(holders), holders)
	}
	fmt.Fprintf(tw, "org:\t%s\n", orgLabel(names, st.Org))
	for _, o := range orgs {
		if bytes.Equal(o.Id, st.Org) {
			j := o.Jurisdiction
			if j == "" {
				j = "none declared"
			}
			fmt.Fprintf(tw, "storage jurisdiction:\t%s\n", j)
		}
	}
	fmt.Fprintf(tw, "node id:\t%s\n", st.NodeId)
	return tw.Flush()
}
