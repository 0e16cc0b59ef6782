package cmd

import (
	"cmp"
	"crypto/tls"
	"encoding"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/safefile"
	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/templates"
)

// Config is every setting, read once from flags, environment, the config
// file and defaults (in that order of precedence).
type Config struct {
	SMTP        SMTPConfig        `mapstructure:"smtp"`
	Message     templates.Options `mapstructure:",squash"`
	Retry       campaign.Retry    `mapstructure:"retry"`
	Template    string            `mapstructure:"template"`
	Campaign    string            `mapstructure:"campaign"`
	StateDir    string            `mapstructure:"state_dir"`
	EmailColumn string            `mapstructure:"email_column"`
	InFlight    string            `mapstructure:"in_flight"`
	Grace       time.Duration     `mapstructure:"grace"`
	Progress    string            `mapstructure:"progress"`
	LogEvery    time.Duration     `mapstructure:"log_every"`
	MetricsFile string            `mapstructure:"metrics_file"`
	// ReturnPath is the envelope sender (MAIL FROM), VERP-tagged per
	// recipient; "" keeps the From address.
	ReturnPath string `mapstructure:"return_path"`
	// Seeds get a copy of the message at the start and end of each run.
	Seeds      []string          `mapstructure:"seeds"`
	SeedFields map[string]string `mapstructure:"seed_fields"`
	Feedback   FeedbackConfig    `mapstructure:"feedback"`
	Listen     ListenConfig      `mapstructure:"listen"`
	Ledger     LedgerConfig      `mapstructure:"ledger"`

	// Window: not_before, window, window_days, timezone, timezone_column.
	Window campaign.Window `mapstructure:",squash"`

	tls           *tls.Config              // smtp.ca_file's roots; nil: the system's
	relaySettings []campaign.RelaySettings // smtp.relays, completed
	explicit      map[string]bool          // keys this run sets (flags, env, file): they win on resume
}

// SMTPConfig is the relay: its Settings, the one type a campaign stores
// and the sender runs with, and what is never stored (the password, the
// CA file, other relays).
type SMTPConfig struct {
	sender.Settings `mapstructure:",squash"`
	Password        string        `mapstructure:"password"`
	PasswordFile    string        `mapstructure:"password_file"`
	CAFile          string        `mapstructure:"ca_file"`
	Relays          []RelayConfig `mapstructure:"relays"`
	OAuth           sender.OAuth2 `mapstructure:"oauth2"` // into Settings.OAuth2 by checkOAuth2
}

// RelayConfig is one entry of smtp.relays; unset fields take smtp.*'s.
// Connections is a pointer so that an explicit 0 is refused, not taken
// for "unset".
type RelayConfig struct {
	Name         string  `mapstructure:"name"`
	Host         string  `mapstructure:"host"`
	Port         int     `mapstructure:"port"`
	TLS          string  `mapstructure:"tls"`
	Username     string  `mapstructure:"username"`
	PasswordFile string  `mapstructure:"password_file"`
	PasswordEnv  string  `mapstructure:"password_env"`
	Connections  *int    `mapstructure:"connections"`
	Rate         string  `mapstructure:"rate"`
	Weight       float64 `mapstructure:"weight"`
	// Auth and OAuth2 are the relay's own (relayOAuth2).
	Auth   sender.AuthMech `mapstructure:"auth"`
	OAuth2 *sender.OAuth2  `mapstructure:"oauth2"`
	// Quota and Warmup, when set, replace smtp.quota and smtp.warmup.
	Quota  sender.Quota   `mapstructure:"quota"`
	Warmup *sender.Warmup `mapstructure:"warmup"`
}

// configError is a setting that cannot work; it exits 78.
type configError struct{ err error }

