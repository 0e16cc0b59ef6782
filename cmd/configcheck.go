package cmd

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/safefile"
	"github.com/mailblast/mailblast/sender"
)

// check validates every setting and completes the derived ones. It reports
// every problem at once, each naming its key and the values it accepts.
// The relay settings, smtp.* and each entry of smtp.relays alike, go
// through checkRelay, so no relay can escape a rule the top level keeps.
func (c *Config) check() error {
	var errs []error
	if c.SMTP.Port == 0 {
		c.SMTP.Port = c.SMTP.TLS.DefaultPort()
	}
	errs = append(errs, checkRelay("smtp", c.SMTP.Settings)...)
	errs = append(errs, c.checkOAuth2()...)
	errs = append(errs, c.checkRun()...)
	errs = append(errs, c.checkCoreFeedback()...)
	errs = append(errs, c.checkListen()...)
	errs = append(errs, c.checkWindow()...)
	errs = append(errs, c.checkLedger()...)
	if len(errs) == 0 {
		// Relays inherit smtp.*: checked only once it is sound, so that a
		// bad top-level value is not blamed on every relay.
		c.relaySettings, errs = c.relays()
	}
	if err := c.loadCA(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.checkIMAP()...)
	if len(errs) > 0 {
		return &configError{errors.Join(errs...)}
	}
	return nil
}

// checkRelay is the one validation of a relay's settings, under key
// ("smtp" or "smtp.relays[i]").
func checkRelay(key string, s sender.Settings) []error {
	return nonNil(
		between(key+".port", s.Port, 1, 65535),
		between(key+".connections", s.Connections, 1, 1000),
		between(key+".max_messages_per_connection", s.MaxMessagesPerConn, 0, 1<<31-1),
		between(key+".connect_attempts", s.ConnectAttempts, 1, 1000),
		between(key+".burst", s.Burst, 0, 1<<31-1),
		positive(key+".timeout", s.Timeout),
		notNegative(key+".backoff", s.Backoff),
		notNegative(key+".ramp", s.Ramp),
		notNegative(key+".throttle_recover", s.ThrottleRecover),
		heloName(key+".helo", s.Helo),
		s.Warmup.CheckKey(key+".warmup"),
	)
}

// heloName refuses an EHLO name that is not a domain or an address
// literal: it goes on the wire as is, and a CR or LF in it would end the
// command early (it failed at EHLO and was retried as relay trouble).
func heloName(key, v string) error {
	const allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]"
	if strings.ContainsFunc(v, func(r rune) bool { return !strings.ContainsRune(allowed, r) }) {
		return fmt.Errorf("%s is %q; use a domain name such as mail.example.com, or an address literal such as [192.0.2.1]", keyName(key), v)
	}
	return nil
}

// checkRun validates the settings of a run that are not a relay's.
func (c *Config) checkRun() []error {
	errs := nonNil(
		oneOf("in_flight", c.InFlight, "resend", "skip"),
		oneOf("progress", c.Progress, "auto", "bar", "plain", "quiet"),
		positive("retry.max_age", c.Retry.MaxAge),
		notNegative("retry.wait", c.Retry.Wait),
		notNegative("grace", c.Grace),
		notNegative("log_every", c.LogEvery),
	)
	if len(c.Retry.Schedule) == 0 {
		errs = append(errs, errors.New("retry.schedule is empty; give one or more intervals above 0, like 5m,30m,2h"))
	}
	for i, d := range c.Retry.Schedule {
		if err := positive(fmt.Sprintf("retry.schedule[%d]", i), d); err != nil {
			errs = append(errs, err)
		}
	}
	for i, s := range c.Seeds {
		if _, err := campaign.ParseAddress(s); err != nil {
			errs = append(errs, fmt.Errorf("seeds[%d] is %q: %w", i, s, err))
		}
	}
	return errs
}

