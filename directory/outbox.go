package directory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"ptoy"
)

const (
	outboxPerm    = 0o600
	maxOutboxLine = 64 << 10 // longest line ReadOutbox accepts
)

// Outbox is the development Sender. It sends nothing: it appends each
// message as one JSON line {"time","to","code"} to the file at Path
// (created with mode 0600), so that scripts and the web app can read the
// codes, and writes a line such as
//
//	dev outbox: code 123456 for +1••••••0100
//
// to Console, if that is not nil, with the phone number masked. The file
// holds phone numbers in the clear: it is for development only.
type Outbox struct {
	Path    string    // the JSON-lines file
	Console io.Writer // may be nil
	mu      sync.Mutex
}

// Message is one line of an outbox file.
type Message struct {
	Time time.Time `json:"time"`
	To   string    `json:"to"`
	Code string    `json:"code"`
}

// SendCode appends a message for phone to the outbox file and notes it on
// the console.
func (o *Outbox) SendCode(ctx context.Context, phone, code string) error {
	const op = "directory.Outbox.SendCode"
	if err := ctx.Err(); err != nil {
		return ptoy.E(op, ptoy.Unavailable, err)
	}
	line, err := json.Marshal(Message{Time: time.Now().UTC(), To: phone, Code: code})
	if err != nil {
		return ptoy.E(op, ptoy.Other, "cannot encode message")
	}
	line = append(line, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	f, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, outboxPerm)
	if err != nil {
		return ptoy.E(op, ptoy.Other, "cannot open outbox", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return ptoy.E(op, ptoy.Other, "cannot write outbox", err)
	}
	if err := f.Close(); err != nil {
		return ptoy.E(op, ptoy.Other, "cannot write outbox", err)
	}
	if o.Console != nil {
		fmt.Fprintf(o.Console, "dev outbox: code %s for %s\n", code, Mask(phone))
	}
	return nil
}

// ReadOutbox returns the messages in the outbox file at path, oldest
// first. A missing file holds no messages. A last line without its
// newline is taken to be still being written and is left out.
func ReadOutbox(path string) ([]Message, error) {
	const op = "directory.ReadOutbox"
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, ptoy.E(op, ptoy.Other, "cannot open outbox", err)
	}
	defer f.Close()
	var msgs []Message
	r := bufio.NewReaderSize(f, maxOutboxLine)
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, io.EOF) {
			return msgs, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("outbox line %d is too long", n))
		}
		if err != nil {
			return nil, ptoy.E(op, ptoy.Other, "cannot read outbox", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m Message
		if err := json.Unmarshal(line, &m); err != nil {
			// The line is not quoted: it may hold a phone number.
			return nil, ptoy.E(op, ptoy.Invalid, fmt.Sprintf("outbox line %d is not a message", n))
		}
		msgs = append(msgs, m)
	}
}

// LatestCode returns the code most recently written to the outbox file at
// path for phone, in any form NormalizePhone accepts; ptoy.NotFound if
// none was.
func LatestCode(path, phone string) (string, error) {
	const op = "directory.LatestCode"
	want := phone
	if p, err := NormalizePhone(phone); err == nil {
		want = p
	}
	msgs, err := ReadOutbox(path)
	if err != nil {
		return "", err
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		to := msgs[i].To
		if p, err := NormalizePhone(to); err == nil {
			to = p
		}
		if to == want {
			return msgs[i].Code, nil
		}
	}
	return "", ptoy.E(op, ptoy.NotFound, "no code was sent to this number")
}
