package main

// Command "ptoy keys" manages the keystore directory: it makes, lists,
// shows, exports, imports and rotates the key pairs of identities. Private
// keys are never printed; a keystore file is sealed with its passphrase.

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"ptoy"
	"ptoy/agent"
	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

func init() {
	commands["keys"] = command{"make, list, show, export, import and rotate keys", runKeys}
}

var keysSubcommands = []subcommand{
	{"new", "make a new key pair", runKeysNew},
	{"list", "list the keys of the keystore directory", runKeysList},
	{"show", "show the public part of a key", runKeysShow},
	{"export", "write a key's sealed keystore file", runKeysExport},
	{"import", "add a sealed keystore file as a key", runKeysImport},
	{"rotate", "replace a key's encryption (and signing) key on the ledger", runKeysRotate},
	{"escrow", "split a patient's emergency keys among the current validators", runKeysEscrow},
}

func runKeys(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "keys", keysSubcommands, args)
}

// parseKEM reads a --kem value.
func parseKEM(s string) (uint16, error) {
	switch s {
	case "hybrid":
		return keys.KEMHybrid, nil
	case "x25519":
		return keys.KEMX25519, nil
	}
	return 0, usageErr(fmt.Sprintf("unknown KEM %q: want hybrid (ML-KEM-768+X25519) or x25519", s))
}

func runKeysNew(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys new", "NAME [--kem hybrid|x25519]",
		`Makes a new key pair (an Ed25519 signing key, which names the account,
and an HPKE encryption key) and saves it as NAME in the keystore directory,
sealed with a passphrase. When the passphrase is asked on stdin it is asked
twice. NAME is 1 to 64 letters, digits, '.', '_' or '-'.`)
	c := addCommon(fs, e, useKeys|usePass)
	kem := fs.String("kem", "hybrid", "encryption key algorithm: hybrid (ML-KEM-768+X25519) or x25519")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("keys new", pos, 1, "a key NAME"); err != nil {
		return err
	}
	name := pos[0]
	alg, err := parseKEM(*kem)
	if err != nil {
		return err
	}
	d, err := c.dir()
	if err != nil {
		return err
	}
	// Check the name before asking for a passphrase.
	if _, err := d.Export(name); err == nil {
		return ptoy.E("", ptoy.Exists, fmt.Sprintf("key %q already exists in %s", name, d.Path))
	} else if ptoy.KindOf(err) != ptoy.NotFound {
		return err
	}
	pass, err := c.newPassphrase(name)
	if err != nil {
		return err
	}
	_, info, err := d.Create(name, alg, pass, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created key %s: id %s, encryption %s\n", name, info.ID, keys.KEMName(info.KEMAlg))
	return nil
}

// keyJSON is the public part of a keystore for --json.
type keyJSON struct {
	Name          string `json:"name"`
	ID            string `json:"id"`
	SigningPublic string `json:"signing_public"`
	KEMAlg        uint16 `json:"kem_alg"`
	KEM           string `json:"kem"`
	KEMPublic     string `json:"kem_public"`
	Created       string `json:"created"`
}

func infoJSON(i keys.Info) keyJSON {
	return keyJSON{
		Name: i.Name, ID: i.ID.String(), SigningPublic: hex.EncodeToString(i.SigningPublic),
		KEMAlg: i.KEMAlg, KEM: keys.KEMName(i.KEMAlg), KEMPublic: hex.EncodeToString(i.KEMPublic),
		Created: i.Created.UTC().Format(time.RFC3339),
	}
}

func runKeysList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys list", "[--json]",
		`Lists the keys of the keystore directory: name, account id, encryption
key algorithm and creation time. It needs no passphrase and prints no
private key.`)
	c := addCommon(fs, e, useKeys)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("keys list", pos, 0, ""); err != nil {
		return err
	}
	d, err := c.dir()
	if err != nil {
		return err
	}
	infos, err := d.List()
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]keyJSON, len(infos))
		for i, info := range infos {
			out[i] = infoJSON(info)
		}
		return writeJSON(e.stdout, out)
	}
	if len(infos) == 0 {
		fmt.Fprintf(e.stdout, "no keys in %s\n", d.Path)
		return nil
	}
	tw := table(e.stdout)
	fmt.Fprintln(tw, "NAME\tID\tKEM\tCREATED")
	for _, i := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", i.Name, i.ID, keys.KEMName(i.KEMAlg), i.Created.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func runKeysShow(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys show", "NAME [--json]",
		`Shows the public part of key NAME: its account id, signing public key,
encryption key (algorithm and fingerprint; the whole key with --json),
creation time and file. It needs no passphrase.`)
	c := addCommon(fs, e, useKeys)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("keys show", pos, 1, "a key NAME"); err != nil {
		return err
	}
	info, err := c.keyInfo(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, infoJSON(info))
	}
	tw := table(e.stdout)
	fmt.Fprintf(tw, "name:\t%s\n", info.Name)
	fmt.Fprintf(tw, "id:\t%s\n", info.ID)
	fmt.Fprintf(tw, "signing key:\tEd25519 %s\n", hex.EncodeToString(info.SigningPublic))
	fmt.Fprintf(tw, "encryption key:\t%s, %d bytes, fingerprint %s\n", keys.KEMName(info.KEMAlg), len(info.KEMPublic), fingerprint(info.KEMPublic))
	fmt.Fprintf(tw, "created:\t%s\n", info.Created.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "file:\t%s\n", filepath.Join(c.keysDir, info.Name+".key"))
	return tw.Flush()
}

