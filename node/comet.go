package node

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtnode "github.com/cometbft/cometbft/node"
)

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// cometConfig builds CometBFT's settings for a node home from ptoy's.
func cometConfig(home string, c Config) *cmtcfg.Config {
	cc := cmtcfg.DefaultConfig()
	cc.SetRoot(home)
	cc.Moniker = c.Moniker
	cc.P2P.ListenAddress = c.P2PAddr
	cc.P2P.ExternalAddress = hostPort(c.P2PAddr)
	cc.P2P.PersistentPeers = strings.Join(c.Peers, ",")
	cc.P2P.AllowDuplicateIP = true
	cc.P2P.AddrBookStrict = false
	cc.P2P.PexReactor = false
	cc.RPC.ListenAddress = c.RPCAddr
	if c.RPCAddr != "" && !isLoopback(hostPort(c.RPCAddr)) {
		// CometBFT's RPC off loopback: TLS with the node's certificate.
		cc.RPC.TLSCertFile, cc.RPC.TLSKeyFile = absPath(home, c.TLSCert), absPath(home, c.TLSKey)
		if c.TLSCert == "" {
			cc.RPC.TLSCertFile = filepath.Join(home, tlsDir, nodeCrtFile)
			cc.RPC.TLSKeyFile = filepath.Join(home, tlsDir, nodeKeyFile)
		}
	}
	cc.TxIndex.Indexer = "null"
	cc.Instrumentation.Prometheus = false
	cc.Mempool.Size = 50000
	cc.Mempool.CacheSize = 100000
	cc.Consensus.CreateEmptyBlocks = true
	cc.Consensus.PeerQueryMaj23SleepDuration = maj23Sleep
	if d, err := parseDuration(c.EmptyBlockInterval); err == nil {
		cc.Consensus.CreateEmptyBlocksInterval = d
	}
	if c.FastBlocks {
		cc.P2P.FlushThrottleTimeout = 10 * time.Millisecond
		cc.Consensus.PeerGossipSleepDuration = 5 * time.Millisecond
		// Short timeouts, but not for the proposal: under load a
		// block of a thousand transactions can take most of a second to
		// cross the peer connections of four validators on one machine,
		// and a proposal given up for late costs a whole round.
		cc.Consensus.TimeoutPropose = 2 * time.Second
		cc.Consensus.TimeoutPrevote = 100 * time.Millisecond
		cc.Consensus.TimeoutPrecommit = 100 * time.Millisecond
		cc.Consensus.TimeoutCommit = 10 * time.Millisecond
	}
	return cc
}

// maj23Sleep bounds how long CometBFT's vote-query routine may still run
// after its peers stop; see StopComet.
const maj23Sleep = 100 * time.Millisecond

// StopComet stops an embedded CometBFT node without the crash its
// consensus reactor can cause on the way out: that reactor's per-peer
// query routine may wake from a sleep after the block store is closed.
// Stopping the peers first and letting those sleeps run out avoids it.
func StopComet(cn *cmtnode.Node) {
	if !cn.IsRunning() {
		return
	}
	if sw := cn.Switch(); sw != nil && sw.IsRunning() {
		sw.Stop() // stops every peer; the node's own Stop skips it then
		time.Sleep(4 * maj23Sleep)
	}
	cn.Stop()
	cn.Wait()
}

// cometLogger passes CometBFT's log lines to slog. CometBFT's info lines
// (one per block and per peer message) go out at debug level.
// Its error lines go out as warnings, and at debug level once the node is
// stopping (quiet), when CometBFT reports the connections it closes.
type cometLogger struct {
	l     *slog.Logger
	quiet *atomic.Bool
}

func (c cometLogger) Debug(msg string, kv ...any) {
	c.l.Log(context.Background(), slog.LevelDebug-4, msg, kv...)
}
func (c cometLogger) Info(msg string, kv ...any) { c.l.Debug(msg, fixKV(kv)...) }
func (c cometLogger) Error(msg string, kv ...any) {
	if c.quiet != nil && c.quiet.Load() {
		c.l.Debug(msg, fixKV(kv)...)
		return
	}
	c.l.Warn(msg, fixKV(kv)...)
}
func (c cometLogger) With(kv ...any) cmtlog.Logger {
	return cometLogger{c.l.With(fixKV(kv)...), c.quiet}
}

// fixKV renders CometBFT's values (some are lazy Stringers) as strings.
func fixKV(kv []any) []any {
	out := make([]any, len(kv))
	for i, v := range kv {
		if i%2 == 1 {
			if s, ok := v.(fmt.Stringer); ok {
				v = s.String()
			}
		}
		out[i] = v
	}
	return out
}
