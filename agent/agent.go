// Package agent is a patient's key agent: it makes the patient's
// category keys, publishes their public halves, keeps the private halves
// sealed to the patient's own identity key, and hands them to grantees in
// key bundles when the patient grants access.
//
// Keys scale with patients, not with records times readers. Per patient,
// per data category (each sensitive label is a category of its own) and
// per epoch there is one HPKE key pair. A record's data key is sealed to
// its category's public key in the record's own header; a grant costs one
// bundle (one seal to the grantee) holding the in-scope category keys of
// every epoch, whatever the number of records; the ledger holds only the
// hashes of the key set and of the bundles. Revoking starts a new epoch
// for the revoked categories: records written afterwards are sealed to
// keys the revoked party never receives. What a grantee already
// downloaded and decrypted cannot be taken back.
package agent

import (
	"context"
	"slices"
	"time"

	"ptoy"
	"ptoy/blob"
	"ptoy/client"
	"ptoy/consent"
	"ptoy/escrow"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
	"ptoy/seal"
)

// Categories are the categories a patient has keys for.
var Categories = []pb.Category{
	pb.Category_CATEGORY_DEMOGRAPHICS, pb.Category_CATEGORY_ENCOUNTERS, pb.Category_CATEGORY_CONDITIONS,
	pb.Category_CATEGORY_MEDICATIONS, pb.Category_CATEGORY_ALLERGIES, pb.Category_CATEGORY_IMMUNIZATIONS,
	pb.Category_CATEGORY_LAB_RESULTS, pb.Category_CATEGORY_IMAGING, pb.Category_CATEGORY_NOTES,
	pb.Category_CATEGORY_INSURANCE_BILLING, pb.Category_CATEGORY_DIRECTIVES,
	pb.Category_CATEGORY_MENTAL_HEALTH, pb.Category_CATEGORY_SUBSTANCE_USE, pb.Category_CATEGORY_SEXUAL_REPRODUCTIVE,
	pb.Category_CATEGORY_HIV, pb.Category_CATEGORY_GENETIC,
}

// Agent acts for one patient through one node.
type Agent struct {
	c       *client.Client
	me      *keys.KeyPair
	patient ptoy.ID
	alg     uint16
}

// New returns the agent of the patient whose identity key pair is me. It
// asks the node about the patient as the patient (c.As(me)).
func New(c *client.Client, me *keys.KeyPair) *Agent {
	return &Agent{c: c.As(me), me: me, patient: me.ID(), alg: keys.KEMHybrid}
}

// Setup makes and publishes the patient's first category keys, with the
// emergency escrow of the emergency categories' keys (package escrow)
// split across the validator organisations, unless the patient has
// published a key set already.
func (a *Agent) Setup(ctx context.Context) error {
	if _, _, err := a.c.KeySet(ctx, a.patient, ptoy.ID{}); err == nil {
		return nil
	} else if ptoy.KindOf(err) != ptoy.NotFound {
		return err
	}
	var priv []seal.PrivateKey
	for _, c := range Categories {
		k, _, err := seal.NewCategoryKey(seal.Category(c), 1, a.alg)
		if err != nil {
			return err
		}
		priv = append(priv, k)
	}
	h, err := a.upload(ctx, priv, priv)
	if err != nil {
		return err
	}
	esc, err := a.buildEscrow(ctx, priv)
	if err != nil {
		return err
	}
	_, err = a.c.Send(ctx, &pb.Body{Msg: &pb.Body_PublishKeys{PublishKeys: &pb.PublishKeys{
		Patient: a.patient.Bytes(), KeySet: h[0][:], OwnBundle: h[1][:], Escrow: esc,
	}}}, a.me)
	return err
}

// buildEscrow builds the emergency escrow of the emergency categories' keys
// in all (every epoch) for the current validator organisations, uploads
// it and returns its hash; nil if fewer than escrow.MinHolders
// organisations run a validator (one could open it alone: no escrow then,
// and break-glass opens nothing encrypted).
func (a *Agent) buildEscrow(ctx context.Context, all []seal.PrivateKey) ([]byte, error) {
	hs, err := a.holders(ctx)
	if err != nil {
		return nil, err
	}
	return a.escrowFor(ctx, all, hs)
}

