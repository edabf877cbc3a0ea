package node

import (
	"maps"
	"sync"

	"ptoy"
	"ptoy/ledger"
)

// membership is the set of storage nodes that placement chooses from,
// following the ledger: every member organisation whose storage node was
// not removed by governance, at the URL the node's settings give it
// (storage in ptoy.toml) or else the one on its ledger record (node_url,
// given when it was admitted). This node's organisation is in the set
// while it is a member whose node was not removed, so that a node that
// has joined but is not admitted yet, or whose node was removed, holds
// nothing by placement. Before the genesis block the settings alone
// count. The set is computed once per committed height.
type membership struct {
	ledger *ledger.Ledger
	static map[ptoy.ID]string // from the settings
	self   ptoy.ID
	log    func(msg string, args ...any)

	mu     sync.Mutex
	height int64
	peers  map[ptoy.ID]string
}

func newMembership(l *ledger.Ledger, static map[ptoy.ID]string, self ptoy.ID, log func(string, ...any)) *membership {
	return &membership{ledger: l, static: static, self: self, log: log, height: -1}
}

// Peers returns the storage nodes as of the last committed block,
// organisation id to base URL (this node's own may be empty). The map is
// shared: callers must not change it.
func (m *membership) Peers() map[ptoy.ID]string {
	h, _ := m.ledger.Height()
	m.mu.Lock()
	defer m.mu.Unlock()
	if h == m.height && m.peers != nil {
		return m.peers
	}
	peers, err := m.compute()
	if err != nil {
		// Keep the last known set; the next call tries again.
		m.log("membership: reading the organisations", "err", err)
		if m.peers != nil {
			return m.peers
		}
		return m.static
	}
	m.height, m.peers = h, peers
	return peers
}

func (m *membership) compute() (map[ptoy.ID]string, error) {
	orgs, err := m.ledger.Orgs()
	if err != nil {
		return nil, err
	}
	if len(orgs) == 0 {
		peers := maps.Clone(m.static)
		if peers == nil {
			peers = map[ptoy.ID]string{}
		}
		if _, ok := peers[m.self]; !ok {
			peers[m.self] = ""
		}
		return peers, nil
	}
	peers := map[ptoy.ID]string{}
	for _, o := range orgs {
		id, err := ptoy.IDFromBytes(o.Id)
		if err != nil || o.RemovedHeight > 0 {
			continue
		}
		u, ok := m.static[id]
		if !ok {
			u = o.NodeUrl
		}
		if u != "" || id == m.self {
			peers[id] = u
		}
	}
	return peers, nil
}