// relays is smtp.relays with smtp.*'s values filled in, each checked like
// smtp.* itself. Names must differ: they are how the log and the ledger
// tell the relays apart.
func (c *Config) relays() ([]campaign.RelaySettings, []error) {
	var out []campaign.RelaySettings
	var errs []error
	names := map[string]int{}
	for i, rc := range c.SMTP.Relays {
		key := fmt.Sprintf("smtp.relays[%d]", i)
		rs, rerrs := c.relay(key, i, rc)
		errs = append(errs, rerrs...)
		if j, taken := names[rs.Name]; taken {
			errs = append(errs, fmt.Errorf("%s.name %q is smtp.relays[%d]'s name too (relays without a name are called relayN, N counting from 1); give each relay its own name", key, rs.Name, j))
		}
		names[rs.Name] = i
		out = append(out, rs)
	}
	return out, errs
}

// relay completes one entry of smtp.relays from smtp.* and checks it.
func (c *Config) relay(key string, i int, rc RelayConfig) (campaign.RelaySettings, []error) {
	rs := campaign.RelaySettings{Settings: c.SMTP.Settings, Name: rc.Name, Weight: rc.Weight,
		PasswordFile: absIf(rc.PasswordFile), PasswordEnv: rc.PasswordEnv}
	if rs.Name == "" {
		rs.Name = fmt.Sprintf("relay%d", i+1)
	}
	rs.Host, rs.Username = rc.Host, rc.Username
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if rc.Host == "" {
		add(fmt.Errorf("%s.host is not set", key))
	}
	if rc.TLS != "" {
		var err error
		rs.TLS, err = parseTLS(key+".tls", rc.TLS)
		add(err)
	}
	rs.Port = cmp.Or(rc.Port, rs.TLS.DefaultPort())
	if rc.Connections != nil {
		rs.Connections = *rc.Connections
	}
	if rc.Rate != "" {
		var err error
		var r float64
		r, err = parseRate(key+".rate", rc.Rate)
		rs.Rate = sender.Rate(r)
		add(err)
	}
	if rc.Weight < 0 {
		add(fmt.Errorf("%s.weight is %g; use 0 or more (0 counts as 1)", key, rc.Weight))
	}
	add(relaySecret(key, rc))
	errs = append(errs, relayOAuth2(key, rc, &rs.Settings)...)
	rs.Quota, rs.Warmup = cmp.Or(rc.Quota, rs.Quota), cmp.Or(rc.Warmup, rs.Warmup)
	return rs, append(errs, checkRelay(key, rs.Settings)...)
}

// relaySecret: a relay's username needs a password of the relay's own.
func relaySecret(key string, rc RelayConfig) error {
	switch {
	case rc.PasswordFile != "" && rc.PasswordEnv != "":
		return fmt.Errorf("%s sets both password_file and password_env; use one", key)
	case rc.Username != "" && rc.PasswordFile == "" && rc.PasswordEnv == "" && rc.OAuth2 == nil:
		return fmt.Errorf("%s.username is set but the relay has no password: set its password_env or password_file", key)
	}
	return nil
}

// loadCA reads smtp.ca_file: extra roots for a private CA, added to the
// system's (SSL_CERT_FILE, by contrast, replaces the system's).
func (c *Config) loadCA() error {
	if c.SMTP.CAFile == "" {
		return nil
	}
	var err error
	c.tls, err = tlsWithCA("smtp.ca_file", c.SMTP.CAFile)
	return err
}

// tlsWithCA is a TLS configuration that trusts the system's roots and
// those of file, the setting key.
func tlsWithCA(key, file string) (*tls.Config, error) {
	b, err := safefile.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s %s holds no PEM certificate", key, file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func parseTLS(key, s string) (sender.TLSMode, error) {
	m, err := sender.ParseTLSMode(s)
	if err != nil {
		return m, fmt.Errorf("%s is %w", keyName(key), err)
	}
	return m, nil
}

func parseRate(key, s string) (float64, error) {
	r, err := sender.ParseRate(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", keyName(key), err)
	}
	return r, nil
}

func between(key string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s is %d; use %d to %d", keyName(key), v, lo, hi)
	}
	return nil
}

func positive(key string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s is %v; use a duration above 0, like 30s or 5m", keyName(key), d)
	}
	return nil
}

func notNegative(key string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s is %v; use 0 or a positive duration, like 30s", keyName(key), d)
	}
	return nil
}