// holders are the organisations that run a validator now, with their
// encryption keys: the holders of a new escrow.
func (a *Agent) holders(ctx context.Context) ([]escrow.Holder, error) {
	orgs, err := a.c.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	var hs []escrow.Holder
	for _, o := range orgs {
		if len(o.ValidatorKey) == 0 {
			continue
		}
		acct, err := a.c.Account(ctx, ptoy.ID(o.Id))
		if err != nil {
			return nil, err
		}
		hs = append(hs, escrow.Holder{Org: ptoy.ID(o.Id), Alg: uint16(acct.Account.Kem.Alg), KEMPublic: acct.Account.Kem.Key})
	}
	return hs, nil
}

// escrowFor builds and uploads the escrow of all's emergency keys among
// hs; nil if they are fewer than escrow.MinHolders.
func (a *Agent) escrowFor(ctx context.Context, all []seal.PrivateKey, hs []escrow.Holder) ([]byte, error) {
	if len(hs) < escrow.MinHolders {
		return nil, nil
	}
	b, err := escrow.Build(a.patient, all, hs)
	if err != nil {
		return nil, err
	}
	h, err := a.c.Upload(ctx, a.me, b)
	if err != nil {
		return nil, err
	}
	return h[:], nil
}

// RefreshEscrow rebuilds the patient's emergency escrow when the
// validator organisations that hold its shares are no longer the ledger's
// (an organisation was admitted or removed): the emergency keys are split
// afresh among the current validators and the key set is published again
// with the new escrow, the category keys unchanged. It reports whether it
// published one. Nodes release shares only of the escrow the ledger names
// now, and only while their organisation runs a validator, so a removed
// member is asked for nothing and an admitted one holds a share.
func (a *Agent) RefreshEscrow(ctx context.Context) (bool, error) {
	ks, _, err := a.c.KeySet(ctx, a.patient, ptoy.ID{})
	if err != nil {
		return false, err
	}
	want, err := a.holders(ctx)
	if err != nil {
		return false, err
	}
	if len(ks.Escrow) == 32 {
		raw, err := a.c.Blob(ctx, a.me, blob.Hash(ks.Escrow))
		if err != nil {
			return false, err
		}
		e, err := escrow.Parse(raw)
		if err != nil {
			return false, err
		}
		if e.HeldBy(want) {
			return false, nil
		}
	} else if len(want) < escrow.MinHolders {
		return false, nil
	}
	all, err := a.Keys(ctx)
	if err != nil {
		return false, err
	}
	esc, err := a.escrowFor(ctx, all, want)
	if err != nil || esc == nil {
		return false, err
	}
	_, err = a.c.Send(ctx, &pb.Body{Msg: &pb.Body_PublishKeys{PublishKeys: &pb.PublishKeys{
		Patient: a.patient.Bytes(), KeySet: ks.KeySet, OwnBundle: ks.OwnBundle, Escrow: esc,
	}}}, a.me)
	return err == nil, err
}

// Keys returns the patient's category private keys (every epoch), opened
// from the patient's own bundle.
func (a *Agent) Keys(ctx context.Context) ([]seal.PrivateKey, error) {
	ks, _, err := a.c.KeySet(ctx, a.patient, ptoy.ID{})
	if err != nil {
		return nil, err
	}
	raw, err := a.c.Blob(ctx, a.me, blob.Hash(ks.OwnBundle))
	if err != nil {
		return nil, err
	}
	return seal.OpenBundle(a.patient, a.patient, a.me.KEM, raw)
}

// inScope returns the keys of the categories in cats, every epoch.
func inScope(all []seal.PrivateKey, cats uint32) []seal.PrivateKey {
	var out []seal.PrivateKey
	for _, k := range all {
		if cats&consent.Bit(pb.Category(k.Category)) != 0 {
			out = append(out, k)
		}
	}
	return out
}

