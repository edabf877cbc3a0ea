package keys

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"ptoy"
)

// Dir is a directory of keystore files, one per key, named NAME.key.
// Files are written with mode 0600 in a directory of mode 0700.
type Dir struct {
	Path string    // the directory; made on first write
	KDF  KDFParams // parameters for new files; the zero value means DefaultKDF
}

const (
	fileExt     = ".key"
	maxNameLen  = 64
	filePerm    = 0o600
	dirPerm     = 0o700
	tempPattern = ".tmp-*"
)

// Create makes a new key pair whose KEM key uses kemAlg and saves it as
// name. It is ptoy.Exists if name is already present.
func (d Dir) Create(name string, kemAlg uint16, passphrase []byte, now time.Time) (*KeyPair, Info, error) {
	const op = "keys.Dir.Create"
	path, err := d.path(op, name)
	if err != nil {
		return nil, Info{}, err
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, Info{}, ptoy.E(op, ptoy.Exists, fmt.Sprintf("key %q already exists", name))
	}
	k, err := Generate(kemAlg)
	if err != nil {
		return nil, Info{}, err
	}
	info, err := d.Save(name, k, passphrase, now)
	if err != nil {
		return nil, Info{}, err
	}
	return k, info, nil
}

// Save seals k under passphrase as name, created now. It is ptoy.Exists if
// name is already present: a key is never overwritten.
func (d Dir) Save(name string, k *KeyPair, passphrase []byte, now time.Time) (Info, error) {
	const op = "keys.Dir.Save"
	if _, err := d.path(op, name); err != nil {
		return Info{}, err
	}
	p := d.KDF
	if p == (KDFParams{}) {
		p = DefaultKDF
	}
	data, err := Seal(name, k, passphrase, p, now)
	if err != nil {
		return Info{}, err
	}
	info, err := ReadInfo(data)
	if err != nil {
		return Info{}, err
	}
	if err := d.writeNew(op, name, data); err != nil {
		return Info{}, err
	}
	return info, nil
}

// Load opens the key name with passphrase. It is ptoy.NotFound if there is
// no such key and ptoy.Unauthenticated if the passphrase is wrong.
func (d Dir) Load(name string, passphrase []byte) (*KeyPair, Info, error) {
	const op = "keys.Dir.Load"
	data, err := d.read(op, name)
	if err != nil {
		return nil, Info{}, err
	}
	k, info, err := Open(data, passphrase)
	if err != nil {
		return nil, Info{}, err
	}
	if info.Name != name {
		return nil, Info{}, nameMismatch(op, name, info.Name)
	}
	return k, info, nil
}

