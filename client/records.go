package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	"ptoy"
	"ptoy/auth"
	"ptoy/blob"
	"ptoy/consent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/seal"
)

// MaxBlob bounds what the client reads back from a gateway.
const MaxBlob = 1 << 30

// gatewayDo sends a signed request to the node's gateway and returns the
// response if its status is 2xx; otherwise the gateway's message as a
// ptoy error of the matching kind. A request that another node must
// answer (421, with that node in X-Ptoy-Node) is signed anew for that
// node and sent there once: a node never passes credentials on.
func (c *Client) gatewayDo(ctx context.Context, signer auth.Signer, method, path string, body []byte, hdr http.Header) (*http.Response, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	base := c.base
	for hop := 0; ; hop++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			return nil, ptoy.E("client", ptoy.Invalid, err)
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if err := auth.Sign(req, chainID, signer, time.Now()); err != nil {
			return nil, err
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, ptoy.E("client", ptoy.Unavailable, "cannot reach the node", err)
		}
		if resp.StatusCode/100 == 2 {
			return resp, nil
		}
		if next := resp.Header.Get("X-Ptoy-Node"); resp.StatusCode == http.StatusMisdirectedRequest && next != "" && hop == 0 {
			resp.Body.Close()
			base = strings.TrimSuffix(next, "/")
			continue
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, ptoy.E("gateway", httpKind(resp.StatusCode), string(bytes.TrimSpace(msg)))
	}
}

// httpKind maps a gateway's HTTP status to an error kind.
func httpKind(code int) ptoy.Kind {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return ptoy.Invalid
	case http.StatusUnauthorized:
		return ptoy.Unauthenticated
	case http.StatusForbidden:
		return ptoy.PermissionDenied
	case http.StatusNotFound, http.StatusMisdirectedRequest:
		return ptoy.NotFound
	case http.StatusConflict:
		return ptoy.Exists
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return ptoy.Unavailable
	}
	return ptoy.Other
}

// RecordStatus asks the gateway which placement nodes hold a record
// version's ciphertext (version 0: the latest); it is answered to those
// who may read the record, and recorded in the patient's audit trail.
func (c *Client) RecordStatus(ctx context.Context, reader auth.Signer, patient ptoy.ID, id []byte, version uint32, org ptoy.ID, purpose pb.Purpose) (string, error) {
	path := fmt.Sprintf("/v1/records/%s/%x/status", patient, id)
	if version > 0 {
		path += "?version=" + strconv.FormatUint(uint64(version), 10)
	}
	hdr := http.Header{}
	if !org.IsZero() {
		hdr.Set(auth.HeaderOrg, org.String())
	}
	if purpose != pb.Purpose_PURPOSE_UNSPECIFIED {
		hdr.Set(auth.HeaderPurpose, consent.PurposeName(purpose))
	}
	resp, err := c.gatewayDo(ctx, reader, http.MethodGet, path, nil, hdr)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", ptoy.E("client", ptoy.Unavailable, "reading the node's answer", err)
	}
	return string(b), nil
}

// Logout ends a session token at the node.
func (c *Client) Logout(ctx context.Context, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.base+"/v1/session", nil)
	if err != nil {
		return ptoy.E("client", ptoy.Invalid, err)
	}
	req.Header.Set("Authorization", auth.SessionScheme+" "+token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return ptoy.E("client", ptoy.Unavailable, "cannot reach the node", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return ptoy.E("client", httpKind(resp.StatusCode), "the node knows no such session")
	}
	return nil
}

// Upload stores data (key material) at the node by its hash.
func (c *Client) Upload(ctx context.Context, signer auth.Signer, data []byte) (blob.Hash, error) {
	return c.upload(ctx, signer, "/v1/blobs/"+blob.Sum(data).String(), data)
}

// UploadFor stores a record's ciphertext, naming the record's patient:
// the node places it by the patient's residency rule (handing it on to
// an allowed node when it is not one), and refuses it when the rule
// allows no member's storage node.
func (c *Client) UploadFor(ctx context.Context, signer auth.Signer, patient ptoy.ID, data []byte) (blob.Hash, error) {
	return c.upload(ctx, signer, "/v1/blobs/"+blob.Sum(data).String()+"?patient="+patient.String(), data)
}

