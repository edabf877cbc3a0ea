package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"ptoy"
)

// maxPassphrase bounds a passphrase read from a file or a reader.
const maxPassphrase = 4096

// Passphrase returns the passphrase from file (first line, trailing newline
// trimmed) if file != "", else from the environment variable env if set and
// non-empty (looked up with lookup, e.g. os.LookupEnv, so that this package
// reads no environment itself), else by writing a prompt to prompt and
// reading one line from in. A nil lookup, in or prompt is skipped. It is
// ptoy.Invalid if the passphrase found is empty or there is none.
//
// Reading from in does not turn off terminal echo: that is the caller's
// business.
func Passphrase(file, env string, lookup func(string) (string, bool), in io.Reader, prompt io.Writer) ([]byte, error) {
	const op = "keys.Passphrase"
	if file != "" {
		f, err := os.Open(file)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ptoy.E(op, ptoy.NotFound, fmt.Sprintf("no passphrase file %s", file))
		}
		if err != nil {
			return nil, ptoy.E(op, ptoy.Other, fmt.Sprintf("cannot read passphrase file %s", file), err)
		}
		defer f.Close()
		p, err := readLine(f)
		if err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("passphrase file %s", file), err)
		}
		if len(p) == 0 {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("passphrase file %s is empty", file))
		}
		return p, nil
	}
	if env != "" && lookup != nil {
		if v, ok := lookup(env); ok && v != "" {
			return []byte(v), nil
		}
	}
	if in != nil {
		if prompt != nil {
			if _, err := io.WriteString(prompt, "Passphrase: "); err != nil {
				return nil, ptoy.E(op, ptoy.Other, "cannot prompt for passphrase", err)
			}
		}
		p, err := readLine(in)
		if err != nil {
			return nil, ptoy.E(op, ptoy.Invalid, "reading passphrase", err)
		}
		if len(p) != 0 {
			return p, nil
		}
	}
	return nil, ptoy.E(op, ptoy.Invalid, "no passphrase given")
}

// readLine reads up to and not including the first newline (or the end),
// dropping a carriage return before it. It reads one byte at a time so as
// to consume nothing of r past the line.
func readLine(r io.Reader) ([]byte, error) {
	line := make([]byte, 0, maxPassphrase) // never regrown, so never copied
	var c [1]byte
	for {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				break
			}
			if len(line) == maxPassphrase {
				clear(line)
				return nil, fmt.Errorf("passphrase is longer than %d bytes", maxPassphrase)
			}
			line = append(line, c[0])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			clear(line)
			return nil, err
		}
	}
	return bytes.TrimSuffix(line, []byte("\r")), nil
}
