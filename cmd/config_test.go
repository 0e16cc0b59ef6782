package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/mailblast/mailblast/sender"
)

func flagSet(args ...string) *pflag.FlagSet {
	f := pflag.NewFlagSet("t", pflag.ContinueOnError)
	f.Int("connections", 0, "")
	f.String("template", "", "")
	f.String("state-dir", "", "")
	f.Duration("retry-wait", 0, "")
	f.Parse(args)
	return f
}

func writeConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "mailblast.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPrecedence: flags beat the environment, which beats the file, which
// beats the defaults.
func TestPrecedence(t *testing.T) {
	file := writeConfig(t, "smtp:\n  host: file.example\n  connections: 3\n  port: 2525\n  tls: tls\ntemplate: file.tmpl\n")
	t.Setenv("MAILBLAST_SMTP_CONNECTIONS", "7")
	t.Setenv("MAILBLAST_SMTP_PORT", "2626")
	cfg, err := loadConfig(flagSet("--connections", "9"), file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Connections != 9 {
		t.Errorf("connections %d: the flag (9) must win over env (7) and file (3)", cfg.SMTP.Connections)
	}
	if cfg.SMTP.Port != 2626 {
		t.Errorf("port %d: env (2626) must win over file (2525)", cfg.SMTP.Port)
	}
	if cfg.SMTP.Host != "file.example" || cfg.Template != "file.tmpl" || cfg.SMTP.TLS != sender.Implicit {
		t.Errorf("file values lost: %+v", cfg)
	}
	if cfg.SMTP.MaxMessagesPerConn != 1000 || cfg.SMTP.Timeout != time.Minute {
		t.Errorf("defaults lost: %+v", cfg.SMTP)
	}
}

func TestEnvOnlyKeysAndDefaultsPort(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("MAILBLAST_SMTP_HOST", "relay.example")
	t.Setenv("MAILBLAST_SMTP_PASSWORD", "s3cret")
	t.Setenv("MAILBLAST_RETRY_SCHEDULE", "1s,2s")
	t.Setenv("MAILBLAST_SMTP_TLS", "tls")
	cfg, err := loadConfig(flagSet(), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Host != "relay.example" || cfg.SMTP.Port != 465 {
		t.Errorf("host %q port %d, want relay.example:465", cfg.SMTP.Host, cfg.SMTP.Port)
	}
	if pw, _ := cfg.password(); pw != "s3cret" {
		t.Errorf("password from env not read")
	}
	if len(cfg.Retry.Schedule) != 2 || cfg.Retry.Schedule[0] != time.Second || cfg.Retry.Schedule[1] != 2*time.Second {
		t.Errorf("schedule %v, want [1s 2s]", cfg.Retry.Schedule)
	}
}

func TestConfigFileInCurrentDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	os.WriteFile(filepath.Join(dir, "mailblast.yaml"), []byte("smtp:\n  host: cwd.example\n"), 0o600)
	cfg, err := loadConfig(flagSet(), "")
	if err != nil || cfg.SMTP.Host != "cwd.example" || cfg.SMTP.Port != 587 {
		t.Fatalf("cfg %+v err %v", cfg, err)
	}
}

func TestPasswordFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte("from-file\n"), 0o600)
	file := writeConfig(t, "smtp:\n  host: h\n  password_file: "+p+"\n")
	cfg, err := loadConfig(flagSet(), file)
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := cfg.password(); err != nil || pw != "from-file" {
		t.Fatalf("password %q %v", pw, err)
	}
}

func TestBadConfigExits78(t *testing.T) {
	for name, body := range map[string]string{
		"tls":         "smtp:\n  tls: maybe\n",
		"connections": "smtp:\n  connections: 0\n",
		"yaml":        "smtp: [\n",
		"helo crlf":   "smtp:\n  helo: \"mx.example.com\\r\\nRSET\"\n",
		"relay helo":  "smtp:\n  relays:\n    - {name: a, host: a}\n  helo: \"a b\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(flagSet(), writeConfig(t, body))
			var ce *configError
			if !errors.As(err, &ce) || exitCode(err) != exitConfig {
				t.Fatalf("err %v (exit %d), want a config error exiting 78", err, exitCode(err))
			}
		})
	}
	_, err := loadConfig(flagSet(), "/nonexistent/mailblast.yaml")
	if exitCode(err) != exitConfig {
		t.Fatalf("missing --config file: exit %d, want 78", exitCode(err))
	}
}

