package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	pb "ptoy/gen/ptoy/v1"
	"ptoy/keys"
)

// fillConfig sets every field of c, however deep, to a value unlike its
// default, so that a setting missing from ptoy.toml's mapping shows.
func fillConfig(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fillConfig(v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.String:
		v.SetString("v" + path + ` "quoted" \ tab	é`)
		if regexp.MustCompile(`(Timeout|Interval|Every)$`).MatchString(path) {
			sum := 0
			for _, b := range path {
				sum += int(b)
			}
			v.SetString(fmt.Sprintf("%dms", sum)) // durations, each its own
		}
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int()*3 + int64(len(path)))
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
			for i := range 2 {
				fillConfig(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
			return
		}
		v.Set(reflect.ValueOf([]string{"a" + path, "b" + path}))
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]string{"k" + path: "v" + path, "x": "y"}))
	default:
		panic("fillConfig: a Config field of kind " + v.Kind().String() + ": teach ptoy.toml (configfile.go) and this test about it")
	}
}

// TestEverySettingInTheFile: every field of Config is written to
// ptoy.toml and read back as it was, with no key the reader ignores.
func TestEverySettingInTheFile(t *testing.T) {
	var c Config
	fillConfig(reflect.ValueOf(&c).Elem(), "")
	c.HTTP.MinRate, c.MaxUpload = 3<<20, 12345 // sizes
	text := c.TOML()
	f := toFile(DefaultConfig())
	md, err := toml.Decode(string(text), &f)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("keys written but not read: %v", u)
	}
	if got := fromFile(f); !reflect.DeepEqual(got, c) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, c)
	}
}

// TestConfigFileDocumented: the file init writes holds every setting,
// each in a block that opens with a comment, and names the defaults;
// read back it is the default config.
func TestConfigFileDocumented(t *testing.T) {
	text := string(DefaultConfig().TOML())
	prev := ""
	for i, line := range strings.Split(text, "\n") {
		if strings.Contains(line, " = ") && !strings.HasPrefix(line, "#") {
			if prev == "" || strings.HasPrefix(prev, "[") {
				t.Errorf("line %d %q has no comment above it", i+1, line)
			}
		}
		prev = line
	}
	for _, want := range []string{`Default "127.0.0.1:8080".`, `Default "64MiB".`, `Default "30s".`, `Default "auto".`, `Defaults 256 and 4096.`} {
		if !strings.Contains(text, want) {
			t.Errorf("the file does not say %s", want)
		}
	}
	c, err := parseConfig("ptoy.toml", []byte(text))
	if err != nil || !reflect.DeepEqual(c, DefaultConfig()) {
		t.Fatalf("read back: %v\n%+v", err, c)
	}
	// A file with only some settings takes the defaults for the rest.
	c, err = parseConfig("ptoy.toml", []byte("moniker = \"a\"\n[http]\nmax_conns = 9\n"))
	want := DefaultConfig()
	want.Moniker, want.HTTP.MaxConns = "a", 9
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Fatalf("a short file: %v\n%+v", err, c)
	}
}

// TestReadmeShowsTheConfigFile: the README's example is the file as the
// program writes it.
func TestReadmeShowsTheConfigFile(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for _, line := range bytes.SplitAfter(DefaultConfig().TOML(), []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			want.WriteString("    ")
		}
		want.Write(line)
	}
	if !bytes.Contains(b, want.Bytes()) {
		t.Errorf("README.md does not show ptoy.toml as DefaultConfig().TOML() writes it (indented 4 spaces):\n%s", want.String())
	}
}