func (c *Client) upload(ctx context.Context, signer auth.Signer, path string, data []byte) (blob.Hash, error) {
	h := blob.Sum(data)
	resp, err := c.gatewayDo(ctx, signer, http.MethodPut, path, data, nil)
	if err != nil {
		return h, err
	}
	resp.Body.Close()
	return h, nil
}

// readChecked reads a response body and checks it hashes to want.
func readChecked(resp *http.Response, want blob.Hash) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBlob))
	if err != nil {
		return nil, ptoy.E("client", ptoy.Unavailable, "reading from the node", err)
	}
	if blob.Sum(b) != want {
		return nil, ptoy.E("client", ptoy.Unauthenticated, "the node served bytes that do not match the ledger's hash")
	}
	return b, nil
}

// Blob fetches key material (a key set or a key bundle) by its hash.
func (c *Client) Blob(ctx context.Context, signer auth.Signer, h blob.Hash) ([]byte, error) {
	resp, err := c.gatewayDo(ctx, signer, http.MethodGet, "/v1/blobs/"+h.String(), nil, nil)
	if err != nil {
		return nil, err
	}
	return readChecked(resp, h)
}

// Record returns a record version's metadata (version 0: the latest).
func (c *Client) Record(ctx context.Context, patient ptoy.ID, id []byte, version uint32) (*pb.RecordState, error) {
	r, err := c.recs.Record(ctx, connect.NewRequest(&pb.RecordRequest{Patient: patient.Bytes(), Id: id, Version: version}))
	if err != nil {
		return nil, fromConnect("client.Record", err)
	}
	return r.Msg.Record, nil
}

// RecordHistory lists every version of a record.
func (c *Client) RecordHistory(ctx context.Context, patient ptoy.ID, id []byte) ([]*pb.RecordState, error) {
	r, err := c.recs.RecordHistory(ctx, connect.NewRequest(&pb.RecordRequest{Patient: patient.Bytes(), Id: id}))
	if err != nil {
		return nil, fromConnect("client.RecordHistory", err)
	}
	return r.Msg.Records, nil
}

// Records lists the latest version of each of the patient's records.
func (c *Client) Records(ctx context.Context, patient ptoy.ID) ([]*pb.RecordState, error) {
	r, err := c.recs.Records(ctx, connect.NewRequest(&pb.RecordsRequest{Patient: patient.Bytes()}))
	if err != nil {
		return nil, fromConnect("client.Records", err)
	}
	return r.Msg.Records, nil
}

// KeySet returns the patient's key set state and the key bundle holder
// holds (nil if none).
func (c *Client) KeySet(ctx context.Context, patient, holder ptoy.ID) (*pb.KeySetState, []byte, error) {
	req := &pb.KeySetRequest{Patient: patient.Bytes()}
	if !holder.IsZero() {
		req.Holder = holder.Bytes()
	}
	r, err := c.recs.KeySet(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, nil, fromConnect("client.KeySet", err)
	}
	return r.Msg.KeySet, r.Msg.HolderBundle, nil
}

// PublicKeys returns the patient's published category public keys, asked
// as signer (who must be able to read or write for the patient).
func (c *Client) PublicKeys(ctx context.Context, signer auth.Signer, patient ptoy.ID) ([]seal.PublicKey, error) {
	ks, _, err := c.As(signer).KeySet(ctx, patient, ptoy.ID{})
	if err != nil {
		return nil, err
	}
	b, err := c.Blob(ctx, signer, blob.Hash(ks.KeySet))
	if err != nil {
		return nil, err
	}
	return seal.DecodeKeySet(patient, b)
}

// NewRecord is one record version to write.
type NewRecord struct {
	ID       [16]byte // zero: a new random id
	Category pb.Category
	Labels   uint32 // further categories the record touches (sensitive labels)
	Data     []byte // the plaintext (a FHIR resource, a document)
}

// SealCategory is the category whose key seals a record: its most
// sensitive label if it has one, else its category.
func SealCategory(cat pb.Category, labels uint32) pb.Category {
	return consent.SealCategory(cat, labels)
}