func (e *configError) Error() string { return "configuration: " + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func configErrorf(format string, args ...any) error {
	return &configError{fmt.Errorf(format, args...)}
}

func setDefaults(v *viper.Viper) {
	for key, val := range map[string]any{
		"smtp.password": "", "smtp.password_file": "", "smtp.ca_file": "",
		"template": "", "campaign": "", "state_dir": defaultStateDir(), "email_column": "email",
		"in_flight": string(ledger.Resend), "grace": 30 * time.Second, "progress": "auto", "log_every": 5 * time.Second,
	} {
		v.SetDefault(key, val)
	}
	for key, val := range feedbackDefaults() {
		v.SetDefault(key, val)
	}
	for key, val := range ledgerDefaults() {
		v.SetDefault(key, val)
	}
	setStructDefaults(v, "", templates.Options{})
	// dkim's keys are known to the environment too; cfg.dkim() turns
	// them all empty into no signing.
	setStructDefaults(v, "dkim", templates.DKIMOptions{})
	setStructDefaults(v, "", campaign.Window{Days: []string{}})
	setStructDefaults(v, "smtp.oauth2", sender.OAuth2{Scopes: []string{}})
	setStructDefaults(v, "smtp", sender.DefaultSettings())
	setStructDefaults(v, "retry", campaign.DefaultRetry())
}

// setStructDefaults makes each field of a settings struct a key under
// prefix (named by its mapstructure tag) with the field's value as its
// default: the defaults live once, in the package that owns the type.
func setStructDefaults(v *viper.Viper, prefix string, defaults any) {
	rv := reflect.ValueOf(defaults)
	for _, f := range reflect.VisibleFields(rv.Type()) {
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "" || name == "-" {
			continue // a squashed struct: VisibleFields gives its fields too
		}
		fv := rv.FieldByIndex(f.Index)
		switch {
		case fv.Kind() == reflect.Pointer:
			// an optional section (smtp.warmup) stays unset: defaults for
			// its keys would make it always set
		case isSection(f.Type):
			setStructDefaults(v, joinKey(prefix, name), fv.Interface())
		case (fv.Kind() == reflect.Map || fv.Kind() == reflect.Slice) && fv.IsNil():
			// no default: an unset list or map stays unset
		default:
			v.SetDefault(joinKey(prefix, name), fv.Interface())
		}
	}
}

// isSection tells a struct of keys (smtp, unsubscribe) from a value
// written as one string (a quota, 2000/24h): the latter reads itself.
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "mailblast")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "mailblast")
	}
	return ".mailblast"
}

// flagKeys maps command-line flags to configuration keys.
var flagKeys = map[string]string{
	"template": "template", "campaign": "campaign", "connections": "smtp.connections",
	"state-dir": "state_dir", "email-column": "email_column", "retry-wait": "retry.wait",
	"in-flight": "in_flight", "progress": "progress", "rate": "smtp.rate", "ramp": "smtp.ramp",
	"html-template": "html_template", "metrics-file": "metrics_file", "addr": "listen.addr",
	"not-before": "not_before",
	"ledger-url": "ledger.url",
}

// configOf loads the configuration of command c: its flags and --config.
func configOf(c *cobra.Command) (*Config, error) {
	configFile, _ := c.Flags().GetString("config")
	return loadConfig(c.Flags(), configFile)
}

// loadConfig is the one place viper is used: flags > MAILBLAST_* env >
// config file > defaults, unmarshalled once into Config.
func loadConfig(flags *pflag.FlagSet, configFile string) (*Config, error) {
	v := viper.New()
	setDefaults(v)
	v.SetEnvPrefix("MAILBLAST")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for name, key := range flagKeys {
		if f := flags.Lookup(name); f != nil {
			_ = v.BindPFlag(key, f) // fails only for a nil flag
		}
	}
	if err := refuseSecretFlag(flags); err != nil {
		return nil, err
	}
	if err := readConfigFile(v, configFile); err != nil {
		return nil, err
	}
	if err := unknownKeys(v.AllSettings()); err != nil {
		return nil, err
	}
	var c Config
	if err := v.Unmarshal(&c, viper.DecodeHook(decodeHooks)); err != nil {
		return nil, decodeError(err)
	}
	c.explicit = explicitKeys(v, flags)
	warnUnknownEnv(&c, os.Environ(), os.Stderr)
	return &c, c.check()
}

