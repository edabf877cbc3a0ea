package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"ptoy"
	"ptoy/auth"
)

// Backup describes a snapshot a node wrote of itself.
type Backup struct {
	ChainID string    `json:"chain_id"`
	Moniker string    `json:"moniker"`
	Height  int64     `json:"height"`
	AppHash string    `json:"app_hash"`
	Time    time.Time `json:"time"`
	// Dir is where the snapshot lies on the node's own disk.
	Dir string `json:"dir"`
}

// Backup asks the node to write a consistent snapshot of its stores to
// its own disk (POST /v1/admin/backup). The node allows its organisation
// key and its admins: others get ptoy.PermissionDenied, an unknown key
// ptoy.Unauthenticated.
func (c *Client) Backup(ctx context.Context, signer auth.Signer) (*Backup, error) {
	resp, err := c.gatewayDo(ctx, signer, http.MethodPost, "/v1/admin/backup", nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b Backup
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&b); err != nil {
		return nil, ptoy.E("client.Backup", ptoy.Other, "the node's answer is not a backup description", err)
	}
	return &b, nil
}