// PutRecords encrypts each record to the patient's current category key,
// uploads the ciphertext and commits one PutRecords transaction. The
// writer needs only the public keys: writing does not let it read. org is
// the organisation the writer writes for (zero: itself).
func (c *Client) PutRecords(ctx context.Context, writer *keys.KeyPair, patient, org ptoy.ID, recs []NewRecord) ([]*pb.RecordEntry, error) {
	pubs, err := c.PublicKeys(ctx, writer, patient)
	if err != nil {
		return nil, err
	}
	m := &pb.PutRecords{Patient: patient.Bytes()}
	if !org.IsZero() {
		m.Org = org.Bytes()
	}
	// One sealing session per category key: one KEM encapsulation for
	// the batch, a data key of its own for every record.
	sealers := map[seal.Category]*seal.Sealer{}
	for i := range recs {
		r := &recs[i]
		version := uint32(1)
		if r.ID == ([16]byte{}) {
			rand.Read(r.ID[:])
		} else if st, err := c.As(writer).Record(ctx, patient, r.ID[:], 0); err == nil {
			version = st.Entry.Version + 1
		} else if ptoy.KindOf(err) != ptoy.NotFound {
			return nil, err
		}
		sc := SealCategory(r.Category, r.Labels)
		pub, ok := seal.Latest(pubs, seal.Category(sc))
		if !ok {
			return nil, ptoy.E("client.PutRecords", ptoy.NotFound, fmt.Sprintf("the patient has no key for %s", consent.CategoryName(sc)))
		}
		se := sealers[pub.Category]
		if se == nil {
			if se, err = seal.NewSealer(pub); err != nil {
				return nil, err
			}
			sealers[pub.Category] = se
		}
		ct, err := se.SealBytes(r.Data, seal.Ref{ID: r.ID, Version: version})
		if err != nil {
			return nil, err
		}
		h, err := c.UploadFor(ctx, writer, patient, ct)
		if err != nil {
			return nil, err
		}
		m.Records = append(m.Records, &pb.RecordEntry{
			Id: r.ID[:], Version: version, Category: sc, Labels: r.Labels | consent.Bit(r.Category),
			Hash: h[:], Size: uint64(len(ct)),
		})
	}
	if _, err := c.Send(ctx, &pb.Body{Msg: &pb.Body_PutRecords{PutRecords: m}}, writer); err != nil {
		return nil, err
	}
	return m.Records, nil
}

// ReadOptions say for whom and why a record is read.
type ReadOptions struct {
	Version uint32     // 0: the latest
	Org     ptoy.ID    // the organisation the reader reads for
	Purpose pb.Purpose // default treatment
}

// Ciphertext fetches a record version's ciphertext through the gateway,
// which checks consent and audits the read, and checks it against the
// hash on the ledger.
func (c *Client) Ciphertext(ctx context.Context, reader auth.Signer, patient ptoy.ID, id []byte, o ReadOptions) ([]byte, *pb.RecordState, error) {
	path := fmt.Sprintf("/v1/records/%s/%x", patient, id)
	if o.Version > 0 {
		path += "?version=" + strconv.FormatUint(uint64(o.Version), 10)
	}
	hdr := http.Header{}
	if !o.Org.IsZero() {
		hdr.Set(auth.HeaderOrg, o.Org.String())
	}
	if o.Purpose != pb.Purpose_PURPOSE_UNSPECIFIED {
		hdr.Set(auth.HeaderPurpose, consent.PurposeName(o.Purpose))
	}
	resp, err := c.gatewayDo(ctx, reader, http.MethodGet, path, nil, hdr)
	if err != nil {
		return nil, nil, err
	}
	v, _ := strconv.ParseUint(resp.Header.Get("X-Ptoy-Version"), 10, 32)
	st, err := c.As(reader).For(o.Org, o.Purpose).Record(ctx, patient, id, uint32(v))
	if err != nil {
		resp.Body.Close()
		return nil, nil, err
	}
	b, err := readChecked(resp, blob.Hash(st.Entry.Hash))
	return b, st, err
}