// TestBinaryNamedLikeConfigIgnored: a file called plain "mailblast" (the
// binary) in the current directory is not a config file.
func TestBinaryNamedLikeConfigIgnored(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	os.WriteFile(filepath.Join(dir, "mailblast"), []byte("\x7fELF\x00\x01binary"), 0o755)
	if _, err := loadConfig(flagSet(), ""); err != nil {
		t.Fatalf("the binary was read as config: %v", err)
	}
}

// loadErr loads body as mailblast.yaml and wants a configuration error
// (exit 78) whose message names every one of keys.
func loadErr(t *testing.T, body string, keys ...string) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	_, err := loadConfig(flagSet(), writeConfig(t, body))
	if exitCode(err) != exitConfig {
		t.Fatalf("err %v (exit %d), want exit 78", err, exitCode(err))
	}
	for _, k := range keys {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %q", err, k)
		}
	}
}

// TestRelayTLSValidated (issue 15 item 1): a relay's tls goes through the
// same check as smtp.tls; STARTTLS, yes, true and ssl are not "no TLS".
func TestRelayTLSValidated(t *testing.T) {
	for _, v := range []string{"STARTTLS", "yes", "true", "ssl", "off"} {
		t.Run(v, func(t *testing.T) {
			loadErr(t, "smtp:\n  relays:\n    - {name: office, host: h, tls: "+v+", username: bob, password_env: RELAY_PW}\n",
				"smtp.relays[0].tls", "starttls, tls or none")
		})
	}
}

// TestTLSModeText: campaigns in existing ledgers store the mode's name.
func TestTLSModeText(t *testing.T) {
	for _, m := range []sender.TLSMode{sender.StartTLS, sender.Implicit, sender.NoTLS} {
		b, err := json.Marshal(sender.Settings{TLS: m})
		if err != nil {
			t.Fatal(err)
		}
		var back sender.Settings
		if err := json.Unmarshal(b, &back); err != nil || back.TLS != m {
			t.Errorf("%v: %s read back as %v, %v", m, b, back.TLS, err)
		}
	}
	var s sender.Settings
	if err := json.Unmarshal([]byte(`{"tls":"none"}`), &s); err != nil || s.TLS != sender.NoTLS {
		t.Errorf("stored \"none\": %v %v", s.TLS, err)
	}
	if err := json.Unmarshal([]byte(`{"tls":"STARTTLS"}`), &s); err == nil {
		t.Error("stored \"STARTTLS\" was accepted")
	}
}

// TestRelayNamesCollide (issue 15 item 2): an explicit name equal to
// another relay's automatic one, or two equal names, are refused.
func TestRelayNamesCollide(t *testing.T) {
	loadErr(t, "smtp:\n  relays:\n    - {name: relay2, host: a, username: alice, password_env: PW_A}\n    - {host: b, username: bob, password_env: PW_B}\n",
		"smtp.relays[1].name", "relay2")
	loadErr(t, "smtp:\n  relays:\n    - {name: x, host: a}\n    - {name: x, host: b}\n", "smtp.relays[1].name")
}