// bundleFor seals the in-scope keys to holder and uploads the bundle.
func (a *Agent) bundleFor(ctx context.Context, all []seal.PrivateKey, holder ptoy.ID, cats uint32) (blob.Hash, error) {
	acct, err := a.c.Account(ctx, holder)
	if err != nil {
		return blob.Hash{}, err
	}
	b, err := seal.SealBundle(a.patient, holder, uint16(acct.Account.Kem.Alg), acct.Account.Kem.Key, inScope(all, cats))
	if err != nil {
		return blob.Hash{}, err
	}
	return a.c.Upload(ctx, a.me, b)
}

// GrantOptions describe a grant.
type GrantOptions struct {
	Categories uint32
	Purpose    pb.Purpose
	Permission pb.Permission
	NotBefore  int64 // unix seconds, 0: now
	Expires    int64 // unix seconds, 0: never
	// Replace replaces the grantee's grant in force, and all it covers;
	// without it the ledger refuses a grant to a grantee who holds one.
	Replace bool
}

// Grant gives grantee access. With read permission the grantee receives
// a key bundle of the in-scope category keys (every epoch); a write-only
// grantee receives none and can only deposit.
func (a *Agent) Grant(ctx context.Context, grantee ptoy.ID, o GrantOptions) error {
	g := &pb.Grant{
		Patient: a.patient.Bytes(), Grantee: grantee.Bytes(), Categories: o.Categories, Purpose: o.Purpose,
		Permission: o.Permission, NotBefore: o.NotBefore, Expires: o.Expires, Replace: o.Replace,
	}
	if o.Permission&pb.Permission_PERMISSION_READ != 0 {
		all, err := a.Keys(ctx)
		if err != nil {
			return err
		}
		h, err := a.bundleFor(ctx, all, grantee, o.Categories)
		if err != nil {
			return err
		}
		g.KeyBundle = h[:]
	}
	_, err := a.c.Send(ctx, &pb.Body{Msg: &pb.Body_Grant{Grant: g}}, a.me)
	return err
}

// DelegateOptions describe a delegation.
type DelegateOptions struct {
	Categories uint32
	MayGrant   bool  // the delegate may also grant and revoke within Categories
	Expires    int64 // unix seconds, 0: until ended
}

// Delegate lets delegate act for the patient within o.Categories: it
// receives the in-scope category keys (every epoch) in a key bundle
// sealed to it. A new delegation to the same person replaces the old one.
func (a *Agent) Delegate(ctx context.Context, delegate ptoy.ID, o DelegateOptions) error {
	if delegate == a.patient {
		return ptoy.E("agent.Delegate", ptoy.Invalid, "a patient does not delegate to themselves")
	}
	all, err := a.Keys(ctx)
	if err != nil {
		return err
	}
	h, err := a.bundleFor(ctx, all, delegate, o.Categories)
	if err != nil {
		return err
	}
	m := &pb.Delegate{Patient: a.patient.Bytes(), Delegate: delegate.Bytes(), Categories: o.Categories, MayGrant: o.MayGrant,
		Expires: o.Expires, KeyBundle: h[:]}
	_, err = a.c.Send(ctx, &pb.Body{Msg: &pb.Body_Delegate{Delegate: m}}, a.me)
	return err
}