// GetRecord reads and decrypts a record version. The reader opens the
// data key with a category key from its own bundle (the patient's own,
// or a grant or delegation to the reader), or, reading for an
// organisation, one released by the organisation's node to the reader.
func (c *Client) GetRecord(ctx context.Context, reader *keys.KeyPair, patient ptoy.ID, id []byte, o ReadOptions) ([]byte, *pb.RecordState, error) {
	ct, st, err := c.Ciphertext(ctx, reader, patient, id, o)
	if err != nil {
		return nil, nil, err
	}
	var ref seal.Ref
	copy(ref.ID[:], id)
	ref.Version = st.Entry.Version
	finder := c.keyFinder(ctx, reader, patient, o)
	plain, err := seal.OpenBytes(ct, ref, finder)
	if err != nil {
		return nil, nil, err
	}
	return plain, st, nil
}

// keyFinder finds the category key for a record: from the bundle the
// reader holds, else released by the organisation's node.
func (c *Client) keyFinder(ctx context.Context, reader *keys.KeyPair, patient ptoy.ID, o ReadOptions) seal.KeyFinder {
	var held []seal.PrivateKey
	loaded := false
	return func(cat seal.Category, epoch uint32) (seal.PrivateKey, error) {
		if !loaded {
			loaded = true
			ks, holder, err := c.As(reader).KeySet(ctx, patient, reader.ID())
			if err == nil {
				b := holder
				if reader.ID() == patient {
					b = ks.OwnBundle
				}
				if len(b) == 32 {
					if raw, err := c.Blob(ctx, reader, blob.Hash(b)); err == nil {
						held, _ = seal.OpenBundle(patient, reader.ID(), reader.KEM, raw)
					}
				}
			}
		}
		for _, k := range held {
			if k.Category == cat && k.Epoch == epoch {
				return k, nil
			}
		}
		if o.Org.IsZero() {
			return seal.PrivateKey{}, ptoy.E("client", ptoy.PermissionDenied, "you hold no key for this record")
		}
		return c.ReleasedKey(ctx, reader, patient, o.Org, pb.Category(cat), epoch, o.Purpose)
	}
}

// ReleasedKey asks the organisation's node for one category key, sealed
// to the reader; the node checks that the reader's role and the
// organisation's grant cover the category, and audits the release.
func (c *Client) ReleasedKey(ctx context.Context, reader *keys.KeyPair, patient, org ptoy.ID, cat pb.Category, epoch uint32, purpose pb.Purpose) (seal.PrivateKey, error) {
	hdr := http.Header{}
	hdr.Set(auth.HeaderOrg, org.String())
	if purpose != pb.Purpose_PURPOSE_UNSPECIFIED {
		hdr.Set(auth.HeaderPurpose, consent.PurposeName(purpose))
	}
	resp, err := c.gatewayDo(ctx, reader, http.MethodGet, fmt.Sprintf("/v1/keys/%s/%d/%d", patient, cat, epoch), nil, hdr)
	if err != nil {
		return seal.PrivateKey{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return seal.PrivateKey{}, ptoy.E("client", ptoy.Unavailable, err)
	}
	ks, err := seal.OpenBundle(patient, reader.ID(), reader.KEM, b)
	if err != nil {
		return seal.PrivateKey{}, err
	}
	for _, k := range ks {
		if k.Category == seal.Category(cat) && k.Epoch == epoch {
			return k, nil
		}
	}
	return seal.PrivateKey{}, ptoy.E("client", ptoy.PermissionDenied, "the node released no key for this record")
}

// Session signs in to the node's gateway and returns a session token,
// valid for 15 minutes, that stands for the signer on later requests
// ("Authorization: PTOY-Session <token>") without a signature each.
func (c *Client) Session(ctx context.Context, signer auth.Signer) (string, error) {
	resp, err := c.gatewayDo(ctx, signer, http.MethodPost, "/v1/session", nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&out); err != nil || out.Token == "" {
		return "", ptoy.E("client.Session", ptoy.Other, "the node's session answer is malformed")
	}
	return out.Token, nil
}