// readConfigFile reads --config FILE, or the first mailblast.yaml (or
// .yml) in the current directory, then $XDG_CONFIG_HOME/mailblast/. Exact
// names only: viper's own search would take the mailblast binary itself for
// a config file when run from its directory.
func readConfigFile(v *viper.Viper, file string) error {
	if file == "" {
		file = findConfigFile()
	}
	if file == "" {
		return nil
	}
	// viper opens the file itself: look first, so a FIFO is refused, not
	// waited on for ever.
	f, err := safefile.Open(file)
	if err != nil {
		return configErrorf("%w", err)
	}
	_ = f.Close() // only looked at
	v.SetConfigFile(file)
	if err := v.ReadInConfig(); err != nil {
		return configErrorf("%w", err)
	}
	return nil
}

func findConfigFile() string {
	dirs := []string{"."}
	if d, err := os.UserConfigDir(); err == nil {
		dirs = append(dirs, filepath.Join(d, "mailblast"))
	}
	for _, d := range dirs {
		for _, name := range []string{"mailblast.yaml", "mailblast.yml"} {
			p := filepath.Join(d, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p
			}
		}
	}
	return ""
}

// password reads smtp.password or smtp.password_file. It is never logged,
// stored in the ledger, or put in an error message.
func (c *Config) password() (string, error) {
	return secret("smtp.password", c.SMTP.Password, c.SMTP.PasswordFile)
}

// secret is the one rule for a password given as key or as key_file (each
// also from the environment): one or the other; both is an error, since
// which of the two is meant cannot be guessed. The message names the keys,
// never a value.
func secret(key, value, file string) (string, error) {
	switch {
	case value != "" && file != "":
		return "", configErrorf("%s and %s_file are both set (in the config file or as %s and %s_FILE); use one",
			key, key, envName(key), envName(key))
	case file != "":
		return readPasswordFile(key+"_file", file)
	}
	return value, nil
}

