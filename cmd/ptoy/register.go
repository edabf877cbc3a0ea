package main

// Command "ptoy register" registers a new patient: it makes the patient's
// key if needed, asks the node to text a one-time code to the patient's
// phone, and completes the registration with that code. The node keeps
// the name and phone in its encrypted directory; the ledger gets neither.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"ptoy"
	"ptoy/agent"
	"ptoy/client"
	"ptoy/directory"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

func init() {
	commands["register"] = command{"register a new patient (the phone gets a one-time code)", runRegister}
}

// pendingRegistration is what a started registration needs to be
// completed later with --code. It holds no name and the phone only masked.
type pendingRegistration struct {
	Node           string `json:"node"`
	RegistrationID string `json:"registration_id"`
	Registrar      string `json:"registrar"`
	PhoneTag       string `json:"phone_tag"`
	Expires        int64  `json:"expires_unix"`
	To             string `json:"to"` // masked phone
}

func pendingPath(d keys.Dir, name string) string {
	return filepath.Join(d.Path, name+".registration")
}

func runRegister(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "register", `--key NAME --name "Full Name" --phone +15551234567 [--code CODE]`,
		`Registers a new patient whose identity is key NAME (made now if it is not
in the keystore directory). The node texts a one-time code to the phone and
this command asks for it on stdin.

To finish in a second step instead, as a script does, run it without --code
and with nothing on stdin: the registration stays pending (in
NAME.registration in the keystore directory, until the code expires) and
"ptoy register --key NAME --code CODE" completes it.

The name and the phone number go to the node's encrypted directory, never to
the ledger or to the output; the phone is shown masked.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	keyName := fs.String("key", "", "key `NAME` of the patient (made if absent)")
	name := fs.String("name", "", "the patient's full name")
	phone := fs.String("phone", "", "the patient's phone number in international form (+15551234567)")
	code := fs.String("code", "", "the one-time code of a registration started earlier")
	kem := fs.String("kem", "hybrid", "encryption key algorithm if the key is made: hybrid or x25519")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("register", pos, 0, ""); err != nil {
		return err
	}
	if *keyName == "" {
		return usageErr("ptoy register needs --key NAME (run ptoy register -h)")
	}
	d, err := c.dir()
	if err != nil {
		return err
	}
	if *code != "" {
		return completePending(ctx, e, c, d, *keyName, *code)
	}

	if *name == "" || *phone == "" {
		return usageErr("ptoy register needs --name and --phone to start a registration, or --code to finish one (run ptoy register -h)")
	}
	if _, err := directory.CheckName(*name); err != nil {
		return err
	}
	norm, err := directory.NormalizePhone(*phone)
	if err != nil {
		return err
	}
	alg, err := parseKEM(*kem)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	k, err := patientKey(e, c, d, *keyName, alg)
	if err != nil {
		return err
	}
	if err := checkUnregistered(ctx, cl, *keyName, k); err != nil {
		return err
	}
	start, err := cl.StartRegistration(ctx, *name, norm)
	if err != nil {
		return err
	}
	masked := directory.Mask(norm)
	p := pendingRegistration{
		Node: c.node, RegistrationID: start.RegistrationId, Registrar: hex.EncodeToString(start.Registrar),
		PhoneTag: hex.EncodeToString(start.PhoneTag), Expires: start.ExpiresUnix, To: masked,
	}
	if err := savePending(d, *keyName, &p); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "A code was sent to %s. Enter it: ", masked)
	line, err := readLine(e.stdin)
	if errors.Is(err, io.EOF) || (err == nil && line == "") {
		fmt.Fprintln(e.stderr)
		return ptoy.E("", ptoy.Invalid, fmt.Sprintf("no code entered: the registration stays pending until %s; finish it with: ptoy register --key %s --code CODE",
			time.Unix(start.ExpiresUnix, 0).UTC().Format(time.RFC3339), *keyName))
	}
	if err != nil {
		return ptoy.E("", ptoy.Other, "cannot read the code", err)
	}
	return complete(ctx, e, cl, d, *keyName, start, line, k)
}

// patientKey loads key name, or makes it if it is not in the directory.
func patientKey(e *env, c *common, d keys.Dir, name string, alg uint16) (*keys.KeyPair, error) {
	if _, err := d.Export(name); err == nil {
		return c.loadKey(name)
	} else if ptoy.KindOf(err) != ptoy.NotFound {
		return nil, err
	}
	pass, err := c.newPassphrase(name)
	if err != nil {
		return nil, err
	}
	k, info, err := d.Create(name, alg, pass, time.Now())
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stdout, "created key %s: id %s, encryption %s\n", name, info.ID, keys.KEMName(info.KEMAlg))
	return k, nil
}

// checkUnregistered fails if k already signs for an account.
func checkUnregistered(ctx context.Context, cl *client.Client, name string, k *keys.KeyPair) error {
	a, err := cl.AccountByKey(ctx, k.SigningPublic())
	if err == nil {
		return ptoy.E("", ptoy.Exists, fmt.Sprintf("key %q already belongs to %s account %s", name, kindName(a.Account.Kind), idOf(a.Account.Id)))
	}
	if ptoy.KindOf(err) != ptoy.NotFound {
		return err
	}
	return nil
}

func savePending(d keys.Dir, name string, p *pendingRegistration) error {
	b, err := json.Marshal(p)
	if err != nil {
		return ptoy.E("", ptoy.Other, "cannot encode the pending registration", err)
	}
	path := pendingPath(d, name)
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := writeFileNew(tmp, append(b, '\n')); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return ptoy.E("", ptoy.Other, "cannot save the pending registration", err)
	}
	return nil
}

// completePending finishes the registration of key name started earlier.
func completePending(ctx context.Context, e *env, c *common, d keys.Dir, name, code string) error {
	b, err := os.ReadFile(pendingPath(d, name))
	if errors.Is(err, os.ErrNotExist) {
		return ptoy.E("", ptoy.NotFound, fmt.Sprintf("no registration of key %q is pending: start one with ptoy register --key %s --name NAME --phone PHONE", name, name))
	}
	if err != nil {
		return ptoy.E("", ptoy.Other, "cannot read the pending registration", err)
	}
	var p pendingRegistration
	if err := json.Unmarshal(b, &p); err != nil {
		return ptoy.E("", ptoy.Invalid, fmt.Sprintf("%s is damaged: start the registration again", pendingPath(d, name)))
	}
	registrar, err := hex.DecodeString(p.Registrar)
	tag, terr := hex.DecodeString(p.PhoneTag)
	if err != nil || terr != nil || len(tag) == 0 || p.RegistrationID == "" || p.Node == "" {
		return ptoy.E("", ptoy.Invalid, fmt.Sprintf("%s is damaged: start the registration again", pendingPath(d, name)))
	}
	if time.Now().Unix() > p.Expires {
		os.Remove(pendingPath(d, name))
		return ptoy.E("", ptoy.Expired, fmt.Sprintf("the code sent to %s has expired: start the registration again", p.To))
	}
	// The code is only known to the node that sent it.
	c.node = p.Node
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	k, err := c.loadKey(name)
	if err != nil {
		return err
	}
	start := &pb.StartRegistrationResponse{RegistrationId: p.RegistrationID, ExpiresUnix: p.Expires, Registrar: registrar, PhoneTag: tag}
	return complete(ctx, e, cl, d, name, start, code, k)
}

func complete(ctx context.Context, e *env, cl *client.Client, d keys.Dir, name string, start *pb.StartRegistrationResponse, code string, k *keys.KeyPair) error {
	id, err := agent.Register(ctx, cl, start, code, k)
	if err != nil {
		return err
	}
	os.Remove(pendingPath(d, name))
	fmt.Fprintf(e.stdout, "registered patient %s\n", id)
	return nil
}