// Revoke ends grantee's access at once and starts a new key epoch for the
// categories it could read; every other holder of those categories gets
// the new keys in a new bundle, the revoked grantee never does. New
// epochs of emergency categories are escrowed anew, in a PublishKeys
// that follows the Revoke. The agent acts for its own patient only: a
// delegate cannot open the patient's own bundle, and the ledger refuses
// a new key set signed by a delegate whose scope is not every category,
// so a delegate revokes with a bare Revoke (no key set).
func (a *Agent) Revoke(ctx context.Context, grantee ptoy.ID) error {
	grants, err := a.c.Grants(ctx, a.patient)
	if err != nil {
		return err
	}
	var revoked uint32
	for _, gs := range grants {
		if ptoy.ID(gs.Grant.Grantee) == grantee && gs.Status == pb.GrantStatus_GRANT_STATUS_ACTIVE {
			revoked = gs.Grant.Categories
		}
	}
	m := &pb.Revoke{Patient: a.patient.Bytes(), Grantee: grantee.Bytes()}
	var ep epoch
	if revoked != 0 && hasRead(grants, grantee) {
		access, err := a.c.Access(ctx, a.patient)
		if err != nil {
			return err
		}
		if ep, err = a.newEpoch(ctx, grants, access.Delegations, grantee, revoked); err != nil {
			return err
		}
		m.KeySet, m.OwnBundle, m.Rebundles = ep.keySet, ep.ownBundle, ep.rebundles
	}
	if _, err = a.c.Send(ctx, &pb.Body{Msg: &pb.Body_Revoke{Revoke: m}}, a.me); err != nil {
		return err
	}
	return a.escrowEpoch(ctx, ep)
}

// Undelegate ends delegate's delegation at once and, when it held keys
// (a delegation carries a bundle of the keys of its categories), starts
// a new key epoch for those categories as Revoke does: the former
// delegate cannot open records written after it. The patient signs;
// a delegate ending its own delegation sends a bare Undelegate.
func (a *Agent) Undelegate(ctx context.Context, delegate ptoy.ID) error {
	access, err := a.c.Access(ctx, a.patient)
	if err != nil {
		return err
	}
	var held uint32
	for _, ds := range access.Delegations {
		if ptoy.ID(ds.Delegation.Delegate) == delegate && len(ds.Delegation.KeyBundle) > 0 {
			held = ds.Delegation.Categories
		}
	}
	m := &pb.Undelegate{Patient: a.patient.Bytes(), Delegate: delegate.Bytes()}
	var ep epoch
	if held != 0 {
		grants, err := a.c.Grants(ctx, a.patient)
		if err != nil {
			return err
		}
		if ep, err = a.newEpoch(ctx, grants, access.Delegations, delegate, held); err != nil {
			return err
		}
		m.KeySet, m.OwnBundle, m.Rebundles = ep.keySet, ep.ownBundle, ep.rebundles
	}
	if _, err = a.c.Send(ctx, &pb.Body{Msg: &pb.Body_Undelegate{Undelegate: m}}, a.me); err != nil {
		return err
	}
	return a.escrowEpoch(ctx, ep)
}

// epoch is a new key epoch, uploaded, as a Revoke or an Undelegate
// carries it, and the new escrow when emergency categories changed.
type epoch struct {
	keySet, ownBundle []byte
	rebundles         []*pb.Rebundle
	escrow            []byte
}

// newEpoch makes a new epoch of each category in cats, uploads the new
// key set and the patient's own bundle, and a bundle of the new keys for
// each grantee that reads and each delegate in force who holds any of
// cats (of grants and delegations, the patient's), but losing, whose
// access ends.
func (a *Agent) newEpoch(ctx context.Context, grants []*pb.GrantState, delegations []*pb.DelegationState, losing ptoy.ID, cats uint32) (epoch, error) {
	var ep epoch
	all, err := a.Keys(ctx)
	if err != nil {
		return ep, err
	}
	latest := map[seal.Category]uint32{}
	for _, k := range all {
		latest[k.Category] = max(latest[k.Category], k.Epoch)
	}
	for c, e := range latest {
		if cats&consent.Bit(pb.Category(c)) == 0 {
			continue
		}
		k, _, err := seal.NewCategoryKey(c, e+1, a.alg)
		if err != nil {
			return ep, err
		}
		all = append(all, k)
	}
	// The key set publishes only the newest epoch of each category.
	current := newest(all)
	setH, err := a.upload(ctx, current, all)
	if err != nil {
		return ep, err
	}
	ep.keySet, ep.ownBundle = setH[0][:], setH[1][:]
	// New epochs of emergency categories go into a new escrow.
	if cats&consent.EmergencySet != 0 {
		if ep.escrow, err = a.buildEscrow(ctx, all); err != nil {
			return ep, err
		}
	}
	for _, gs := range grants {
		h := ptoy.ID(gs.Grant.Grantee)
		if h == losing || gs.Status != pb.GrantStatus_GRANT_STATUS_ACTIVE || gs.Grant.Categories&cats == 0 ||
			gs.Grant.Permission&pb.Permission_PERMISSION_READ == 0 {
			continue
		}
		bh, err := a.bundleFor(ctx, all, h, gs.Grant.Categories)
		if err != nil {
			return ep, err
		}
		ep.rebundles = append(ep.rebundles, &pb.Rebundle{Holder: h.Bytes(), KeyBundle: bh[:]})
	}
	// Delegates who hold keys of those categories get the new epochs too.
	now := time.Now().Unix()
	for _, ds := range delegations {
		d := ds.Delegation
		h := ptoy.ID(d.Delegate)
		if h == losing || len(d.KeyBundle) == 0 || d.Categories&cats == 0 || (d.Expires != 0 && d.Expires <= now) {
			continue
		}
		bh, err := a.bundleFor(ctx, all, h, d.Categories)
		if err != nil {
			return ep, err
		}
		ep.rebundles = append(ep.rebundles, &pb.Rebundle{Holder: h.Bytes(), KeyBundle: bh[:]})
	}
	return ep, nil
}