// TestRelayPasswordsBoundToEntries: each relay gets the secret its own
// entry names, whatever the relays are called.
func TestRelayPasswordsBoundToEntries(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("PW_A", "alpha")
	t.Setenv("PW_B", "bravo")
	cfg, err := loadConfig(flagSet(), writeConfig(t,
		"smtp:\n  relays:\n    - {name: a, host: a, username: alice, password_env: PW_A}\n    - {host: b, username: bob, password_env: PW_B}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := campaignSettings(cfg, "list.csv")
	if _, err := cfg.passwords(&s); err != nil {
		t.Fatal(err)
	}
	if s.Relays[0].Password != "alpha" || s.Relays[1].Password != "bravo" {
		t.Errorf("relay passwords not bound to their entries")
	}
	if cfg.relaySettings[0].Password != "" {
		t.Errorf("the configuration's own relay list was given a password")
	}
	if b, _ := json.Marshal(s); strings.Contains(string(b), "alpha") {
		t.Errorf("a relay password would be stored: %s", b)
	}
}

// TestUsernameWithoutPassword: caught before anything connects, naming
// where the password should come from.
func TestUsernameWithoutPassword(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("MAILBLAST_SMTP_PASSWORD", "")
	cfg, err := loadConfig(flagSet(), writeConfig(t, "smtp:\n  host: h\n  username: bob\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := campaignSettings(cfg, "list.csv")
	_, err = cfg.passwords(&s)
	if exitCode(err) != exitConfig || !strings.Contains(fmt.Sprint(err), "MAILBLAST_SMTP_PASSWORD") || !strings.Contains(fmt.Sprint(err), "smtp.password_file") {
		t.Errorf("username without password: %v (exit %d), want exit 78 naming MAILBLAST_SMTP_PASSWORD and smtp.password_file", err, exitCode(err))
	}
	loadErr(t, "smtp:\n  relays:\n    - {name: a, host: a, username: alice}\n", "smtp.relays[0]", "password_env", "password_file")
	cfg, err = loadConfig(flagSet(), writeConfig(t, "smtp:\n  relays:\n    - {name: a, host: a, username: alice, password_env: PW_UNSET_HERE}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s = campaignSettings(cfg, "list.csv")
	if _, err = cfg.passwords(&s); exitCode(err) != exitConfig || !strings.Contains(err.Error(), "PW_UNSET_HERE") {
		t.Errorf("relay password variable unset: %v, want exit 78 naming PW_UNSET_HERE", err)
	}
}

// TestBadValuesNamed (issue 15 item 9): out-of-range values are refused
// naming the key, at the top level and in a relay entry alike.
func TestBadValuesNamed(t *testing.T) {
	for body, key := range map[string]string{
		"retry:\n  schedule: [-1s]\n":                          "retry.schedule[0]",
		"retry:\n  schedule: [0s]\n":                           "retry.schedule[0]",
		"retry:\n  max_age: -1h\n":                             "retry.max_age",
		"retry:\n  wait: -5m\n":                                "retry.wait",
		"grace: -1s\n":                                         "grace",
		"progress: loud\n":                                     "progress",
		"smtp:\n  port: 99999\n":                               "smtp.port",
		"smtp:\n  port: -5\n":                                  "smtp.port",
		"smtp:\n  timeout: -5s\n":                              "smtp.timeout",
		"smtp:\n  connections: -2\n":                           "smtp.connections",
		"smtp:\n  backoff: -1s\n":                              "smtp.backoff",
		"smtp:\n  relays:\n    - {host: a, weight: -1}\n":      "smtp.relays[0].weight",
		"smtp:\n  relays:\n    - {host: a, connections: -3}\n": "smtp.relays[0].connections",
		"smtp:\n  relays:\n    - {host: a, connections: 0}\n":  "smtp.relays[0].connections",
		"smtp:\n  relays:\n    - {host: a, port: 99999}\n":     "smtp.relays[0].port",
		"smtp:\n  relays:\n    - {host: a, rate: fast}\n":      "smtp.relays[0].rate",
	} {
		t.Run(key, func(t *testing.T) { loadErr(t, body, key) })
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	_, err := loadConfig(flagSet("--retry-wait", "-5m"), writeConfig(t, ""))
	if exitCode(err) != exitConfig || !strings.Contains(err.Error(), "--retry-wait") {
		t.Errorf("--retry-wait -5m: %v, want exit 78 naming the flag", err)
	}
}

// TestUnknownKeys: typos are refused with the closest known key.
func TestUnknownKeys(t *testing.T) {
	loadErr(t, "smtp:\n  conections: 3\n", "smtp.conections", "smtp.connections")
	loadErr(t, "smtp:\n  hots: relay.example\n", "smtp.hots", "smtp.host")
	loadErr(t, "retyr:\n  wait: 1m\n", "retyr", "retry")
	loadErr(t, "smtp:\n  relays:\n    - {host: a, pasword_env: X}\n", "smtp.relays[0].pasword_env", "password_env")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	if _, err := loadConfig(flagSet(), writeConfig(t, "headers:\n  X-Anything-At-All: v\ninline:\n  logo: l.png\nunsubscribe:\n  url: https://x\n")); err != nil {
		t.Errorf("free-form maps and nested sections refused: %v", err)
	}
}

// TestHeaderCase: header names under headers: are not lower-cased.
func TestHeaderCase(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cfg, err := loadConfig(flagSet(), writeConfig(t, "headers:\n  X-Campaign: november\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.message().Headers; h["X-Campaign"] != "november" {
		t.Errorf("headers %v, want X-Campaign", h)
	}
}

// TestCAFile: a file with no certificate is refused; a good one adds to
// the roots.
func TestCAFile(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	bad := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(bad, []byte("not a certificate\n"), 0o600)
	loadErr(t, "smtp:\n  ca_file: "+bad+"\n", "smtp.ca_file")
	loadErr(t, "smtp:\n  ca_file: /nonexistent/ca.pem\n", "smtp.ca_file")
}

// TestMessageKeysLoadIntoOptions: the message settings are templates.Options
// itself, so every key of it is known and lands where Load reads it, and
// the environment reaches the nested ones.
func TestMessageKeysLoadIntoOptions(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("k"), 40), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAILBLAST_DKIM_SELECTOR", "env2026")
	cfg, err := loadConfig(flagSet(), writeConfig(t, "smtp:\n  host: h\nhtml_template: m.html\nattachment_column: file\n"+
		"feedback_id: '{{.id}}:acme'\nheaders:\n  X-Campaign: spring\n"+
		"unsubscribe:\n  mailto: u@acme.example\n  base_url: https://acme.example/mb\n  secret_file: "+secret+"\n"+
		"dkim:\n  domain: acme.example\n  key_file: k.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.message()
	if !filepath.IsAbs(o.HTMLPath) || o.AttachmentColumn != "file" || o.FeedbackID != "{{.id}}:acme" {
		t.Errorf("top-level keys: %+v", o)
	}
	if o.Headers["X-Campaign"] != "spring" {
		t.Errorf("headers = %v, want X-Campaign kept in its case", o.Headers)
	}
	if u := o.Unsubscribe; u.Mailto != "u@acme.example" || u.BaseURL != "https://acme.example/mb" || u.SecretFile != secret {
		t.Errorf("unsubscribe = %+v", u)
	}
	if o.DKIM == nil || o.DKIM.Domain != "acme.example" || o.DKIM.Selector != "env2026" || !filepath.IsAbs(o.DKIM.KeyFile) {
		t.Errorf("dkim = %+v", o.DKIM)
	}
	if _, err := loadConfig(flagSet(), writeConfig(t, "smtp:\n  host: h\nunsubscribe:\n  base_ulr: x\n")); err == nil ||
		!strings.Contains(err.Error(), "unsubscribe.base_url") {
		t.Errorf("typo under unsubscribe: %v", err)
	}
}

// TestNoDKIMNoSigner: the dkim keys always exist, with empty defaults;
// none set must not turn signing on.
func TestNoDKIMNoSigner(t *testing.T) {
	cfg, err := loadConfig(flagSet(), writeConfig(t, "smtp:\n  host: h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.message().DKIM; d != nil {
		t.Errorf("DKIM = %+v, want nil", d)
	}
}

// TestPasswordAndFileBothSet: smtp's password follows the one rule IMAP's
// does: a password and a password file together are refused, naming both
// keys and never the value (the file used to win in silence).
func TestPasswordAndFileBothSet(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte("from-file\n"), 0o600)
	t.Setenv("MAILBLAST_SMTP_PASSWORD", "s3cret-env")
	cfg, err := loadConfig(flagSet(), writeConfig(t, "smtp:\n  host: h\n  password_file: "+p+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	pw, err := cfg.password()
	if exitCode(err) != exitConfig || !strings.Contains(fmt.Sprint(err), "MAILBLAST_SMTP_PASSWORD_FILE") ||
		!strings.Contains(fmt.Sprint(err), "smtp.password_file") || strings.Contains(fmt.Sprint(err), "s3cret") {
		t.Errorf("password %q, err %v (exit %d); want exit 78 naming both keys, no secret", pw, err, exitCode(err))
	}
}

// TestPasswordFileOneLine: a password file of two lines is refused, not
// sent whole (newline and second line included) to the relay.
func TestPasswordFileOneLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte("s3cret\nsecond-line\n"), 0o600)
	cfg, err := loadConfig(flagSet(), writeConfig(t, "smtp:\n  host: h\n  password_file: "+p+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := cfg.password(); exitCode(err) != exitConfig || strings.Contains(fmt.Sprint(err), "s3cret") {
		t.Errorf("password %q, err %v; want exit 78 without the secret", pw, err)
	}
}
