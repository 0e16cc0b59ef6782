package sender

import (
	"encoding/json"
	"fmt"
	"time"
)

// Settings is one relay as it is configured (mailblast.yaml's smtp.*,
// MAILBLAST_SMTP_*, flags) and as a campaign stores it in the ledger: the
// one type all of them load into. Each field's tags are its key under
// smtp. (max_messages_per_connection ...). It holds no secret: the
// password is Config's, read for a run and never stored.
//
// A new setting is a field here, its default in DefaultSettings, and its
// line in the README's table; flags, the environment, the file, what a
// campaign stores and resume's precedence all follow from the tags.
type Settings struct {
	Host              string  `json:"host" mapstructure:"host"`
	Port              int     `json:"port" mapstructure:"port"` // 0: TLS's DefaultPort
	TLS               TLSMode `json:"tls" mapstructure:"tls"`
	Helo              string  `json:"helo" mapstructure:"helo"`
	Username          string  `json:"username" mapstructure:"username"`
	AllowInsecureAuth bool    `json:"allow_insecure_auth" mapstructure:"allow_insecure_auth"` // AUTH without TLS
	Connections       int     `json:"connections" mapstructure:"connections"`
	// MaxMessagesPerConn: then QUIT and reconnect; 0 means no limit.
	MaxMessagesPerConn int `json:"max_messages_per_connection" mapstructure:"max_messages_per_connection"`
	// Timeout bounds each reply as a whole and each write; a dial gets
	// min(Timeout, 30s).
	Timeout time.Duration `json:"timeout" mapstructure:"timeout"`
	// Backoff between failed connects starts at Backoff and doubles to
	// BackoffMax; after ConnectAttempts consecutive failures the relay
	// counts as down. The defaults (1s, 30s, 8) wait about a minute and a
	// half for a relay that refuses connections, at most GiveUpAfter (4
	// minutes) for one that accepts them and says nothing.
	ConnectAttempts int           `json:"connect_attempts" mapstructure:"connect_attempts"`
	Backoff         time.Duration `json:"backoff" mapstructure:"backoff"`
	// Pipelining and Chunking (RFC 2920, RFC 3030) are used when the
	// relay offers them, unless Off.
	Pipelining Toggle `json:"pipelining,omitempty" mapstructure:"pipelining"`
	Chunking   Toggle `json:"chunking,omitempty" mapstructure:"chunking"`
	// Rate is messages per second (0: unpaced), Burst the most sent at
	// once (0 counts as 1), Ramp a warm-up from a tenth of Rate to all of it.
	Rate  Rate          `json:"rate,omitempty" mapstructure:"rate"`
	Burst int           `json:"burst,omitempty" mapstructure:"burst"`
	Ramp  time.Duration `json:"ramp,omitempty" mapstructure:"ramp"`
	// ThrottleRecover is the quiet time after a throttling reply before
	// the rate and connections start growing back.
	ThrottleRecover time.Duration `json:"throttle_recover,omitempty" mapstructure:"throttle_recover"`
	// Auth is the SASL mechanism (AuthAuto: the best the relay offers);
	// OAuth2, set from smtp.oauth2 by the caller, where its tokens come
	// from (file paths only, so campaigns may store it).
	Auth   AuthMech `json:"auth,omitempty" mapstructure:"auth"`
	OAuth2 *OAuth2  `json:"oauth2,omitempty" mapstructure:"-"`
	// Quota and Warmup bound what the relay accepts over time, counted
	// from the ledger across runs and campaigns (sender/quota.go).
	Quota  Quota   `json:"quota,omitzero" mapstructure:"quota"`
	Warmup *Warmup `json:"warmup,omitempty" mapstructure:"warmup"`
}

// DefaultSettings are the defaults of every relay setting, in one place.
func DefaultSettings() Settings {
	return Settings{
		TLS: StartTLS, Connections: 4, MaxMessagesPerConn: 1000, Timeout: time.Minute,
		ConnectAttempts: 8, Backoff: time.Second, Burst: 1, ThrottleRecover: 30 * time.Second,
	}
}

// BackoffMax is where the wait between failed connects stops doubling.
const BackoffMax = 30 * time.Second

// Rate is messages per second. It is written as 50/s, 3000/m or
// 100000/h, and stored as a plain number.
type Rate float64

// UnmarshalText reads the written form (ParseRate).
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = Rate(v)
	return nil
}

// UnmarshalJSON reads what campaigns store, a number per second (and,
// as UnmarshalText does, the written form).
func (r *Rate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		*r = Rate(f)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("rate %s: not a number", b)
	}
	return r.UnmarshalText([]byte(s))
}

// String is the rate per second, as the README writes it.
func (r Rate) String() string { return fmt.Sprintf("%g/s", float64(r)) }

// Toggle turns an SMTP extension off; the zero value means "when offered".
type Toggle string

// Off disables an extension the relay offers.
const Off Toggle = "off"

// ToggleOf is the Toggle of a yes/no setting: true uses the extension
// when offered.
func ToggleOf(on bool) Toggle {
	if on {
		return ""
	}
	return Off
}