func runKeysExport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys export", "NAME [--out FILE]",
		`Writes the keystore file of key NAME, exactly as it is on disk (still
sealed with its passphrase), to stdout or to a new FILE (mode 0600).`)
	c := addCommon(fs, e, useKeys)
	out := fs.String("out", "", "write to the new `FILE` rather than stdout")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("keys export", pos, 1, "a key NAME"); err != nil {
		return err
	}
	info, err := c.keyInfo(pos[0])
	if err != nil {
		return err
	}
	d, _ := c.dir()
	data, err := d.Export(info.Name)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err := e.stdout.Write(data)
		return err
	}
	if err := writeFileNew(*out, data); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "exported key %s to %s\n", info.Name, *out)
	return nil
}

func runKeysImport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys import", "NAME FILE",
		`Adds the keystore FILE (as "ptoy keys export" writes it; "-" for stdin)
as key NAME. The name is sealed in the file, so NAME must be the name it
was exported under. An existing key is never replaced.`)
	c := addCommon(fs, e, useKeys)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("keys import", pos, 2, "a key NAME and a FILE"); err != nil {
		return err
	}
	name, file := pos[0], pos[1]
	var r io.Reader = e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			if os.IsNotExist(err) {
				return ptoy.E("", ptoy.NotFound, fmt.Sprintf("no file %s", file))
			}
			return ptoy.E("", ptoy.Other, fmt.Sprintf("cannot read %s", file), err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return ptoy.E("", ptoy.Other, fmt.Sprintf("cannot read %s", file), err)
	}
	d, err := c.dir()
	if err != nil {
		return err
	}
	info, err := d.Import(name, data)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "imported key %s: id %s\n", info.Name, info.ID)
	return nil
}