// TestConfigRefused: an unknown setting or a bad value stops the load,
// naming the file, the setting, the line where the library tells it,
// and what the setting may be.
func TestConfigRefused(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"moniker = \"a\"\nmonikor = \"b\"\n", `an unknown setting "monikor" (line 2)`},
		{"[http]\nadr = \"127.0.0.1:1\"\n\n[metrics]\non = true\n", `unknown settings "http.adr" (line 2), "metrics" (line 4)`},
		{"[http]\nmax_conns = \"many\"\n", `line 2: http.max_conns: is a string; want an integer`},
		{"dev = \"yes\"\n", `line 1: dev: is a string; want true or false`},
		{"http = 3\n", `line 1: http: is an integer; want a section [http]`},
		{"[http]\nread_timeout = \"30\"\n", `line 2: http.read_timeout: "30" is not a duration; write one like "500ms", "30s" or "1h30m"`},
		{"[audit]\nanchor_interval = \"-1s\"\n", `audit.anchor_interval "-1s" is not a positive duration`},
		{"[blobs]\nmax_upload = \"64 MB\"\nrepair_interval = \"1x\"", `line 3: blobs.repair_interval: "1x" is not a duration`},
		{"[blobs]\nmax_upload = \"lots\"\n", `line 2: blobs.max_upload: "lots" is not a size; write a number of bytes or a size like "64MiB"`},
		{"[http]\nmin_rate = -5\n", `line 2: http.min_rate: -5 is not a size`},
		{"[blobs]\nmax_upload = 0\n", `blobs.max_upload must be a positive size`},
		{"[blobs]\nbackend = \"tape\"\n", `blobs.backend "tape": want "disk" or "s3"`},
		{"[http]\ntls = \"off\"\n", `http.tls "off": want "auto" (TLS except on loopback) or "on"`},
		{"[log]\nlevel = \"loud\"\n", `log.level "loud": want "debug", "info", "warn" or "error"`},
		{"[http]\naddr = \"8080\"\n", `http.addr "8080" is not host:port`},
		{"[consensus]\np2p_addr = \"127.0.0.1:26656\"\n", `consensus.p2p_addr "127.0.0.1:26656" is not tcp://host:port`},
		{"[consensus]\nrpc_addr = \"http://127.0.0.1:1\"\n", `consensus.rpc_addr "http://127.0.0.1:1" is not tcp://host:port`},
		{"[http]\ntls_cert = \"a.pem\"\n", `http.tls_cert and http.tls_key go together`},
		{"[register_limits]\nclient_burst = 0\n", `register_limits: client_burst must be at least 1`},
		{"[storage]\n\"ab\" = \"https://x:1\"\n", `storage: "ab" is not an organisation id`},
		{"[keys]\norg = \"\"\n", `keys.org is empty`},
		{"[http\n", `line 2: expected '.' or ']' to end table name`},
	} {
		_, err := parseConfig("/h/ptoy.toml", []byte(c.doc))
		if err == nil || !strings.HasPrefix(err.Error(), "node.LoadConfig: /h/ptoy.toml") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v\nwant /h/ptoy.toml …%s", c.doc, err, c.want)
		}
	}
	// A setting left out is not an error, nor an empty file.
	if _, err := parseConfig("/h/ptoy.toml", nil); err != nil {
		t.Error(err)
	}
}

