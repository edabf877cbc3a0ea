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
// count. The set, and the jurisdiction each member declares on the
// ledger (residency rules place by it), are computed once per committed
// height.
type membership struct {
	ledger *ledger.Ledger
	static map[ptoy.ID]string // from the settings
	self   ptoy.ID
	log    func(msg string, args ...any)
	// jurisdiction is this node's in its settings; a ledger record that
	// says otherwise is logged once per value it takes.
	jurisdiction string
	told         *string

	mu     sync.Mutex
	height int64
	peers  map[ptoy.ID]string
	juris  map[ptoy.ID]string
}

func newMembership(l *ledger.Ledger, static map[ptoy.ID]string, self ptoy.ID, log func(string, ...any)) *membership {
	return &membership{ledger: l, static: static, self: self, log: log, height: -1}
}

// Peers returns the storage nodes as of the last committed block,
// organisation id to base URL (this node's own may be empty). The map is
// shared: callers must not change it.
func (m *membership) Peers() map[ptoy.ID]string {
	peers, _ := m.current()
	return peers
}

// Jurisdictions returns the jurisdiction each member organisation
// declares for its storage node, as of the last committed block (empty:
// none declared). The map is shared: callers must not change it.
func (m *membership) Jurisdictions() map[ptoy.ID]string {
	_, juris := m.current()
	return juris
}

func (m *membership) current() (peers, juris map[ptoy.ID]string) {
	h, _ := m.ledger.Height()
	m.mu.Lock()
	defer m.mu.Unlock()
	if h == m.height && m.peers != nil {
		return m.peers, m.juris
	}
	peers, juris, err := m.compute()
	if err != nil {
		// Keep the last known set; the next call tries again.
		m.log("membership: reading the organisations", "err", err)
		if m.peers != nil {
			return m.peers, m.juris
		}
		return m.static, nil
	}
	m.height, m.peers, m.juris = h, peers, juris
	return peers, juris
}

func (m *membership) compute() (peers, juris map[ptoy.ID]string, err error) {
	orgs, err := m.ledger.Orgs()
	if err != nil {
		return nil, nil, err
	}
	if len(orgs) == 0 {
		peers := maps.Clone(m.static)
		if peers == nil {
			peers = map[ptoy.ID]string{}
		}
		if _, ok := peers[m.self]; !ok {
			peers[m.self] = ""
		}
		return peers, map[ptoy.ID]string{}, nil
	}
	peers, juris = map[ptoy.ID]string{}, map[ptoy.ID]string{}
	for _, o := range orgs {
		id, err := ptoy.IDFromBytes(o.Id)
		if err != nil || o.RemovedHeight > 0 {
			continue
		}
		juris[id] = o.Jurisdiction
		if id == m.self && o.Jurisdiction != m.jurisdiction && (m.told == nil || *m.told != o.Jurisdiction) {
			m.told = &o.Jurisdiction
			m.log("membership: the ledger places this node's storage in a jurisdiction other than its settings say; patients' residency rules follow the ledger (ptoy org jurisdiction changes it there)",
				"ledger", o.Jurisdiction, "settings", m.jurisdiction)
		}
		u, ok := m.static[id]
		if !ok {
			u = o.NodeUrl
		}
		if u != "" || id == m.self {
			peers[id] = u
		}
	}
	return peers, juris, nil
}
