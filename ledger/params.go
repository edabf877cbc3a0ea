package ledger

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/proto"

	"ptoy"
	pb "ptoy/gen/ptoy/v1"
)

var keyParams = []byte("cfg/params")

// MB is a megabyte as storage quotas count it.
const MB = 1000 * 1000

// MicroPTOY is the smallest unit: 1 PTOY = 1,000,000 micro-PTOY.
const MicroPTOY = 1_000_000

// DefaultParams are the network parameters a genesis gets unless it says
// otherwise.
func DefaultParams() *pb.Params {
	return &pb.Params{
		FreeBytes: 10 * MB,
		Plans: []*pb.Plan{
			{Id: 1, Name: "100 MB for a year", Bytes: 100 * MB, Price: 10 * MicroPTOY, TermSeconds: 365 * 24 * 3600},
			{Id: 2, Name: "1 GB for a year", Bytes: 1000 * MB, Price: 50 * MicroPTOY, TermSeconds: 365 * 24 * 3600},
		},
		BreakGlassSeconds:    4 * 3600,
		Replicas:             3,
		FaucetMax:            1000 * MicroPTOY,
		BreakGlassFlagCount:  3,
		BreakGlassFlagWindow: 30 * 24 * 3600,
	}
}

// withDefaults fills unset fields of p from DefaultParams.
func withDefaults(p *pb.Params) *pb.Params {
	d := DefaultParams()
	if p == nil {
		return d
	}
	p = proto.Clone(p).(*pb.Params)
	if p.FreeBytes == 0 {
		p.FreeBytes = d.FreeBytes
	}
	if p.Plans == nil {
		p.Plans = d.Plans
	}
	if p.BreakGlassSeconds == 0 {
		p.BreakGlassSeconds = d.BreakGlassSeconds
	}
	if p.Replicas == 0 {
		p.Replicas = d.Replicas
	}
	if p.FaucetMax == 0 {
		p.FaucetMax = d.FaucetMax
	}
	if p.BreakGlassFlagCount == 0 {
		p.BreakGlassFlagCount = d.BreakGlassFlagCount
	}
	if p.BreakGlassFlagWindow == 0 {
		p.BreakGlassFlagWindow = d.BreakGlassFlagWindow
	}
	return p
}

// checkParams validates network parameters.
func checkParams(op string, p *pb.Params) error {
	if p.BreakGlassSeconds < 60 || p.BreakGlassSeconds > 7*24*3600 {
		return ptoy.E(op, ptoy.Invalid, "the break-glass window is between one minute and a week")
	}
	if p.Replicas < 1 || p.Replicas > 16 {
		return ptoy.E(op, ptoy.Invalid, "replicas is between 1 and 16")
	}
	if _, err := checkRule(op, p.Residency); err != nil {
		return ptoy.E(op, ptoy.Invalid, "the network's residency rule: "+ptoy.Message(err))
	}
	seen := map[uint32]bool{}
	for _, pl := range p.Plans {
		if pl.Id == 0 || seen[pl.Id] {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("storage plan ids must be unique and non-zero (plan %d)", pl.Id))
		}
		seen[pl.Id] = true
		if pl.Bytes == 0 || pl.Price == 0 || pl.TermSeconds <= 0 || len(pl.Name) == 0 || len(pl.Name) > 64 {
			return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("storage plan %d needs a name, a size, a price and a term", pl.Id))
		}
	}
	return nil
}

func (b *Block) params() (*pb.Params, error) {
	p := new(pb.Params)
	ok, err := getMsg(b.get, keyParams, p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return DefaultParams(), nil
	}
	return p, nil
}

// Params returns the committed network parameters. They are decoded once
// per change and shared: callers must not modify them. (Placement reads
// them for every blob it places.)
func (l *Ledger) Params() (*pb.Params, error) {
	raw, err := l.kv.Get(keyParams)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return DefaultParams(), nil
	}
	if m := l.params.Load(); m != nil && bytes.Equal(m.raw, raw) {
		return m.p, nil
	}
	p := new(pb.Params)
	if err := proto.Unmarshal(raw, p); err != nil {
		return nil, ptoy.E("ledger", ptoy.Other, "corrupt state value", err)
	}
	l.params.Store(&paramsMemo{raw: bytes.Clone(raw), p: p})
	return p, nil
}

// paramsMemo is the committed parameters decoded, with the bytes they
// were decoded from.
type paramsMemo struct {
	raw []byte
	p   *pb.Params
}