// TestMigrateConfig: the ptoy.json of a home made before ptoy.toml (as
// that version wrote it) moves to ptoy.toml with the same values; the old
// file is kept as ptoy.json.migrated.
func TestMigrateConfig(t *testing.T) {
	home := t.TempDir()
	old, err := os.ReadFile("testdata/ptoy-before-toml.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "ptoy.json"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Moniker = "node2"
	want.HTTPAddr, want.P2PAddr, want.RPCAddr = "127.0.0.2:8080", "tcp://127.0.0.2:26656", "tcp://127.0.0.2:26657"
	want.Peers = []string{"99bb43635faf04b97b70bbe8667ed6c95bd7726f@127.0.0.1:26656"}
	want.FastBlocks, want.Dev = true, true
	want.PassphraseFile, want.NodeKey = "keys/passphrase", "node"
	want.Storage = map[string]string{
		"0b18ff826387fb050d6320d10403b7f980907a27": "http://127.0.0.2:8080",
		"8d18400d464a3281052d70d4fa9f40de57193d07": "http://127.0.0.1:8080",
	}
	want.RepairInterval, want.AnchorInterval = "5s", "1s"
	want.RegisterLimits = DevRegisterLimits

	// Before the migration, the settings are read from ptoy.json.
	if c, err := LoadConfig(home); err != nil || !reflect.DeepEqual(c, want) {
		t.Fatalf("before: %v\n%+v", err, c)
	}
	moved, err := MigrateConfig(home)
	if err != nil || !moved {
		t.Fatalf("migrate: %v, %v", moved, err)
	}
	if _, err := os.Stat(filepath.Join(home, "ptoy.json")); err == nil {
		t.Error("ptoy.json is still there")
	}
	if b, err := os.ReadFile(filepath.Join(home, "ptoy.json.migrated")); err != nil || !bytes.Equal(b, old) {
		t.Errorf("ptoy.json.migrated: %v", err)
	}
	text, err := os.ReadFile(filepath.Join(home, "ptoy.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "peers = [\n  \"99bb43635faf04b97b70bbe8667ed6c95bd7726f@127.0.0.1:26656\",\n]") ||
		!strings.Contains(string(text), "# The node's name in logs") {
		t.Errorf("ptoy.toml:\n%s", text)
	}
	if c, err := LoadConfig(home); err != nil || !reflect.DeepEqual(c, want) {
		t.Fatalf("after: %v\n%+v", err, c)
	}
	if moved, err := MigrateConfig(home); err != nil || moved {
		t.Errorf("a second migration: %v, %v", moved, err)
	}

	// A home with both files is refused, saying which to remove.
	if err := os.WriteFile(filepath.Join(home, "ptoy.json"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(home)
	if err == nil || !strings.Contains(err.Error(), "holds both ptoy.toml and ptoy.json") || !strings.Contains(err.Error(), "they hold the same settings, so remove ptoy.json") {
		t.Errorf("both, the same: %v", err)
	}
	if _, err := MigrateConfig(home); err == nil {
		t.Error("migrated a home with both files")
	}
	if err := os.WriteFile(filepath.Join(home, "ptoy.json"), []byte(`{"moniker": "other"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(home)
	if err == nil || !strings.Contains(err.Error(), "remove ptoy.json (or rename it ptoy.json.migrated) if ptoy.toml holds the settings you want, or remove ptoy.toml to have ptoy.json migrated again") {
		t.Errorf("both, different: %v", err)
	}
	if _, err := Open(home, Options{}); err == nil || !strings.Contains(err.Error(), "holds both") {
		t.Errorf("a node opened a home with both files: %v", err)
	}
}

// TestOldHomeStartsMigrated: a home whose settings are in ptoy.json, as
// the version before ptoy.toml wrote them, starts; the node moves them to
// ptoy.toml as it opens, and starts from that file after.
func TestOldHomeStartsMigrated(t *testing.T) {
	home := filepath.Join(t.TempDir(), "node1")
	spec := NetworkSpec{HomeDirs: []string{home}, Validators: 1, FreePorts: true, FastBlocks: true, KDF: keys.TestKDF,
		Orgs: []OrgSpec{{Name: "General Hospital", Kind: pb.OrgKind_ORG_KIND_HOSPITAL}}}
	if _, err := CreateNetwork(spec); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	// As the previous version's SaveConfig wrote it.
	c.LogLevel, c.TLS, c.Blobs = "", "", BlobConfig{}
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(filepath.Join(home, "ptoy.json"), append(b, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(home, "ptoy.toml")); err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		n, err := Open(home, Options{})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if err := n.Start(); err != nil {
			n.Close()
			t.Fatalf("run %d: %v", run, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = n.WaitHeight(ctx, 1)
		cancel()
		n.Close()
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if _, err := os.Stat(filepath.Join(home, "ptoy.json")); err == nil {
			t.Fatalf("run %d: ptoy.json is still there", run)
		}
		got, err := LoadConfig(home)
		want := c
		want.LogLevel, want.TLS, want.Blobs.Backend = "info", "auto", "disk"
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d: ptoy.toml holds %+v, %v; want %+v", run, got, err, want)
		}
	}
}

// TestOverride: settings given for one run (ptoy node's flags) win over
// the file, which keeps its own, and are checked like it.
func TestOverride(t *testing.T) {
	port, err := FreePorts("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port[0]))
	n, _ := startNode(t, nil, Options{Override: func(c *Config) { c.HTTPAddr = addr }})
	if n.URL() != "http://"+addr {
		t.Errorf("the node serves %s; want http://%s", n.URL(), addr)
	}
	if c, err := LoadConfig(n.Home()); err != nil || c.HTTPAddr == addr {
		t.Errorf("the file took the override: %v, %v", c.HTTPAddr, err)
	}
	n.Close()
	_, err = Open(n.Home(), Options{Override: func(c *Config) { c.HTTPAddr = "nowhere" }})
	if err == nil || !strings.Contains(err.Error(), `http.addr "nowhere" is not host:port`) {
		t.Errorf("a bad override: %v", err)
	}
}
