package campaign

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/templates"
)

// Settings is what a campaign remembers so that resume needs no
// arguments. It is stored in the ledger and must never hold a secret: the
// one field that does, each relay's Password, is never encoded.
type Settings struct {
	List        string          `json:"list"`
	Template    string          `json:"template"`
	EmailColumn string          `json:"email_column"`
	SMTP        sender.Settings `json:"smtp"`
	Retry       Retry           `json:"retry"`
	// Relays, when given, replace SMTP as the relays to send through.
	Relays []RelaySettings `json:"relays,omitempty"`
	// Message is how the message is built around the template file
	// (HTML, attachments, unsubscribe, DKIM); its Path is Template.
	Message templates.Options `json:"message"`
	// Files holds the digests of Message's files when the campaign began.
	Files map[string]string `json:"files,omitempty"`
	// ReturnPath, when set, is the envelope sender, VERP-tagged per row:
	// local+TOKEN@domain (verpAddress). "" sends the From address.
	ReturnPath string `json:"return_path,omitempty"`
	// Seeds get a copy of the message at the start and the end of every
	// run that sends (campaign/seeds.go), recorded apart from the rows.
	Seeds []string `json:"seeds,omitempty"`
	// SeedFields are the column values of the seeds' own row; a column
	// not given holds its name in brackets (campaign/seeds.go).
	SeedFields map[string]string `json:"seed_fields,omitempty"`
	// Window is when messages may go (not before, daily hours, days, time
	// zones); rows outside it wait pending (window.go).
	Window Window `json:"window"`
}

// RelaySettings is one relay of several. Its password comes from a file
// or an environment variable, named here, read at run time into Password.
type RelaySettings struct {
	sender.Settings
	Name         string  `json:"name"`
	Weight       float64 `json:"weight"`
	PasswordFile string  `json:"password_file,omitempty"`
	PasswordEnv  string  `json:"password_env,omitempty"`
	// Password is this relay's own, read for the run and never stored: it
	// lives in the entry it belongs to, so it cannot reach another relay
	// (keyed by name, two relays called alike once shared one).
	Password string `json:"-"`
}

// Options is one run of a campaign.
type Options struct {
	Name     string
	StateDir string
	Settings Settings
	Password string // smtp's, from config or a password file, never stored
	Retry    Retry
	InFlight ledger.InFlightPolicy
	// Grace is how long in-flight messages may take to finish after the
	// first interrupt before they are abandoned.
	Grace    time.Duration
	Reporter Reporter
	Store    ledger.Store
	// TLSConfig, when set, is how every relay's certificate is checked:
	// smtp.ca_file's roots, or a test's own CA.
	TLSConfig *tls.Config
	Now       func() time.Time
}

// Reporter hears about progress. Outcomes arrive only after their ledger
// record is committed.
type Reporter interface {
	Start(campaign string, total, done int)
	Outcome(state ledger.State, row int, email string, err *sender.Error)
	Logf(format string, args ...any)
	Finish(s Summary)
}

// Summary is where a run left its campaign.
type Summary struct {
	Campaign  string
	Counts    ledger.Counts
	Recovered int       // rows found in flight at the start of this run
	Expired   int       // deferred rows failed as expired by this run
	NextDue   time.Time // earliest retry of what is left, if anything
	Elapsed   time.Duration
	SentNow   int // messages accepted by the relay in this run
}

// Unfinished reports whether recipients are still waiting.
func (s Summary) Unfinished() bool {
	return s.Counts.Pending+s.Counts.Deferred+s.Counts.InFlight > 0
}

// Errors the caller maps to exit codes.
var (
	ErrListChanged = errors.New("the list or template changed since the campaign started")
	ErrTemplate    = errors.New("template error")
	ErrInterrupted = errors.New("interrupted")
)

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (s Settings) encode() []byte {
	b, _ := json.Marshal(s)
	return b
}

// DecodeSettings reads the settings a campaign stored.
func DecodeSettings(c ledger.Campaign) (Settings, error) {
	var s Settings
	if err := json.Unmarshal(c.Settings, &s); err != nil {
		return s, fmt.Errorf("campaign %q: stored settings: %w", c.Name, err)
	}
	return s, nil
}