// escrowEpoch publishes the new escrow of an epoch that changed
// emergency categories, once the epoch is committed.
func (a *Agent) escrowEpoch(ctx context.Context, ep epoch) error {
	if ep.escrow == nil {
		return nil
	}
	_, err := a.c.Send(ctx, &pb.Body{Msg: &pb.Body_PublishKeys{PublishKeys: &pb.PublishKeys{
		Patient: a.patient.Bytes(), KeySet: ep.keySet, OwnBundle: ep.ownBundle, Escrow: ep.escrow,
	}}}, a.me)
	return err
}

func hasRead(grants []*pb.GrantState, grantee ptoy.ID) bool {
	for _, gs := range grants {
		if ptoy.ID(gs.Grant.Grantee) == grantee {
			return gs.Grant.Permission&pb.Permission_PERMISSION_READ != 0
		}
	}
	return false
}

// newest keeps the highest epoch of each category.
func newest(ks []seal.PrivateKey) []seal.PrivateKey {
	best := map[seal.Category]seal.PrivateKey{}
	for _, k := range ks {
		if b, ok := best[k.Category]; !ok || k.Epoch > b.Epoch {
			best[k.Category] = k
		}
	}
	var out []seal.PrivateKey
	for _, k := range best {
		out = append(out, k)
	}
	slices.SortFunc(out, func(x, y seal.PrivateKey) int { return int(x.Category) - int(y.Category) })
	return out
}

// upload publishes the key set of current and the own bundle of all.
func (a *Agent) upload(ctx context.Context, current, all []seal.PrivateKey) ([2]blob.Hash, error) {
	var out [2]blob.Hash
	var pubs []seal.PublicKey
	for _, k := range current {
		p, err := k.Public()
		if err != nil {
			return out, err
		}
		pubs = append(pubs, p)
	}
	set, err := seal.EncodeKeySet(a.patient, pubs)
	if err != nil {
		return out, err
	}
	own, err := seal.SealBundle(a.patient, a.patient, a.me.KEMAlg(), a.me.KEMPublic(), all)
	if err != nil {
		return out, err
	}
	if out[0], err = a.c.Upload(ctx, a.me, set); err != nil {
		return out, err
	}
	out[1], err = a.c.Upload(ctx, a.me, own)
	return out, err
}

// Register completes a patient's registration (the one-time code and the
// node's attestation) and then makes and publishes the patient's category
// keys, so that a registered patient can be written to at once.
func Register(ctx context.Context, c *client.Client, start *pb.StartRegistrationResponse, code string, k *keys.KeyPair) (ptoy.ID, error) {
	id, err := c.CompleteRegistration(ctx, start, code, k)
	if err != nil {
		return id, err
	}
	return id, New(c, k).Setup(ctx)
}