// envName is the environment variable of a key.
func envName(key string) string {
	return "MAILBLAST_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// readPasswordFile reads the password in file, the setting key, without
// its line end.
func readPasswordFile(key, file string) (string, error) {
	b, err := safefile.ReadFile(file)
	if err != nil {
		return "", configErrorf("%s: %w", key, err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if strings.ContainsAny(pw, "\r\n") {
		// Sent whole, the second line would go to the relay with the first.
		return "", configErrorf("%s: %s has more than one line; put the password alone in it", key, file)
	}
	return pw, nil
}

// passwords reads the secrets a run of s needs, before anything connects:
// smtp's, returned, or each relay's, put into that relay's own entry (of a
// copy of s.Relays) so that a secret can only go to the relay it was
// configured for, whatever the relays are called. A username without a
// password is a configuration error.
func (c *Config) passwords(s *campaign.Settings) (string, error) {
	if len(s.Relays) == 0 {
		pw, err := c.password()
		if err == nil && pw == "" && needsPassword(s.SMTP) {
			err = configErrorf("smtp.username is set but there is no password: set MAILBLAST_SMTP_PASSWORD, or smtp.password_file (MAILBLAST_SMTP_PASSWORD_FILE)")
		}
		return pw, err
	}
	s.Relays = slices.Clone(s.Relays)
	for i := range s.Relays {
		pw, err := relayPassword(i, s.Relays[i])
		if err != nil {
			return "", err
		}
		s.Relays[i].Password = pw
	}
	return "", nil
}

// relayPassword reads relay i's password from its file or variable.
func relayPassword(i int, r campaign.RelaySettings) (string, error) {
	key := fmt.Sprintf("smtp.relays[%d] (%s)", i, r.Name)
	var pw string
	switch {
	case r.PasswordFile != "":
		var err error
		if pw, err = readPasswordFile(key+".password_file", r.PasswordFile); err != nil {
			return "", err
		}
	case r.PasswordEnv != "":
		pw = os.Getenv(r.PasswordEnv)
	}
	if pw == "" && needsPassword(r.Settings) {
		return "", configErrorf("%s has a username but no password: set the variable its password_env names (%s) or its password_file",
			key, cmp.Or(r.PasswordEnv, "none given"))
	}
	return pw, nil
}

// tlsConfig is the TLS configuration every relay is checked with: nil for
// the system roots, or those plus smtp.ca_file.
func (c *Config) tlsConfig() *tls.Config { return c.tls }

// message is the message-building settings, paths made absolute so that
// resume works from any directory.
func (c *Config) message() templates.Options {
	o := c.Message
	o.HTMLPath, o.AttachmentDir = absIf(o.HTMLPath), absIf(o.AttachmentDir)
	o.Attachments = nil
	for _, a := range c.Message.Attachments {
		o.Attachments = append(o.Attachments, absIf(a))
	}
	if len(o.Inline) > 0 {
		o.Inline = map[string]string{}
		for id, p := range c.Message.Inline {
			o.Inline[id] = absIf(p)
		}
	}
	o.Headers = canonicalHeaders(o.Headers)
	o.Unsubscribe.SecretFile = absIf(o.Unsubscribe.SecretFile)
	o.DKIM = c.dkim()
	return o
}

// dkim is the DKIM settings, nil when none are made: the keys always
// exist (they have defaults), so decoding always allocates them.
func (c *Config) dkim() *templates.DKIMOptions {
	d := c.Message.DKIM
	if d == nil || d.KeyFile == "" && d.Domain == "" {
		return nil
	}
	return &templates.DKIMOptions{Domain: d.Domain, Selector: d.Selector, KeyFile: absIf(d.KeyFile)}
}

// canonicalHeaders undoes viper's lower-casing of map keys: x-campaign
// becomes X-Campaign. Field names are case-insensitive (RFC 5322), so the
// canonical form is as good as what was written, and reads as expected.
func canonicalHeaders(h map[string]string) map[string]string {
	if len(h) == 0 {
		return h
	}
	out := make(map[string]string, len(h))
	for name, v := range h {
		out[textproto.CanonicalMIMEHeaderKey(name)] = v
	}
	return out
}

func absIf(p string) string {
	if p == "" {
		return ""
	}
	return absPath(p)
}

// decodeHooks turn what the file, the environment and flags write into the
// types settings have: durations and lists as viper does, a TLS mode and a
// rate from their names (TextUnmarshaler), and yes/no into a Toggle.
var decodeHooks = mapstructure.ComposeDecodeHookFunc(
	mapstructure.StringToTimeDurationHookFunc(),
	mapstructure.StringToWeakSliceHookFunc(","), // as viper does: "1s,2s" is a list of durations too
	toggleHook,
	sender.DateHook, // smtp.warmup.start: 2026-12-01
	mapstructure.TextUnmarshallerHookFunc(),
)

func toggleHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[sender.Toggle]() || from == to {
		return data, nil
	}
	switch v := data.(type) {
	case bool:
		return sender.ToggleOf(v), nil
	case string:
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%q: use true or false", v)
		}
		return sender.ToggleOf(on), nil
	}
	return data, nil
}

// addPacingFlags adds the flags that pace sending.
func addPacingFlags(f *pflag.FlagSet) {
	f.String("rate", "", "most messages per second, minute or hour: 50/s, 3000/m, 100000/h (default unpaced)")
	f.Duration("ramp", 0, "warm-up: grow the rate from a tenth to all of --rate over this time, e.g. 1h")
}

// decodeError rewrites mapstructure's "decoding failed ...: 'smtp.tls'
// TLS mode ..." as one line per setting, "smtp.tls: TLS mode ...", each
// naming its key (and flag) first, like the other configuration errors.
func decodeError(err error) error {
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		key, rest, ok := strings.Cut(strings.TrimPrefix(l, "'"), "' ")
		switch {
		case ok && strings.HasPrefix(l, "'"):
			lines = append(lines, keyName(key)+": "+rest)
		case l != "" && !strings.HasPrefix(l, "decoding failed"):
			lines = append(lines, l)
		}
	}
	return configErrorf("%s", strings.Join(lines, "\n"))
}