func runKeysRotate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys rotate", "NAME [--signing] [--kem hybrid|x25519]",
		`Replaces the encryption key of the account that key NAME signs for and,
with --signing, its signing key too (the account id stays the same). The
current key signs the RotateKeys transaction; a new signing key co-signs it.

The new key pair is first sealed, with the same passphrase, in NAME.key.new
in the keystore directory. Once the ledger has committed the rotation, the
previous keystore file is kept as NAME.key.old-<unix time> (its encryption
key still opens what was sealed to it) and NAME.key.new atomically replaces
NAME.key. If the rotation is refused, NAME.key.new is removed and nothing
changes. A NAME.key.new left by an interrupted rotation is finished if the
ledger holds its keys, and otherwise reported.

After a signing-key rotation the keystore shows the id derived from the new
signing key; commands that take a key name still find the account by its
current signing key.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	signing := fs.Bool("signing", false, "also replace the signing key")
	kemFlag := fs.String("kem", "", "algorithm of the new encryption key: hybrid or x25519 (default: the current one)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("keys rotate", pos, 1, "a key NAME"); err != nil {
		return err
	}
	name := pos[0]
	var alg uint16
	if *kemFlag != "" {
		if alg, err = parseKEM(*kemFlag); err != nil {
			return err
		}
	}
	d, err := c.dir()
	if err != nil {
		return err
	}
	path := filepath.Join(d.Path, name+".key")
	newPath := path + ".new"
	cur, pass, err := c.loadKeyPass(name)
	if err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	acct, err := cl.AccountByKey(ctx, cur.SigningPublic())
	if ptoy.KindOf(err) == ptoy.NotFound {
		return ptoy.E("", ptoy.NotFound, fmt.Sprintf("key %q belongs to no account on this network: there is nothing to rotate", name))
	}
	if err != nil {
		return err
	}
	id := idOf(acct.Account.Id)

	if data, err := os.ReadFile(newPath); err == nil {
		return finishRotation(e, name, id, path, newPath, data, acct.Account)
	}

	if alg == 0 {
		alg = cur.KEMAlg()
	}
	gen, err := keys.Generate(alg)
	if err != nil {
		return err
	}
	next := &keys.KeyPair{Signing: cur.Signing, KEM: gen.KEM}
	if *signing {
		next.Signing = gen.Signing
	}
	sealed, err := keys.Seal(name, next, pass, c.kdf(), time.Now())
	if err != nil {
		return err
	}
	if err := writeFileNew(newPath, sealed); err != nil {
		return err
	}

	if err := cl.RotateKeys(ctx, cur, next); err != nil {
		if ptoy.KindOf(err) == ptoy.Unavailable {
			return ptoy.E("", ptoy.Unavailable, fmt.Sprintf("rotation of key %q: %s: %s is kept; run ptoy keys rotate %s again to finish or clean up", name, ptoy.Message(err), newPath, name))
		}
		os.Remove(newPath)
		return err
	}
	old, err := swapKeyFiles(path, newPath)
	if err != nil {
		return err
	}
	what := "encryption key"
	if *signing {
		what = "signing and encryption keys"
	}
	fmt.Fprintf(e.stdout, "rotated the %s of %s (account %s, encryption %s)\nprevious key kept in %s\n", what, name, id, keys.KEMName(next.KEMAlg()), old)
	return nil
}

// finishRotation deals with NAME.key.new left by an interrupted rotation.
func finishRotation(e *env, name string, id ptoy.ID, path, newPath string, data []byte, a *pb.Account) error {
	info, err := keys.ReadInfo(data)
	if err != nil {
		return ptoy.E("", ptoy.Invalid, fmt.Sprintf("%s, left by an earlier rotation, is not a keystore file: move it away and run again", newPath))
	}
	if info.Name != name || string(a.GetKem().GetKey()) != string(info.KEMPublic) ||
		(string(a.SigningKey) != string(info.SigningPublic)) {
		return ptoy.E("", ptoy.Exists, fmt.Sprintf("%s is left by an earlier rotation that the ledger does not hold: remove it (its keys were never used) and run again", newPath))
	}
	old, err := swapKeyFiles(path, newPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "finished an earlier rotation of %s (account %s): the ledger holds its keys\nprevious key kept in %s\nrun ptoy keys rotate %s again for another rotation\n", name, id, old, name)
	return nil
}

// swapKeyFiles keeps a copy of the keystore file at path as
// path.old-<unix time> and renames newPath over path, atomically.
func swapKeyFiles(path, newPath string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", ptoy.E("", ptoy.Other, fmt.Sprintf("cannot read %s; the new key is in %s", path, newPath), err)
	}
	old := fmt.Sprintf("%s.old-%d", path, time.Now().Unix())
	for i := 1; ; i++ {
		err = writeFileNew(old, data)
		if ptoy.KindOf(err) != ptoy.Exists {
			break
		}
		old = fmt.Sprintf("%s.old-%d-%d", path, time.Now().Unix(), i)
	}
	if err != nil {
		return "", ptoy.E("", ptoy.Other, fmt.Sprintf("cannot keep the previous key; the new key is in %s", newPath), err)
	}
	if err := os.Rename(newPath, path); err != nil {
		return "", ptoy.E("", ptoy.Other, fmt.Sprintf("cannot move the new key from %s to %s", newPath, path), err)
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return old, nil
}

func runKeysEscrow(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys escrow", "NAME",
		`Checks that the emergency escrow of the patient whose key is NAME is held
by the organisations that run a validator now, and when it is not (an
organisation was admitted or removed since it was made) splits the
emergency keys afresh among them and publishes the new escrow; the category
keys stay the same. Signing in to the patient app does the same.`)
	c := addCommon(fs, e, useKeys|usePass|useNode)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("keys escrow", pos, 1, "a key NAME"); err != nil {
		return err
	}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	me, err := c.loadKey(pos[0])
	if err != nil {
		return err
	}
	if err := mustBePatient(ctx, cl, me, pos[0]); err != nil {
		return err
	}
	changed, err := agent.New(cl, me).RefreshEscrow(ctx)
	if err != nil {
		return err
	}
	if changed {
		fmt.Fprintln(e.stdout, "the emergency escrow now follows the current validators")
	} else {
		fmt.Fprintln(e.stdout, "the emergency escrow is held by the current validators: nothing to do")
	}
	return nil
}