// List returns the public parts of all keys in the directory, sorted by
// name. A directory that does not exist yet holds no keys. A file that is
// not a valid keystore is an error naming it.
func (d Dir) List() ([]Info, error) {
	const op = "keys.Dir.List"
	entries, err := os.ReadDir(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot read key directory", err)
	}
	var infos []Info
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), fileExt)
		if !ok || !e.Type().IsRegular() || !validName(name) {
			continue
		}
		data, err := d.read(op, name)
		if err != nil {
			return nil, err
		}
		info, err := ReadInfo(data)
		if err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("key file %s", e.Name()), err)
		}
		if info.Name != name {
			return nil, nameMismatch(op, name, info.Name)
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

// Export returns the sealed file of key name, as it is on disk.
func (d Dir) Export(name string) ([]byte, error) {
	return d.read("keys.Dir.Export", name)
}

// Import adds a sealed file, as Export returns it, as key name. The file
// must be a valid keystore (see ReadInfo) for a key of that same name, since
// the name is sealed in it. It is ptoy.Exists if name is already present.
func (d Dir) Import(name string, data []byte) (Info, error) {
	const op = "keys.Dir.Import"
	if _, err := d.path(op, name); err != nil {
		return Info{}, err
	}
	info, err := ReadInfo(data)
	if err != nil {
		return Info{}, err
	}
	if info.Name != name {
		return Info{}, nameMismatch(op, name, info.Name)
	}
	if err := d.writeNew(op, name, data); err != nil {
		return Info{}, err
	}
	return info, nil
}

// path returns the file of key name, if name is valid.
func (d Dir) path(op, name string) (string, error) {
	return d.filePath(op, name, fileExt)
}

// filePath returns the file NAME+ext, if name is valid.
func (d Dir) filePath(op, name, ext string) (string, error) {
	if err := checkName(op, name); err != nil {
		return "", err
	}
	return filepath.Join(d.Path, name+ext), nil
}

// read returns the file of key name, ptoy.NotFound if absent.
func (d Dir) read(op, name string) ([]byte, error) {
	return d.readFile(op, name, fileExt)
}

// readFile returns the file NAME+ext, ptoy.NotFound if absent.
func (d Dir) readFile(op, name, ext string) ([]byte, error) {
	path, err := d.filePath(op, name, ext)
	if err != nil {
		return nil, err
	}
	what := "key"
	if ext == secretExt {
		what = "secret"
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no %s %q", what, name))
	}
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("cannot read %s %q", what, name), err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("cannot read %s %q", what, name), err)
	}
	if len(data) > maxFileSize {
		return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("%s file of %q is larger than %d bytes", what, name, maxFileSize))
	}
	return data, nil
}

// writeNew writes data as the file of key name atomically and durably,
// without ever replacing an existing file: it writes and syncs a temporary
// file, hard-links it into place (which fails if the name is taken), and
// syncs the directory. Where hard links are not supported it checks and
// renames instead, which is atomic but may race with another writer.
func (d Dir) writeNew(op, name string, data []byte) error {
	return d.writeNewFile(op, name, fileExt, data)
}

// writeNewFile is writeNew for the file NAME+ext.
func (d Dir) writeNewFile(op, name, ext string, data []byte) error {
	path, err := d.filePath(op, name, ext)
	if err != nil {
		return err
	}
	what := "key"
	if ext == secretExt {
		what = "secret"
	}
	exists := ptoy.E(op, ptoy.Exists, fmt.Sprintf("%s %q already exists", what, name))
	ioErr := func(doing string, err error) error {
		return ptoy.E(op, ptoy.Other, fmt.Sprintf("cannot %s for %s %q", doing, what, name), err)
	}
	if err := os.MkdirAll(d.Path, dirPerm); err != nil {
		return ioErr("make key directory", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return exists
	}
	tmp, err := os.CreateTemp(d.Path, "."+name+tempPattern)
	if err != nil {
		return ioErr("create temporary file", err)
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath) // after a link or a failure; gone after a rename
	if err := tmp.Chmod(filePerm); err != nil {
		tmp.Close()
		return ioErr("set file mode", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return ioErr("write", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return ioErr("sync", err)
	}
	if err := tmp.Close(); err != nil {
		return ioErr("write", err)
	}

	if err := os.Link(tmpPath, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return exists
		}
		if _, err := os.Lstat(path); err == nil {
			return exists
		}
		if err := os.Rename(tmpPath, path); err != nil {
			return ioErr("rename into place", err)
		}
	}
	if err := syncDir(d.Path); err != nil {
		return ioErr("sync key directory", err)
	}
	return nil
}

// syncDir makes a directory's entries durable.
func syncDir(path string) error {
	dir, err := os.Open(path)
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// validName reports whether name may name a key: 1 to 64 of
// [a-zA-Z0-9._-], not starting with a dot.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func checkName(op, name string) error {
	if !validName(name) {
		return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("bad key name %q: want 1 to %d letters, digits, '.', '_' or '-', not starting with '.'", name, maxNameLen))
	}
	return nil
}

func nameMismatch(op, want, got string) error {
	return ptoy.E(op, ptoy.Invalid, fmt.Sprintf("keystore file for %q holds key %q", want, got))
}