func oneOf(key, v string, allowed ...string) error {
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("%s is %q; use %s", keyName(key), v, strings.Join(allowed, ", "))
	}
	return nil
}

// keyName is key, with its flag when there is one.
func keyName(key string) string {
	for flag, k := range flagKeys {
		if k == key {
			return key + " (--" + flag + ")"
		}
	}
	return key
}

func nonNil(errs ...error) []error {
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// unknownKeys refuses keys no field of Config takes (a typo such as
// smtp.conections would otherwise be silently ignored), naming the closest
// known key. The known keys are Config's own mapstructure tags.
func unknownKeys(settings map[string]any) error {
	var errs []error
	walkKeys(reflect.TypeFor[Config](), settings, "", &errs)
	if len(errs) == 0 {
		return nil
	}
	return &configError{errors.Join(errs...)}
}

func walkKeys(t reflect.Type, m map[string]any, prefix string, errs *[]error) {
	known := fieldsByKey(t)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		full := joinKey(prefix, k)
		f, ok := known[strings.ToLower(k)]
		if !ok {
			*errs = append(*errs, fmt.Errorf("unknown key %s; did you mean %s?", full, joinKey(prefix, closest(k, known))))
			continue
		}
		walkValue(f.Type, m[k], full, errs)
	}
}

// walkValue descends into nested sections and lists of sections; maps
// (headers, inline) take any key.
func walkValue(t reflect.Type, v any, key string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct:
		if sub, ok := v.(map[string]any); ok {
			walkKeys(t, sub, key, errs)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		list, _ := v.([]any)
		for i, e := range list {
			if sub, ok := e.(map[string]any); ok {
				walkKeys(t.Elem(), sub, fmt.Sprintf("%s[%d]", key, i), errs)
			}
		}
	}
}

// fieldsByKey maps each mapstructure key of struct t to its field,
// following ",squash".
func fieldsByKey(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		switch {
		case opts == "squash":
			for k, sf := range fieldsByKey(f.Type) {
				out[k] = sf
			}
		case name != "" && name != "-":
			out[name] = f
		}
	}
	return out
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// closest is the known key nearest to k in edit distance.
func closest(k string, known map[string]reflect.StructField) string {
	best, bestD := "", -1
	for name := range known {
		if d := editDistance(strings.ToLower(k), name); bestD < 0 || d < bestD || d == bestD && name < best {
			best, bestD = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// envOwn are MAILBLAST_ variables that are not settings: test and
// profiling switches.
var envOwn = map[string]bool{
	"MAILBLAST_REQUIRE_REAL_SERVERS": true, "MAILBLAST_CPUPROFILE": true,
	"MAILBLAST_REPORT_SCREENSHOT_DIR": true, "MAILBLAST_CASE": true,
}

// warnUnknownEnv names MAILBLAST_ variables no setting reads, with the
// closest one: MAILBLAST_SMTP_CONECTIONS would otherwise be ignored in
// silence. A warning, not an error: a relay's password_env may be any name.
func warnUnknownEnv(c *Config, environ []string, w io.Writer) {
	known := map[string]reflect.StructField{}
	for _, k := range leafKeys(reflect.TypeFor[Config](), "") {
		known["mailblast_"+strings.ToLower(strings.ReplaceAll(k, ".", "_"))] = reflect.StructField{}
	}
	own := maps.Clone(envOwn)
	for _, r := range c.SMTP.Relays {
		own[r.PasswordEnv] = true
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "MAILBLAST_") || own[name] {
			continue
		}
		if _, ok := known[strings.ToLower(name)]; !ok {
			fmt.Fprintf(w, "mailblast: warning: %s is not a setting and is ignored; did you mean %s?\n", name, strings.ToUpper(closest(name, known)))
		}
	}
}

// leafKeys lists the dotted keys of struct t's settings.
func leafKeys(t reflect.Type, prefix string) []string {
	var out []string
	for k, f := range fieldsByKey(t) {
		ft := f.Type
		if isSection(ft) {
			out = append(out, leafKeys(ft, joinKey(prefix, k))...)
			continue
		}
		out = append(out, joinKey(prefix, k))
	}
	return out
}
